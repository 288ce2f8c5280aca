package gpu

import (
	"context"
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Sample reads each unit's utilization and memory through NVML: a whole
// device's own, a MIG instance's from its MIG device.
func (d *nvmlDiscoverer) Sample(ctx context.Context) ([]Sample, error) {
	devs, err := d.Devices(ctx)
	if err != nil {
		return nil, err
	}
	units := Units(devs)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.readyLocked() {
		return []Sample{}, nil
	}
	out := make([]Sample, 0, len(units))
	var errs []error
	for i, u := range units {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		s := Sample{Unit: u, Index: i}
		err := guard(fmt.Sprintf("sampling GPU %d (%s)", i, u.UUID), func() error {
			dev, err := d.handle(u.Device)
			if err != nil {
				return err
			}
			if !u.IsMIG() {
				return readUse(dev, fmt.Sprintf("device %d", u.Device), &s)
			}
			found := false
			err = migDevices(dev, u.Device, func(m nvml.Device, gi int) error {
				if gi != u.MIG || found {
					return nil
				}
				found = true
				return readUse(m, fmt.Sprintf("device %d MIG instance %d", u.Device, u.MIG), &s)
			})
			if err == nil && !found {
				err = fmt.Errorf("%w: device %d has no MIG instance %d now", ErrNoDevice, u.Device, u.MIG)
			}
			return err
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// readUse reads a device's (or MIG device's) memory and utilization into s;
// a utilization the device does not report is -1.
func readUse(dev nvml.Device, what string, s *Sample) error {
	mem, ret := dev.GetMemoryInfo()
	if err := check(what+" memory", ret); err != nil {
		return err
	}
	s.MemoryTotal, s.MemoryUsed = mem.Total, min(mem.Used, mem.Total)
	u, ret := dev.GetUtilizationRates()
	switch ret {
	case nvml.SUCCESS:
		s.Utilization = float64(min(u.Gpu, 100))
	case nvml.ERROR_NOT_SUPPORTED:
		s.Utilization = -1
	default:
		return check(what+" utilization", ret)
	}
	return nil
}
