// Package gpumock completes go-nvml's simulated DGX A100 (package
// dgxa100) where it stops short of a driver: it gives a partitioned
// device the MIG devices a driver exposes for its GPU instances, each with
// a "MIG-…" UUID, its instance's memory and its own memory use, so that
// discovery and sampling of MIG instances can run without a GPU.
package gpumock

import (
	"fmt"
	"slices"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
)

// MIG is the set of MIG devices of one simulated device.
type MIG struct {
	mu   sync.Mutex
	used map[string]uint64 // memory in use per MIG UUID
	// UUIDs lists the MIG devices' UUIDs, by GPU instance ID.
	UUIDs []string
}

// SetUsed sets the memory in use of the MIG device with uuid.
func (m *MIG) SetUsed(uuid string, bytes uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.used[uuid] = bytes
}

// Partition turns dev's MIG mode on and creates a GPU instance of each
// profile (nvml.GPU_INSTANCE_PROFILE_*), without MIG devices: instances a
// driver would not yet run work on (see AddMIGDevices).
func Partition(dev *dgxa100.Device, profiles ...int) error {
	if ret, _ := dev.SetMigMode(nvml.DEVICE_MIG_ENABLE); ret != nvml.SUCCESS {
		return fmt.Errorf("MIG mode: %w", ret)
	}
	for _, p := range profiles {
		info, ret := dev.GetGpuInstanceProfileInfo(p)
		if ret != nvml.SUCCESS {
			return fmt.Errorf("MIG profile %d: %w", p, ret)
		}
		if _, ret := dev.CreateGpuInstance(&info); ret != nvml.SUCCESS {
			return fmt.Errorf("MIG instance of profile %d: %w", p, ret)
		}
	}
	return nil
}

// AddMIGDevices gives dev, whose MIG mode is on, one MIG device for each
// of its GPU instances now, in instance ID order. Its UUID is derived from
// the device's and the instance ID. Like a driver's, the MIG devices
// report no utilization rate (NOT_SUPPORTED).
func AddMIGDevices(dev *dgxa100.Device) *MIG {
	dev.RLock()
	gis := make([]*dgxa100.GpuInstance, 0, len(dev.GpuInstances))
	for gi := range dev.GpuInstances {
		gis = append(gis, gi)
	}
	dev.RUnlock()
	slices.SortFunc(gis, func(a, b *dgxa100.GpuInstance) int { return int(a.Info.Id) - int(b.Info.Id) })
	m := &MIG{used: map[string]uint64{}}
	handles := make([]nvml.Device, len(gis))
	for i, gi := range gis {
		uuid := fmt.Sprintf("MIG-%s-%d", dev.UUID[len("GPU-"):], gi.Info.Id)
		m.UUIDs = append(m.UUIDs, uuid)
		total := dgxa100.MIGProfiles.GpuInstanceProfiles[int(gi.Info.ProfileId)].MemorySizeMB << 20
		id := int(gi.Info.Id)
		handles[i] = &mock.Device{
			GetUUIDFunc:          func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
			GetGpuInstanceIdFunc: func() (int, nvml.Return) { return id, nvml.SUCCESS },
			GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
				m.mu.Lock()
				defer m.mu.Unlock()
				used := min(m.used[uuid], total)
				return nvml.Memory{Total: total, Used: used, Free: total - used}, nvml.SUCCESS
			},
			GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
				return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED
			},
		}
	}
	dev.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, nvml.SUCCESS }
	dev.GetMigDeviceHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if i < 0 || i >= 7 {
			return nil, nvml.ERROR_INVALID_ARGUMENT
		}
		if i >= len(handles) {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return handles[i], nvml.SUCCESS
	}
	return m
}
