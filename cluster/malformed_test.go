package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// Every system actor answers a malformed message of each type it handles
// with an INVALID error, as a request and as a plain send, and the node
// keeps serving with its state intact.
func TestSystemActorsRefuseMalformedMessages(t *testing.T) {
	k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 2}})
	k.register("echo", 1, func(_ context.Context, args [][]byte) ([]byte, error) { return args[0], nil })
	// State to keep: a live actor and a stored object.
	spec := k.spec(func(s *pb.ActorSpec) { s.Args = []*pb.Arg{inlineArg("7")}; s.Name = "keeper" })
	host := k.mustCreate(spec)
	stored := k.ids.Next().Bytes()
	if ack, ok := k.request(k.Store, &pb.PutObject{ObjectId: stored, Data: []byte("kept")}).(*pb.Ack); !ok || ack.Error != nil {
		t.Fatalf("put: %+v", ack)
	}

	short := []byte{1, 2, 3}
	badPid := &pb.Pid{Id: "x"} // no address
	tests := []struct {
		actor *actor.PID
		msgs  []any
	}{
		{k.GCS, []any{
			&pb.NodeInfo{}, &pb.NodeInfo{NodeId: "not hex", Address: "a"},
			&pb.RegisterJob{}, &pb.RegisterJob{Job: &pb.JobInfo{JobId: "j"}},
			&pb.FinishJob{}, &pb.CreateActor{}, &pb.CreateActor{Spec: &pb.ActorSpec{ActorId: short, TypeName: "counter"}},
			&pb.ActorStateChanged{ActorId: short}, &pb.ActorStateChanged{ActorId: spec.ActorId, State: pb.ActorState(99)},
			&pb.LookupActor{}, &pb.ResolveActor{ActorId: short}, &pb.KillActor{ActorId: short},
			&pb.RestoreActors{Actors: []*pb.RestoredActor{nil}}, &pb.RestoreActors{Actors: []*pb.RestoredActor{{Spec: spec}}},
		}},
		{k.Placement, []any{
			&pb.NodeInfo{}, &pb.ResourceReport{}, &pb.ResourceReport{NodeId: k.ID, Available: map[string]int64{"CPU": -1}},
			&pb.PickNode{Resources: map[string]int64{"": 1}}, &pb.PickNode{Strategy: pb.Strategy_STRATEGY_NODE_AFFINITY},
		}},
		{k.Raylet, []any{
			&pb.TaskSpec{}, &pb.TaskSpec{TaskId: k.ids.Next().Bytes(), ReturnId: k.ids.Next().Bytes(), Function: "echo", Owner: badPid},
			&pb.TaskSpec{TaskId: short, ReturnId: k.ids.Next().Bytes(), Function: "echo", Owner: actors.WirePID(k.OwnerPID)},
			&pb.TaskFinished{TaskId: short}, &pb.TaskBlocked{}, &pb.TaskUnblocked{TaskId: short},
			&pb.CancelTask{}, &pb.StartActor{}, &pb.StartActor{Spec: &pb.ActorSpec{ActorId: spec.ActorId}},
			&pb.ActorStateChanged{}, &pb.KillActor{}, &pb.ActorCall{ActorId: short},
		}},
		{k.Store, []any{
			&pb.PutObject{ObjectId: short}, &pb.PutObject{ObjectId: k.ids.Next().Bytes(), Owner: badPid},
			&pb.GetObject{}, &pb.DeleteObjects{ObjectIds: [][]byte{stored, short}},
		}},
		{k.Directory, []any{
			&pb.AddObject{ObjectId: short}, &pb.RefDelta{Decr: [][]byte{short}}, &pb.FreeObjects{ObjectIds: [][]byte{nil}},
			&pb.ObjectStatus{},
		}},
	}
	for _, tt := range tests {
		for _, m := range tt.msgs {
			t.Run(tt.actor.Id+"/"+typeName(m), func(t *testing.T) {
				if v, ok := m.(pb.Validator); !ok || v.Validate() == nil {
					t.Fatalf("%T %v is not malformed", m, m)
				}
				reply := k.request(tt.actor, m)
				perr, ok := reply.(*pb.Error)
				if !ok || perr.Kind != pb.ErrorKind_ERROR_KIND_INVALID {
					t.Fatalf("reply %T %v, want an INVALID error", reply, reply)
				}
				k.System.Root.Send(tt.actor, m) // no sender: refused quietly
			})
		}
	}

	// The node serves on, with what it held.
	if k.Err() != nil {
		t.Fatalf("node failed: %v", k.Err())
	}
	if got := k.callValue(host, spec.ActorId, "get"); got != "7" {
		t.Fatalf("the actor created before answers %q, want 7", got)
	}
	if l := k.lookup(&pb.LookupActor{Name: "keeper", Namespace: "ns"}); l.Error != nil || l.Info.State != pb.ActorState_ACTOR_STATE_ALIVE {
		t.Fatalf("GCS lost the actor: %+v", l)
	}
	if got := k.awaitValue(k.submit(&pb.TaskSpec{Function: "echo", Args: []*pb.Arg{inlineArg("hi")}, Resources: cpuReq(1)})); string(got) != "hi" {
		t.Fatalf("task after the barrage returned %q", got)
	}
	if r, ok := k.request(k.Store, &pb.GetObject{ObjectId: stored}).(*pb.GetObjectReply); !ok || string(r.Data) != "kept" {
		t.Fatalf("store lost its object: %+v", r)
	}
}

