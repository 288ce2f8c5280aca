package gpu

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

type nvmlState int

const (
	nvmlUntried nvmlState = iota
	nvmlReady
	nvmlAbsent
)

// nvmlDiscoverer is the Discoverer backed by NVML. The first call
// initialises the library and keeps it initialised until Close; if that
// fails the machine is taken to have no GPUs until Close.
type nvmlDiscoverer struct {
	lib    nvml.Interface
	logger *slog.Logger

	mu    sync.Mutex // serialises NVML use, so Close cannot cut a query short
	state nvmlState
}

// NewNVML returns a Discoverer backed by NVIDIA's management library
// (libnvidia-ml), loaded on first use. Where the library or the driver is
// missing, Devices reports no devices and no error, Utilization fails with
// ErrNoDevice, and the reason is logged once at info level ("0 GPUs").
// A nil logger discards logs.
//
// The returned value also implements io.Closer: Close shuts NVML down, and
// a later call initialises it again.
func NewNVML(logger *slog.Logger) Discoverer {
	return newNVML(nvml.New(), logger)
}

// NewNVMLWith is NewNVML over the given binding of the library: go-nvml's
// mock package, for a simulated machine (its dgxa100 server has eight
// A100s), or a binding loaded from a non-default path.
func NewNVMLWith(lib nvml.Interface, logger *slog.Logger) Discoverer {
	return newNVML(lib, logger)
}

func newNVML(lib nvml.Interface, logger *slog.Logger) *nvmlDiscoverer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &nvmlDiscoverer{lib: lib, logger: logger}
}

// guard runs f, turning a panic inside the library into an error. Some
// versions of the bindings panic when libnvidia-ml cannot be loaded.
func guard(op string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s panicked: %v", ErrNVML, op, r)
		}
	}()
	return f()
}

func check(op string, ret nvml.Return) error {
	if ret == nvml.SUCCESS {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrNVML, op, ret)
}

// readyLocked initialises NVML on first use and reports whether it is
// usable. d.mu must be held.
func (d *nvmlDiscoverer) readyLocked() bool {
	switch d.state {
	case nvmlReady:
		return true
	case nvmlAbsent:
		return false
	}
	err := guard("init", func() error { return check("init", d.lib.Init()) })
	if err != nil {
		d.state = nvmlAbsent
		d.logger.Info("goray: no GPU driver found; the node has 0 GPUs", "reason", err)
		return false
	}
	d.state = nvmlReady
	return true
}

