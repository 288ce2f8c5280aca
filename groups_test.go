package goray_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/goray-dev/goray"
)

// Grouped is an actor whose io calls run in their own concurrency group.
type Grouped struct {
	running, peak atomic.Int32
}

var (
	grouped = goray.Actor0("test.groups.grouped", func(ctx context.Context) (*Grouped, error) { return &Grouped{}, nil })
	// ioWait runs in group "io" until the gate of key opens.
	ioWait = goray.Method(grouped, "io_wait", func(g *Grouped, ctx context.Context, key string) (int32, error) {
		n := g.running.Add(1)
		defer g.running.Add(-1)
		for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
		}
		select {
		case <-gateOf(key):
			return n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}).InGroup("io")
	// ioStats runs in the default group: [running io calls, peak].
	ioStats = goray.Method0(grouped, "stats", func(g *Grouped, ctx context.Context) ([2]int32, error) {
		return [2]int32{g.running.Load(), g.peak.Load()}, nil
	})
	badGroup = goray.Method0(grouped, "bad_group", func(g *Grouped, ctx context.Context) (int, error) { return 1, nil }).InGroup("")
)

func TestConcurrencyGroups(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2))
	t.Run("a group runs its calls apart, up to its limit", func(t *testing.T) {
		g, err := grouped.New(ctx, goray.ConcurrencyGroup("io", 2))
		if err != nil {
			t.Fatal(err)
		}
		key := uniqueKey(t)
		var calls []goray.Ref[int32]
		for range 3 {
			calls = append(calls, ioWait.Remote(ctx, g, key))
		}
		// The default group answers while every io slot is taken.
		pollUntil(t, "two io calls running", func() bool { return mustGet(t, ctx, ioStats.Remote(ctx, g))[0] == 2 })
		if st := mustGet(t, ctx, ioStats.Remote(ctx, g)); st != [2]int32{2, 2} {
			t.Fatalf("running, peak = %v: the third io call started", st)
		}
		close(gateOf(key))
		for _, c := range calls {
			mustGet(t, ctx, c)
		}
		if st := mustGet(t, ctx, ioStats.Remote(ctx, g)); st != [2]int32{0, 2} {
			t.Fatalf("running, peak = %v after the io calls", st)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		if _, err := grouped.New(ctx); !errors.Is(err, goray.ErrInvalidArgument) || !strings.Contains(err.Error(), `"io"`) {
			t.Fatalf("actor without its methods' group: %v", err)
		}
		for _, opt := range []goray.Option{goray.ConcurrencyGroup("", 1), goray.ConcurrencyGroup("io", 0)} {
			if _, err := grouped.New(ctx, opt); !errors.Is(err, goray.ErrInvalidArgument) {
				t.Fatalf("bad ConcurrencyGroup: %v", err)
			}
		}
		g, err := grouped.New(ctx, goray.ConcurrencyGroup("io", 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := get(ctx, badGroup.Remote(ctx, g)); !errors.Is(err, goray.ErrInvalidArgument) {
			t.Fatalf("method with an empty group: %v", err)
		}
	})
}
