package goray_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gpu"
	"github.com/goray-dev/goray/gpu/gpumock"
)

var (
	dgxGate     = make(chan struct{})
	dgxGateOnce sync.Once
	// dgxHold returns its GPUs once the gate opens.
	dgxHold = goray.Task("test.gpu.hold", func(ctx context.Context, _ int) ([]int, error) {
		select {
		case <-dgxGate:
		case <-ctx.Done():
		}
		return goray.GPUIDs(ctx), nil
	})
)

// TestGPUsOnSimulatedDGXA100 runs a node on go-nvml's simulated DGX A100:
// eight devices discovered, labelled A100, handed out whole and in shares,
// and returned when tasks end and actors die.
func TestGPUsOnSimulatedDGXA100(t *testing.T) {
	server := dgxa100.New()
	// Device 0 is partitioned, but its instance has no MIG device (no
	// compute instance) to run work on: it still counts as one GPU.
	if err := gpumock.Partition(server.Devices[0].(*dgxa100.Device), nvml.GPU_INSTANCE_PROFILE_1_SLICE); err != nil {
		t.Fatal(err)
	}
	ctx := start(t, goray.WithCPUs(32), goray.WithGPUDiscoverer(gpu.NewNVMLWith(server, nil)))
	full := map[string]float64{"CPU": 32, "GPU": 8}
	waitAvailable(t, ctx, full)
	nodes, err := goray.Nodes(ctx)
	if err != nil || nodes[0].Labels[goray.LabelAcceleratorType] != "A100" || nodes[0].Total["GPU"] != 8 {
		t.Fatalf("node = %+v, %v", nodes, err)
	}

	// Three tasks with one GPU each and two with half a GPU, all running at
	// once: distinct whole devices, one shared device for the halves.
	var refs []goray.Ref[[]int]
	for range 3 {
		refs = append(refs, dgxHold.Remote(ctx, 0, goray.GPUs(1)))
	}
	for range 2 {
		refs = append(refs, dgxHold.Remote(ctx, 0, goray.GPUs(0.5)))
	}
	waitAvailable(t, ctx, map[string]float64{"GPU": 4})
	dgxGateOnce.Do(func() { close(dgxGate) })
	var whole []int
	for i, r := range refs {
		ids := mustGet(t, ctx, r)
		if len(ids) != 1 {
			t.Fatalf("task %d got GPUs %v", i, ids)
		}
		if i < 3 {
			if slices.Contains(whole, ids[0]) {
				t.Fatalf("device %d handed out whole twice: %v", ids[0], whole)
			}
			whole = append(whole, ids[0])
		}
	}
	if a, b := mustGet(t, ctx, refs[3]), mustGet(t, ctx, refs[4]); a[0] != b[0] || slices.Contains(whole, a[0]) {
		t.Fatalf("halves on %v and %v, whole devices %v", a, b, whole)
	}
	waitAvailable(t, ctx, full)

	// An actor holds its devices until it dies.
	act, err := pgActor.New(ctx, goray.GPUs(4))
	if err != nil {
		t.Fatal(err)
	}
	if ids := mustGet(t, ctx, pgActorIDs.Remote(ctx, act)); len(ids) != 4 {
		t.Fatalf("actor GPUs %v", ids)
	}
	waitAvailable(t, ctx, map[string]float64{"GPU": 4})
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := goray.Kill(kctx, act); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ctx, full)
	// All eight at once, then more than the node has.
	if ids := mustGet(t, ctx, gpuIDsTask.Remote(ctx, 0, goray.GPUs(8))); len(ids) != 8 {
		t.Fatalf("8 GPUs: %v", ids)
	}
	if err := getErr(ctx, gpuIDsTask.Remote(ctx, 0, goray.GPUs(9))); err == nil {
		t.Fatalf("9 GPUs on an 8-GPU node ran")
	}
	waitAvailable(t, ctx, full)
}

// TestGPUOverride: WithGPUs overrides discovery.
func TestGPUOverride(t *testing.T) {
	ctx := start(t, goray.WithCPUs(1), goray.WithGPUs(2), goray.WithGPUDiscoverer(gpu.NewNVMLWith(dgxa100.New(), nil)))
	waitAvailable(t, ctx, map[string]float64{"GPU": 2})
}

// migTask reports the GPUs a task holds: UUIDs, then CUDA_VISIBLE_DEVICES.
var migTask = goray.Task("test.gpu.mig", func(ctx context.Context, _ int) ([]string, error) {
	return append(goray.GPUUUIDs(ctx), goray.CUDAVisibleDevices(ctx)), nil
})

// TestMIGInstancesAreGPUs partitions a simulated A100 into three MIG
// instances: the node schedules ten GPUs, and a task holding an instance
// sees its MIG UUID in its context and its CUDA_VISIBLE_DEVICES.
func TestMIGInstancesAreGPUs(t *testing.T) {
	server := dgxa100.New()
	dev := server.Devices[0].(*dgxa100.Device)
	err := gpumock.Partition(dev, nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_2_SLICE, nvml.GPU_INSTANCE_PROFILE_3_SLICE)
	if err != nil {
		t.Fatal(err)
	}
	mig := gpumock.AddMIGDevices(dev)
	ctx := start(t, goray.WithCPUs(16), goray.WithGPUDiscoverer(gpu.NewNVMLWith(server, nil)))
	waitAvailable(t, ctx, map[string]float64{"GPU": 10})

	all := mustGet(t, ctx, migTask.Remote(ctx, 0, goray.GPUs(10)))
	uuids, visible := all[:len(all)-1], all[len(all)-1]
	want := append([]string(nil), mig.UUIDs...)
	for _, d := range server.Devices[1:] {
		want = append(want, d.(*dgxa100.Device).UUID)
	}
	if !slices.Equal(slices.Sorted(slices.Values(uuids)), slices.Sorted(slices.Values(want))) {
		t.Fatalf("10 GPUs hold %v, want the 3 MIG instances and 7 devices %v", uuids, want)
	}
	if visible != strings.Join(uuids, ",") {
		t.Fatalf("CUDA_VISIBLE_DEVICES = %q, want the UUIDs %v", visible, uuids)
	}
	// One GPU at a time: a MIG instance is named by UUID, a whole device
	// by its index.
	for range 3 {
		got := mustGet(t, ctx, migTask.Remote(ctx, 0, goray.GPUs(1)))
		if len(got) != 2 {
			t.Fatalf("one GPU: %v", got)
		}
		uuid, visible := got[0], got[1]
		switch i := slices.Index(want, uuid); {
		case i < 0:
			t.Fatalf("one GPU: unknown UUID %q", uuid)
		case i < 3 && visible != uuid:
			t.Fatalf("MIG instance %s: CUDA_VISIBLE_DEVICES = %q", uuid, visible)
		case i >= 3 && visible != strconv.Itoa(i-2):
			t.Fatalf("device %s: CUDA_VISIBLE_DEVICES = %q, want %d", uuid, visible, i-2)
		}
	}
	waitAvailable(t, ctx, map[string]float64{"GPU": 10})
}
