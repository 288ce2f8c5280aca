package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// counter is the user actor of these tests.
type counter struct{ n int }

// counterKit registers the "counter" actor type on a node and observes it.
type counterKit struct {
	*testNode
	constructions atomic.Int32
	crashedOnce   atomic.Bool
	started       chan string // method names of "block" calls as they start
	gate          *gate
	// The "slot" method's bookkeeping: calls running and started, the most
	// at once, calls finished, and calls finished when the last one began.
	slotRunning, slotStarted, slotMost, slotFinished, slotFinishedAtLast atomic.Int32
}

func newCounterKit(t *testing.T, cfg Config) *counterKit {
	k := &counterKit{testNode: startTestNode(t, cfg), started: make(chan string, 16), gate: newGate()}
	t.Cleanup(k.gate.open) // runs before the node stops
	reg := k.Env.Registry
	err := reg.RegisterActor(&actors.ActorType{Name: "counter", NumArgs: 1, New: func(_ context.Context, args [][]byte) (any, error) {
		k.constructions.Add(1)
		switch s := string(args[0]); s {
		case "bad":
			return nil, errors.New("bad start value")
		case "panic":
			panic("constructor panicked")
		default:
			n, err := strconv.Atoi(s)
			return &counter{n: n}, err
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	method := func(name string, nargs int, fn func(ctx context.Context, c *counter, args [][]byte) (string, error)) {
		err := reg.RegisterMethod("counter", &actors.Method{Name: name, NumArgs: nargs, Invoke: func(ctx context.Context, inst any, args [][]byte) ([]byte, error) {
			s, err := fn(ctx, inst.(*counter), args)
			return []byte(s), err
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	method("add", 1, func(_ context.Context, c *counter, args [][]byte) (string, error) {
		d, err := strconv.Atoi(string(args[0]))
		c.n += d
		return strconv.Itoa(c.n), err
	})
	method("get", 0, func(_ context.Context, c *counter, _ [][]byte) (string, error) { return strconv.Itoa(c.n), nil })
	method("crash", 0, func(context.Context, *counter, [][]byte) (string, error) { panic("crash!") })
	method("crashOnce", 0, func(context.Context, *counter, [][]byte) (string, error) {
		if k.crashedOnce.CompareAndSwap(false, true) {
			panic("first attempt crashes")
		}
		return "recovered", nil
	})
	method("slot", 1, func(ctx context.Context, _ *counter, args [][]byte) (string, error) {
		n := k.slotRunning.Add(1)
		k.slotFinishedAtLast.Store(k.slotFinished.Load())
		k.slotStarted.Add(1)
		for m := k.slotMost.Load(); n > m && !k.slotMost.CompareAndSwap(m, n); m = k.slotMost.Load() {
		}
		defer func() { k.slotRunning.Add(-1); k.slotFinished.Add(1) }()
		select {
		case <-k.gate.ch:
			return string(args[0]), nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	method("block", 1, func(ctx context.Context, _ *counter, args [][]byte) (string, error) {
		k.started <- string(args[0])
		select {
		case <-k.gate.ch:
			return "released " + string(args[0]), nil
		case <-ctx.Done():
			return "", fmt.Errorf("block %s: %w", args[0], ctx.Err())
		}
	})
	return k
}

func (k *counterKit) spec(mod func(*pb.ActorSpec)) *pb.ActorSpec {
	s := &pb.ActorSpec{ActorId: k.ids.Next().Bytes(), TypeName: "counter", Args: []*pb.Arg{inlineArg("0")}, Namespace: "ns"}
	if mod != nil {
		mod(s)
	}
	return s
}

func (k *counterKit) create(spec *pb.ActorSpec) *pb.CreateActorReply {
	k.t.Helper()
	switch r := k.request(k.GCS, &pb.CreateActor{Spec: spec}).(type) {
	case *pb.CreateActorReply:
		return r
	case *pb.Error: // the GCS refused a malformed request
		return &pb.CreateActorReply{Error: r}
	default:
		k.t.Fatalf("CreateActor answered %T", r)
		return nil
	}
}

// mustCreate creates an actor and returns its host's PID.
func (k *counterKit) mustCreate(spec *pb.ActorSpec) *actor.PID {
	k.t.Helper()
	r := k.create(spec)
	if r.Error != nil || r.Info.State != pb.ActorState_ACTOR_STATE_ALIVE {
		k.t.Fatalf("create: %+v", r)
	}
	return actors.PID(r.Info.Pid)
}

// call sends an actor call to the host and returns the slot of its result.
func (k *counterKit) call(host *actor.PID, actorID []byte, method string, args ...string) (*objects.Slot, []byte) {
	id := k.ids.Next()
	c := &pb.ActorCall{ActorId: actorID, Method: method, ReturnId: id.Bytes(), Owner: actors.WirePID(k.OwnerPID)}
	for _, a := range args {
		c.Args = append(c.Args, inlineArg(a))
	}
	slot := k.Owner.Pending(id, nil, "")
	k.System.Root.Send(host, c)
	return slot, c.ReturnId
}

func (k *counterKit) callValue(host *actor.PID, actorID []byte, method string, args ...string) string {
	k.t.Helper()
	s, _ := k.call(host, actorID, method, args...)
	return string(k.awaitValue(s))
}

func (k *counterKit) callError(host *actor.PID, actorID []byte, method string, args ...string) *pb.Error {
	k.t.Helper()
	s, _ := k.call(host, actorID, method, args...)
	o := k.await(s)
	if o.err == nil {
		k.t.Fatalf("%s returned %q, want an error", method, o.data)
	}
	return o.err
}

func (k *counterKit) lookup(m *pb.LookupActor) *pb.LookupActorReply {
	k.t.Helper()
	return k.request(k.GCS, m).(*pb.LookupActorReply)
}

// awaitState polls the GCS until the actor is in state.
func (k *counterKit) awaitState(id []byte, state pb.ActorState) *pb.ActorInfo {
	k.t.Helper()
	var info *pb.ActorInfo
	waitUntil(k.t, fmt.Sprintf("actor %x %v", id, state), func() bool {
		info = k.lookup(&pb.LookupActor{ActorId: id}).Info
		return info != nil && info.State == state
	})
	return info
}

func inlineArg(s string) *pb.Arg { return &pb.Arg{Kind: &pb.Arg_Inline{Inline: []byte(s)}} }

func TestGCSCreateAndLookup(t *testing.T) {
	k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 2}})
	first := k.spec(func(s *pb.ActorSpec) { s.Name = "c" })
	r := k.create(first)
	if r.Error != nil {
		t.Fatalf("create: %v", r.Error)
	}
	if r.Info.State != pb.ActorState_ACTOR_STATE_ALIVE || r.Info.Pid == nil || r.Info.NodeId != k.ID || r.Info.Name != "c" {
		t.Fatalf("create reply %+v", r.Info)
	}

	tests := []struct {
		name     string
		spec     *pb.ActorSpec
		wantKind pb.ErrorKind
		ok       bool
	}{
		{"same name, same namespace", k.spec(func(s *pb.ActorSpec) { s.Name = "c" }), pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS, false},
		{"same actor ID", k.spec(func(s *pb.ActorSpec) { s.ActorId = first.ActorId }), pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS, false},
		{"same name, other namespace", k.spec(func(s *pb.ActorSpec) { s.Name = "c"; s.Namespace = "other" }), 0, true},
		{"unnamed", k.spec(nil), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := k.create(tt.spec)
			if tt.ok {
				if r.Error != nil || r.Info.State != pb.ActorState_ACTOR_STATE_ALIVE {
					t.Fatalf("reply %+v", r)
				}
				return
			}
			if r.Error == nil || r.Error.Kind != tt.wantKind {
				t.Fatalf("reply %+v, want a %v error", r, tt.wantKind)
			}
		})
	}

	lookups := []struct {
		name     string
		msg      *pb.LookupActor
		wantID   []byte
		wantKind pb.ErrorKind
	}{
		{"by name", &pb.LookupActor{Name: "c", Namespace: "ns"}, first.ActorId, 0},
		{"by ID", &pb.LookupActor{ActorId: first.ActorId}, first.ActorId, 0},
		{"name in wrong namespace", &pb.LookupActor{Name: "c", Namespace: "nope"}, nil, pb.ErrorKind_ERROR_KIND_NOT_FOUND},
		{"unknown name", &pb.LookupActor{Name: "d", Namespace: "ns"}, nil, pb.ErrorKind_ERROR_KIND_NOT_FOUND},
		{"unknown ID", &pb.LookupActor{ActorId: k.ids.Next().Bytes()}, nil, pb.ErrorKind_ERROR_KIND_NOT_FOUND},
	}
	for _, tt := range lookups {
		t.Run("lookup "+tt.name, func(t *testing.T) {
			r := k.lookup(tt.msg)
			if tt.wantID == nil {
				if r.Error == nil || r.Error.Kind != tt.wantKind {
					t.Fatalf("reply %+v, want a %v error", r, tt.wantKind)
				}
				return
			}
			if r.Error != nil || string(r.Info.ActorId) != string(tt.wantID) || r.Info.State != pb.ActorState_ACTOR_STATE_ALIVE {
				t.Fatalf("reply %+v", r)
			}
		})
	}

	list := k.request(k.GCS, &pb.ListActors{}).(*pb.ListActorsReply)
	if len(list.Actors) != 3 {
		t.Errorf("ListActors has %d actors, want 3", len(list.Actors))
	}
	if got := k.constructions.Load(); got != 3 {
		t.Errorf("%d constructor runs, want 3", got)
	}
}

func TestGCSCreateFailures(t *testing.T) {
	k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 2}})
	tests := []struct {
		name     string
		mod      func(*pb.ActorSpec)
		wantKind pb.ErrorKind
		wantMsg  string
		refused  bool // refused as malformed: never recorded
	}{
		{"constructor error", func(s *pb.ActorSpec) { s.Args = []*pb.Arg{inlineArg("bad")} }, pb.ErrorKind_ERROR_KIND_USER, "bad start value", false},
		{"constructor panic", func(s *pb.ActorSpec) { s.Args = []*pb.Arg{inlineArg("panic")} }, pb.ErrorKind_ERROR_KIND_PANIC, "constructor panicked", false},
		{"wrong arg count", func(s *pb.ActorSpec) { s.Args = nil }, pb.ErrorKind_ERROR_KIND_USER, "want 1, got 0", false},
		{"unknown type", func(s *pb.ActorSpec) { s.TypeName = "gauge" }, pb.ErrorKind_ERROR_KIND_NOT_FOUND, `"gauge"`, false},
		{"infeasible", func(s *pb.ActorSpec) { s.Resources = cpuReq(100) }, pb.ErrorKind_ERROR_KIND_INFEASIBLE, "counter", false},
		{"negative resources", func(s *pb.ActorSpec) { s.Resources = cpuReq(-1) }, pb.ErrorKind_ERROR_KIND_INVALID, "resources", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := k.spec(func(s *pb.ActorSpec) { s.Name = "doomed"; tt.mod(s) })
			r := k.create(spec)
			if r.Error == nil {
				t.Fatalf("create succeeded: %+v", r.Info)
			}
			if r.Error.Kind != tt.wantKind || !strings.Contains(r.Error.Message, tt.wantMsg) {
				t.Errorf("error %v %q, want %v containing %q", r.Error.Kind, r.Error.Message, tt.wantKind, tt.wantMsg)
			}
			if tt.refused {
				if l := k.lookup(&pb.LookupActor{ActorId: spec.ActorId}); l.Error == nil || l.Error.Kind != pb.ErrorKind_ERROR_KIND_NOT_FOUND {
					t.Errorf("a refused creation was recorded: %+v", l)
				}
				return
			}
			if r.Info == nil || r.Info.State != pb.ActorState_ACTOR_STATE_DEAD || r.Info.DeathCause == "" {
				t.Errorf("info %+v, want DEAD with a cause", r.Info)
			}
			// The name is free again.
			if l := k.lookup(&pb.LookupActor{Name: "doomed", Namespace: "ns"}); l.Error == nil || l.Error.Kind != pb.ErrorKind_ERROR_KIND_NOT_FOUND {
				t.Errorf("lookup of a failed actor's name: %+v", l)
			}
			if l := k.lookup(&pb.LookupActor{ActorId: spec.ActorId}); l.Error != nil || l.Info.State != pb.ActorState_ACTOR_STATE_DEAD {
				t.Errorf("lookup by ID: %+v", l)
			}
		})
	}
	// The name released by the failures can be taken.
	k.mustCreate(k.spec(func(s *pb.ActorSpec) { s.Name = "doomed" }))
}

func TestActorCallsRunInOrder(t *testing.T) {
	k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 2}})
	spec := k.spec(func(s *pb.ActorSpec) { s.Args = []*pb.Arg{inlineArg("10")} })
	host := k.mustCreate(spec)
	const calls = 200
	slots := make([]*objects.Slot, calls)
	for i := range slots {
		slots[i], _ = k.call(host, spec.ActorId, "add", "1")
	}
	for i, s := range slots {
		if got, want := string(k.awaitValue(s)), strconv.Itoa(11+i); got != want {
			t.Fatalf("call %d returned %s, want %s", i, got, want)
		}
	}
	tests := []struct {
		name     string
		method   string
		args     []string
		wantKind pb.ErrorKind
		wantMsg  string
	}{
		{"unknown method", "mul", []string{"2"}, pb.ErrorKind_ERROR_KIND_USER, `"mul"`},
		{"wrong arg count", "add", nil, pb.ErrorKind_ERROR_KIND_USER, "want 1, got 0"},
		{"user error", "add", []string{"x"}, pb.ErrorKind_ERROR_KIND_USER, "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			perr := k.callError(host, spec.ActorId, tt.method, tt.args...)
			if !strings.Contains(perr.Message, tt.wantMsg) {
				t.Errorf("error %v %q, want it to contain %q", perr.Kind, perr.Message, tt.wantMsg)
			}
			if perr.Kind == pb.ErrorKind_ERROR_KIND_PANIC || perr.Kind == pb.ErrorKind_ERROR_KIND_ACTOR_DIED {
				t.Errorf("error kind %v for a failed call that should leave the actor alone", perr.Kind)
			}
		})
	}
	// Failed calls leave the state and the instance as they were.
	if got := k.callValue(host, spec.ActorId, "get"); got != strconv.Itoa(10+calls) {
		t.Errorf("get = %s after the failed calls", got)
	}
	if got := k.constructions.Load(); got != 1 {
		t.Errorf("%d constructor runs, want 1", got)
	}
}

