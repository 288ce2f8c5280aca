package actors

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// hostParent spawns one host and stops it once it reports its actor dead,
// as a raylet does, and passes on its reports.
type hostParent struct {
	env    *Env
	typ    *ActorType
	spec   *pb.ActorSpec
	gpus   []int32
	host   chan *actor.PID
	states chan *pb.ActorStateChanged
}

func (p *hostParent) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		p.host <- c.Spawn(NewHost(p.env, p.typ, p.spec, p.gpus))
	case *pb.ActorStateChanged:
		if m.State == pb.ActorState_ACTOR_STATE_DEAD {
			c.Poison(actor.NewPID(m.Pid.Address, m.Pid.Id))
		}
		p.states <- m
	}
}

// box is the user actor of these tests.
type box struct{ v string }

// hostKit hosts one "box" actor under a hostParent.
type hostKit struct {
	*testEnv
	spec          *pb.ActorSpec
	host          *actor.PID
	states        chan *pb.ActorStateChanged
	constructions atomic.Int32
	started       chan string
	gate          chan struct{}
	infos         chan CallInfo
}

func newHostKit(t *testing.T, spec *pb.ActorSpec, gpus ...int32) *hostKit {
	t.Helper()
	return newHostKitOn(t, newTestEnv(t, 1024), spec, gpus...)
}

