// Package gpu discovers accelerators and hands them out to tasks.
//
// Discovery sits behind the small Discoverer interface. NewNVML is the real
// implementation, backed by NVIDIA's management library; on a machine
// without the library or a driver it reports zero devices instead of
// failing. Fake is an in-memory Discoverer for tests.
//
// An Assigner tracks which device indices a node has given to running
// tasks: whole devices for requests of one GPU or more, and shares of one
// device for fractional requests, so that VisibleDevices can build each
// task's CUDA_VISIBLE_DEVICES.
package gpu
