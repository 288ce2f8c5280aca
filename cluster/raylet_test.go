package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestRayletTaskOutcomes(t *testing.T) {
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 2}})
	n.register("concat", 2, func(_ context.Context, args [][]byte) ([]byte, error) {
		return append(slices.Clone(args[0]), args[1]...), nil
	})
	n.register("fail", 0, func(context.Context, [][]byte) ([]byte, error) {
		return nil, errors.New("user says no")
	})
	n.register("crash", 0, func(context.Context, [][]byte) ([]byte, error) {
		var s []int
		return nil, fmt.Errorf("unreachable: %d", s[len(s)]) // index out of range
	})
	stored := n.ids.Next()
	n.System.Root.Send(n.Store, &pb.PutObject{ObjectId: stored.Bytes(), Data: []byte("from-store")})

	inline := func(b string) *pb.Arg { return &pb.Arg{Kind: &pb.Arg_Inline{Inline: []byte(b)}} }
	byID := func(b []byte) *pb.Arg {
		return &pb.Arg{Kind: &pb.Arg_Ref{Ref: &pb.ObjectRef{Id: b, Owner: actors.WirePID(n.OwnerPID), Locations: []*pb.Pid{actors.WirePID(n.Store)}}}}
	}
	tests := []struct {
		name     string
		spec     *pb.TaskSpec
		want     string
		wantKind pb.ErrorKind
		anyKind  bool // only that it fails matters
		wantMsg  string
	}{
		{name: "inline args", spec: &pb.TaskSpec{Function: "concat", Args: []*pb.Arg{inline("a"), inline("b")}}, want: "ab"},
		{name: "store arg", spec: &pb.TaskSpec{Function: "concat", Args: []*pb.Arg{byID(stored.Bytes()), inline("!")}}, want: "from-store!"},
		{name: "no resources asked", spec: &pb.TaskSpec{Function: "concat", Args: []*pb.Arg{inline(""), inline("z")}, Resources: map[string]int64{}}, want: "z"},
		{name: "unknown function", spec: &pb.TaskSpec{Function: "nope"}, wantKind: pb.ErrorKind_ERROR_KIND_NOT_FOUND, wantMsg: `"nope"`},
		{name: "wrong arg count", spec: &pb.TaskSpec{Function: "concat", Args: []*pb.Arg{inline("a")}}, wantKind: pb.ErrorKind_ERROR_KIND_INVALID, wantMsg: "want 2, got 1"},
		{name: "malformed arg", spec: &pb.TaskSpec{Function: "concat", Args: []*pb.Arg{{}, inline("a")}}, wantKind: pb.ErrorKind_ERROR_KIND_INVALID, wantMsg: "args[0]"},
		{name: "missing object", spec: &pb.TaskSpec{Function: "concat", Args: []*pb.Arg{byID(n.ids.Next().Bytes()), inline("a")}}, wantKind: pb.ErrorKind_ERROR_KIND_OBJECT_LOST},
		{name: "user error", spec: &pb.TaskSpec{Function: "fail"}, wantKind: pb.ErrorKind_ERROR_KIND_USER, wantMsg: "user says no"},
		{name: "panic", spec: &pb.TaskSpec{Function: "crash"}, wantKind: pb.ErrorKind_ERROR_KIND_PANIC, wantMsg: "index out of range"},
		{name: "infeasible", spec: &pb.TaskSpec{Function: "fail", Resources: cpuReq(100)}, wantKind: pb.ErrorKind_ERROR_KIND_INFEASIBLE},
		{name: "unknown resource", spec: &pb.TaskSpec{Function: "fail", Resources: map[string]int64{"TPU": int64(placement.Unit)}}, wantKind: pb.ErrorKind_ERROR_KIND_INFEASIBLE, wantMsg: "TPU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.spec.Resources == nil {
				tt.spec.Resources = cpuReq(1)
			}
			o := n.await(n.submit(tt.spec))
			if tt.want != "" {
				if o.err != nil {
					t.Fatalf("error %v: %s", o.err.Kind, o.err.Message)
				}
				if string(o.data) != tt.want {
					t.Fatalf("result %q, want %q", o.data, tt.want)
				}
				return
			}
			if o.err == nil {
				t.Fatalf("result %q, want a %v error", o.data, tt.wantKind)
			}
			if !tt.anyKind && o.err.Kind != tt.wantKind {
				t.Errorf("kind %v, want %v (%s)", o.err.Kind, tt.wantKind, o.err.Message)
			}
			if !strings.Contains(o.err.Message, tt.wantMsg) {
				t.Errorf("message %q, want it to contain %q", o.err.Message, tt.wantMsg)
			}
			if o.err.Function != tt.spec.Function {
				t.Errorf("error names function %q, want %q", o.err.Function, tt.spec.Function)
			}
			if tt.wantKind == pb.ErrorKind_ERROR_KIND_PANIC && !strings.Contains(o.err.Stack, "raylet_test.go") {
				t.Errorf("panic stack does not reach the panicking function:\n%s", o.err.Stack)
			}
		})
	}
}

