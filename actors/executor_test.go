package actors

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

const testWait = 10 * time.Second

// testNodeID is the node ID of the test environment.
const testNodeID = "00000000000000a1"

// testEnv is an Env wired to a real store actor and owner, with a stand-in
// raylet that records what executors and hosts tell it.
type testEnv struct {
	*Env
	t        *testing.T
	ids      *objects.IDGen
	owner    *objects.Owner
	ownerPID *actor.PID
	finished chan []byte // TaskFinished task IDs
	// deadCalls are actor calls that reached no process.
	deadCalls chan *pb.ActorCall
}

// fakeRaylet records TaskFinished messages.
type fakeRaylet struct{ finished chan []byte }

func (f *fakeRaylet) Receive(c actor.Context) {
	if m, ok := c.Message().(*pb.TaskFinished); ok {
		f.finished <- m.TaskId
	}
}

func newTestEnv(t *testing.T, inlineLimit int) *testEnv {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	pool := NewPool(16)
	te := &testEnv{t: t, ids: objects.NewIDGen(), owner: objects.NewOwner(), finished: make(chan []byte, 64),
		deadCalls: make(chan *pb.ActorCall, 64)}
	sys.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			if call, ok := dl.Message.(*pb.ActorCall); ok {
				te.deadCalls <- call
			}
		}
	})
	store, err := objects.NewStore(objects.StoreConfig{Capacity: 1 << 20, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	storePID := sys.Root.Spawn(objects.NewStoreActor(store, testNodeID))
	raylet := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &fakeRaylet{finished: te.finished} }))
	pid, ok := sys.ProcessRegistry.Add(te.owner, "test-owner")
	if !ok {
		t.Fatal("owner process not registered")
	}
	te.ownerPID = pid
	te.Env = &Env{
		Registry: NewRegistry(), NodeID: testNodeID, System: sys, Raylet: raylet, Store: storePID,
		InlineLimit: inlineLimit, Pool: pool, RestartBackoff: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		Base:   context.Background(),
	}
	t.Cleanup(func() {
		sys.Shutdown()
		pool.Close()
	})
	return te
}

func (te *testEnv) register(name string, nargs int, fn Invoker) {
	te.t.Helper()
	if err := te.Registry.RegisterFunc(&Func{Name: name, NumArgs: nargs, Invoke: fn}); err != nil {
		te.t.Fatal(err)
	}
}

// pending prepares a fresh return ID and the slot it completes.
func (te *testEnv) pending() ([]byte, *objects.Slot) {
	id := te.ids.Next()
	return id.Bytes(), te.owner.Pending(id, nil, "")
}

func (te *testEnv) spec(function string, args ...*pb.Arg) (*pb.TaskSpec, *objects.Slot) {
	ret, slot := te.pending()
	return &pb.TaskSpec{TaskId: te.ids.Next().Bytes(), Function: function, Args: args, ReturnId: ret, Owner: WirePID(te.ownerPID)}, slot
}

type result struct {
	data      []byte
	storeNode string
	size      int64
	err       *pb.Error
}

func (te *testEnv) await(s *objects.Slot) result {
	te.t.Helper()
	select {
	case <-s.Done():
	case <-time.After(testWait):
		te.t.Fatalf("no result for %s", s.ID)
	}
	data, node, size, perr, _ := s.Value()
	return result{data, node, size, perr}
}

func (te *testEnv) put(data []byte) []byte {
	id := te.ids.Next().Bytes()
	te.System.Root.Send(te.Store, &pb.PutObject{ObjectId: id, Data: data})
	return id
}

func inline(s string) *pb.Arg { return &pb.Arg{Kind: &pb.Arg_Inline{Inline: []byte(s)}} }

func objectArg(id []byte) *pb.Arg {
	return &pb.Arg{Kind: &pb.Arg_Ref{Ref: &pb.ObjectRef{Id: id, Owner: &pb.Pid{Address: "nonhost", Id: "owner"}}}}
}

