package goray_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/goray-dev/goray"
)

// Ctxer is an actor that reports its runtime context.
type Ctxer struct{ born goray.RuntimeContext }

var (
	ctxTask = goray.Task("test.rtctx.task", func(ctx context.Context, _ int) (goray.RuntimeContext, error) {
		return goray.GetRuntimeContext(ctx)
	})
	ctxer = goray.Actor0("test.rtctx.actor", func(ctx context.Context) (*Ctxer, error) {
		rc, err := goray.GetRuntimeContext(ctx)
		return &Ctxer{born: rc}, err
	})
	ctxCall = goray.Method0(ctxer, "ctx", func(c *Ctxer, ctx context.Context) (goray.RuntimeContext, error) {
		return goray.GetRuntimeContext(ctx)
	})
	ctxBorn = goray.Method0(ctxer, "born", func(c *Ctxer, ctx context.Context) (goray.RuntimeContext, error) {
		return c.born, nil
	})
	ctxPanic = goray.Method0(ctxer, "panic", func(c *Ctxer, ctx context.Context) (int, error) { panic("restart me") })
)

func TestRuntimeContext(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2), goray.WithGPUs(2), goray.WithRestartBackoff(1))
	driver, err := goray.GetRuntimeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node, _ := goray.NodeID(ctx)
	a, err := ctxer.New(ctx, goray.GPUs(1), goray.MaxRestarts(1))
	if err != nil {
		t.Fatal(err)
	}
	hex := func(id goray.ObjectID) string { return fmt.Sprintf("%x", id[:]) }
	taskRef := ctxTask.Remote(ctx, 0, goray.CPUs(1.5))
	callRef := ctxCall.Remote(ctx, a)
	tests := []struct {
		name string
		got  goray.RuntimeContext
		want func(rc goray.RuntimeContext) bool
	}{
		{"driver", driver, func(rc goray.RuntimeContext) bool {
			return rc.JobID != "" && rc.NodeID == node && rc.TaskID == "" && rc.ActorID == "" && rc.Resources == nil
		}},
		{"task", mustGet(t, ctx, taskRef), func(rc goray.RuntimeContext) bool {
			return rc.JobID == driver.JobID && rc.NodeID == node && rc.TaskID == hex(taskRef.ID()) && rc.ActorID == "" &&
				rc.Resources["CPU"] == 1.5 && len(rc.GPUIDs) == 0
		}},
		{"constructor", mustGet(t, ctx, ctxBorn.Remote(ctx, a)), func(rc goray.RuntimeContext) bool {
			return rc.ActorID == a.ID() && rc.TaskID == "" && len(rc.GPUIDs) == 1 && rc.Resources["GPU"] == 1 && !rc.WasRestarted()
		}},
		{"method", mustGet(t, ctx, callRef), func(rc goray.RuntimeContext) bool {
			return rc.JobID == driver.JobID && rc.ActorID == a.ID() && rc.TaskID == hex(callRef.ID()) && len(rc.GPUIDs) == 1 && rc.Restarts == 0
		}},
		{"method after a restart", func() goray.RuntimeContext {
			_ = get(ctx, ctxPanic.Remote(ctx, a))
			return mustGet(t, ctx, ctxCall.Remote(ctx, a))
		}(), func(rc goray.RuntimeContext) bool {
			return rc.Restarts == 1 && rc.WasRestarted() && rc.ActorID == a.ID()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.want(tt.got) {
				t.Fatalf("runtime context %+v", tt.got)
			}
		})
	}
}
