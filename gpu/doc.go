// Package gpu discovers accelerators and hands them out to tasks.
//
// Discovery sits behind the small Discoverer interface. NewNVML is the real
// implementation, backed by NVIDIA's management library: device count,
// UUIDs, names, memory, utilization and MIG instances. On a machine
// without the library or a driver it reports zero devices instead of
// failing, and says so once. NewNVMLWith runs the same discovery over any
// binding of the library, such as go-nvml's mock package (its dgxa100
// server simulates eight A100s). Fake is an in-memory Discoverer for tests.
// AcceleratorType turns a device name into the node's accelerator label.
//
// Units turns devices into the GPUs a node schedules: a whole device, or
// each MIG instance of a partitioned device that the driver exposes as a
// MIG device, with its own "MIG-…" UUID. A node's GPU indices index its
// units; VisibleUnits names them for CUDA_VISIBLE_DEVICES (by UUID when a
// MIG instance is among them).
//
// An Assigner is the one source of truth for a node's devices: it tracks
// which device indices the node has given to running tasks and actors,
// whole devices for requests of one GPU or more and shares of one device
// for fractional requests, packed onto the fullest device with room so that
// whole devices stay free for whole requests. A node's raylet asks it, not
// a count, whether a request fits, so an assignment it starts never fails.
// VisibleDevices builds each holder's CUDA_VISIBLE_DEVICES.
//
// Discoverer.Sample reads each unit's utilization and memory (a MIG
// instance's from its MIG device). Collector exposes the samples to
// Prometheus under Ray's names (goray_node_gpus_utilization,
// goray_node_gram_used, goray_node_gram_available), sampling at each
// scrape; register it with any prometheus.Registerer.
package gpu
