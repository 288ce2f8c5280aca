package goray

import (
	"context"
	"os"
	"os/exec"

	"github.com/goray-dev/goray/gpu"
)

// WithGPUDiscoverer sets how the node finds its GPUs (default: NVML, and 0
// GPUs where no driver is present). A simulated machine, such as one built
// with gpu.NewNVMLWith over go-nvml's mock package, gives a node simulated
// devices. WithGPUs overrides the count discovered.
func WithGPUDiscoverer(d gpu.Discoverer) InitOption {
	return func(c *config) { c.node.GPUs = d }
}

// CUDAVisibleDevices returns the value of CUDA_VISIBLE_DEVICES for the
// running task or actor: its assigned GPUs' device indices, comma-separated
// ("" when it holds none), or their UUIDs when one is a MIG instance,
// which CUDA knows by UUID only.
func CUDAVisibleDevices(ctx context.Context) string {
	return gpu.VisibleUnits(nodeGPUs(ctx), GPUIDs(ctx))
}

// GPUUUIDs returns the UUIDs of the GPUs assigned to the running task or
// actor, in the order of GPUIDs: a device's ("GPU-…") or a MIG instance's
// ("MIG-…"), each a GPU of its own. It is empty outside a call, and when
// the node's GPUs were counted by hand rather than discovered.
func GPUUUIDs(ctx context.Context) []string {
	units := nodeGPUs(ctx)
	var out []string
	for _, id := range GPUIDs(ctx) {
		if id < len(units) {
			out = append(out, units[id].UUID)
		}
	}
	return out
}

// nodeGPUs returns the GPU units of the node ctx runs on.
func nodeGPUs(ctx context.Context) []gpu.Unit {
	rt, err := runtimeOf(ctx)
	if err != nil || rt.node == nil {
		return nil
	}
	return rt.node.GPUs
}

// Command is exec.CommandContext for a process that the running task or
// actor starts: its environment is this process's with CUDA_VISIBLE_DEVICES
// set to the GPUs assigned to the call, so the process sees those devices
// only (none when the call holds no GPU).
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "CUDA_VISIBLE_DEVICES="+CUDAVisibleDevices(ctx))
	return cmd
}