// Requests no valid task could make must be refused, not run with broken
// resource accounting.
func TestRayletRejectsInvalidRequests(t *testing.T) {
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 2, "GPU": 2}})
	var ran atomic.Int32
	n.register("f", 0, func(context.Context, [][]byte) ([]byte, error) {
		ran.Add(1)
		return nil, nil
	})
	tests := []struct {
		name string
		req  map[string]int64
	}{
		{"negative CPU", map[string]int64{placement.CPU: -int64(placement.Unit)}},
		{"one and a half GPUs", map[string]int64{placement.GPU: int64(placement.Unit) * 3 / 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := n.await(n.submit(&pb.TaskSpec{Function: "f", Resources: tt.req}))
			if o.err == nil || o.err.Kind != pb.ErrorKind_ERROR_KIND_INVALID {
				t.Fatalf("outcome %+v, want an INVALID error", o)
			}
		})
	}
	if r := ran.Load(); r != 0 {
		t.Errorf("the function ran %d times", r)
	}
}

func TestRayletConcurrencyBoundedByCPUs(t *testing.T) {
	tests := []struct {
		name  string
		cpus  float64
		req   float64
		tasks int
		want  int32 // tasks running at once
	}{
		{"1 CPU", 1, 1, 5, 1},
		{"2 CPUs", 2, 1, 10, 2},
		{"half-CPU tasks", 2, 0.5, 12, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startTestNode(t, Config{Resources: map[string]float64{"CPU": tt.cpus}})
			g := newGate()
			defer g.open()
			var running, peak, started atomic.Int32
			n.register("hold", 1, func(_ context.Context, args [][]byte) ([]byte, error) {
				now := running.Add(1)
				for {
					p := peak.Load()
					if now <= p || peak.CompareAndSwap(p, now) {
						break
					}
				}
				started.Add(1)
				g.wait()
				running.Add(-1)
				return args[0], nil
			})
			outs := make([]func() outcome, 0, tt.tasks)
			for i := range tt.tasks {
				spec := &pb.TaskSpec{Function: "hold", Resources: cpuReq(tt.req), Args: []*pb.Arg{{Kind: &pb.Arg_Inline{Inline: []byte{byte(i)}}}}}
				s := n.submit(spec)
				outs = append(outs, func() outcome { return n.await(s) })
			}
			waitUntil(t, fmt.Sprintf("%d tasks running", tt.want), func() bool { return started.Load() == tt.want })
			if s := started.Load(); s != tt.want {
				t.Fatalf("%d tasks started on a node with room for %d", s, tt.want)
			}
			g.open()
			for i, out := range outs {
				o := out()
				if o.err != nil || !bytes.Equal(o.data, []byte{byte(i)}) {
					t.Fatalf("task %d: %+v", i, o)
				}
			}
			if started.Load() != int32(tt.tasks) {
				t.Errorf("%d of %d tasks ran", started.Load(), tt.tasks)
			}
			if p := peak.Load(); p != tt.want {
				t.Errorf("peak concurrency %d, want %d", p, tt.want)
			}
		})
	}
}

// Tasks beyond the CPUs queue in arrival order and all complete, without
// a gate: many short tasks through one CPU.
func TestRayletQueueDrains(t *testing.T) {
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 1}})
	var running, peak atomic.Int32
	var order []int
	orderCh := make(chan int, 200)
	n.register("step", 1, func(_ context.Context, args [][]byte) ([]byte, error) {
		if running.Add(1) > 1 {
			peak.Store(2)
		}
		orderCh <- int(args[0][0])
		running.Add(-1)
		return args[0], nil
	})
	const tasks = 200
	slots := make([]outcome, 0, tasks)
	pending := make([]func() outcome, 0, tasks)
	for i := range tasks {
		s := n.submit(&pb.TaskSpec{Function: "step", Resources: cpuReq(1), Args: []*pb.Arg{{Kind: &pb.Arg_Inline{Inline: []byte{byte(i)}}}}})
		pending = append(pending, func() outcome { return n.await(s) })
	}
	for _, p := range pending {
		slots = append(slots, p())
	}
	close(orderCh)
	for i := range orderCh {
		order = append(order, i)
	}
	for i, o := range slots {
		if o.err != nil || o.data[0] != byte(i) {
			t.Fatalf("task %d: %+v", i, o)
		}
	}
	if peak.Load() > 1 {
		t.Error("two tasks ran at once on a 1-CPU node")
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("task %d ran in position %d: queue is not FIFO (%v)", v, i, order[:i+1])
		}
	}
}