func TestActorRestartsAfterPanic(t *testing.T) {
	for _, maxRestarts := range []int32{0, 1, 3} {
		t.Run(fmt.Sprintf("max restarts %d", maxRestarts), func(t *testing.T) {
			k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 2}})
			spec := k.spec(func(s *pb.ActorSpec) { s.MaxRestarts = maxRestarts })
			host := k.mustCreate(spec)
			for i := range maxRestarts + 1 {
				if got := k.callValue(host, spec.ActorId, "add", "5"); got != "5" {
					t.Fatalf("incarnation %d: add = %s, want 5 (state reset)", i, got)
				}
				perr := k.callError(host, spec.ActorId, "crash")
				if perr.Kind != pb.ErrorKind_ERROR_KIND_PANIC || !strings.Contains(perr.Message, "crash!") || !strings.Contains(perr.Stack, "gcs_test.go") {
					t.Fatalf("crash: %v %q, stack:\n%s", perr.Kind, perr.Message, perr.Stack)
				}
			}
			perr := k.callError(host, spec.ActorId, "get")
			if perr.Kind != pb.ErrorKind_ERROR_KIND_ACTOR_DIED {
				t.Fatalf("call past the restart budget: %v %q, want ACTOR_DIED", perr.Kind, perr.Message)
			}
			if got := k.constructions.Load(); got != maxRestarts+1 {
				t.Errorf("%d constructor runs, want %d", got, maxRestarts+1)
			}
			info := k.awaitState(spec.ActorId, pb.ActorState_ACTOR_STATE_DEAD)
			if info.NumRestarts != maxRestarts || !strings.Contains(info.DeathCause, "crash!") {
				t.Errorf("dead actor info: restarts %d (want %d), cause %q", info.NumRestarts, maxRestarts, info.DeathCause)
			}
		})
	}
}

