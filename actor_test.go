package goray_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// Recorder keeps the values it was sent, in order.
type Recorder struct {
	start int
	seen  []int
	child goray.ActorRef[Splitter] // an actor it created and holds
}

func (r *Recorder) Record(ctx context.Context, v int) ([]int, error) {
	r.seen = append(r.seen, v)
	return r.seen, nil
}

func (r *Recorder) Start(ctx context.Context) (int, error) { return r.start, nil }

func (r *Recorder) Panic(ctx context.Context, msg string) (int, error) { panic(msg) }

// Double calls a task from inside an actor method.
func (r *Recorder) Double(ctx context.Context, v int) (int, error) {
	return goray.Get(ctx, double.Remote(ctx, v))
}

func (r *Recorder) Block(ctx context.Context, _ int) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

var (
	constructed atomic.Int64
	recorder    = goray.Actor("test.recorder", func(ctx context.Context, start int) (*Recorder, error) {
		if start < 0 {
			return nil, fmt.Errorf("start %d is negative", start)
		}
		constructed.Add(1)
		return &Recorder{start: start}, nil
	})
	record      = goray.Method(recorder, "record", (*Recorder).Record)
	startOf     = goray.Method0(recorder, "start", (*Recorder).Start)
	panicMethod = goray.Method(recorder, "panic", (*Recorder).Panic)
	doubleIn    = goray.Method(recorder, "double", (*Recorder).Double)
	blockIn     = goray.Method(recorder, "block", (*Recorder).Block)
	record3     = goray.Method3(recorder, "record3", func(r *Recorder, ctx context.Context, a, b, c int) ([]int, error) {
		r.seen = append(r.seen, a, b, c)
		return r.seen, nil
	})

	// flakyActor panics on the first call of each key, then succeeds.
	flakySeen  sync.Map
	flakyActor = goray.Actor0("test.flaky-actor", func(ctx context.Context) (*Recorder, error) { return &Recorder{}, nil })
	flakyCall  = goray.Method(flakyActor, "call", func(r *Recorder, ctx context.Context, key string) (string, error) {
		if _, loaded := flakySeen.LoadOrStore(key, true); !loaded {
			panic("first attempt of " + key)
		}
		return "ok " + key, nil
	})

	gateActor = goray.Actor0("test.gate", func(ctx context.Context) (*gate, error) { return &gate{}, nil })
)

// slots counts how many of its calls run at once, per key prefix.
type slots struct{}

type slotStat struct {
	running, started, most, finished, finishedAtThirdStart atomic.Int32
}