func TestRayletCancel(t *testing.T) {
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 1}})
	g := newGate()
	defer g.open()
	started := make(chan string, 4)
	var queuedRan atomic.Bool
	n.register("hold", 0, func(ctx context.Context, _ [][]byte) ([]byte, error) {
		started <- "hold"
		g.wait()
		return []byte("held"), nil
	})
	n.register("queued", 0, func(context.Context, [][]byte) ([]byte, error) {
		queuedRan.Store(true)
		return nil, nil
	})
	n.register("untilCancelled", 0, func(ctx context.Context, _ [][]byte) ([]byte, error) {
		started <- "untilCancelled"
		<-ctx.Done()
		return nil, fmt.Errorf("stopped: %w", context.Cause(ctx))
	})

	t.Run("queued task", func(t *testing.T) {
		holder := &pb.TaskSpec{Function: "hold", Resources: cpuReq(1)}
		hs := n.submit(holder)
		if got := <-started; got != "hold" {
			t.Fatalf("started %s", got)
		}
		spec := &pb.TaskSpec{Function: "queued", Resources: cpuReq(1)}
		qs := n.submit(spec)
		n.System.Root.Send(n.Raylet, &pb.CancelTask{TaskId: spec.TaskId, ReturnId: spec.ReturnId})
		o := n.await(qs)
		if o.err == nil || o.err.Kind != pb.ErrorKind_ERROR_KIND_CANCELLED {
			t.Fatalf("queued task after cancel: %+v", o)
		}
		if hs.IsDone() {
			t.Fatal("cancelling the queued task completed the running one")
		}
		g.open()
		if got := n.awaitValue(hs); string(got) != "held" {
			t.Errorf("running task result %q", got)
		}
		if queuedRan.Load() {
			t.Error("the cancelled task ran")
		}
	})

	t.Run("running task", func(t *testing.T) {
		spec := &pb.TaskSpec{Function: "untilCancelled", Resources: cpuReq(1)}
		s := n.submit(spec)
		if got := <-started; got != "untilCancelled" {
			t.Fatalf("started %s", got)
		}
		n.System.Root.Send(n.Raylet, &pb.CancelTask{TaskId: spec.TaskId, ReturnId: spec.ReturnId})
		o := n.await(s)
		if o.err == nil || o.err.Kind != pb.ErrorKind_ERROR_KIND_CANCELLED {
			t.Fatalf("running task after cancel: %+v", o)
		}
		if !strings.Contains(o.err.Message, "stopped: ") {
			t.Errorf("message %q does not carry the function's error", o.err.Message)
		}
		// The CPU came back: another task runs.
		if got := n.awaitValue(n.submit(&pb.TaskSpec{Function: "queued", Resources: cpuReq(1)})); got != nil {
			t.Errorf("result %q", got)
		}
	})

	t.Run("unknown task", func(t *testing.T) {
		n.System.Root.Send(n.Raylet, &pb.CancelTask{TaskId: []byte("no such task")})
		if got := n.awaitValue(n.submit(&pb.TaskSpec{Function: "queued", Resources: cpuReq(1)})); got != nil {
			t.Errorf("result %q", got)
		}
	})
}