func (d *nvmlDiscoverer) Devices(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.readyLocked() {
		return []Device{}, nil
	}
	var out []Device
	err := guard("devices", func() error {
		n, ret := d.lib.DeviceGetCount()
		if err := check("device count", ret); err != nil {
			return err
		}
		out = make([]Device, 0, n)
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			dev, err := d.handle(i)
			if err != nil {
				return err
			}
			uuid, ret := dev.GetUUID()
			if err := check(fmt.Sprintf("device %d uuid", i), ret); err != nil {
				return err
			}
			name, ret := dev.GetName()
			if err := check(fmt.Sprintf("device %d name", i), ret); err != nil {
				return err
			}
			mem, ret := dev.GetMemoryInfo()
			if err := check(fmt.Sprintf("device %d memory", i), ret); err != nil {
				return err
			}
			migOn, mig := d.mig(dev, i)
			out = append(out, Device{Index: i, UUID: uuid, Name: name, MemoryTotal: mem.Total, MIGEnabled: migOn, MIG: mig})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d *nvmlDiscoverer) handle(index int) (nvml.Device, error) {
	dev, ret := d.lib.DeviceGetHandleByIndex(index)
	if ret == nvml.ERROR_INVALID_ARGUMENT || ret == nvml.ERROR_NOT_FOUND {
		return nil, fmt.Errorf("%w: index %d: %w", ErrNoDevice, index, ret)
	}
	if err := check(fmt.Sprintf("device %d handle", index), ret); err != nil {
		return nil, err
	}
	return dev, nil
}

// mig reports whether a device is in MIG mode and lists its GPU
// instances. A device or driver that cannot tell (no MIG support, or a
// query that fails) counts as not partitioned; the reason is logged at
// debug level.
func (d *nvmlDiscoverer) mig(dev nvml.Device, index int) (bool, []MIGDevice) {
	var on bool
	var out []MIGDevice
	err := guard("mig", func() error {
		current, _, ret := dev.GetMigMode()
		if ret == nvml.ERROR_NOT_SUPPORTED {
			return nil
		}
		if err := check(fmt.Sprintf("device %d MIG mode", index), ret); err != nil {
			return err
		}
		if current != nvml.DEVICE_MIG_ENABLE {
			return nil
		}
		on = true
		for p := range nvml.GPU_INSTANCE_PROFILE_COUNT {
			info, ret := dev.GetGpuInstanceProfileInfo(p)
			if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_INVALID_ARGUMENT {
				continue
			}
			if err := check(fmt.Sprintf("device %d MIG profile %d", index, p), ret); err != nil {
				return err
			}
			gis, ret := dev.GetGpuInstances(&info)
			if err := check(fmt.Sprintf("device %d MIG instances", index), ret); err != nil {
				return err
			}
			for _, gi := range gis {
				gii, ret := gi.GetInfo()
				if err := check(fmt.Sprintf("device %d MIG instance", index), ret); err != nil {
					return err
				}
				out = append(out, MIGDevice{
					ID: int(gii.Id), Slices: int(info.SliceCount), MemoryTotal: info.MemorySizeMB << 20,
					Profile: fmt.Sprintf("%dg.%dgb", info.SliceCount, (info.MemorySizeMB+512)/1024),
				})
			}
		}
		return nil
	})
	if err != nil {
		d.logger.Debug("gpu: MIG state unknown; the device counts as not partitioned", "device", index, "error", err)
		return false, nil
	}
	slices.SortFunc(out, func(a, b MIGDevice) int { return a.ID - b.ID })
	if on {
		uuids, err := d.migUUIDs(dev, index)
		if err != nil {
			d.logger.Debug("gpu: MIG devices unknown; the device counts as one GPU", "device", index, "error", err)
		}
		for i := range out {
			out[i].UUID = uuids[out[i].ID]
		}
	}
	return on, out
}

// migDevices calls f with each MIG device of a partitioned device and its
// GPU instance ID.
func migDevices(dev nvml.Device, index int, f func(m nvml.Device, gi int) error) error {
	return guard("mig devices", func() error {
		n, ret := dev.GetMaxMigDeviceCount()
		if err := check(fmt.Sprintf("device %d MIG device count", index), ret); err != nil {
			return err
		}
		for i := range n {
			m, ret := dev.GetMigDeviceHandleByIndex(i)
			if ret == nvml.ERROR_NOT_FOUND || ret == nvml.ERROR_INVALID_ARGUMENT {
				continue // an unused slot
			}
			if err := check(fmt.Sprintf("device %d MIG device %d", index, i), ret); err != nil {
				return err
			}
			gi, ret := m.GetGpuInstanceId()
			if err := check(fmt.Sprintf("device %d MIG device %d instance", index, i), ret); err != nil {
				return err
			}
			if err := f(m, gi); err != nil {
				return err
			}
		}
		return nil
	})
}

// migUUIDs maps the GPU instance IDs of a partitioned device to the UUIDs
// of their MIG devices.
func (d *nvmlDiscoverer) migUUIDs(dev nvml.Device, index int) (map[int]string, error) {
	out := map[int]string{}
	err := migDevices(dev, index, func(m nvml.Device, gi int) error {
		uuid, ret := m.GetUUID()
		if err := check(fmt.Sprintf("device %d MIG instance %d uuid", index, gi), ret); err != nil {
			return err
		}
		if _, dup := out[gi]; !dup {
			// Several compute instances of one GPU instance: the first
			// stands for the instance.
			out[gi] = uuid
		}
		return nil
	})
	if err != nil {
		return map[int]string{}, err
	}
	return out, nil
}

// Utilization reports NVML's GPU utilization rate and the share of device
// memory in use (not NVML's memory-bandwidth rate).
func (d *nvmlDiscoverer) Utilization(ctx context.Context, index int) (gpuPercent, memPercent uint32, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if index < 0 {
		return 0, 0, fmt.Errorf("%w: index %d", ErrNoDevice, index)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.readyLocked() {
		return 0, 0, fmt.Errorf("%w: index %d: NVML unavailable", ErrNoDevice, index)
	}
	err = guard("utilization", func() error {
		dev, err := d.handle(index)
		if err != nil {
			return err
		}
		u, ret := dev.GetUtilizationRates()
		if err := check(fmt.Sprintf("device %d utilization", index), ret); err != nil {
			return err
		}
		mem, ret := dev.GetMemoryInfo()
		if err := check(fmt.Sprintf("device %d memory", index), ret); err != nil {
			return err
		}
		gpuPercent = min(u.Gpu, 100)
		if mem.Total > 0 {
			memPercent = uint32(min(mem.Used, mem.Total) * 100 / mem.Total)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return gpuPercent, memPercent, nil
}

// Close shuts NVML down if it was initialised.
func (d *nvmlDiscoverer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	was := d.state
	d.state = nvmlUntried
	if was != nvmlReady {
		return nil
	}
	return guard("shutdown", func() error { return check("shutdown", d.lib.Shutdown()) })
}
