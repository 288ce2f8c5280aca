package placement

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// actorKit runs a placement actor in a quiet actor system.
type actorKit struct {
	t   *testing.T
	sys *actor.ActorSystem
	pid *actor.PID
}

func newActorKit(t *testing.T) *actorKit {
	t.Helper()
	l := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return l }))
	t.Cleanup(sys.Shutdown)
	return &actorKit{t: t, sys: sys, pid: sys.Root.Spawn(NewActor(1))}
}

// wireRes converts floats to a wire resource map.
func wireRes(t *testing.T, m map[string]float64) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for k, v := range m {
		out[k] = int64(v * float64(Unit))
	}
	return out
}

// node registers a node whose resources are all available.
func (k *actorKit) node(id string, total map[string]float64, labels map[string]string) {
	w := wireRes(k.t, total)
	k.sys.Root.Send(k.pid, &pb.NodeInfo{NodeId: id, Address: "addr-" + id, Total: w, Available: w, Labels: labels,
		Raylet: &pb.Pid{Address: "addr-" + id, Id: "raylet"}, Alive: true})
}

func (k *actorKit) report(id string, avail map[string]float64) {
	k.sys.Root.Send(k.pid, &pb.ResourceReport{NodeId: id, Available: wireRes(k.t, avail)})
}

func (k *actorKit) pick(m *pb.PickNode) *pb.PickNodeReply {
	k.t.Helper()
	res, err := k.sys.Root.RequestFuture(k.pid, m, 10*time.Second).Result()
	if err != nil {
		k.t.Fatal(err)
	}
	return res.(*pb.PickNodeReply)
}

func TestPlacementActorPick(t *testing.T) {
	k := newActorKit(t)
	k.node("a", map[string]float64{CPU: 4}, map[string]string{"zone": "x"})
	k.node("b", map[string]float64{CPU: 2, GPU: 1}, map[string]string{"zone": "y"})

	tests := []struct {
		name     string
		msg      *pb.PickNode
		wantNode string
		wantKind pb.ErrorKind
		wantMsg  string
	}{
		{name: "local first", msg: &pb.PickNode{Resources: wireRes(t, map[string]float64{CPU: 1}), LocalNode: "a"}, wantNode: "a"},
		{name: "GPU", msg: &pb.PickNode{Resources: wireRes(t, map[string]float64{GPU: 1}), LocalNode: "a"}, wantNode: "b"},
		{name: "labels", msg: &pb.PickNode{Resources: wireRes(t, map[string]float64{CPU: 1}), LocalNode: "a", Labels: map[string]string{"zone": "y"}}, wantNode: "b"},
		{name: "hard affinity", msg: &pb.PickNode{Strategy: pb.Strategy_STRATEGY_NODE_AFFINITY, AffinityNode: "b", LocalNode: "a"}, wantNode: "b"},
		{name: "too many CPUs", msg: &pb.PickNode{Resources: wireRes(t, map[string]float64{CPU: 100})}, wantKind: pb.ErrorKind_ERROR_KIND_INFEASIBLE, wantMsg: "largest is a"},
		{name: "no such label", msg: &pb.PickNode{Labels: map[string]string{"zone": "z"}}, wantKind: pb.ErrorKind_ERROR_KIND_INFEASIBLE, wantMsg: "labels"},
		{name: "unknown resource", msg: &pb.PickNode{Resources: map[string]int64{"TPU": int64(Unit)}}, wantKind: pb.ErrorKind_ERROR_KIND_INFEASIBLE, wantMsg: "TPU"},
		{name: "affinity to unknown node", msg: &pb.PickNode{Strategy: pb.Strategy_STRATEGY_NODE_AFFINITY, AffinityNode: "zz"}, wantKind: pb.ErrorKind_ERROR_KIND_INFEASIBLE},
		{name: "negative amount", msg: &pb.PickNode{Resources: map[string]int64{CPU: -1}}, wantKind: pb.ErrorKind_ERROR_KIND_INVALID},
		{name: "one and a half GPUs", msg: &pb.PickNode{Resources: wireRes(t, map[string]float64{GPU: 1.5})}, wantKind: pb.ErrorKind_ERROR_KIND_INVALID},
		{name: "unknown strategy", msg: &pb.PickNode{Strategy: pb.Strategy(42)}, wantKind: pb.ErrorKind_ERROR_KIND_INVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := k.pick(tt.msg)
			if tt.wantNode != "" {
				if r.Error != nil {
					t.Fatalf("error %v: %s", r.Error.Kind, r.Error.Message)
				}
				if r.Node.NodeId != tt.wantNode || r.Node.Raylet.GetAddress() != "addr-"+tt.wantNode {
					t.Fatalf("picked %+v, want %s", r.Node, tt.wantNode)
				}
				return
			}
			if r.Error == nil || r.Error.Kind != tt.wantKind {
				t.Fatalf("reply %+v, want a %v error", r, tt.wantKind)
			}
			if !strings.Contains(r.Error.Message, tt.wantMsg) {
				t.Errorf("message %q, want it to mention %q", r.Error.Message, tt.wantMsg)
			}
		})
	}
}

