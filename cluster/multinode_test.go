package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"testing"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/internal/nodeproc"
	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// Multi-node tests run each node but the head as a child process: the test
// binary re-executes itself as a node (nodeProcessEnv names the head), so
// that every process has one actor system and one network stack, as in a
// real cluster.
const nodeProcessEnv = "GORAY_TEST_NODE"

// multiRegistry holds the functions and actors of the multi-node tests; the
// head and every child process register the same ones.
var multiRegistry = func() *actors.Registry {
	reg := actors.NewRegistry()
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(reg.RegisterFunc(&actors.Func{Name: "where", Invoke: func(ctx context.Context, _ [][]byte) ([]byte, error) {
		return []byte(actors.CallInfoOf(ctx).NodeID), nil
	}}))
	must(reg.RegisterActor(&actors.ActorType{Name: "where-actor", New: func(context.Context, [][]byte) (any, error) { return &counter{}, nil }}))
	must(reg.RegisterMethod("where-actor", &actors.Method{Name: "where", Invoke: func(ctx context.Context, _ any, _ [][]byte) ([]byte, error) {
		return []byte(actors.CallInfoOf(ctx).NodeID), nil
	}}))
	return reg
}()

func TestMain(m *testing.M) {
	if spec := os.Getenv(nodeProcessEnv); spec != "" {
		os.Exit(runNodeProcess(spec))
	}
	os.Exit(m.Run())
}

// testToken is the cluster token of the multi-node tests.
const testToken = "multi-node-test-token"

// childNode is what a child process is asked to run.
type childNode struct {
	Head      string             `json:"head"`
	Resources map[string]float64 `json:"resources"`
}

// runNodeProcess runs a node until its standard input closes, printing
// "node ID ADDRESS" once it is up.
func runNodeProcess(spec string) int {
	var c childNode
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	n, err := Start(context.Background(), Config{Registry: multiRegistry, Resources: c.Resources, SpillDir: os.TempDir() + "/goray-test-" + fmt.Sprint(os.Getpid()),
		Network: &Network{Host: "127.0.0.1", Join: c.Head, Token: testToken}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("node %s %s\n", n.ID, n.Address())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := n.Stop(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// child is a node running in a child process.
type child = nodeproc.Proc

// startChild starts a node process that joins head; it is killed when the
// test ends, whatever happens.
func startChild(t *testing.T, head string, resources map[string]float64) *child {
	t.Helper()
	spec, err := json.Marshal(childNode{Head: head, Resources: resources})
	if err != nil {
		t.Fatal(err)
	}
	c := nodeproc.Launch(t, nodeProcessEnv, string(spec))
	t.Cleanup(c.Kill)
	return c
}

// startHead starts the head node in the test process.
func startHead(t *testing.T, resources map[string]float64) *testNode {
	t.Helper()
	return startTestNode(t, Config{Registry: multiRegistry, Resources: resources, Network: &Network{Host: "127.0.0.1", Head: true, Token: testToken}})
}

// TestMultiNode runs its cases on one head in this process: protoactor's
// remote sets gRPC's process-wide logger whenever it starts, so a test
// process starts it once.
func TestMultiNode(t *testing.T) {
	head := startHead(t, map[string]float64{"CPU": 1})
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, head *testNode)
	}{
		{"task runs on another node", taskRunsOnAnotherNode},
		{"actor moves when its node dies", actorMovesWhenItsNodeDies},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, head) })
	}
}

// A task only another node can run goes there; its result comes back, and
// tasks that fit anywhere spread once the head is busy.
func taskRunsOnAnotherNode(t *testing.T, head *testNode) {
	worker := startChild(t, head.Address(), map[string]float64{"CPU": 1, "special": 1})
	waitUntil(t, "the head's raylet sees the worker", func() bool {
		return head.request(head.Raylet, &pb.GetNodeStats{}).(*pb.NodeStats).Peers == 1
	})
	defer func() {
		// The next case starts once the GCS knows this node is gone, so
		// that nothing of it is placed here meanwhile.
		worker.Kill()
		waitUntil(t, "the GCS to declare the worker dead", func() bool { return !head.nodeAlive(worker.ID) })
	}()
	roles := map[string]pb.NodeRole{}
	for _, n := range head.request(head.GCS, &pb.ListNodes{}).(*pb.ListNodesReply).Nodes {
		roles[n.NodeId] = n.Role
	}
	if roles[head.ID] != pb.NodeRole_NODE_ROLE_HEAD || roles[worker.ID] != pb.NodeRole_NODE_ROLE_WORKER {
		t.Fatalf("roles %v: want the head HEAD and the worker WORKER", roles)
	}
	slot := head.submit(&pb.TaskSpec{Function: "where", Resources: map[string]int64{"special": int64(placement.Unit)}})
	if got := string(head.awaitValue(slot)); got != worker.ID {
		t.Fatalf("task ran on %q, want the worker %q", got, worker.ID)
	}
	var slots []*objects.Slot
	for range 50 {
		slots = append(slots, head.submit(&pb.TaskSpec{Function: "where", Resources: cpuReq(1)}))
	}
	ran := map[string]int{}
	for _, s := range slots {
		ran[string(head.awaitValue(s))]++
	}
	if ran[worker.ID] == 0 || ran[head.ID] == 0 {
		t.Fatalf("tasks ran %v times per node, want some on each", ran)
	}
	t.Logf("spread: %d on the head, %d on the worker", ran[head.ID], ran[worker.ID])
}

