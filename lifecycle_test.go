package goray_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// Definitions for the lifecycle tests: failures, hangs and leaks that must
// end in a clear answer within a deadline.
var (
	// gates hold tasks until the test releases them, by key.
	gates     sync.Map // key -> chan struct{}
	gatedFail = goray.Task("test.gated-fail", func(ctx context.Context, key string) (int, error) {
		select {
		case <-gateOf(key):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 0, errors.New("gated failure " + key)
	})
	gatedValue = goray.Task("test.gated-value", func(ctx context.Context, key string) (int, error) {
		select {
		case <-gateOf(key):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 1, nil
	})
	inc = goray.Task("test.inc", func(ctx context.Context, x int) (int, error) { return x + 1, nil })

	goexitCalls sync.Map // key -> *atomic.Int32
	goexitOnce  = goray.Task("test.goexit-once", func(ctx context.Context, key string) (int32, error) {
		c, _ := goexitCalls.LoadOrStore(key, new(atomic.Int32))
		n := c.(*atomic.Int32).Add(1)
		if n == 1 {
			runtime.Goexit()
		}
		return n, nil
	})
	goexitMethod = goray.Method(recorder, "goexit", func(r *Recorder, ctx context.Context, _ int) (int, error) {
		runtime.Goexit()
		return 0, nil
	})

	// blockStarted and cancelSeen count, by key, the calls that started
	// and the calls whose context was then cancelled.
	blockStarted sync.Map // key -> *atomic.Int32
	cancelSeen   sync.Map // key -> *atomic.Int32
	blockRecord  = goray.Method(gateActor, "block", func(g *gate, ctx context.Context, key string) (int, error) {
		counter(&blockStarted, key).Add(1)
		<-ctx.Done()
		counter(&cancelSeen, key).Add(1)
		return 0, ctx.Err()
	})

	// leaveGoroutine returns at once, leaving a goroutine that waits for
	// the task's context to end.
	leftBehind     sync.Map
	leaveGoroutine = goray.Task("test.leave-goroutine", func(ctx context.Context, key string) (int, error) {
		go func() {
			<-ctx.Done()
			counter(&leftBehind, key).Add(1)
		}()
		return 0, nil
	})

	// Bulky carries a constructor argument large enough to matter.
	bulky = goray.Actor("test.bulky", func(ctx context.Context, b []byte) (*Recorder, error) {
		return &Recorder{start: len(b)}, nil
	})
	bulkyLen   = goray.Method0(bulky, "len", (*Recorder).Start)
	bulkyBlock = goray.Method(bulky, "block", (*Recorder).Block)
)

func counter(m *sync.Map, key string) *atomic.Int32 {
	c, _ := m.LoadOrStore(key, new(atomic.Int32))
	return c.(*atomic.Int32)
}

func gateOf(key string) chan struct{} {
	g, _ := gates.LoadOrStore(key, make(chan struct{}))
	return g.(chan struct{})
}

func uniqueKey(t *testing.T) string {
	return fmt.Sprintf("%s/%d", t.Name(), time.Now().UnixNano())
}

// getWithin waits at most d for r; a hang is a test failure, not a hang.
func getWithin[T any](t *testing.T, ctx context.Context, r goray.Ref[T], d time.Duration) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := goray.Get(ctx, r)
	if errors.Is(err, goray.ErrTimeout) {
		t.Fatalf("Get did not finish within %v", d)
	}
	return v, err
}

// A queued actor call whose Ref argument fails must not block the handle:
// the calls behind it run, and Shutdown returns.
func TestFailedDependencyDoesNotBlockActorHandle(t *testing.T) {
	ctx := start(t)
	a, err := recorder.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	key := uniqueKey(t)
	dep := gatedFail.Remote(ctx, key)
	first := doubleIn.Submit(ctx, a, dep)    // waits for dep, which fails
	second := doubleIn.Submit(ctx, a, first) // waits for first, queued behind it
	third := record.Remote(ctx, a, 7)        // queued behind both
	close(gateOf(key))
	for i, r := range []goray.Ref[int]{first, second} {
		if _, err := getWithin(t, ctx, r, 10*time.Second); !errors.Is(err, goray.ErrTaskFailed) {
			t.Fatalf("call %d with a failed dependency: %v", i, err)
		}
	}
	if got, err := getWithin(t, ctx, third, 10*time.Second); err != nil || len(got) != 1 || got[0] != 7 {
		t.Fatalf("call behind them: %v, %v", got, err)
	}
}

// A failure propagates along a chain of any length without recursion.
func TestLongFailureChain(t *testing.T) {
	if testing.Short() {
		t.Skip("long chain")
	}
	// A recursive propagation needs a deep stack; bound stacks well below
	// what the chain would need, so that recursion fails here, not later.
	defer debug.SetMaxStack(debug.SetMaxStack(32 << 20))
	ctx := start(t)
	key := uniqueKey(t)
	const n = 200_000
	r := gatedFail.Remote(ctx, key)
	for range n {
		r = inc.Submit(ctx, r)
	}
	close(gateOf(key))
	if _, err := getWithin(t, ctx, r, time.Minute); !errors.Is(err, goray.ErrTaskFailed) || !strings.Contains(err.Error(), "gated failure") {
		t.Fatalf("end of chain: %v", err)
	}
}

// A handle from GetActor on an actor that is still pending queues its calls
// until the actor is placed; a pending actor can be killed.
func TestPendingActorHandle(t *testing.T) {
	ctx, cancel := context.WithTimeout(start(t, goray.WithCPUs(1)), time.Minute)
	defer cancel()
	holder, err := recorder.New(ctx, 0, goray.CPUs(1))
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueKey(t)
	created := make(chan error, 1)
	go func() {
		_, err := recorder.New(ctx, 5, goray.CPUs(1), goray.Name(name))
		created <- err
	}()
	var pending goray.ActorRef[Recorder]
	deadline := time.Now().Add(10 * time.Second)
	for {
		pending, err = goray.GetActor[Recorder](ctx, name)
		if err == nil {
			break
		}
		if !errors.Is(err, goray.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("GetActor: %v", err)
		}
		runtime.Gosched()
	}
	call := startOf.Remote(ctx, pending)
	if call.Ready() {
		t.Fatal("a call on a pending actor finished before the actor was placed")
	}
	if err := goray.Kill(ctx, holder); err != nil {
		t.Fatal(err)
	}
	if got, err := getWithin(t, ctx, call, 10*time.Second); err != nil || got != 5 {
		t.Fatalf("call queued on the pending actor: %v, %v", got, err)
	}
	if err := <-created; err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := goray.Kill(ctx, pending); err != nil {
		t.Fatal(err)
	}

	// Kill works on an actor that is still pending.
	blocker, err := recorder.New(ctx, 0, goray.CPUs(1))
	if err != nil {
		t.Fatal(err)
	}
	name2 := uniqueKey(t)
	go func() {
		_, err := recorder.New(ctx, 6, goray.CPUs(1), goray.Name(name2))
		created <- err
	}()
	for {
		pending, err = goray.GetActor[Recorder](ctx, name2)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetActor: %v", err)
		}
		runtime.Gosched()
	}
	queued := startOf.Remote(ctx, pending)
	if err := goray.Kill(ctx, pending); err != nil {
		t.Fatalf("killing a pending actor: %v", err)
	}
	if err := <-created; !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("New of an actor killed while pending: %v", err)
	}
	if _, err := getWithin(t, ctx, queued, 10*time.Second); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("call queued on an actor killed while pending: %v", err)
	}
	// The blocker still holds the CPU; killing it frees it for a task.
	if err := goray.Kill(ctx, blocker); err != nil {
		t.Fatal(err)
	}
	if _, err := getWithin(t, ctx, double.Remote(ctx, 1, goray.CPUs(1)), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// A call kept for retry is answered when the actor dies instead.
func TestRetryOfDeadActorIsAnswered(t *testing.T) {
	ctx := start(t, goray.WithRestartBackoff(time.Millisecond))
	a, err := recorder.New(ctx, 0, goray.MaxRestarts(0), goray.MaxTaskRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getWithin(t, ctx, panicMethod.Remote(ctx, a, "boom"), 10*time.Second); !errors.Is(err, goray.ErrActorDied) && !errors.Is(err, goray.ErrTaskFailed) {
		t.Fatalf("call that killed the actor: %v", err)
	}
	if _, err := getWithin(t, ctx, record.Remote(ctx, a, 1), 10*time.Second); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("call after death: %v", err)
	}
}

// New gives up when its ctx ends, and the creation is cancelled with it:
// no actor appears later holding resources without a handle.
func TestNewHonoursContext(t *testing.T) {
	ctx := start(t, goray.WithCPUs(1))
	holder, err := recorder.New(ctx, 0, goray.CPUs(1))
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueKey(t)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := recorder.New(short, 1, goray.CPUs(1), goray.Name(name)); !errors.Is(err, goray.ErrTimeout) {
		t.Fatalf("New past its deadline: %v", err)
	}
	if err := goray.Kill(ctx, holder); err != nil {
		t.Fatal(err)
	}
	// The CPU is free for a task: no orphan took it.
	if _, err := getWithin(t, ctx, double.Remote(ctx, 1, goray.CPUs(1)), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	actors, err := goray.ListActors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actors {
		if a.Name == name && a.State != "DEAD" {
			t.Fatalf("abandoned creation left actor %+v", a)
		}
	}
}

// Cancel reaches every running call of a concurrent actor.
func TestCancelConcurrentCalls(t *testing.T) {
	ctx := start(t)
	g, err := gateActor.New(ctx, goray.MaxConcurrency(3))
	if err != nil {
		t.Fatal(err)
	}
	key := uniqueKey(t)
	refs := []goray.Ref[int]{blockRecord.Remote(ctx, g, key), blockRecord.Remote(ctx, g, key), blockRecord.Remote(ctx, g, key)}
	pollUntil(t, "three calls running at once", func() bool { return counter(&blockStarted, key).Load() == 3 })
	for _, r := range refs {
		if err := goray.Cancel(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range refs {
		if _, err := getWithin(t, ctx, r, 10*time.Second); !errors.Is(err, goray.ErrTaskCancelled) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// Each call saw its own context cancelled: the host acted, not just
	// the caller.
	pollUntil(t, "each running call sees its context cancelled", func() bool { return counter(&cancelSeen, key).Load() == 3 })
}

// A fractional GPU request waits for a device with room instead of failing
// when the free fractions are spread over several devices.
func TestFractionalGPUsUnderFragmentation(t *testing.T) {
	ctx := start(t, goray.WithGPUs(2), goray.WithCPUs(4))
	keys := []string{uniqueKey(t) + "a", uniqueKey(t) + "b"}
	blockers := []goray.Ref[int]{
		gatedValue.Remote(ctx, keys[0], goray.GPUs(0.6)),
		gatedValue.Remote(ctx, keys[1], goray.GPUs(0.6)),
	}
	deadline := time.Now().Add(10 * time.Second)
	for !twoRunning(ctx) {
		if time.Now().After(deadline) {
			t.Fatal("the two 0.6 GPU tasks did not start")
		}
		runtime.Gosched()
	}
	// 0.8 GPU is free in total, but no device has 0.5 free.
	third := gpuTask.Remote(ctx, 0, goray.GPUs(0.5))
	close(gateOf(keys[0]))
	got, err := getWithin(t, ctx, third, 10*time.Second)
	if err != nil {
		t.Fatalf("0.5 GPU task under fragmentation: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("0.5 GPU task got devices %v, want one", got)
	}
	close(gateOf(keys[1]))
	for _, b := range blockers {
		if _, err := getWithin(t, ctx, b, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// twoRunning reports whether two tasks hold GPU shares: with both shares
// taken, a 0.6 request would not fit anywhere.
func twoRunning(ctx context.Context) bool {
	probe := gpuTask.Remote(ctx, 0, goray.GPUs(0.6))
	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := goray.Get(ctx2, probe)
	_ = goray.Cancel(ctx, probe)
	return errors.Is(err, goray.ErrTimeout)
}

// A task whose goroutine exits through runtime.Goexit is a worker failure:
// it is retried per MaxRetries.
func TestTaskGoexitIsRetried(t *testing.T) {
	ctx := start(t)
	key := uniqueKey(t)
	got, err := getWithin(t, ctx, goexitOnce.Remote(ctx, key, goray.MaxRetries(1)), 10*time.Second)
	if err != nil || got != 2 {
		t.Fatalf("got %d, %v; want the second attempt's 2", got, err)
	}
	key2 := uniqueKey(t) + "b"
	if _, err := getWithin(t, ctx, goexitOnce.Remote(ctx, key2, goray.MaxRetries(0)), 10*time.Second); !errors.Is(err, goray.ErrSystem) {
		t.Fatalf("without retries: %v", err)
	}
}

// An actor method that exits its goroutine fails the call and restarts the
// actor per MaxRestarts; later calls work.
func TestActorGoexitRestarts(t *testing.T) {
	ctx := start(t, goray.WithRestartBackoff(time.Millisecond))
	a, err := recorder.New(ctx, 3, goray.MaxRestarts(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getWithin(t, ctx, goexitMethod.Remote(ctx, a, 0), 10*time.Second); err == nil {
		t.Fatal("a call that exited its goroutine succeeded")
	}
	if got, err := getWithin(t, ctx, startOf.Remote(ctx, a), 10*time.Second); err != nil || got != 3 {
		t.Fatalf("after restart: %v, %v", got, err)
	}
	if _, err := getWithin(t, ctx, goexitMethod.Remote(ctx, a, 0), 10*time.Second); err == nil {
		t.Fatal("a call that exited its goroutine succeeded")
	}
	if _, err := getWithin(t, ctx, startOf.Remote(ctx, a), 10*time.Second); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("past its restarts: %v", err)
	}
}

// Dead actors are reclaimed: killing many actors gives their memory back,
// while late calls still get ErrActorDied.
func TestDeadActorsAreReclaimed(t *testing.T) {
	ctx := start(t)
	const n, argSize = 500, 64 << 10 // inline arguments, kept with the spec
	arg := make([]byte, argSize)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	var last goray.ActorRef[Recorder]
	for i := range n {
		a, err := bulky.New(ctx, arg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := getWithin(t, ctx, bulkyLen.Remote(ctx, a), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := goray.Kill(ctx, a); err != nil {
			t.Fatal(err)
		}
		if i == n-1 {
			last = a
		}
	}
	if _, err := getWithin(t, ctx, bulkyLen.Remote(ctx, last), 10*time.Second); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("late call on a dead actor: %v", err)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapAlloc) - int64(before); grown > n*argSize/4 {
		t.Fatalf("heap grew by %d bytes after %d actors died (%d bytes of arguments)", grown, n, n*argSize)
	}
}

// Kill of a concurrent actor while its calls run is free of data races
// (run with -race) and answers every call.
func TestKillConcurrentActorWhileRunning(t *testing.T) {
	ctx := start(t)
	a, err := bulky.New(ctx, []byte("x"), goray.MaxConcurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	var refs []goray.Ref[int]
	for range 4 {
		refs = append(refs, bulkyBlock.Remote(ctx, a, 0))
	}
	for range 4 {
		refs = append(refs, bulkyLen.Remote(ctx, a))
	}
	if err := goray.Kill(ctx, a); err != nil {
		t.Fatal(err)
	}
	for i, r := range refs[:4] {
		if _, err := getWithin(t, ctx, r, 10*time.Second); !errors.Is(err, goray.ErrActorDied) {
			t.Fatalf("running call %d: %v", i, err)
		}
	}
	for _, r := range refs[4:] {
		if _, err := getWithin(t, ctx, r, 10*time.Second); err != nil && !errors.Is(err, goray.ErrActorDied) {
			t.Fatalf("queued call: %v", err)
		}
	}
}

// After Shutdown every call on old Refs and handles says so; a Get waiting
// when Shutdown runs gets ErrShutdown too.
func TestAfterShutdown(t *testing.T) {
	ctx, err := goray.Init(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, err := recorder.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := mustGet(t, ctx, double.Remote(ctx, 2)) // settles before Shutdown
	_ = done
	ready := double.Remote(ctx, 3)
	mustGet(t, ctx, ready)
	key := uniqueKey(t)
	waiting := gatedValue.Remote(ctx, key)
	got := make(chan error, 1)
	go func() {
		_, err := goray.Get(context.Background(), waiting)
		got <- err
	}()
	if err := goray.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	close(gateOf(key))
	select {
	case err := <-got:
		if !errors.Is(err, goray.ErrShutdown) {
			t.Fatalf("Get waiting at Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get waiting at Shutdown did not return")
	}
	checks := map[string]error{}
	_, checks["Get"] = goray.Get(context.Background(), ready)
	_, _, checks["Wait"] = goray.Wait(context.Background(), []goray.AnyRef{ready}, 1, 0)
	checks["Free"] = goray.Free(context.Background(), ready)
	checks["Cancel"] = goray.Cancel(context.Background(), waiting)
	checks["Kill"] = goray.Kill(ctx, a)
	_, checks["call"] = goray.Get(context.Background(), record.Remote(ctx, a, 1))
	_, checks["task"] = goray.Get(context.Background(), double.Remote(ctx, 1))
	for name, err := range checks {
		if !errors.Is(err, goray.ErrShutdown) {
			t.Errorf("%s after Shutdown: %v, want ErrShutdown", name, err)
		}
	}
}

// Bad input at the API's edges is an error with a sentinel, never a panic.
func TestBadInputAtTheEdges(t *testing.T) {
	ctx := start(t)
	deep := func(n int) any {
		var v any = 1
		for range n {
			v = []any{v}
		}
		return v
	}
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"Kill nil", func() error { return goray.Kill(ctx, nil) }, goray.ErrInvalidArgument},
		{"Init nil ctx", func() error {
			//lint:ignore SA1012 a nil context is the bad input under test
			_, err := goray.Init(nil) //nolint:staticcheck
			return err
		}, goray.ErrInvalidArgument},
		{"Init negative CPUs", func() error { _, err := goray.Init(context.Background(), goray.WithCPUs(-1)); return err }, goray.ErrInvalidArgument},
		{"Init negative heap floor", func() error {
			_, err := goray.Init(context.Background(), goray.WithHeapFloor(-1))
			return err
		}, goray.ErrInvalidArgument},
		{"Init NaN resource", func() error {
			_, err := goray.Init(context.Background(), goray.WithResources(map[string]float64{"x": nan()}))
			return err
		}, goray.ErrInvalidArgument},
		{"GetActor with an option that does not apply", func() error {
			_, err := goray.GetActor[Recorder](ctx, "x", goray.MaxRestarts(1))
			return err
		}, goray.ErrInvalidArgument},
		{"Put too deep to decode", func() error { _, err := goray.Put(ctx, deep(200)); return err }, goray.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panicked: %v", r)
					}
				}()
				err = tc.run()
			}()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }

// A call whose Ref argument becomes ready while the call is being queued is
// still sent: no call waits for a readiness it already missed. The driver
// submits each call just as its argument completes on another goroutine,
// as a parameter server's driver does.
func TestActorCallsRaceTheirArguments(t *testing.T) {
	ctx := start(t)
	workers := make([]goray.ActorRef[Recorder], 2)
	for i := range workers {
		w, err := recorder.New(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		workers[i] = w
	}
	server, err := recorder.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 5000
	refs := make([]goray.AnyRef, len(workers))
	typed := make([]goray.Ref[int], len(workers))
	for i, w := range workers {
		typed[i] = startOf.Remote(ctx, w)
		refs[i] = typed[i]
	}
	for range rounds {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		ready, _, err := goray.Wait(wctx, refs, 1, -1)
		cancel()
		if err != nil {
			t.Fatalf("no call finished: %v", err)
		}
		i := slices.IndexFunc(refs, func(r goray.AnyRef) bool { return r.ID() == ready[0].ID() })
		last := doubleIn.Submit(ctx, server, typed[i])
		typed[i] = doubleIn.Submit(ctx, workers[i], last)
		refs[i] = typed[i]
	}
	for _, r := range typed {
		if _, err := getWithin(t, ctx, r, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// A task's context ends when the task returns, so a goroutine it left
// behind is told to stop.
func TestTaskContextEndsWithTheTask(t *testing.T) {
	ctx := start(t)
	key := uniqueKey(t)
	if _, err := getWithin(t, ctx, leaveGoroutine.Remote(ctx, key), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the goroutine the task left sees its context end", func() bool { return counter(&leftBehind, key).Load() == 1 })
}

// A result the store cannot keep fails with the store's reason when it is
// produced, not later as a lost object.
func TestStoreFailureReachesTheCaller(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := start(t, goray.WithObjectStoreMemory(64<<10), goray.WithSpillDir(file))
	_, err := getWithin(t, ctx, echoB.Remote(ctx, make([]byte, 512<<10)), 10*time.Second)
	if !errors.Is(err, goray.ErrSystem) || errors.Is(err, goray.ErrObjectLost) {
		t.Fatalf("result the store could not keep: %v, want ErrSystem", err)
	}
}