func TestExecutorRunsTasks(t *testing.T) {
	te := newTestEnv(t, 64)
	te.register("upper", 1, func(_ context.Context, args [][]byte) ([]byte, error) { return bytes.ToUpper(args[0]), nil })
	te.register("big", 0, func(context.Context, [][]byte) ([]byte, error) { return bytes.Repeat([]byte("x"), 64), nil })
	te.register("err", 0, func(context.Context, [][]byte) ([]byte, error) { return nil, errors.New("nope") })
	te.register("remote", 0, func(context.Context, [][]byte) ([]byte, error) {
		return nil, &RemoteError{E: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_OBJECT_FREED, Message: "nested failure", Function: "inner"}}
	})
	te.register("boom", 0, func(context.Context, [][]byte) ([]byte, error) { panic("kaboom") })
	stored := te.put([]byte("stored"))

	tests := []struct {
		name      string
		function  string
		args      []*pb.Arg
		want      string
		inStore   bool
		wantKind  pb.ErrorKind
		wantMsg   string
		wantFunc  string
		wantStack bool
	}{
		{name: "inline", function: "upper", args: []*pb.Arg{inline("abc")}, want: "ABC"},
		{name: "object argument", function: "upper", args: []*pb.Arg{objectArg(stored)}, want: "STORED"},
		{name: "result at the inline limit goes to the store", function: "big", want: strings.Repeat("x", 64), inStore: true},
		{name: "user error", function: "err", wantKind: pb.ErrorKind_ERROR_KIND_USER, wantMsg: "nope", wantFunc: "err"},
		{name: "remote error kept", function: "remote", wantKind: pb.ErrorKind_ERROR_KIND_OBJECT_FREED, wantMsg: "nested failure", wantFunc: "inner"},
		{name: "panic", function: "boom", wantKind: pb.ErrorKind_ERROR_KIND_PANIC, wantMsg: "panic: kaboom", wantFunc: "boom", wantStack: true},
		{name: "unregistered", function: "ghost", wantKind: pb.ErrorKind_ERROR_KIND_NOT_FOUND, wantMsg: "ghost", wantFunc: "ghost"},
		{name: "arg count", function: "upper", wantKind: pb.ErrorKind_ERROR_KIND_INVALID, wantMsg: "want 1, got 0", wantFunc: "upper"},
		{name: "missing object", function: "upper", args: []*pb.Arg{objectArg(te.ids.Next().Bytes())}, wantKind: pb.ErrorKind_ERROR_KIND_OBJECT_LOST, wantFunc: "upper"},
	}
	exec := te.System.Root.Spawn(NewExecutor(te.Env))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, slot := te.spec(tt.function, tt.args...)
			te.System.Root.Send(exec, spec)
			r := te.await(slot)
			select {
			case id := <-te.finished:
				if !bytes.Equal(id, spec.TaskId) {
					t.Errorf("TaskFinished for %x, want %x", id, spec.TaskId)
				}
			case <-time.After(testWait):
				t.Fatal("the raylet heard no TaskFinished")
			}
			if tt.wantMsg != "" || tt.wantKind != pb.ErrorKind_ERROR_KIND_USER {
				if r.err == nil {
					t.Fatalf("result %q, want an error", r.data)
				}
				if r.err.Kind != tt.wantKind || !strings.Contains(r.err.Message, tt.wantMsg) || r.err.Function != tt.wantFunc {
					t.Errorf("error %v %q in %q, want %v %q in %q", r.err.Kind, r.err.Message, r.err.Function, tt.wantKind, tt.wantMsg, tt.wantFunc)
				}
				if tt.wantStack && !strings.Contains(r.err.Stack, "executor_test.go") {
					t.Errorf("stack does not show the panicking function:\n%s", r.err.Stack)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("error %v: %s", r.err.Kind, r.err.Message)
			}
			if !tt.inStore {
				if string(r.data) != tt.want || r.storeNode != "" {
					t.Fatalf("result %q in store %q, want %q inline", r.data, r.storeNode, tt.want)
				}
				return
			}
			if r.storeNode != testNodeID || r.size != int64(len(tt.want)) || r.data != nil {
				t.Fatalf("result in store %q, size %d, inline %q", r.storeNode, r.size, r.data)
			}
			data, err := te.Fetch(context.Background(), &pb.ObjectRef{Id: slot.ID.Bytes()})
			if err != nil || string(data) != tt.want {
				t.Fatalf("store holds %q, %v", data, err)
			}
		})
	}
}

