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
// running task or actor: its assigned GPU indices, comma-separated ("" when
// it holds none).
func CUDAVisibleDevices(ctx context.Context) string {
	return gpu.VisibleDevices(GPUIDs(ctx))
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