func TestPlacementActorCapacity(t *testing.T) {
	k := newActorKit(t)
	k.node("a", map[string]float64{CPU: 1}, nil)
	one := &pb.PickNode{Resources: wireRes(t, map[string]float64{CPU: 1})}
	steps := []struct {
		name     string
		before   func()
		wantKind pb.ErrorKind // 0 means the pick succeeds
	}{
		{"free node", nil, 0},
		// The first pick holds the CPU until the node reports again.
		{"committed by the last pick", nil, pb.ErrorKind_ERROR_KIND_NO_CAPACITY},
		{"node reports free", func() { k.report("a", map[string]float64{CPU: 1}) }, 0},
		{"node reports busy", func() { k.report("a", map[string]float64{CPU: 0}) }, pb.ErrorKind_ERROR_KIND_NO_CAPACITY},
		{"report from an unknown node is ignored", func() { k.report("ghost", map[string]float64{CPU: 8}) }, pb.ErrorKind_ERROR_KIND_NO_CAPACITY},
		{"a second node joins", func() { k.node("b", map[string]float64{CPU: 2}, nil) }, 0},
		{"node b leaves", func() {
			k.sys.Root.Send(k.pid, &pb.NodeInfo{NodeId: "b", Alive: false})
			k.report("a", map[string]float64{CPU: 0})
		}, pb.ErrorKind_ERROR_KIND_NO_CAPACITY},
		{"node a leaves", func() { k.sys.Root.Send(k.pid, &pb.NodeInfo{NodeId: "a", Alive: false}) }, pb.ErrorKind_ERROR_KIND_INFEASIBLE},
		{"a node with invalid resources is refused", func() {
			k.sys.Root.Send(k.pid, &pb.NodeInfo{NodeId: "bad", Total: map[string]int64{CPU: -5}, Available: map[string]int64{CPU: 10 * int64(Unit)}, Alive: true})
		}, pb.ErrorKind_ERROR_KIND_INFEASIBLE},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		r := k.pick(one)
		switch {
		case st.wantKind == 0 && r.Error != nil:
			t.Fatalf("%s: error %v: %s", st.name, r.Error.Kind, r.Error.Message)
		case st.wantKind != 0 && (r.Error == nil || r.Error.Kind != st.wantKind):
			t.Fatalf("%s: reply %+v, want %v", st.name, r, st.wantKind)
		}
	}
}

func TestPlacementActorSpread(t *testing.T) {
	k := newActorKit(t)
	for _, id := range []string{"a", "b", "c"} {
		k.node(id, map[string]float64{CPU: 8}, nil)
	}
	seen := map[string]int{}
	for range 6 {
		r := k.pick(&pb.PickNode{Resources: wireRes(t, map[string]float64{CPU: 1}), Strategy: pb.Strategy_STRATEGY_SPREAD})
		if r.Error != nil {
			t.Fatal(r.Error)
		}
		seen[r.Node.NodeId]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if seen[id] != 2 {
			t.Errorf("spread placed %v, want 2 on each node", seen)
			break
		}
	}
}

func TestWireConversions(t *testing.T) {
	r := Resources{CPU: 3 * Unit / 2, GPU: Unit, "custom": 7}
	w := ToWire(r)
	if w[CPU] != 15000 || w[GPU] != 10000 || w["custom"] != 7 || len(w) != 3 {
		t.Errorf("ToWire = %v", w)
	}
	if back := FromWire(w); !back.Equal(r) {
		t.Errorf("FromWire(ToWire(r)) = %v, want %v", back, r)
	}
	if len(FromWire(nil)) != 0 || len(ToWire(nil)) != 0 {
		t.Error("nil maps do not convert to empty ones")
	}
}