func TestActorTaskRetryAfterRestart(t *testing.T) {
	tests := []struct {
		name           string
		maxTaskRetries int32
		wantOK         bool
	}{
		{"retried", 1, true},
		{"not retried", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 2}})
			spec := k.spec(func(s *pb.ActorSpec) { s.MaxRestarts = 2; s.MaxTaskRetries = tt.maxTaskRetries })
			host := k.mustCreate(spec)
			s, _ := k.call(host, spec.ActorId, "crashOnce")
			o := k.await(s)
			if tt.wantOK {
				if o.err != nil || string(o.data) != "recovered" {
					t.Fatalf("outcome %+v, want the retry's result", o)
				}
			} else if o.err == nil || o.err.Kind != pb.ErrorKind_ERROR_KIND_PANIC {
				t.Fatalf("outcome %+v, want PANIC", o)
			}
			// Either way the actor restarted once and still serves calls.
			if got := k.callValue(host, spec.ActorId, "get"); got != "0" {
				t.Errorf("get = %s", got)
			}
			if got := k.constructions.Load(); got != 2 {
				t.Errorf("%d constructor runs, want 2", got)
			}
		})
	}
}

func TestActorKill(t *testing.T) {
	tests := []struct {
		name      string
		noRestart bool
	}{
		{"for good", true},
		{"with restart", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 2}})
			spec := k.spec(func(s *pb.ActorSpec) { s.MaxRestarts = 1; s.Name = "victim" })
			host := k.mustCreate(spec)
			if got := k.callValue(host, spec.ActorId, "add", "3"); got != "3" {
				t.Fatalf("add = %s", got)
			}
			r := k.request(k.GCS, &pb.KillActor{ActorId: spec.ActorId, NoRestart: tt.noRestart}).(*pb.KillActorReply)
			if r.Error != nil {
				t.Fatalf("kill: %v", r.Error)
			}
			if !tt.noRestart {
				if got := k.callValue(host, spec.ActorId, "get"); got != "0" {
					t.Errorf("get after a restarting kill = %s, want 0", got)
				}
				if got := k.constructions.Load(); got != 2 {
					t.Errorf("%d constructor runs, want 2", got)
				}
				return
			}
			// Once the kill is acknowledged, no call reaches the instance.
			if perr := k.callError(host, spec.ActorId, "get"); perr.Kind != pb.ErrorKind_ERROR_KIND_ACTOR_DIED {
				t.Errorf("call after kill: %v %q", perr.Kind, perr.Message)
			}
			info := k.awaitState(spec.ActorId, pb.ActorState_ACTOR_STATE_DEAD)
			if !strings.Contains(info.DeathCause, "killed") {
				t.Errorf("death cause %q", info.DeathCause)
			}
			if l := k.lookup(&pb.LookupActor{Name: "victim", Namespace: "ns"}); l.Error == nil {
				t.Errorf("a killed actor's name still resolves: %+v", l.Info)
			}
			// Killing a dead actor again is fine.
			if r := k.request(k.GCS, &pb.KillActor{ActorId: spec.ActorId, NoRestart: true}).(*pb.KillActorReply); r.Error != nil {
				t.Errorf("second kill: %v", r.Error)
			}
			if got := k.constructions.Load(); got != 1 {
				t.Errorf("%d constructor runs, want 1", got)
			}
		})
	}
	t.Run("unknown actor", func(t *testing.T) {
		k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 1}})
		r := k.request(k.GCS, &pb.KillActor{ActorId: k.ids.Next().Bytes(), NoRestart: true}).(*pb.KillActorReply)
		if r.Error == nil || r.Error.Kind != pb.ErrorKind_ERROR_KIND_NOT_FOUND {
			t.Errorf("reply %+v, want NOT_FOUND", r)
		}
	})
}