// An actor placed on another node answers calls from the head; when that
// node dies, the actor restarts on a node with room, within its budget.
func actorMovesWhenItsNodeDies(t *testing.T, head *testNode) {
	worker := startChild(t, head.Address(), map[string]float64{"CPU": 1})
	waitUntil(t, "the GCS knows the worker", func() bool { return head.nodeAlive(worker.ID) })
	create := func(spec *pb.ActorSpec) *pb.CreateActorReply {
		return head.request(head.GCS, &pb.CreateActor{Spec: spec}).(*pb.CreateActorReply)
	}
	// The head's CPU goes to a blocker, so the actor lands on the worker.
	// Owned on the head, which the hybrid policy prefers while it has room.
	blocker := &pb.ActorSpec{ActorId: head.ids.Next().Bytes(), TypeName: "where-actor", Resources: cpuReq(1), Owner: actors.WirePID(head.OwnerPID)}
	if r := create(blocker); r.Error != nil || r.Info.NodeId != head.ID {
		t.Fatalf("blocker: %+v", r)
	}
	spec := &pb.ActorSpec{ActorId: head.ids.Next().Bytes(), TypeName: "where-actor", Resources: cpuReq(1), MaxRestarts: 1, Owner: actors.WirePID(head.OwnerPID)}
	r := create(spec)
	if r.Error != nil || r.Info.NodeId != worker.ID {
		t.Fatalf("actor: %+v, want it on the worker", r)
	}
	call := func(pid *pb.Pid) *objects.Slot {
		id := head.ids.Next()
		slot := head.Owner.Pending(id, nil, "")
		head.System.Root.Send(actors.PID(pid), &pb.ActorCall{ActorId: spec.ActorId, Method: "where", ReturnId: id.Bytes(), Owner: actors.WirePID(head.OwnerPID)})
		return slot
	}
	if got := string(head.awaitValue(call(r.Info.Pid))); got != worker.ID {
		t.Fatalf("call answered from %q, want the worker", got)
	}

	worker.Kill() // gossip tells the head's GCS
	info := func() *pb.ActorInfo {
		return head.request(head.GCS, &pb.LookupActor{ActorId: spec.ActorId}).(*pb.LookupActorReply).Info
	}
	waitUntil(t, "the actor to wait for a node", func() bool { return info().State == pb.ActorState_ACTOR_STATE_RESTARTING })
	// Freeing the head's CPU lets it restart there.
	head.request(head.GCS, &pb.KillActor{ActorId: blocker.ActorId, NoRestart: true})
	defer head.request(head.GCS, &pb.KillActor{ActorId: spec.ActorId, NoRestart: true})
	waitUntil(t, "the actor alive on the head", func() bool {
		i := info()
		return i.State == pb.ActorState_ACTOR_STATE_ALIVE && i.NodeId == head.ID
	})
	if i := info(); i.NumRestarts != 1 || !maps.Equal(i.Resources, spec.Resources) {
		t.Fatalf("restarts %d, resources %v: want 1 and the spec's %v", i.NumRestarts, i.Resources, spec.Resources)
	}
	if got := string(head.awaitValue(call(info().Pid))); got != head.ID {
		t.Fatalf("call after the move answered from %q", got)
	}
	nodes := head.request(head.GCS, &pb.ListNodes{}).(*pb.ListNodesReply).Nodes
	for _, n := range nodes {
		if n.NodeId == worker.ID && n.Alive {
			t.Fatal("the GCS still lists the dead worker as alive")
		}
	}
}

// nodeAlive reports whether the GCS lists the node as alive.
func (n *testNode) nodeAlive(id string) bool {
	for _, info := range n.request(n.GCS, &pb.ListNodes{}).(*pb.ListNodesReply).Nodes {
		if info.NodeId == id {
			return info.Alive
		}
	}
	return false
}
