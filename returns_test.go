package goray_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/goray-dev/goray"
)

// Splitter is an actor whose methods return several values.
type Splitter struct{ calls int }

var (
	divMod = goray.TaskR2("test.returns.divmod", func(ctx context.Context, xy [2]int) (int, string, error) {
		if xy[1] == 0 {
			return 0, "", errors.New("division by zero")
		}
		return xy[0] / xy[1], fmt.Sprint(xy[0] % xy[1]), nil
	})
	triple = goray.TaskR3("test.returns.triple", func(ctx context.Context, x int) (int, int, []byte, error) {
		return x, 2 * x, bytes.Repeat([]byte{byte(x)}, 150<<10), nil
	})
	// chunks splits n bytes into k chunks of 150 KiB each: store objects.
	chunks = goray.TaskRN("test.returns.chunks", func(ctx context.Context, k int) ([][]byte, error) {
		out := make([][]byte, k)
		for i := range out {
			out[i] = bytes.Repeat([]byte{byte(i)}, 150<<10)
		}
		return out, nil
	})
	// wrongCount returns one value fewer than asked for.
	wrongCount = goray.TaskRN("test.returns.wrong-count", func(ctx context.Context, k int) ([]int, error) {
		return make([]int, k-1), nil
	})
	blockPair = goray.TaskR2("test.returns.block", func(ctx context.Context, _ int) (int, int, error) {
		<-ctx.Done()
		return 0, 0, ctx.Err()
	})
	splitter = goray.Actor("test.returns.splitter", func(ctx context.Context, _ int) (*Splitter, error) {
		return &Splitter{}, nil
	})
	splitPair = goray.MethodR2(splitter, "pair", func(s *Splitter, ctx context.Context, x int) (int, string, error) {
		s.calls++
		return x + s.calls, strings.Repeat("x", x), nil
	})
	splitN = goray.MethodRN(splitter, "split", func(s *Splitter, ctx context.Context, xs []int) ([]int, error) {
		if len(xs) == 0 {
			return nil, errors.New("nothing to split")
		}
		return xs, nil
	})
)