func TestActorKillReleasesResources(t *testing.T) {
	k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 1}})
	k.register("task", 0, func(context.Context, [][]byte) ([]byte, error) { return []byte("ran"), nil })
	spec := k.spec(func(s *pb.ActorSpec) { s.Resources = cpuReq(1) })
	k.mustCreate(spec)
	task := k.submit(&pb.TaskSpec{Function: "task", Resources: cpuReq(1)})
	// The actor holds the node's only CPU; the task cannot have run.
	// A round trip through the raylet proves the task was already queued.
	k.request(k.Raylet, &pb.KillActor{ActorId: k.ids.Next().Bytes()})
	if task.IsDone() {
		t.Fatal("a task ran on the CPU an actor holds")
	}
	if r := k.request(k.GCS, &pb.KillActor{ActorId: spec.ActorId, NoRestart: true}).(*pb.KillActorReply); r.Error != nil {
		t.Fatal(r.Error)
	}
	if got := k.awaitValue(task); string(got) != "ran" {
		t.Errorf("task result %q", got)
	}
}

func TestActorCallCancel(t *testing.T) {
	k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 1}})
	spec := k.spec(nil)
	host := k.mustCreate(spec)
	cancel := func(returnID []byte) {
		k.System.Root.Send(k.Raylet, &pb.CancelTask{ActorId: spec.ActorId, ReturnId: returnID})
	}

	running, runningID := k.call(host, spec.ActorId, "block", "a")
	if got := <-k.started; got != "a" {
		t.Fatalf("started %s", got)
	}
	queued, queuedID := k.call(host, spec.ActorId, "add", "1")
	cancel(queuedID)
	cancel(runningID)
	for _, c := range []struct {
		name string
		slot *objects.Slot
		msg  string
	}{{"running", running, "cancelled by its caller"}, {"queued", queued, "before it ran"}} {
		o := k.await(c.slot)
		if o.err == nil || o.err.Kind != pb.ErrorKind_ERROR_KIND_CANCELLED || !strings.Contains(o.err.Message, c.msg) {
			t.Errorf("%s call after cancel: %+v", c.name, o)
		}
	}
	// The actor lives on; the cancelled add never ran.
	if got := k.callValue(host, spec.ActorId, "get"); got != "0" {
		t.Errorf("get = %s, want 0", got)
	}
}

