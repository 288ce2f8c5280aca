package goray_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// Definitions used by the tests, registered like user code.
var (
	double = goray.Task("test.double", func(ctx context.Context, x int) (int, error) { return 2 * x, nil })
	add2   = goray.Task2("test.add2", func(ctx context.Context, a, b int) (int, error) { return a + b, nil })
	join3  = goray.Task3("test.join3", func(ctx context.Context, a string, b int, c []float32) (string, error) {
		return fmt.Sprintf("%s-%d-%v", a, b, c), nil
	})
	answer = goray.Task0("test.answer", func(ctx context.Context) (int, error) { return 42, nil })
	fail   = goray.Task("test.fail", func(ctx context.Context, msg string) (int, error) { return 0, errors.New(msg) })
	boom   = goray.Task("test.boom", func(ctx context.Context, _ int) (int, error) { panic("kaboom") })
	echoB  = goray.Task("test.echo-bytes", func(ctx context.Context, b []byte) ([]byte, error) { return b, nil })
	chanT  = goray.Task("test.chan", func(ctx context.Context, c chan int) (int, error) { return 0, nil })
	ptrT   = goray.Task("test.ptr", func(ctx context.Context, p *int) (int, error) { return *p, nil })
	sumN   = goray.Task("test.sum-n", func(ctx context.Context, n int) (int, error) {
		refs := make([]goray.Ref[int], n)
		for i := range refs {
			refs[i] = double.Remote(ctx, i)
		}
		vs, err := goray.GetAll(ctx, refs)
		if err != nil {
			return 0, err
		}
		t := 0
		for _, v := range vs {
			t += v
		}
		return t, nil
	})
	// countRuns counts its runs by key.
	runs      sync.Map
	countRuns = goray.Task("test.count-runs", func(ctx context.Context, key string) (int32, error) {
		return counter(&runs, key).Add(1), nil
	})
	// blockUntilCancelled runs until its context is cancelled and reports that.
	blockUntilCancelled = goray.Task("test.block", func(ctx context.Context, _ int) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
)

// flaky fails its first calls; the attempt counter is per test via a key.
var (
	flakyCount sync.Map // key -> *atomic.Int32
	flaky      = goray.Task2("test.flaky", func(ctx context.Context, key string, failures int32) (int32, error) {
		c, _ := flakyCount.LoadOrStore(key, new(atomic.Int32))
		n := c.(*atomic.Int32).Add(1)
		if n <= failures {
			return 0, fmt.Errorf("attempt %d fails", n)
		}
		return n, nil
	})
)

func start(t *testing.T, opts ...goray.InitOption) context.Context {
	t.Helper()
	ctx, err := goray.Init(context.Background(), opts...)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() {
		if err := goray.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ctx
}

func mustGet[T any](t *testing.T, ctx context.Context, r goray.Ref[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := goray.Get(ctx, r)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return v
}

func TestTasks(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2))
	tests := []struct {
		name string
		ref  goray.Ref[int]
		want int
	}{
		{"one arg", double.Remote(ctx, 21), 42},
		{"two args", add2.Remote(ctx, 40, 2), 42},
		{"no args", answer.Remote(ctx), 42},
		{"ref argument", double.Submit(ctx, double.Remote(ctx, 5)), 20},
		{"ref and value", add2.Submit(ctx, double.Remote(ctx, 1), goray.Val(40)), 42},
		{"nested tasks", sumN.Remote(ctx, 10), 90},
		{"fractional cpus", double.Remote(ctx, 1, goray.CPUs(0.25)), 2},
		{"custom name", double.Remote(ctx, 3, goray.Name("named")), 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustGet(t, ctx, tc.ref); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
	if got := mustGet(t, ctx, join3.Remote(ctx, "a", 1, []float32{1.5})); got != "a-1-[1.5]" {
		t.Fatalf("join3 = %q", got)
	}
}

// Nested tasks that wait on children must not deadlock a 1-CPU node: a task
// blocked in Get lends its CPU.
func TestNestedTasksOneCPU(t *testing.T) {
	ctx := start(t, goray.WithCPUs(1))
	refs := []goray.Ref[int]{sumN.Remote(ctx, 5), sumN.Remote(ctx, 5), sumN.Remote(ctx, 5)}
	for _, r := range refs {
		if got := mustGet(t, ctx, r); got != 20 {
			t.Fatalf("got %d, want 20", got)
		}
	}
}

func TestTaskErrors(t *testing.T) {
	ctx := start(t)
	tests := []struct {
		name     string
		ref      goray.Ref[int]
		sentinel error
		contains string
		panicked bool
	}{
		{"user error", fail.Remote(ctx, "bad input 7"), goray.ErrTaskFailed, "bad input 7", false},
		{"panic", boom.Remote(ctx, 1), goray.ErrTaskFailed, "kaboom", true},
		{"dependency failed", double.Submit(ctx, fail.Remote(ctx, "upstream")), goray.ErrTaskFailed, "upstream", false},
		{"unencodable argument", chanT.Remote(ctx, make(chan int)), goray.ErrInvalidArgument, "chan int", false},
		{"nil pointer argument", ptrT.Remote(ctx, nil), goray.ErrInvalidArgument, "nil", false},
		{"negative resource", double.Remote(ctx, 1, goray.CPUs(-1)), goray.ErrInvalidArgument, "negative", false},
		{"NaN resource", double.Remote(ctx, 1, goray.GPUs(math.NaN())), goray.ErrInvalidArgument, "NaN", false},
		{"infeasible", double.Remote(ctx, 1, goray.CPUs(1000)), goray.ErrInfeasible, "CPU", false},
		{"infeasible custom", double.Remote(ctx, 1, goray.Resource("TPU", 1)), goray.ErrInfeasible, "TPU", false},
		{"actor option on task", double.Remote(ctx, 1, goray.Detached()), goray.ErrInvalidArgument, "does not apply", false},
		{"zero ref argument", double.Submit(ctx, goray.Ref[int]{}), goray.ErrInvalidArgument, "zero Ref", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, err := goray.Get(cctx, tc.ref)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("error %v, want %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not mention %q", err, tc.contains)
			}
			var te *goray.TaskError
			if errors.As(err, &te) {
				if te.Panicked != tc.panicked {
					t.Fatalf("Panicked = %v, want %v", te.Panicked, tc.panicked)
				}
				if tc.panicked && !strings.Contains(te.Stack, "goroutine") {
					t.Fatalf("panic error has no remote stack: %q", te.Stack)
				}
			} else if tc.sentinel == goray.ErrTaskFailed {
				t.Fatalf("error %T is not a *TaskError", err)
			}
		})
	}
}

func TestNoRuntime(t *testing.T) {
	_, err := goray.Get(context.Background(), double.Remote(context.Background(), 1))
	if !errors.Is(err, goray.ErrNotInitialized) {
		t.Fatalf("got %v, want ErrNotInitialized", err)
	}
	if _, err := goray.Put(context.Background(), 1); !errors.Is(err, goray.ErrNotInitialized) {
		t.Fatalf("Put: got %v", err)
	}
}

func TestRetryExceptions(t *testing.T) {
	ctx := start(t)
	tests := []struct {
		name     string
		failures int32
		opts     []goray.Option
		want     int32
		wantErr  bool
	}{
		{"no retry by default", 1, nil, 0, true},
		{"retried until success", 2, []goray.Option{goray.RetryExceptions()}, 3, false},
		{"retries exhausted", 5, []goray.Option{goray.RetryExceptions(), goray.MaxRetries(2)}, 0, true},
		{"unlimited retries", 4, []goray.Option{goray.RetryExceptions(), goray.MaxRetries(-1)}, 5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("%s/%d", t.Name(), time.Now().UnixNano())
			v, err := goray.Get(ctx, flaky.Remote(ctx, key, tc.failures, tc.opts...))
			if (err != nil) != tc.wantErr || v != tc.want {
				t.Fatalf("got (%d, %v), want (%d, err=%v)", v, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestGetHonoursDeadline(t *testing.T) {
	ctx := start(t)
	r := blockUntilCancelled.Remote(ctx, 1)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := goray.Get(cctx, r)
	if !errors.Is(err, goray.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout wrapping DeadlineExceeded", err)
	}
	if err := goray.Cancel(ctx, r); err != nil {
		t.Fatal(err)
	}
}

func TestCancel(t *testing.T) {
	ctx := start(t, goray.WithCPUs(1))
	running := blockUntilCancelled.Remote(ctx, 1)
	key := uniqueKey(t)
	queued := countRuns.Remote(ctx, key) // waits for the only CPU
	if err := goray.Cancel(ctx, queued); err != nil {
		t.Fatal(err)
	}
	// The raylet answers: the call had left this process, so only the
	// node that holds it can cancel it.
	if _, err := goray.Get(ctx, queued); !errors.Is(err, goray.ErrTaskCancelled) || !strings.Contains(err.Error(), "before it ran") {
		t.Fatalf("queued: got %v, want ErrTaskCancelled from the raylet", err)
	}
	if err := goray.Cancel(ctx, running); err != nil {
		t.Fatal(err)
	}
	if _, err := goray.Get(ctx, running); !errors.Is(err, goray.ErrTaskCancelled) {
		t.Fatalf("running: got %v, want ErrTaskCancelled", err)
	}
	// The cancelled running task gave its CPU back: new work runs, and
	// the cancelled queued task never did.
	if got := mustGet(t, ctx, double.Remote(ctx, 4)); got != 8 {
		t.Fatalf("after cancel: got %d", got)
	}
	if n := counter(&runs, key).Load(); n != 0 {
		t.Fatalf("the cancelled task ran %d times", n)
	}
	// Cancelling a finished task changes nothing.
	done := double.Remote(ctx, 5)
	mustGet(t, ctx, done)
	if err := goray.Cancel(ctx, done); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, ctx, done); got != 10 {
		t.Fatalf("finished task after cancel: %d", got)
	}
}

func TestWait(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2))
	fast1, fast2 := double.Remote(ctx, 1), double.Remote(ctx, 2)
	mustGet(t, ctx, fast1)
	mustGet(t, ctx, fast2)
	slow := blockUntilCancelled.Remote(ctx, 0)
	defer func() { _ = goray.Cancel(ctx, slow) }()
	refs := []goray.AnyRef{slow, fast1, fast2}

	ready, notReady, err := goray.Wait(ctx, refs, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(ready) != 2 || ready[0].ID() != fast1.ID() || ready[1].ID() != fast2.ID() || len(notReady) != 1 || notReady[0].ID() != slow.ID() {
		t.Fatalf("ready %v, not ready %v", ready, notReady)
	}
	// Asking for more than are ready: the timeout ends the wait, not an error.
	start := time.Now()
	ready, notReady, err = goray.Wait(ctx, refs, 3, 30*time.Millisecond)
	if err != nil || len(ready) != 2 || len(notReady) != 1 {
		t.Fatalf("timeout: %v %v %v", ready, notReady, err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatalf("Wait returned before its timeout")
	}
	// Zero timeout polls.
	ready, _, err = goray.Wait(ctx, refs, 3, 0)
	if err != nil || len(ready) != 2 {
		t.Fatalf("poll: %v %v", ready, err)
	}
	// numReady limits ready even when more are ready.
	ready, notReady, err = goray.Wait(ctx, refs, 1, time.Second)
	if err != nil || len(ready) != 1 || len(notReady) != 2 {
		t.Fatalf("numReady 1: %v %v %v", ready, notReady, err)
	}
	for _, n := range []int{0, 4, -1} {
		if _, _, err := goray.Wait(ctx, refs, n, 0); !errors.Is(err, goray.ErrInvalidArgument) {
			t.Fatalf("numReady %d: got %v", n, err)
		}
	}
	// A ctx that ends stops the wait.
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := goray.Wait(cctx, refs, 3, -1); !errors.Is(err, goray.ErrTimeout) {
		t.Fatalf("ctx deadline: %v", err)
	}
	// Wait wakes when a pending ref completes.
	later := double.Remote(ctx, 7)
	ready, _, err = goray.Wait(ctx, []goray.AnyRef{later}, 1, -1)
	if err != nil || len(ready) != 1 {
		t.Fatalf("wake: %v %v", ready, err)
	}
}

func TestPutGet(t *testing.T) {
	ctx := start(t)
	big := bytes.Repeat([]byte("goray"), 100_000) // 500 KB: goes to the store
	floats := make([]float32, 50_000)
	for i := range floats {
		floats[i] = float32(i) / 3
	}
	type point struct {
		X, Y int
		Tag  string
	}
	t.Run("int", func(t *testing.T) {
		r, err := goray.Put(ctx, 7)
		if err != nil || mustGet(t, ctx, r) != 7 {
			t.Fatal(err)
		}
	})
	t.Run("struct", func(t *testing.T) {
		r, err := goray.Put(ctx, point{1, 2, "p"})
		if err != nil || mustGet(t, ctx, r) != (point{1, 2, "p"}) {
			t.Fatal(err)
		}
	})
	t.Run("large bytes via store", func(t *testing.T) {
		r, err := goray.Put(ctx, big)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, ctx, r); !bytes.Equal(got, big) {
			t.Fatal("large value changed")
		}
		// A large Ref as an argument, and a large result.
		if got := mustGet(t, ctx, echoB.Submit(ctx, r)); !bytes.Equal(got, big) {
			t.Fatal("large value through a task changed")
		}
	})
	t.Run("float32 slice", func(t *testing.T) {
		r, err := goray.Put(ctx, floats)
		if err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, ctx, r)
		if len(got) != len(floats) || got[123] != floats[123] {
			t.Fatal("floats changed")
		}
		got[0] = -1 // values are copies: the stored object is unchanged
		if again := mustGet(t, ctx, r); again[0] != 0 {
			t.Fatal("Get returned shared memory")
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		if _, err := goray.Put(ctx, func() {}); !errors.Is(err, goray.ErrInvalidArgument) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("type mismatch", func(t *testing.T) {
		r, _ := goray.Put(ctx, "text")
		other := goray.Ref[int](goray.Ref[int]{})
		_ = other
		if _, err := goray.Get(ctx, goray.Ref[int]{}); !errors.Is(err, goray.ErrInvalidArgument) {
			t.Fatalf("zero ref: %v", err)
		}
		_ = r
	})
}

func TestSpillAndRestore(t *testing.T) {
	dir := t.TempDir()
	ctx := start(t, goray.WithObjectStoreMemory(1<<20), goray.WithSpillDir(dir))
	const n = 12
	refs := make([]goray.Ref[[]byte], n)
	want := make([][]byte, n)
	for i := range refs {
		want[i] = bytes.Repeat([]byte{byte(i)}, 300<<10)
		r, err := goray.Put(ctx, want[i])
		if err != nil {
			t.Fatal(err)
		}
		refs[i] = r
	}
	st, err := goray.ObjectStoreStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Spilled == 0 || st.UsedBytes > 1<<20 {
		t.Fatalf("store over capacity without spilling: %+v", st)
	}
	for i, r := range refs {
		if got := mustGet(t, ctx, r); !bytes.Equal(got, want[i]) {
			t.Fatalf("object %d changed after spilling", i)
		}
	}
	st, _ = goray.ObjectStoreStats(ctx)
	if st.RestoreCount == 0 {
		t.Fatalf("no object was restored: %+v", st)
	}
	runtime.KeepAlive(refs)
}

func storeObjects(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	st, err := goray.ObjectStoreStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Objects
}

func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	pollFor(t, 20*time.Second, what, cond)
}

// pollFor is pollUntil with a deadline of d.
func pollFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFree(t *testing.T) {
	ctx := start(t)
	big := bytes.Repeat([]byte{1}, 200<<10)
	r, err := goray.Put(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	small, _ := goray.Put(ctx, 3)
	pollUntil(t, "object in store", func() bool { return storeObjects(t, ctx) == 1 })
	if err := goray.Free(ctx, r, small); err != nil {
		t.Fatal(err)
	}
	if _, err := goray.Get(ctx, r); !errors.Is(err, goray.ErrObjectFreed) {
		t.Fatalf("large: got %v, want ErrObjectFreed", err)
	}
	if _, err := goray.Get(ctx, small); !errors.Is(err, goray.ErrObjectFreed) {
		t.Fatalf("small: got %v, want ErrObjectFreed", err)
	}
	pollUntil(t, "store emptied by Free", func() bool { return storeObjects(t, ctx) == 0 })
	if _, err := goray.Get(ctx, double.Submit(ctx, small)); !errors.Is(err, goray.ErrObjectFreed) {
		t.Fatalf("freed ref as argument: %v", err)
	}
}

// Objects nothing can reach any more leave the store.
func TestUnreachableObjectsFreed(t *testing.T) {
	ctx := start(t)
	func() {
		for range 5 {
			if _, err := goray.Put(ctx, bytes.Repeat([]byte{2}, 150<<10)); err != nil {
				t.Fatal(err)
			}
		}
		r := echoB.Remote(ctx, bytes.Repeat([]byte{3}, 150<<10))
		mustGet(t, ctx, r)
	}()
	pollUntil(t, "unreachable objects freed", func() bool { return storeObjects(t, ctx) == 0 })

	// A reachable Ref keeps its object.
	keep, _ := goray.Put(ctx, bytes.Repeat([]byte{4}, 150<<10))
	runtime.GC()
	runtime.GC()
	if got := mustGet(t, ctx, keep); len(got) != 150<<10 {
		t.Fatal("reachable object lost")
	}
	runtime.KeepAlive(keep)
}

func TestShutdownFailsPending(t *testing.T) {
	ctx, err := goray.Init(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := blockUntilCancelled.Remote(ctx, 1)
	if err := goray.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := goray.Get(cctx, r); !errors.Is(err, goray.ErrShutdown) {
		t.Fatalf("pending ref after shutdown: %v, want ErrShutdown", err)
	}
	if _, err := goray.Get(ctx, double.Remote(ctx, 1)); !errors.Is(err, goray.ErrShutdown) {
		t.Fatalf("call after shutdown: %v", err)
	}
}

var (
	gpuTask    = goray.Task("test.gpu-ids", func(ctx context.Context, _ int) ([]int, error) { return goray.GPUIDs(ctx), nil })
	gpuHolders sync.Map // key -> *atomic.Int32
	// gpuHold holds its devices until the key's gate opens.
	gpuHold = goray.Task("test.gpu-hold", func(ctx context.Context, key string) ([]int, error) {
		counter(&gpuHolders, key).Add(1)
		select {
		case <-gateOf(key):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return goray.GPUIDs(ctx), nil
	})
)

func TestGPUAssignment(t *testing.T) {
	ctx := start(t, goray.WithGPUs(2), goray.WithCPUs(4))
	tests := []struct {
		name string
		opts []goray.Option
		n    int
	}{
		{"no gpu", nil, 0},
		{"one gpu", []goray.Option{goray.GPUs(1)}, 1},
		{"two gpus", []goray.Option{goray.GPUs(2)}, 2},
		{"half a gpu", []goray.Option{goray.GPUs(0.5)}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids := mustGet(t, ctx, gpuTask.Remote(ctx, 0, tc.opts...))
			if len(ids) != tc.n {
				t.Fatalf("GPU IDs %v, want %d of them", ids, tc.n)
			}
			for _, id := range ids {
				if id < 0 || id > 1 {
					t.Fatalf("GPU ID %d out of range", id)
				}
			}
		})
	}
	// Tasks that hold their devices at the same time get different ones:
	// two whole GPUs, then two halves of one device.
	for _, tc := range []struct {
		amount   float64
		distinct int
	}{{1, 2}, {0.5, 1}} {
		key := uniqueKey(t)
		held := []goray.Ref[[]int]{gpuHold.Remote(ctx, key, goray.GPUs(tc.amount)), gpuHold.Remote(ctx, key, goray.GPUs(tc.amount))}
		pollUntil(t, "both GPU tasks hold their devices", func() bool { return counter(&gpuHolders, key).Load() == 2 })
		close(gateOf(key))
		seen := map[int]bool{}
		for _, r := range held {
			ids := mustGet(t, ctx, r)
			if len(ids) != 1 {
				t.Fatalf("%v GPU: devices %v, want one", tc.amount, ids)
			}
			seen[ids[0]] = true
		}
		if len(seen) != tc.distinct {
			t.Fatalf("two tasks of %v GPU each held devices %v at once, want %d distinct", tc.amount, seen, tc.distinct)
		}
	}
	if _, err := goray.Get(ctx, gpuTask.Remote(ctx, 0, goray.GPUs(1.5))); !errors.Is(err, goray.ErrInvalidArgument) {
		t.Fatalf("1.5 GPUs: %v", err)
	}
	if _, err := goray.Get(ctx, gpuTask.Remote(ctx, 0, goray.GPUs(3))); !errors.Is(err, goray.ErrInfeasible) {
		t.Fatalf("3 GPUs on a 2-GPU node: %v", err)
	}
}