func TestRayletBlockedTaskLendsItsCPU(t *testing.T) {
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 1}})
	g := newGate()
	defer g.open()
	started := make(chan struct{}, 1)
	var waiterDone atomic.Bool
	n.register("waiter", 0, func(context.Context, [][]byte) ([]byte, error) {
		started <- struct{}{}
		g.wait()
		waiterDone.Store(true)
		return []byte("waited"), nil
	})
	n.register("quick", 0, func(context.Context, [][]byte) ([]byte, error) { return []byte("quick"), nil })
	n.register("order", 0, func(context.Context, [][]byte) ([]byte, error) {
		if waiterDone.Load() {
			return []byte("after the waiter"), nil
		}
		return []byte("while the waiter ran"), nil
	})

	w := &pb.TaskSpec{Function: "waiter", Resources: cpuReq(1)}
	ws := n.submit(w)
	<-started
	q1 := n.submit(&pb.TaskSpec{Function: "quick", Resources: cpuReq(1)})
	n.System.Root.Send(n.Raylet, &pb.TaskBlocked{TaskId: w.TaskId})
	if got := n.awaitValue(q1); string(got) != "quick" {
		t.Fatalf("result %q", got)
	}
	// While still blocked, the CPU stays lent.
	if got := n.awaitValue(n.submit(&pb.TaskSpec{Function: "quick", Resources: cpuReq(1)})); string(got) != "quick" {
		t.Fatalf("result %q", got)
	}
	if ws.IsDone() {
		t.Fatal("the blocked task finished early")
	}
	n.System.Root.Send(n.Raylet, &pb.TaskUnblocked{TaskId: w.TaskId})
	// Taking the CPU back holds it again: the next task waits for the
	// waiter, and starts only once the waiter has returned.
	q3 := n.submit(&pb.TaskSpec{Function: "order", Resources: cpuReq(1)})
	// The raylet answers in order: it has decided about q3 by then.
	if st := n.request(n.Raylet, &pb.GetNodeStats{}).(*pb.NodeStats); st.RunningTasks != 1 || st.QueuedTasks != 1 {
		t.Fatalf("%d tasks running and %d queued, want the waiter running and the new task queued", st.RunningTasks, st.QueuedTasks)
	}
	g.open()
	if got := n.awaitValue(ws); string(got) != "waited" {
		t.Fatalf("waiter result %q", got)
	}
	if got := n.awaitValue(q3); string(got) != "after the waiter" {
		t.Fatalf("a task ran on the CPU the unblocked task took back: %q", got)
	}
}

func TestRayletRetries(t *testing.T) {
	tests := []struct {
		name            string
		failures        int32 // attempts that fail before one succeeds
		panics          bool
		retryExceptions bool
		maxRetries      int32
		wantAttempts    int32
		wantKind        pb.ErrorKind
		wantOK          bool
	}{
		{"succeeds after retries", 2, false, true, 3, 3, 0, true},
		{"panics are retried", 1, true, true, 1, 2, 0, true},
		{"budget exhausted", 100, false, true, 2, 3, pb.ErrorKind_ERROR_KIND_USER, false},
		{"panic budget exhausted", 100, true, true, 1, 2, pb.ErrorKind_ERROR_KIND_PANIC, false},
		{"exceptions not retried", 1, false, false, 3, 1, pb.ErrorKind_ERROR_KIND_USER, false},
		{"unlimited retries", 5, false, true, -1, 6, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 1}})
			var attempts atomic.Int32
			n.register("flaky", 0, func(context.Context, [][]byte) ([]byte, error) {
				a := attempts.Add(1)
				if a <= tt.failures {
					if tt.panics {
						panic(fmt.Sprintf("attempt %d", a))
					}
					return nil, fmt.Errorf("attempt %d failed", a)
				}
				return []byte("ok"), nil
			})
			o := n.await(n.submit(&pb.TaskSpec{Function: "flaky", Resources: cpuReq(1), RetryExceptions: tt.retryExceptions, MaxRetries: tt.maxRetries}))
			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("%d attempts, want %d", got, tt.wantAttempts)
			}
			if tt.wantOK {
				if o.err != nil || string(o.data) != "ok" {
					t.Fatalf("outcome %+v, want ok", o)
				}
				return
			}
			if o.err == nil || o.err.Kind != tt.wantKind {
				t.Fatalf("outcome %+v, want a %v error", o, tt.wantKind)
			}
			// The error is the last attempt's.
			if want := fmt.Sprintf("attempt %d", tt.wantAttempts); !strings.Contains(o.err.Message, want) {
				t.Errorf("message %q, want the last attempt's (%s)", o.err.Message, want)
			}
		})
	}
}

func TestRayletLargeResultsGoToStore(t *testing.T) {
	const limit = 1024
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 1}, InlineLimit: limit})
	n.register("make", 1, func(_ context.Context, args [][]byte) ([]byte, error) {
		size := int(args[0][0])<<8 | int(args[0][1])
		return bytes.Repeat([]byte{'v'}, size), nil
	})
	tests := []struct {
		size    int
		inStore bool
	}{
		{0, false},
		{limit - 1, false},
		{limit, true},
		{4 * limit, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			arg := []byte{byte(tt.size >> 8), byte(tt.size)}
			spec := &pb.TaskSpec{Function: "make", Resources: cpuReq(1), Args: []*pb.Arg{{Kind: &pb.Arg_Inline{Inline: arg}}}}
			o := n.await(n.submit(spec))
			if o.err != nil {
				t.Fatalf("error %v", o.err)
			}
			want := bytes.Repeat([]byte{'v'}, tt.size)
			if !tt.inStore {
				if o.storeNode != "" || !bytes.Equal(o.data, want) {
					t.Fatalf("inline result: store %q, %d bytes", o.storeNode, len(o.data))
				}
				return
			}
			if o.storeNode != n.ID || o.size != int64(tt.size) || len(o.data) != 0 {
				t.Fatalf("store result: node %q (want %q), size %d, %d inline bytes", o.storeNode, n.ID, o.size, len(o.data))
			}
			reply := n.request(n.Store, &pb.GetObject{ObjectId: spec.ReturnId}).(*pb.GetObjectReply)
			if reply.Error != nil || !bytes.Equal(reply.Data, want) {
				t.Fatalf("store holds %d bytes, error %v", len(reply.Data), reply.Error)
			}
		})
	}
}