func TestActorMaxConcurrency(t *testing.T) {
	tests := []struct {
		name        string
		concurrency int32
	}{
		{"two at once", 2},
		{"four at once", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 1}})
			spec := k.spec(func(s *pb.ActorSpec) { s.MaxConcurrency = tt.concurrency })
			host := k.mustCreate(spec)
			var slots []*objects.Slot
			for i := range tt.concurrency + 1 {
				s, _ := k.call(host, spec.ActorId, "slot", strconv.Itoa(int(i)))
				slots = append(slots, s)
			}
			waitUntil(t, "the bound's worth of calls running", func() bool { return k.slotStarted.Load() == tt.concurrency })
			for _, s := range slots {
				if s.IsDone() {
					t.Fatal("a blocked call returned before the gate opened")
				}
			}
			k.gate.open()
			for _, s := range slots {
				k.awaitValue(s)
			}
			if m := k.slotMost.Load(); m != tt.concurrency {
				t.Errorf("%d calls ran at once, want %d", m, tt.concurrency)
			}
			// The call beyond the bound started only once another had ended.
			if f := k.slotFinishedAtLast.Load(); f < 1 {
				t.Errorf("the call beyond the bound started while %d others ran", tt.concurrency)
			}
		})
	}
}

func TestGCSJobs(t *testing.T) {
	k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 1}})
	j1, j2 := NewNodeID(), NewNodeID()
	if r := k.request(k.GCS, &pb.RegisterJob{Job: &pb.JobInfo{JobId: j1}}).(*pb.Ack); r.Error != nil {
		t.Fatal(r.Error)
	}
	attached := k.spec(func(s *pb.ActorSpec) { s.JobId = j1; s.Resources = cpuReq(1) })
	detached := k.spec(func(s *pb.ActorSpec) { s.JobId = j1; s.Detached = true })
	other := k.spec(func(s *pb.ActorSpec) { s.JobId = j2 })
	for _, s := range []*pb.ActorSpec{attached, detached, other} {
		k.mustCreate(s)
	}
	// An actor of the job still waiting for the CPU the first one holds.
	pending := k.spec(func(s *pb.ActorSpec) { s.JobId = j1; s.Resources = cpuReq(1) })
	created := make(chan *pb.CreateActorReply, 1)
	go func() {
		r, _ := k.System.Root.RequestFuture(k.GCS, &pb.CreateActor{Spec: pending}, testWait).Result()
		created <- r.(*pb.CreateActorReply)
	}()
	k.awaitState(pending.ActorId, pb.ActorState_ACTOR_STATE_PENDING)
	if r := k.request(k.GCS, &pb.FinishJob{JobId: j1}).(*pb.Ack); r.Error != nil {
		t.Fatal(r.Error)
	}
	k.awaitState(attached.ActorId, pb.ActorState_ACTOR_STATE_DEAD)
	k.awaitState(pending.ActorId, pb.ActorState_ACTOR_STATE_DEAD)
	if r := <-created; r.Error == nil || r.Error.Kind != pb.ErrorKind_ERROR_KIND_ACTOR_DIED {
		t.Errorf("creation of a pending actor at the end of its job: %+v", r)
	}
	if k.constructions.Load() != 3 {
		t.Errorf("%d constructors ran, want 3: the pending actor must never start", k.constructions.Load())
	}
	for _, s := range []*pb.ActorSpec{detached, other} {
		if l := k.lookup(&pb.LookupActor{ActorId: s.ActorId}); l.Info.State != pb.ActorState_ACTOR_STATE_ALIVE {
			t.Errorf("actor %x is %v after another job finished", s.ActorId, l.Info.State)
		}
	}
}