func TestExecutorCallInfo(t *testing.T) {
	te := newTestEnv(t, 1024)
	infos := make(chan CallInfo, 1)
	te.register("f", 0, func(ctx context.Context, _ [][]byte) ([]byte, error) { infos <- *CallInfoOf(ctx); return nil, nil })
	spec, slot := te.spec("f")
	spec.GpuIds = []int32{1, 3}
	te.System.Root.Send(te.System.Root.Spawn(NewExecutor(te.Env)), spec)
	te.await(slot)
	info := <-infos
	if !bytes.Equal(info.TaskID, spec.TaskId) || info.NodeID != testNodeID || info.Raylet != te.Raylet || len(info.GPUIDs) != 2 || info.GPUIDs[1] != 3 || info.ActorID != nil {
		t.Errorf("call info %+v", info)
	}
}

func TestExecutorCancel(t *testing.T) {
	te := newTestEnv(t, 1024)
	started := make(chan struct{}, 1)
	var attempts atomic.Int32
	te.register("wait", 0, func(ctx context.Context, _ [][]byte) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	te.register("failForever", 0, func(ctx context.Context, _ [][]byte) ([]byte, error) {
		if attempts.Add(1) == 3 {
			started <- struct{}{}
		}
		return nil, errors.New("always")
	})
	tests := []struct {
		name     string
		function string
		retry    bool
	}{
		{"running task", "wait", false},
		// A cancel stops the retries of a task that keeps failing.
		{"retrying task", "failForever", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exec := te.System.Root.Spawn(NewExecutor(te.Env))
			spec, slot := te.spec(tt.function)
			spec.RetryExceptions, spec.MaxRetries = tt.retry, -1
			te.System.Root.Send(exec, spec)
			<-started
			te.System.Root.Send(exec, &pb.CancelTask{TaskId: te.ids.Next().Bytes()})
			// Once the executor answers a touch, it has handled the cancel.
			if _, err := Request(context.Background(), te.System, exec, &actor.Touch{}); err != nil {
				t.Fatal(err)
			}
			if slot.IsDone() {
				t.Fatal("cancelling another task ended this one")
			}
			te.System.Root.Send(exec, &pb.CancelTask{TaskId: spec.TaskId})
			r := te.await(slot)
			if r.err == nil || r.err.Kind != pb.ErrorKind_ERROR_KIND_CANCELLED || !strings.HasPrefix(r.err.Message, "task cancelled") {
				t.Fatalf("result %+v, want CANCELLED", r)
			}
		})
	}
	n := attempts.Load()
	if n < 3 {
		t.Fatalf("%d attempts before the cancel", n)
	}
}

func TestDeliver(t *testing.T) {
	const limit = 8
	te := newTestEnv(t, limit)
	tests := []struct {
		name    string
		data    []byte
		perr    *pb.Error
		inStore bool
	}{
		{"empty", nil, nil, false},
		{"below limit", []byte("1234567"), nil, false},
		{"at limit", []byte("12345678"), nil, true},
		{"error wins over data", []byte("123456789"), &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_USER, Message: "x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ret, slot := te.pending()
			te.Deliver(WirePID(te.ownerPID), ret, tt.data, tt.perr, nil)
			r := te.await(slot)
			switch {
			case tt.perr != nil:
				if r.err == nil || r.err.Message != "x" || r.data != nil || r.storeNode != "" {
					t.Fatalf("result %+v, want the error alone", r)
				}
			case tt.inStore:
				if r.storeNode != testNodeID || r.size != int64(len(tt.data)) || r.data != nil {
					t.Fatalf("result %+v, want it in the store", r)
				}
				got, err := te.Fetch(context.Background(), &pb.ObjectRef{Id: ret})
				if err != nil || !bytes.Equal(got, tt.data) {
					t.Fatalf("store: %q, %v", got, err)
				}
			default:
				if r.storeNode != "" || !bytes.Equal(r.data, tt.data) {
					t.Fatalf("result %+v, want inline %q", r, tt.data)
				}
			}
		})
	}
}