func TestRayletReportsAvailability(t *testing.T) {
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 2}})
	g := newGate()
	defer g.open()
	n.register("hold", 0, func(context.Context, [][]byte) ([]byte, error) { g.wait(); return nil, nil })
	pick := func() *pb.PickNodeReply {
		return n.request(n.Placement, &pb.PickNode{Resources: cpuReq(1), LocalNode: n.ID}).(*pb.PickNodeReply)
	}
	waitUntil(t, "node known to placement", func() bool { return pick().Error == nil })
	a := n.submit(&pb.TaskSpec{Function: "hold", Resources: cpuReq(1)})
	b := n.submit(&pb.TaskSpec{Function: "hold", Resources: cpuReq(1)})
	waitUntil(t, "placement to see the node busy", func() bool {
		r := pick()
		return r.Error != nil && r.Error.Kind == pb.ErrorKind_ERROR_KIND_NO_CAPACITY
	})
	g.open()
	n.awaitValue(a)
	n.awaitValue(b)
	waitUntil(t, "placement to see the node free", func() bool { return pick().Error == nil })
}

func TestRayletAssignsGPUs(t *testing.T) {
	infos := make(chan actors.CallInfo, 8)
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 4, "GPU": 2}})
	g := newGate()
	defer g.open()
	n.register("gpu", 0, func(ctx context.Context, _ [][]byte) ([]byte, error) {
		infos <- *actors.CallInfoOf(ctx)
		g.wait()
		return nil, nil
	})
	gpuReq := func(f float64) map[string]int64 {
		return map[string]int64{placement.GPU: int64(f * float64(placement.Unit)), placement.CPU: int64(placement.Unit)}
	}
	one := n.submit(&pb.TaskSpec{Function: "gpu", Resources: gpuReq(1)})
	i1 := <-infos
	two := n.submit(&pb.TaskSpec{Function: "gpu", Resources: gpuReq(1)})
	i2 := <-infos
	if len(i1.GPUIDs) != 1 || len(i2.GPUIDs) != 1 || i1.GPUIDs[0] == i2.GPUIDs[0] {
		t.Fatalf("GPU IDs %v and %v, want one distinct device each", i1.GPUIDs, i2.GPUIDs)
	}
	if i1.NodeID != n.ID || i1.Raylet == nil || i1.Raylet.Id != RayletProcessID {
		t.Errorf("call info %+v", i1)
	}
	// No device is free: a third GPU task waits for one.
	three := n.submit(&pb.TaskSpec{Function: "gpu", Resources: gpuReq(1)})
	g.open()
	n.awaitValue(one)
	n.awaitValue(two)
	n.awaitValue(three)
	i3 := <-infos
	if len(i3.GPUIDs) != 1 || (i3.GPUIDs[0] != 0 && i3.GPUIDs[0] != 1) {
		t.Errorf("third task's GPU IDs %v", i3.GPUIDs)
	}
}

// respec must copy every field: a field it forgets is lost when a task is
// passed on or given GPUs.
func TestRespecCopiesEveryField(t *testing.T) {
	spec := &pb.TaskSpec{}
	m := spec.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.IsMap():
			m.Mutable(f).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfInt64(1))
		case f.IsList():
			l := m.Mutable(f).List()
			l.Append(l.NewElement())
		case f.Kind() == protoreflect.MessageKind:
			m.Mutable(f)
		case f.Kind() == protoreflect.BoolKind:
			m.Set(f, protoreflect.ValueOfBool(true))
		case f.Kind() == protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString("x"))
		case f.Kind() == protoreflect.BytesKind:
			m.Set(f, protoreflect.ValueOfBytes([]byte{1}))
		default:
			m.Set(f, protoreflect.ValueOfInt32(1))
		}
	}
	if got := respec(spec); !proto.Equal(got, spec) {
		t.Fatalf("respec lost fields:\n got  %v\n want %v", got, spec)
	}
}