// snapshot copies field by field for speed; this catches a field added to
// ActorInfo but not to snapshot.
func TestSnapshotCopiesEveryField(t *testing.T) {
	info := &pb.ActorInfo{}
	m := info.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.IsMap() {
			if f.MapKey().Kind() != protoreflect.StringKind || f.MapValue().Kind() != protoreflect.Int64Kind {
				t.Fatalf("map field %s: extend this test", f.Name())
			}
			m.Mutable(f).Map().Set(protoreflect.ValueOfString("x").MapKey(), protoreflect.ValueOfInt64(7))
			continue
		}
		switch f.Kind() {
		case protoreflect.BytesKind:
			m.Set(f, protoreflect.ValueOfBytes([]byte{1}))
		case protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString("x"))
		case protoreflect.BoolKind:
			m.Set(f, protoreflect.ValueOfBool(true))
		case protoreflect.Int32Kind:
			m.Set(f, protoreflect.ValueOfInt32(3))
		case protoreflect.EnumKind:
			m.Set(f, protoreflect.ValueOfEnum(1))
		case protoreflect.MessageKind:
			m.Set(f, protoreflect.ValueOfMessage((&pb.Pid{Id: "p"}).ProtoReflect()))
		default:
			t.Fatalf("field %s has kind %v: extend this test", f.Name(), f.Kind())
		}
	}
	if got := snapshot(info); !proto.Equal(got, info) {
		t.Fatalf("snapshot lost fields:\n got %v\nwant %v", got, info)
	}
}

func TestGCSForgetsOldestDeadActors(t *testing.T) {
	g := &GCS{actors: map[string]*actorRec{}, maxDead: 2}
	for _, id := range []string{"a", "b", "c"} {
		g.actors[id] = &actorRec{info: &pb.ActorInfo{ActorId: []byte(id), State: pb.ActorState_ACTOR_STATE_DEAD}}
		g.forgetOldDead(id)
	}
	g.actors["d"] = &actorRec{info: &pb.ActorInfo{ActorId: []byte("d"), State: pb.ActorState_ACTOR_STATE_ALIVE}}
	if _, ok := g.actors["a"]; ok {
		t.Fatal("the oldest dead actor was kept past the bound")
	}
	for _, id := range []string{"b", "c", "d"} {
		if _, ok := g.actors[id]; !ok {
			t.Fatalf("actor %s was forgotten", id)
		}
	}
}
