package goray_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/goray-dev/goray"
)

var (
	childStarted, childCancelled sync.Map // key -> *atomic.Int32
	// cancelChild runs until its gate opens or it is cancelled.
	cancelChild = goray.Task("test.cancel.child", func(ctx context.Context, key string) (int, error) {
		counter(&childStarted, key).Add(1)
		select {
		case <-gateOf(key):
			return 1, nil
		case <-ctx.Done():
			counter(&childCancelled, key).Add(1)
			return 0, ctx.Err()
		}
	})
	// cancelParent submits a child and waits until it is cancelled itself.
	cancelParent = goray.Task("test.cancel.parent", func(ctx context.Context, key string) (int, error) {
		child := cancelChild.Remote(ctx, key)
		<-ctx.Done()
		_ = child
		return 0, ctx.Err()
	})
	cancelParentMethod = goray.Method(splitter, "cancel_parent", func(s *Splitter, ctx context.Context, key string) (int, error) {
		child := cancelChild.Remote(ctx, key)
		<-ctx.Done()
		_ = child
		return 0, ctx.Err()
	})
)

func TestRecursiveCancel(t *testing.T) {
	ctx := start(t, goray.WithCPUs(4))
	s, err := splitter.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, key string, parent goray.Ref[int], opts ...goray.CancelOption) {
		t.Helper()
		pollUntil(t, "child started", func() bool { return counter(&childStarted, key).Load() == 1 })
		if err := goray.Cancel(ctx, parent, opts...); err != nil {
			t.Fatal(err)
		}
		if err := get(ctx, parent); !errors.Is(err, goray.ErrTaskCancelled) {
			t.Fatalf("parent: %v, want ErrTaskCancelled", err)
		}
	}
	// Not recursive first: the recursive cases after it give its child the
	// time to be cancelled, were the option ignored.
	alone := uniqueKey(t) + "/alone"
	run(t, alone, cancelParent.Remote(ctx, alone), goray.NotRecursive())
	for _, tt := range []struct {
		name   string
		parent func(key string) goray.Ref[int]
	}{
		{"task", func(key string) goray.Ref[int] { return cancelParent.Remote(ctx, key) }},
		{"actor method", func(key string) goray.Ref[int] { return cancelParentMethod.Remote(ctx, s, key) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := uniqueKey(t)
			run(t, key, tt.parent(key))
			pollUntil(t, "child cancelled with its parent", func() bool { return counter(&childCancelled, key).Load() == 1 })
		})
	}
	if n := counter(&childCancelled, alone).Load(); n != 0 {
		t.Fatal("NotRecursive cancelled the child too")
	}
	close(gateOf(alone))
}