// newHostKitOn hosts the actor in te's environment.
func newHostKitOn(t *testing.T, te *testEnv, spec *pb.ActorSpec, gpus ...int32) *hostKit {
	t.Helper()
	k := &hostKit{testEnv: te, states: make(chan *pb.ActorStateChanged, 16), started: make(chan string, 16), gate: make(chan struct{}), infos: make(chan CallInfo, 1)}
	t.Cleanup(func() {
		select {
		case <-k.gate:
		default:
			close(k.gate)
		}
	})
	typ := &ActorType{Name: "box", NumArgs: 1, New: func(_ context.Context, args [][]byte) (any, error) {
		k.constructions.Add(1)
		if string(args[0]) == "fail" {
			return nil, errors.New("cannot build")
		}
		return &box{v: string(args[0])}, nil
	}}
	if err := k.Registry.RegisterActor(typ); err != nil {
		t.Fatal(err)
	}
	method := func(name string, nargs int, fn func(ctx context.Context, b *box, args [][]byte) (string, error)) {
		err := k.Registry.RegisterMethod("box", &Method{Name: name, NumArgs: nargs, Invoke: func(ctx context.Context, inst any, args [][]byte) ([]byte, error) {
			s, err := fn(ctx, inst.(*box), args)
			return []byte(s), err
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	method("get", 0, func(_ context.Context, b *box, _ [][]byte) (string, error) { return b.v, nil })
	method("info", 0, func(ctx context.Context, b *box, _ [][]byte) (string, error) {
		k.infos <- *CallInfoOf(ctx)
		return "", nil
	})
	method("set", 1, func(_ context.Context, b *box, args [][]byte) (string, error) { b.v = string(args[0]); return b.v, nil })
	method("panic", 0, func(context.Context, *box, [][]byte) (string, error) { panic("box broke") })
	method("ctxErr", 0, func(ctx context.Context, _ *box, _ [][]byte) (string, error) {
		return "ctx err: " + strconv.Quote(errString(ctx.Err())), nil
	})
	method("block", 1, func(ctx context.Context, _ *box, args [][]byte) (string, error) {
		k.started <- string(args[0])
		select {
		case <-k.gate:
			return "released", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	if spec.ActorId == nil {
		spec.ActorId = k.ids.Next().Bytes()
	}
	spec.TypeName = "box"
	k.spec = spec
	hosts := make(chan *actor.PID, 1)
	k.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &hostParent{env: k.Env, typ: typ, spec: spec, gpus: gpus, host: hosts, states: k.states}
	}))
	k.host = <-hosts
	return k
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// state returns the host's next report that is not RESTARTING.
func (k *hostKit) state() *pb.ActorStateChanged {
	k.t.Helper()
	for {
		select {
		case s := <-k.states:
			if s.State == pb.ActorState_ACTOR_STATE_RESTARTING {
				continue
			}
			return s
		case <-time.After(testWait):
			k.t.Fatal("no state report from the host")
			return nil
		}
	}
}

// callAfterDeath checks that the host has stopped once its actor died: a
// call to it reaches no process (the node's raylet answers such calls).
func (k *hostKit) callAfterDeath() {
	k.t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		if _, ok := k.System.ProcessRegistry.GetLocal(k.host.Id); !ok {
			break
		}
		if time.Now().After(deadline) {
			k.t.Fatal("the host of a dead actor is still running")
		}
		time.Sleep(time.Millisecond)
	}
	_, ret := k.call("get")
	select {
	case call := <-k.deadCalls:
		if string(call.ReturnId) != string(ret) {
			k.t.Fatalf("dead letter for %x, want %x", call.ReturnId, ret)
		}
	case <-time.After(testWait):
		k.t.Fatal("a call to a stopped host did not become a dead letter")
	}
}

// cancel asks the host to cancel the call that returns ret.
func (k *hostKit) cancel(ret []byte) {
	k.System.Root.Send(k.host, &pb.CancelTask{ActorId: k.spec.ActorId, ReturnId: ret})
}

func (k *hostKit) call(method string, args ...string) (*objects.Slot, []byte) {
	ret, slot := k.pending()
	c := &pb.ActorCall{ActorId: k.spec.ActorId, Method: method, ReturnId: ret, Owner: WirePID(k.ownerPID)}
	for _, a := range args {
		c.Args = append(c.Args, inline(a))
	}
	k.System.Root.Send(k.host, c)
	return slot, ret
}

func (k *hostKit) value(method string, args ...string) string {
	k.t.Helper()
	s, _ := k.call(method, args...)
	r := k.await(s)
	if r.err != nil {
		k.t.Fatalf("%s: %v %s", method, r.err.Kind, r.err.Message)
	}
	return string(r.data)
}

func TestHostLifecycleReports(t *testing.T) {
	k := newHostKit(t, &pb.ActorSpec{Args: []*pb.Arg{inline("v0")}, MaxRestarts: 2})
	steps := []struct {
		wantState    pb.ActorState
		wantRestarts int32
	}{
		{pb.ActorState_ACTOR_STATE_ALIVE, 0},
		{pb.ActorState_ACTOR_STATE_ALIVE, 1},
		{pb.ActorState_ACTOR_STATE_ALIVE, 2},
		{pb.ActorState_ACTOR_STATE_DEAD, 2},
	}
	for i, st := range steps {
		s := k.state()
		if s.State != st.wantState || s.NumRestarts != st.wantRestarts || s.NodeId != testNodeID || s.Pid.Id != k.host.Id {
			t.Fatalf("report %d: %v after %d restarts (pid %v), want %v after %d", i, s.State, s.NumRestarts, s.Pid, st.wantState, st.wantRestarts)
		}
		if st.wantState == pb.ActorState_ACTOR_STATE_DEAD {
			if s.Error == nil || s.Error.Kind != pb.ErrorKind_ERROR_KIND_ACTOR_DIED || !strings.Contains(s.Error.Message, "box broke") {
				t.Errorf("death report error %+v", s.Error)
			}
			break
		}
		if got := k.value("get"); got != "v0" {
			t.Errorf("incarnation %d starts with %q, want the constructor's v0", i, got)
		}
		k.value("set", "changed")
		s2, _ := k.call("panic")
		if r := k.await(s2); r.err == nil || r.err.Kind != pb.ErrorKind_ERROR_KIND_PANIC {
			t.Fatalf("panic call: %+v", r)
		}
	}
	k.callAfterDeath()
	if n := k.constructions.Load(); n != 3 {
		t.Errorf("%d constructor runs, want 3", n)
	}
}

func TestHostConstructor(t *testing.T) {
	tests := []struct {
		name     string
		args     func(k *testEnv) []*pb.Arg
		wantGet  string
		wantKind pb.ErrorKind
		wantMsg  string
		bug      string
	}{
		{"object argument", func(k *testEnv) []*pb.Arg { return []*pb.Arg{objectArg(k.put([]byte("from store")))} }, "from store", 0, "", ""},
		{"constructor error", func(*testEnv) []*pb.Arg { return []*pb.Arg{inline("fail")} }, "", pb.ErrorKind_ERROR_KIND_USER, "constructor failed: cannot build", ""},
		{"missing object", func(k *testEnv) []*pb.Arg { return []*pb.Arg{objectArg(k.ids.Next().Bytes())} }, "", pb.ErrorKind_ERROR_KIND_OBJECT_LOST, "constructor failed", ""},
		{"arg count", func(*testEnv) []*pb.Arg { return nil }, "", pb.ErrorKind_ERROR_KIND_USER, "want 1, got 0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bug != "" {
				t.Skip("bug: " + tt.bug)
			}
			// The arguments may live in the environment's store.
			te := newTestEnv(t, 1024)
			k := newHostKitOn(t, te, &pb.ActorSpec{MaxRestarts: 3, Args: tt.args(te)})
			s := k.state()
			if tt.wantMsg == "" {
				if s.State != pb.ActorState_ACTOR_STATE_ALIVE {
					t.Fatalf("state %v: %+v", s.State, s.Error)
				}
				if got := k.value("get"); got != tt.wantGet {
					t.Errorf("get = %q, want %q", got, tt.wantGet)
				}
				return
			}
			if s.State != pb.ActorState_ACTOR_STATE_DEAD || s.Error == nil || s.Error.Kind != tt.wantKind || !strings.Contains(s.Error.Message, tt.wantMsg) {
				t.Fatalf("report %v %+v, want DEAD with %v %q", s.State, s.Error, tt.wantKind, tt.wantMsg)
			}
			// A constructor failure is final: no restart despite the budget.
			k.callAfterDeath()
			if n := k.constructions.Load(); n > 1 {
				t.Errorf("%d constructor runs, want at most 1", n)
			}
		})
	}
}

func TestHostCancelledCallDoesNotLeakIntoNext(t *testing.T) {
	k := newHostKit(t, &pb.ActorSpec{Args: []*pb.Arg{inline("v")}})
	k.state()
	slot, ret := k.call("block", "first")
	<-k.started
	k.cancel(ret)
	if r := k.await(slot); r.err == nil || r.err.Kind != pb.ErrorKind_ERROR_KIND_CANCELLED {
		t.Fatalf("cancelled call: %+v", r)
	}
	if got := k.value("ctxErr"); got != `ctx err: ""` {
		t.Errorf("the call after a cancelled one sees %s", got)
	}
	// Cancel before it runs: the call behind a blocked one.
	blocked, _ := k.call("block", "second")
	<-k.started
	queued, qret := k.call("set", "never")
	k.cancel(qret)
	// A queued call is answered as soon as the cancel arrives; only then may
	// the blocked call finish, or the cancel could find "set" running.
	if r := k.await(queued); r.err == nil || r.err.Kind != pb.ErrorKind_ERROR_KIND_CANCELLED {
		t.Errorf("call cancelled before it ran: %+v", r)
	}
	close(k.gate)
	if r := k.await(blocked); r.err != nil || string(r.data) != "released" {
		t.Errorf("blocked call: %+v", r)
	}
	if got := k.value("get"); got != "v" {
		t.Errorf("get = %q: the cancelled set ran", got)
	}
}

func TestHostKill(t *testing.T) {
	tests := []struct {
		name      string
		noRestart bool
	}{
		{"for good", true},
		{"restart", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newHostKit(t, &pb.ActorSpec{Args: []*pb.Arg{inline("v")}, MaxRestarts: 1})
			k.state()
			k.value("set", "changed")
			k.System.Root.Send(k.host, &pb.KillActor{ActorId: k.spec.ActorId, NoRestart: tt.noRestart})
			s := k.state()
			if tt.noRestart {
				if s.State != pb.ActorState_ACTOR_STATE_DEAD {
					t.Fatalf("state after kill %v", s.State)
				}
				if s.Error == nil || s.Error.Kind != pb.ErrorKind_ERROR_KIND_ACTOR_DIED || !strings.Contains(s.Error.Message, "killed") {
					t.Errorf("death report after kill: %+v", s.Error)
				}
				k.callAfterDeath()
				return
			}
			if s.State != pb.ActorState_ACTOR_STATE_ALIVE || s.NumRestarts != 1 {
				t.Fatalf("after a restarting kill: %v, %d restarts", s.State, s.NumRestarts)
			}
			if got := k.value("get"); got != "v" {
				t.Errorf("get = %q after restart, want v", got)
			}
		})
	}
}

// A call's info names its actor, node and GPUs, and the call itself as
// its task (by its return ID).
func TestHostCallInfo(t *testing.T) {
	k := newHostKit(t, &pb.ActorSpec{Args: []*pb.Arg{inline("v")}}, 2)
	k.state()
	k.value("info")
	info := <-k.infos
	if string(info.ActorID) != string(k.spec.ActorId) || info.NodeID != testNodeID || len(info.GPUIDs) != 1 || info.GPUIDs[0] != 2 || len(info.TaskID) != 16 {
		t.Errorf("call info %+v", info)
	}
}

func TestHostConcurrentCallPanicRestarts(t *testing.T) {
	k := newHostKit(t, &pb.ActorSpec{Args: []*pb.Arg{inline("v")}, MaxConcurrency: 3, MaxRestarts: 1})
	k.state()
	// Two calls run at once; the host does not wait for one to start another.
	a, _ := k.call("block", "a")
	b, _ := k.call("block", "b")
	<-k.started
	<-k.started
	close(k.gate)
	for _, s := range []*objects.Slot{a, b} {
		if r := k.await(s); r.err != nil || string(r.data) != "released" {
			t.Fatalf("concurrent call: %+v", r)
		}
	}
	// Calls of different methods overlap freely.
	var slots []*objects.Slot
	for i := range 30 {
		m := []string{"get", "ctxErr", "block"}[i%3]
		var args []string
		if m == "block" {
			args = []string{"c"}
		}
		s, _ := k.call(m, args...)
		slots = append(slots, s)
	}
	for _, s := range slots {
		if r := k.await(s); r.err != nil {
			t.Fatalf("concurrent call: %v %s", r.err.Kind, r.err.Message)
		}
	}
	for len(k.started) > 0 {
		<-k.started
	}
	slot, _ := k.call("panic")
	if r := k.await(slot); r.err == nil || r.err.Kind != pb.ErrorKind_ERROR_KIND_PANIC {
		t.Fatalf("panic call: %+v", r)
	}
	if s := k.state(); s.State != pb.ActorState_ACTOR_STATE_ALIVE || s.NumRestarts != 1 {
		t.Fatalf("after a concurrent call panicked: %v, %d restarts", s.State, s.NumRestarts)
	}
	if n := k.constructions.Load(); n != 2 {
		t.Errorf("%d constructor runs, want 2", n)
	}
}
