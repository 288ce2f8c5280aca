package gpu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Device describes one accelerator.
type Device struct {
	Index       int    // position in the driver's enumeration
	UUID        string // stable identity, e.g. "GPU-…"
	Name        string // product name
	MemoryTotal uint64 // bytes
	// MIGEnabled reports that the device is partitioned (Multi-Instance
	// GPU); MIG lists its GPU instances. Instances the driver exposes as
	// MIG devices (with a UUID) are scheduled as GPUs of their own; see
	// Units.
	MIGEnabled bool
	MIG        []MIGDevice
}

// MIGDevice is one GPU instance of a partitioned device.
type MIGDevice struct {
	ID          int    // GPU instance ID on its device
	Profile     string // e.g. "1g.5gb": compute slices and memory
	Slices      int    // compute slices
	MemoryTotal uint64 // bytes
	// UUID ("MIG-…") names the MIG device CUDA sees for the instance; it
	// is empty while the instance has no compute instance, and so runs
	// nothing.
	UUID string
}

// Discoverer finds the accelerators of this machine and samples their use.
type Discoverer interface {
	// Devices lists the devices in index order. A machine without
	// accelerators, or without the software to see them, has none.
	Devices(ctx context.Context) ([]Device, error)
	// Utilization returns the percentage of time the device was busy over
	// the last sample period and the percentage of its memory in use.
	Utilization(ctx context.Context, index int) (gpuPercent, memPercent uint32, err error)
	// Sample reads the use of every GPU unit (see Units), in unit order.
	// Units it could not read are left out, and the error says why.
	Sample(ctx context.Context) ([]Sample, error)
}

// Sample is the use of one GPU unit at one moment.
type Sample struct {
	Unit  Unit
	Index int // the unit's position: the node's GPU index
	// Utilization is the percentage of time the unit was busy over the
	// driver's last sample period; -1 when the driver does not tell (MIG
	// instances do not report it).
	Utilization             float64
	MemoryUsed, MemoryTotal uint64 // bytes
}

// Sentinel errors.
var (
	// ErrNoDevice marks an index that names no device.
	ErrNoDevice = errors.New("gpu: no such device")
	// ErrNVML marks a failure reported by, or a panic inside, NVML.
	ErrNVML = errors.New("gpu: nvml")
	// ErrInsufficient marks a request for more than is free.
	ErrInsufficient = errors.New("gpu: not enough free devices")
	// ErrInvalid marks a malformed count, fraction or index.
	ErrInvalid = errors.New("gpu: invalid request")
)

// Detect returns the number of devices d reports, or 0 if it fails.
func Detect(ctx context.Context, d Discoverer) int {
	devs, err := d.Devices(ctx)
	if err != nil {
		return 0
	}
	return len(devs)
}

// VisibleDevices formats ids for CUDA_VISIBLE_DEVICES, keeping their order:
// []int{0, 2} gives "0,2".
func VisibleDevices(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, ",")
}

// Fake is an in-memory Discoverer. Util maps a device index to its
// {gpuPercent, memPercent}; a device missing from it reports zero use. A
// non-nil Err makes every call fail with it. A Fake must not be modified
// while in use.
type Fake struct {
	Devs []Device
	Util map[int][2]uint32
	Err  error
}

var _ Discoverer = (*Fake)(nil)

// Devices returns a copy of f.Devs.
func (f *Fake) Devices(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Err != nil {
		return nil, f.Err
	}
	return slices.Clone(f.Devs), nil
}

// Utilization returns f.Util[index] for a device listed in f.Devs.
func (f *Fake) Utilization(ctx context.Context, index int) (uint32, uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if f.Err != nil {
		return 0, 0, f.Err
	}
	if !slices.ContainsFunc(f.Devs, func(d Device) bool { return d.Index == index }) {
		return 0, 0, fmt.Errorf("%w: index %d", ErrNoDevice, index)
	}
	u := f.Util[index]
	return u[0], u[1], nil
}

// Sample reports the units of f.Devs with the use f.Util gives their
// device: the busy percentage, and the memory percentage of the unit's
// memory in use. MIG instances report no utilization.
func (f *Fake) Sample(ctx context.Context) ([]Sample, error) {
	devs, err := f.Devices(ctx)
	if err != nil {
		return nil, err
	}
	units := Units(devs)
	out := make([]Sample, len(units))
	for i, u := range units {
		use := f.Util[u.Device]
		out[i] = Sample{Unit: u, Index: i, Utilization: float64(use[0]), MemoryTotal: u.MemoryTotal,
			MemoryUsed: u.MemoryTotal / 100 * uint64(min(use[1], 100))}
		if u.IsMIG() {
			out[i].Utilization = -1
		}
	}
	return out, nil
}

// AcceleratorType derives the accelerator-type label from a device's
// product name: its first word with a digit, without the variant, e.g.
// "A100" for "NVIDIA A100-SXM4-40GB", "H100" for "NVIDIA H100 80GB HBM3",
// "V100" for "Tesla V100-SXM2-16GB". A name without digits gives "".
func AcceleratorType(name string) string {
	for _, word := range strings.Fields(name) {
		if strings.ContainsAny(word, "0123456789") {
			if i := strings.IndexAny(word, "-_"); i > 0 {
				word = word[:i]
			}
			return word
		}
	}
	return ""
}