func TestFetchArgs(t *testing.T) {
	te := newTestEnv(t, 1024)
	stored := te.put([]byte("in store"))
	tests := []struct {
		name     string
		args     []*pb.Arg
		want     []string
		wantErr  error
		wantKind pb.ErrorKind
	}{
		{name: "none", args: nil, want: []string{}},
		{name: "inline and stored", args: []*pb.Arg{inline("a"), objectArg(stored)}, want: []string{"a", "in store"}},
		{name: "malformed", args: []*pb.Arg{inline("a"), {}}, wantErr: ErrMalformedArg},
		{name: "missing object", args: []*pb.Arg{objectArg(te.ids.Next().Bytes())}, wantKind: pb.ErrorKind_ERROR_KIND_OBJECT_LOST},
		{name: "invalid object ID", args: []*pb.Arg{objectArg([]byte("short"))}, wantKind: pb.ErrorKind_ERROR_KIND_INVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := te.FetchArgs(context.Background(), tt.args)
			if tt.want != nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%d args, want %d", len(got), len(tt.want))
				}
				for i := range got {
					if string(got[i]) != tt.want[i] {
						t.Errorf("arg %d = %q, want %q", i, got[i], tt.want[i])
					}
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				var re *RemoteError
				if !errors.As(err, &re) || re.E.Kind != tt.wantKind {
					t.Errorf("err = %v, want a remote %v", err, tt.wantKind)
				}
			}
		})
	}
}

func TestFetchHonoursDeadline(t *testing.T) {
	te := newTestEnv(t, 1024)
	// An actor that never answers stands in for an unreachable store.
	silent := te.System.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	env := &Env{System: te.System, Store: silent}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := env.Fetch(ctx, &pb.ObjectRef{Id: te.ids.Next().Bytes()})
	if err == nil {
		t.Fatal("fetch from a silent store succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > testWait/2 {
		t.Errorf("fetch took %v despite a 50ms deadline", d)
	}
}

// A fetch ends when its context is cancelled, deadline or not.
func TestFetchHonoursCancel(t *testing.T) {
	te := newTestEnv(t, 1024)
	silent := te.System.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	env := &Env{System: te.System, Store: silent}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := env.Fetch(ctx, &pb.ObjectRef{Id: te.ids.Next().Bytes()})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(testWait):
		t.Fatal("a cancelled fetch did not return")
	}
}

func TestErrorOfAndInvoke(t *testing.T) {
	remote := &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: "gone", NodeId: "far"}
	if got := ErrorOf(pb.ErrorKind_ERROR_KIND_USER, &RemoteError{E: remote}, "f", "n"); got != remote {
		t.Errorf("ErrorOf rewrapped a remote error: %+v", got)
	}
	got := ErrorOf(pb.ErrorKind_ERROR_KIND_INVALID, errors.New("bad"), "f", "n")
	if got.Kind != pb.ErrorKind_ERROR_KIND_INVALID || got.Message != "bad" || got.Function != "f" || got.NodeId != "n" {
		t.Errorf("ErrorOf = %+v", got)
	}

	tests := []struct {
		name     string
		fn       func() ([]byte, error)
		want     string
		wantKind pb.ErrorKind
		wantErr  bool
	}{
		{"value", func() ([]byte, error) { return []byte("v"), nil }, "v", 0, false},
		{"error", func() ([]byte, error) { return []byte("ignored"), errors.New("e") }, "", pb.ErrorKind_ERROR_KIND_USER, true},
		{"panic with error", func() ([]byte, error) { panic(errors.New("inner")) }, "", pb.ErrorKind_ERROR_KIND_PANIC, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, perr := Invoke("fn", "node", tt.fn)
			if !tt.wantErr {
				if perr != nil || string(data) != tt.want {
					t.Fatalf("Invoke = %q, %v", data, perr)
				}
				return
			}
			if perr == nil || perr.Kind != tt.wantKind || data != nil || perr.Function != "fn" || perr.NodeId != "node" {
				t.Fatalf("Invoke = %q, %+v", data, perr)
			}
			if tt.wantKind == pb.ErrorKind_ERROR_KIND_PANIC && (perr.Stack == "" || !strings.Contains(perr.Message, "inner")) {
				t.Errorf("panic error %+v", perr)
			}
		})
	}
}

func TestPIDConversions(t *testing.T) {
	if PID(nil) != nil || WirePID(nil) != nil {
		t.Error("nil PIDs do not convert to nil")
	}
	p := actor.NewPID("host:1", "raylet")
	w := WirePID(p)
	if w.Address != "host:1" || w.Id != "raylet" {
		t.Errorf("WirePID = %+v", w)
	}
	if back := PID(w); !back.Equal(p) {
		t.Errorf("round trip = %v, want %v", back, p)
	}
}
