package goray

import (
	"context"
	"os"
	"os/exec"

	"github.com/goray-dev/goray/gpu"
)

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