var (
	slotStatsMap sync.Map // key -> *slotStat
	slotBegun    sync.Map // call key -> *atomic.Int32
	slotsActor   = goray.Actor0("test.slots", func(ctx context.Context) (*slots, error) { return &slots{}, nil })
	// slotHold runs until the gate of its call key opens; the stats go by
	// the key without its last character.
	slotHold = goray.Method(slotsActor, "hold", func(s *slots, ctx context.Context, call string) (int32, error) {
		st := slotStats(call[:len(call)-1])
		counter(&slotBegun, call).Add(1)
		n := st.running.Add(1)
		if st.started.Add(1) == 3 {
			st.finishedAtThirdStart.Store(st.finished.Load())
		}
		for {
			m := st.most.Load()
			if n <= m || st.most.CompareAndSwap(m, n) {
				break
			}
		}
		defer func() { st.running.Add(-1); st.finished.Add(1) }()
		select {
		case <-gateOf(call):
			return n, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
)

func slotStats(key string) *slotStat {
	v, _ := slotStatsMap.LoadOrStore(key, new(slotStat))
	return v.(*slotStat)
}

// gate is an actor whose methods are registered where they are used.
type gate struct{}

func TestActorCallsInOrder(t *testing.T) {
	ctx := start(t)
	a, err := recorder.New(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	var last goray.Ref[[]int]
	for i := range 200 {
		last = record.Remote(ctx, a, i)
	}
	got := mustGet(t, ctx, last)
	if len(got) != 200 {
		t.Fatalf("got %d values", len(got))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("call %d ran as %d: out of order", i, v)
		}
	}
	if s := mustGet(t, ctx, startOf.Remote(ctx, a)); s != 5 {
		t.Fatalf("start = %d", s)
	}
	// A Ref argument that is not ready yet keeps later calls behind it.
	slow := sumN.Remote(ctx, 3) // 6
	r1 := record.Submit(ctx, a, slow)
	r2 := record.Remote(ctx, a, 1000)
	mustGet(t, ctx, r1)
	seen := mustGet(t, ctx, r2)
	if n := len(seen); seen[n-2] != 6 || seen[n-1] != 1000 {
		t.Fatalf("order with a pending Ref argument: %v", seen[n-2:])
	}
	// Three arguments, one of them a Ref.
	seen = mustGet(t, ctx, record3.Submit(ctx, a, goray.Val(7), double.Remote(ctx, 4), goray.Val(9)))
	if n := len(seen); seen[n-3] != 7 || seen[n-2] != 8 || seen[n-1] != 9 {
		t.Fatalf("record3: %v", seen[n-3:])
	}
	// Methods can call tasks.
	if v := mustGet(t, ctx, doubleIn.Remote(ctx, a, 21)); v != 42 {
		t.Fatalf("nested call: %d", v)
	}
}

func TestNamedActors(t *testing.T) {
	ctx := start(t, goray.WithNamespace("ns1"))
	a, err := recorder.New(ctx, 1, goray.Name("rec"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "rec" || a.ID() == "" {
		t.Fatalf("handle: %q %q", a.Name(), a.ID())
	}
	found, err := goray.GetActor[Recorder](ctx, "rec")
	if err != nil {
		t.Fatal(err)
	}
	if found.ID() != a.ID() {
		t.Fatal("lookup found another actor")
	}
	mustGet(t, ctx, record.Remote(ctx, a, 1))
	if seen := mustGet(t, ctx, record.Remote(ctx, found, 2)); len(seen) != 2 {
		t.Fatalf("state not shared through the found handle: %v", seen)
	}
	tests := []struct {
		name     string
		err      error
		sentinel error
	}{
		{"duplicate name", func() error { _, err := recorder.New(ctx, 1, goray.Name("rec")); return err }(), goray.ErrAlreadyExists},
		{"same name other namespace", func() error {
			_, err := recorder.New(ctx, 1, goray.Name("rec"), goray.Namespace("ns2"))
			return err
		}(), nil},
		{"unknown name", func() error { _, err := goray.GetActor[Recorder](ctx, "nobody"); return err }(), goray.ErrNotFound},
		{"wrong namespace", func() error {
			_, err := goray.GetActor[Recorder](ctx, "rec", goray.Namespace("ns3"))
			return err
		}(), goray.ErrNotFound},
		{"wrong type", func() error { _, err := goray.GetActor[gate](ctx, "rec"); return err }(), goray.ErrInvalidArgument},
		{"task option on actor", func() error { _, err := recorder.New(ctx, 1, goray.MaxRetries(2)); return err }(), goray.ErrInvalidArgument},
		{"bad concurrency", func() error { _, err := recorder.New(ctx, 1, goray.MaxConcurrency(0)); return err }(), goray.ErrInvalidArgument},
		{"infeasible actor", func() error { _, err := recorder.New(ctx, 1, goray.GPUs(4)); return err }(), goray.ErrInfeasible},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.sentinel == nil {
				if tc.err != nil {
					t.Fatal(tc.err)
				}
				return
			}
			if !errors.Is(tc.err, tc.sentinel) {
				t.Fatalf("got %v, want %v", tc.err, tc.sentinel)
			}
		})
	}
	// A killed actor's name is free again.
	if err := goray.Kill(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := recorder.New(ctx, 2, goray.Name("rec")); err != nil {
		t.Fatalf("reusing a dead actor's name: %v", err)
	}
}

func TestConstructorFails(t *testing.T) {
	ctx := start(t)
	_, err := recorder.New(ctx, -1)
	if !errors.Is(err, goray.ErrActorDied) || !strings.Contains(err.Error(), "start -1 is negative") {
		t.Fatalf("got %v", err)
	}
}

func TestActorRestarts(t *testing.T) {
	ctx := start(t, goray.WithRestartBackoff(time.Millisecond))
	a, err := recorder.New(ctx, 7, goray.MaxRestarts(2))
	if err != nil {
		t.Fatal(err)
	}
	before := constructed.Load()
	for round := 1; round <= 2; round++ {
		mustGet(t, ctx, record.Remote(ctx, a, 1))
		_, err := goray.Get(ctx, panicMethod.Remote(ctx, a, fmt.Sprintf("boom %d", round)))
		var te *goray.TaskError
		if !errors.As(err, &te) || !te.Panicked || !strings.Contains(te.Message, fmt.Sprintf("boom %d", round)) {
			t.Fatalf("round %d: panic error %v", round, err)
		}
		// The constructor ran again: the state is fresh.
		seen := mustGet(t, ctx, record.Remote(ctx, a, 2))
		if len(seen) != 1 || seen[0] != 2 {
			t.Fatalf("round %d: state after restart %v", round, seen)
		}
	}
	if n := constructed.Load() - before; n != 2 {
		t.Fatalf("constructor ran %d more times, want 2", n)
	}
	// The third panic exhausts the budget.
	if _, err := goray.Get(ctx, panicMethod.Remote(ctx, a, "last")); err == nil {
		t.Fatal("panic did not fail the call")
	}
	if _, err := goray.Get(ctx, record.Remote(ctx, a, 3)); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("after restarts exhausted: %v", err)
	}
	var info goray.ActorInfo
	pollUntil(t, "actor recorded dead", func() bool {
		infos, err := goray.ListActors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range infos {
			if i.ID == a.ID() {
				info = i
			}
		}
		return info.State == "DEAD"
	})
	if info.Restarts != 2 || !strings.Contains(info.DeathCause, "restarts") {
		t.Fatalf("actor info: %+v", info)
	}
}

func TestActorNoRestartByDefault(t *testing.T) {
	ctx := start(t)
	a, err := recorder.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = goray.Get(ctx, panicMethod.Remote(ctx, a, "x"))
	if _, err := goray.Get(ctx, record.Remote(ctx, a, 1)); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("got %v", err)
	}
}

func TestMaxTaskRetries(t *testing.T) {
	ctx := start(t, goray.WithRestartBackoff(time.Millisecond))
	a, err := flakyActor.New(ctx, goray.MaxRestarts(1), goray.MaxTaskRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%s/%d", t.Name(), time.Now().UnixNano())
	if got := mustGet(t, ctx, flakyCall.Remote(ctx, a, key)); got != "ok "+key {
		t.Fatalf("got %q", got)
	}
}

// An actor runs at most MaxConcurrency calls at once: the call beyond the
// bound starts only after one of the running calls has finished.
func TestMaxConcurrency(t *testing.T) {
	ctx := start(t)
	s, err := slotsActor.New(ctx, goray.MaxConcurrency(2))
	if err != nil {
		t.Fatal(err)
	}
	key := uniqueKey(t)
	calls := []goray.Ref[int32]{slotHold.Remote(ctx, s, key+"0"), slotHold.Remote(ctx, s, key+"1"), slotHold.Remote(ctx, s, key+"2")}
	pollUntil(t, "two calls running", func() bool { return slotStats(key).started.Load() == 2 })
	// Let one of the running calls finish; the third may start then.
	for i := range 3 {
		if counter(&slotBegun, key+strconv.Itoa(i)).Load() == 1 {
			close(gateOf(key + strconv.Itoa(i)))
			mustGet(t, ctx, calls[i])
			break
		}
	}
	pollUntil(t, "the third call running", func() bool { return slotStats(key).started.Load() == 3 })
	for i := range 3 {
		select {
		case <-gateOf(key + strconv.Itoa(i)):
		default:
			close(gateOf(key + strconv.Itoa(i)))
		}
	}
	for _, c := range calls {
		mustGet(t, ctx, c)
	}
	if m := slotStats(key).most.Load(); m != 2 {
		t.Fatalf("%d calls ran at once, want 2", m)
	}
	if f := slotStats(key).finishedAtThirdStart.Load(); f < 1 {
		t.Fatalf("the third call started while both others ran")
	}
}

func TestKill(t *testing.T) {
	ctx := start(t, goray.WithRestartBackoff(time.Millisecond))
	a, err := recorder.New(ctx, 0, goray.MaxRestarts(1))
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, ctx, record.Remote(ctx, a, 1))
	// Kill with restart: state is re-initialised and calls go on.
	if err := goray.Kill(ctx, a, goray.AllowRestart()); err != nil {
		t.Fatal(err)
	}
	if seen := mustGet(t, ctx, record.Remote(ctx, a, 2)); len(seen) != 1 {
		t.Fatalf("after kill with restart: %v", seen)
	}
	// A kill interrupts a running call and stays dead.
	running := blockIn.Remote(ctx, a, 0)
	if err := goray.Kill(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := goray.Get(ctx, running); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("running call after the kill: %v, want ErrActorDied", err)
	}
	if _, err := goray.Get(ctx, record.Remote(ctx, a, 3)); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("after kill: %v", err)
	}
	if err := goray.Kill(ctx, goray.ActorRef[Recorder]{}); !errors.Is(err, goray.ErrInvalidArgument) {
		t.Fatalf("zero handle: %v", err)
	}
}

func TestCancelActorCall(t *testing.T) {
	ctx := start(t)
	a, err := recorder.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	running := blockIn.Remote(ctx, a, 0)
	queued := record.Remote(ctx, a, 1)
	if err := goray.Cancel(ctx, queued); err != nil {
		t.Fatal(err)
	}
	if err := goray.Cancel(ctx, running); err != nil {
		t.Fatal(err)
	}
	for _, r := range []goray.Ref[int]{running} {
		if _, err := goray.Get(ctx, r); !errors.Is(err, goray.ErrTaskCancelled) {
			t.Fatalf("running: %v", err)
		}
	}
	if _, err := goray.Get(ctx, queued); !errors.Is(err, goray.ErrTaskCancelled) {
		t.Fatalf("queued: %v", err)
	}
	// The actor is alive, and the cancelled call never ran.
	if seen := mustGet(t, ctx, record.Remote(ctx, a, 2)); len(seen) != 1 || seen[0] != 2 {
		t.Fatalf("after cancel: %v", seen)
	}
}

// registrationCases break the registry in ways Init must refuse. They run
// in a child process each, since a broken registration stays for the life
// of the process.
var registrationCases = map[string]struct {
	register func()
	want     error
}{
	"duplicate task": {func() {
		goray.Task("test.dup", func(ctx context.Context, x int) (int, error) { return x, nil })
		goray.Task("test.dup", func(ctx context.Context, x int) (int, error) { return -x, nil })
	}, goray.ErrAlreadyExists},
	"empty name":      {func() { goray.Task0("", func(ctx context.Context) (int, error) { return 0, nil }) }, goray.ErrInvalidArgument},
	"nil function":    {func() { goray.Task[int, int]("test.nil", nil) }, goray.ErrInvalidArgument},
	"nil constructor": {func() { goray.Actor0[Recorder]("test.nil-actor", nil) }, goray.ErrInvalidArgument},
	"nil method": {func() {
		a := goray.Actor0("test.with-nil-method", func(ctx context.Context) (*Recorder, error) { return &Recorder{}, nil })
		goray.Method0[Recorder, int](a, "m", nil)
	}, goray.ErrInvalidArgument},
	"duplicate method": {func() {
		goray.Method0(recorder, "start", (*Recorder).Start)
	}, goray.ErrAlreadyExists},
}

const registrationCaseEnv = "GORAY_TEST_REGISTRATION_CASE"

// A failed registration makes Init fail with a sentinel error, and calls of
// the broken definition fail too.
func TestRegistrationErrorsFailInit(t *testing.T) {
	if name := os.Getenv(registrationCaseEnv); name != "" {
		c := registrationCases[name]
		c.register()
		_, err := goray.Init(context.Background())
		if !errors.Is(err, c.want) {
			fmt.Printf("Init: %v, want %v\n", err, c.want)
			os.Exit(1)
		}
		fmt.Println("refused:", err)
		os.Exit(0)
	}
	for name := range registrationCases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRegistrationErrorsFailInit$")
			cmd.Env = append(os.Environ(), registrationCaseEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "refused:") {
				t.Fatalf("%v:\n%s", err, out)
			}
		})
	}
}
