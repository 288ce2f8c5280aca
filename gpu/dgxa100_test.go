package gpu

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"

	"github.com/goray-dev/goray/gpu/gpumock"
)

// TestDGXA100Discovery runs discovery against go-nvml's simulated DGX A100:
// eight A100s with 40 GB each.
func TestDGXA100Discovery(t *testing.T) {
	server := dgxa100.New()
	var buf bytes.Buffer
	d := NewNVMLWith(server, debugLogger(&buf))
	devs, err := d.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 8 {
		t.Fatalf("%d devices, want 8", len(devs))
	}
	seen := map[string]bool{}
	for i, dev := range devs {
		if dev.Index != i || dev.UUID == "" || seen[dev.UUID] || !strings.Contains(dev.Name, "A100") ||
			dev.MemoryTotal != 40<<30 || dev.MIGEnabled || len(dev.MIG) != 0 {
			t.Fatalf("device %d = %+v", i, dev)
		}
		seen[dev.UUID] = true
	}
	if got := AcceleratorType(devs[0].Name); got != "A100" {
		t.Fatalf("accelerator type of %q = %q, want A100", devs[0].Name, got)
	}
	if strings.Contains(buf.String(), "0 GPUs") {
		t.Fatalf("a machine with GPUs logged 0 GPUs:\n%s", buf.String())
	}
	// Utilization: the simulated devices report none unless told.
	dev2 := server.Devices[2].(*dgxa100.Device)
	dev2.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: 55, Memory: 10}, nvml.SUCCESS
	}
	dev2.MemoryInfo = nvml.Memory{Total: 40 << 30, Used: 10 << 30}
	g, m, err := d.Utilization(context.Background(), 2)
	if err != nil || g != 55 || m != 25 {
		t.Fatalf("Utilization(2) = %d, %d, %v; want 55, 25", g, m, err)
	}
	// Device 3 has no utilization query set: the mock panics, the
	// discoverer reports an error.
	if _, _, err := d.Utilization(context.Background(), 3); !errors.Is(err, ErrNVML) {
		t.Fatalf("Utilization(3) = %v, want ErrNVML", err)
	}
	if _, _, err := d.Utilization(context.Background(), 8); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("Utilization(8) = %v, want ErrNoDevice", err)
	}
}

// TestDGXA100MIG partitions a simulated A100 and discovers its instances.
func TestDGXA100MIG(t *testing.T) {
	server := dgxa100.New()
	err := gpumock.Partition(server.Devices[0].(*dgxa100.Device),
		nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_3_SLICE)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := NewNVMLWith(server, nil).Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d0 := devs[0]
	if !d0.MIGEnabled || len(d0.MIG) != 3 {
		t.Fatalf("device 0 = %+v, want MIG with 3 instances", d0)
	}
	var profiles []string
	for _, m := range d0.MIG {
		profiles = append(profiles, m.Profile)
		if m.MemoryTotal == 0 || m.Slices == 0 {
			t.Fatalf("MIG instance %+v", m)
		}
	}
	if got := strings.Join(profiles, " "); got != "1g.5gb 1g.5gb 3g.20gb" {
		t.Fatalf("MIG profiles %q", got)
	}
	if devs[1].MIGEnabled || len(devs) != 8 {
		t.Fatalf("other devices: %+v", devs[1])
	}
}

// TestAssignerEightDevices hands out a DGX A100's devices: whole ones,
// shares of one, and everything back.
func TestAssignerEightDevices(t *testing.T) {
	a := NewAssigner(8)
	half1, err := a.Take(0.5)
	if err != nil {
		t.Fatal(err)
	}
	half2, err := a.Take(0.5)
	if err != nil || half2[0] != half1[0] {
		t.Fatalf("two halves on devices %v and %v (%v), want one device shared", half1, half2, err)
	}
	seven, err := a.Take(7)
	if err != nil || len(seven) != 7 {
		t.Fatalf("7 whole devices beside a shared one: %v, %v", seven, err)
	}
	if _, err := a.Take(0.1); !errors.Is(err, ErrInsufficient) {
		t.Fatalf("a share with every device taken: %v", err)
	}
	if a.Available() != 0 {
		t.Fatalf("available %v, want 0", a.Available())
	}
	for _, give := range []struct {
		q   float64
		ids []int
	}{{0.5, half1}, {0.5, half2}, {7, seven}} {
		if err := a.Give(give.q, give.ids); err != nil {
			t.Fatal(err)
		}
	}
	if a.Available() != 8 || a.Free() != 8 {
		t.Fatalf("after release: available %v, free %d", a.Available(), a.Free())
	}
}

// TestDGXA100MIGUnits partitions device 0 of a simulated DGX A100 whose
// instances have MIG devices: each instance is a GPU unit of its own with
// its MIG UUID; without MIG devices the device counts as one GPU.
func TestDGXA100MIGUnits(t *testing.T) {
	for _, withDevices := range []bool{true, false} {
		server := dgxa100.New()
		dev := server.Devices[0].(*dgxa100.Device)
		if err := gpumock.Partition(dev, nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_3_SLICE); err != nil {
			t.Fatal(err)
		}
		var mig *gpumock.MIG
		if withDevices {
			mig = gpumock.AddMIGDevices(dev)
		}
		devs, err := NewNVMLWith(server, nil).Devices(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		units := Units(devs)
		if !withDevices {
			if len(units) != 8 || units[0].IsMIG() || units[0].UUID != dev.UUID {
				t.Fatalf("without MIG devices: units %+v", units)
			}
			continue
		}
		if len(units) != 9 {
			t.Fatalf("%d units, want 2 MIG instances and 7 devices: %+v", len(units), units)
		}
		for i, u := range units[:2] {
			if !u.IsMIG() || u.UUID != mig.UUIDs[i] || devs[0].MIG[i].UUID != u.UUID || u.Device != 0 || u.MemoryTotal == 0 {
				t.Fatalf("unit %d = %+v, want MIG instance %s", i, u, mig.UUIDs[i])
			}
		}
		if u := units[2]; u.IsMIG() || u.Device != 1 || u.UUID != server.Devices[1].(*dgxa100.Device).UUID {
			t.Fatalf("unit 2 = %+v, want device 1", u)
		}
	}
}