func TestMultipleReturns(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2))
	leaksNothing(t, ctx)
	c, err := splitter.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"task pair", func(t *testing.T) {
			q, r := divMod.Remote(ctx, [2]int{17, 5})
			if q.ID() == r.ID() {
				t.Fatal("the two results share an object")
			}
			// Each result is an object of its own: the second travels on
			// without the first being fetched.
			if got := mustGet(t, ctx, double.Submit(ctx, q)); got != 6 {
				t.Fatalf("double(17/5) = %d", got)
			}
			if got := mustGet(t, ctx, r); got != "2" {
				t.Fatalf("17%%5 = %q", got)
			}
		}},
		{"task error fails every result", func(t *testing.T) {
			q, r := divMod.Remote(ctx, [2]int{1, 0})
			for i, err := range []error{get(ctx, q), get(ctx, r)} {
				if !errors.Is(err, goray.ErrTaskFailed) || !strings.Contains(err.Error(), "division by zero") {
					t.Fatalf("result %d: got %v, want the task's error", i, err)
				}
			}
		}},
		{"task triple with a store value", func(t *testing.T) {
			a, b, big := triple.Remote(ctx, 7)
			if got := mustGet(t, ctx, big); len(got) != 150<<10 || got[0] != 7 {
				t.Fatalf("third result: %d bytes", len(got))
			}
			if x, y := mustGet(t, ctx, a), mustGet(t, ctx, b); x != 7 || y != 14 {
				t.Fatalf("got %d, %d", x, y)
			}
		}},
		{"task slice", func(t *testing.T) {
			refs := chunks.Remote(ctx, 4, 4)
			if len(refs) != 4 {
				t.Fatalf("%d refs", len(refs))
			}
			for i := len(refs) - 1; i >= 0; i-- {
				if got := mustGet(t, ctx, refs[i]); len(got) != 150<<10 || got[0] != byte(i) {
					t.Fatalf("chunk %d: %d bytes starting %d", i, len(got), got[0])
				}
			}
		}},
		{"wrong count fails every result", func(t *testing.T) {
			for i, r := range wrongCount.Remote(ctx, 3, 3) {
				if err := get(ctx, r); !errors.Is(err, goray.ErrInvalidArgument) || !strings.Contains(err.Error(), "returned 2 values") {
					t.Fatalf("result %d: got %v, want ErrInvalidArgument", i, err)
				}
			}
		}},
		{"no results asked for", func(t *testing.T) {
			for _, n := range []int{0, -1, goray.MaxReturns + 1} {
				refs := chunks.Remote(ctx, 1, n)
				if len(refs) != 1 {
					t.Fatalf("n=%d: %d refs", n, len(refs))
				}
				if err := get(ctx, refs[0]); !errors.Is(err, goray.ErrInvalidArgument) {
					t.Fatalf("n=%d: got %v, want ErrInvalidArgument", n, err)
				}
			}
		}},
		{"cancel through the second result", func(t *testing.T) {
			a, b := blockPair.Remote(ctx, 1)
			pollUntil(t, "task running", func() bool { return running(t, ctx, "test.returns.block") })
			if err := goray.Cancel(ctx, b); err != nil {
				t.Fatal(err)
			}
			for i, err := range []error{get(ctx, a), get(ctx, b)} {
				if !errors.Is(err, goray.ErrTaskCancelled) {
					t.Fatalf("result %d: got %v, want ErrTaskCancelled", i, err)
				}
			}
		}},
		{"method pair", func(t *testing.T) {
			n, s := splitPair.Remote(ctx, c, 3)
			if got := mustGet(t, ctx, s); got != "xxx" {
				t.Fatalf("second: %q", got)
			}
			if got := mustGet(t, ctx, n); got != 4 {
				t.Fatalf("first: %d", got)
			}
		}},
		{"method slice", func(t *testing.T) {
			refs := splitN.Remote(ctx, c, []int{5, 6, 7}, 3)
			for i, r := range refs {
				if got := mustGet(t, ctx, r); got != 5+i {
					t.Fatalf("result %d: %d", i, got)
				}
			}
			for i, r := range splitN.Remote(ctx, c, nil, 2) {
				if err := get(ctx, r); !errors.Is(err, goray.ErrTaskFailed) {
					t.Fatalf("failed call, result %d: %v", i, err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// The objects of a call's results are freed one by one as their Refs go.
func TestMultipleReturnsLifetime(t *testing.T) {
	ctx := start(t)
	keep := func() goray.Ref[[]byte] {
		refs := chunks.Remote(ctx, 3, 3)
		for _, r := range refs {
			mustGet(t, ctx, r)
		}
		return refs[1]
	}()
	pollUntil(t, "two of three results freed", func() bool { return storeObjects(t, ctx) == 1 })
	if got := mustGet(t, ctx, keep); got[0] != 1 {
		t.Fatalf("kept result: %d", got[0])
	}
	runtime.KeepAlive(keep)
	keep = goray.Ref[[]byte]{}
	pollUntil(t, "every result freed", func() bool { return storeObjects(t, ctx) == 0 })
}

func get[T any](ctx context.Context, r goray.Ref[T]) error {
	ctx, cancel := context.WithTimeout(ctx, 20e9)
	defer cancel()
	_, err := goray.Get(ctx, r)
	return err
}

// running reports whether a task of function fn is running.
func running(t *testing.T, ctx context.Context, fn string) bool {
	t.Helper()
	tasks, err := goray.ListTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range tasks {
		if ti.Function == fn && ti.State == "RUNNING" {
			return true
		}
	}
	return false
}

// A task on another node returns several values, small and in its store:
// each reaches the driver as its own object.
func clusterMultipleReturns(t *testing.T, ctx context.Context, _ []string) {
	for round := range 4 { // tasks spread: some spill to another node
		refs := chunks.Remote(ctx, 3, 3)
		for i, r := range refs {
			if got := mustGet(t, ctx, r); len(got) != 150<<10 || got[0] != byte(i) {
				t.Fatalf("round %d, chunk %d: %d bytes starting %d", round, i, len(got), got[0])
			}
		}
		q, rem := divMod.Remote(ctx, [2]int{17 + round, 5})
		if a, b := mustGet(t, ctx, q), mustGet(t, ctx, rem); a != (17+round)/5 || b != fmt.Sprint((17+round)%5) {
			t.Fatalf("round %d: divmod %d, %s", round, a, b)
		}
	}
}