func typeName(m any) string { return strings.TrimPrefix(fmt.Sprintf("%T", m), "*pb.") }

// Killing an actor that waits at the raylet for resources ends it there;
// the raylet keeps its other actors and its accounting.
func TestRayletKillsQueuedActor(t *testing.T) {
	k := newCounterKit(t, Config{Resources: map[string]float64{"CPU": 1}})
	running := k.mustCreate(k.spec(func(s *pb.ActorSpec) { s.Resources = cpuReq(1) }))
	_ = running
	queued := k.spec(func(s *pb.ActorSpec) { s.Resources = cpuReq(1) })
	k.System.Root.Send(k.Raylet, &pb.StartActor{Spec: queued})
	if r, ok := k.request(k.Raylet, &pb.KillActor{ActorId: queued.ActorId, NoRestart: true}).(*pb.KillActorReply); !ok || r.Error != nil {
		t.Fatalf("kill of a queued actor: %+v", r)
	}
	if k.Err() != nil {
		t.Fatalf("node failed: %v", k.Err())
	}
	if k.constructions.Load() != 1 {
		t.Fatalf("%d constructors ran, want only the running actor's", k.constructions.Load())
	}
}

// A task that waits for another node to have room can be cancelled.
func TestRayletCancelsSpillingTask(t *testing.T) {
	k := startTestNode(t, Config{Resources: map[string]float64{"CPU": 1}})
	k.register("gpu", 0, func(context.Context, [][]byte) ([]byte, error) { return nil, nil })
	// Another node has the GPU the task needs, all of it in use.
	other := NewNodeID()
	k.System.Root.Send(k.Placement, &pb.NodeInfo{NodeId: other, Address: "other:1", Alive: true,
		Total: map[string]int64{placement.GPU: units(1)}, Available: map[string]int64{},
		Raylet: &pb.Pid{Address: "other:1", Id: RayletProcessID}, Store: &pb.Pid{Address: "other:1", Id: objects.StoreProcessID}})
	spec := &pb.TaskSpec{Function: "gpu", Resources: map[string]int64{placement.GPU: units(1)}}
	slot := k.submit(spec)
	k.System.Root.Send(k.Raylet, &pb.CancelTask{TaskId: spec.TaskId, ReturnId: spec.ReturnId})
	if o := k.await(slot); o.err == nil || o.err.Kind != pb.ErrorKind_ERROR_KIND_CANCELLED {
		t.Fatalf("spilling task after cancel: %+v", o)
	}
}

// A system actor that panics stops its node loudly: the failure is logged
// at Error with the reason, Failed is closed and the node stops.
func TestSystemActorFailureStopsNode(t *testing.T) {
	var logs bytes.Buffer
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 1}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	n.fatal("gcs", "state corrupted")
	select {
	case <-n.Failed():
	case <-time.After(testWait):
		t.Fatal("Failed was not closed")
	}
	if err := n.Err(); !errors.Is(err, ErrNodeFailed) || !strings.Contains(err.Error(), "gcs panicked: state corrupted") {
		t.Fatalf("Err() = %v", err)
	}
	waitUntil(t, "the node's actors stopped", func() bool {
		_, ok := n.System.ProcessRegistry.GetLocal(GCSProcessID)
		return !ok
	})
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "state corrupted") {
		t.Fatalf("the failure was not logged at Error:\n%s", logs.String())
	}
}

// A node the GCS declares dead stops, should it still run: its actors and
// tasks have moved to other nodes, and running them here too would
// duplicate them.
func TestNodeDeclaredDeadStops(t *testing.T) {
	var logs bytes.Buffer
	n := startTestNode(t, Config{Resources: map[string]float64{"CPU": 1}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	n.System.Root.Send(n.GCS, &pb.NodeDied{NodeId: n.ID})
	select {
	case <-n.Failed():
	case <-time.After(testWait):
		t.Fatal("Failed was not closed")
	}
	if err := n.Err(); !errors.Is(err, ErrNodeFailed) || !strings.Contains(err.Error(), "declared it dead") {
		t.Fatalf("Err() = %v", err)
	}
	waitUntil(t, "the node's actors stopped", func() bool {
		_, ok := n.System.ProcessRegistry.GetLocal(RayletProcessID)
		return !ok
	})
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("the stop was not logged at Error:\n%s", logs.String())
	}
}
