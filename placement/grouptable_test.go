package placement

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// fakeRaylet answers PrepareBundles (refusing when told to) and reports
// what it is sent on events.
type fakeRaylet struct {
	id     string
	refuse bool
	events chan<- string
	// wait, when set, holds the reply to PrepareBundles until it closes;
	// answered, when set, is closed after the first reply.
	wait     <-chan struct{}
	answered chan struct{}
}

func (f *fakeRaylet) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *pb.PrepareBundles:
		f.events <- fmt.Sprintf("prepare %s %d", f.id, len(m.Bundles))
		reply := &pb.PrepareBundlesReply{Ok: !f.refuse, Reason: "no room after all", GroupId: m.GroupId, Attempt: m.Attempt, NodeId: f.id}
		for _, b := range m.Bundles {
			reply.Indices = append(reply.Indices, b.Index)
		}
		if f.refuse {
			reply.Available = map[string]int64{}
		}
		if f.wait != nil {
			<-f.wait
		}
		c.Respond(reply)
		if f.answered != nil {
			close(f.answered)
			f.answered = nil
		}
	case *pb.CommitBundles:
		f.events <- fmt.Sprintf("commit %s %v", f.id, m.Indices)
	case *pb.ReturnBundles:
		f.events <- fmt.Sprintf("return %s %v", f.id, m.Indices)
	}
}

// raylet registers a node with a fake raylet of the same name.
func (k *actorKit) raylet(id string, cpus float64, refuse bool, events chan<- string) {
	k.rayletWith(&fakeRaylet{id: id, refuse: refuse, events: events}, cpus)
}

func (k *actorKit) rayletWith(f *fakeRaylet, cpus float64) {
	id := f.id
	pid, err := k.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return f }), "raylet-"+id)
	if err != nil {
		k.t.Fatal(err)
	}
	w := wireRes(k.t, map[string]float64{CPU: cpus})
	k.sys.Root.Send(k.pid, &pb.NodeInfo{NodeId: id, Address: pid.Address, Total: w, Available: w,
		Raylet: &pb.Pid{Address: pid.Address, Id: pid.Id}, Alive: true})
}

func (k *actorKit) group(msg any) *pb.PlacementGroupReply {
	k.t.Helper()
	res, err := k.sys.Root.RequestFuture(k.pid, msg, 10*time.Second).Result()
	if err != nil {
		k.t.Fatal(err)
	}
	return res.(*pb.PlacementGroupReply)
}

// waitState polls the group until it reaches state.
func (k *actorKit) waitState(id []byte, state pb.GroupState) *pb.PlacementGroupInfo {
	k.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := k.group(&pb.GetPlacementGroup{GroupId: id})
		if r.Info != nil && r.Info.State == state {
			return r.Info
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("group state %v, want %v", r.Info, state)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func spreadSpec(id string, n int) *pb.PlacementGroupSpec {
	s := &pb.PlacementGroupSpec{GroupId: []byte(fmt.Sprintf("%-16s", id)), Strategy: pb.GroupStrategy_GROUP_STRATEGY_STRICT_SPREAD}
	for range n {
		s.Bundles = append(s.Bundles, &pb.Bundle{Resources: map[string]int64{CPU: int64(Unit)}})
	}
	return s
}

// drain takes the events sent so far without waiting.
func drain(events chan string) {
	for {
		select {
		case <-events:
		default:
			return
		}
	}
}

// collect gathers events until done holds for them, one per line, or 5
// seconds pass; it returns them.
func collect(events chan string, done func(ev string) bool) string {
	var out []string
	deadline := time.After(5 * time.Second)
	for ev := ""; !done(ev); ev = strings.Join(out, "\n") {
		select {
		case e := <-events:
			out = append(out, e)
		case <-deadline:
			return ev
		}
	}
	return strings.Join(out, "\n")
}

func TestGroupTwoPhaseAndNodeDeath(t *testing.T) {
	k := newActorKit(t)
	events := make(chan string, 100)
	for _, id := range []string{"n1", "n2", "n3"} {
		k.raylet(id, 2, false, events)
	}
	spec := spreadSpec("g1", 3)
	if r := k.group(&pb.CreatePlacementGroup{Spec: spec}); r.Error != nil {
		t.Fatal(r.Error)
	}
	info := k.waitState(spec.GroupId, pb.GroupState_GROUP_STATE_CREATED)
	seen := map[string]bool{}
	for _, n := range info.BundleNodes {
		seen[n] = true
	}
	if len(seen) != 3 {
		t.Fatalf("STRICT_SPREAD over 3 nodes placed on %v", info.BundleNodes)
	}
	all := func(ev string) bool {
		for _, n := range []string{"n1", "n2", "n3"} {
			if !strings.Contains(ev, "prepare "+n) || !strings.Contains(ev, "commit "+n) {
				return false
			}
		}
		return true
	}
	ev := collect(events, all)
	for _, n := range []string{"n1", "n2", "n3"} {
		if !strings.Contains(ev, "prepare "+n) || !strings.Contains(ev, "commit "+n) {
			t.Fatalf("node %s was not prepared and committed:\n%s", n, ev)
		}
	}
	// Four bundles cannot spread over three nodes.
	four := spreadSpec("g2", 4)
	k.group(&pb.CreatePlacementGroup{Spec: four})
	if info := k.waitState(four.GroupId, pb.GroupState_GROUP_STATE_INFEASIBLE); !strings.Contains(info.Reason, "distinct") {
		t.Fatalf("reason %q", info.Reason)
	}
	// A node holding a bundle dies: the group re-places it on a new node,
	// away from the two it still holds.
	k.sys.Root.Send(k.pid, &pb.NodeInfo{NodeId: "n2", Alive: false})
	k.waitState(spec.GroupId, pb.GroupState_GROUP_STATE_RESCHEDULING)
	k.raylet("n4", 2, false, events)
	info = k.waitState(spec.GroupId, pb.GroupState_GROUP_STATE_CREATED)
	if info.Reschedules != 1 || !strings.Contains(strings.Join(info.BundleNodes, " "), "n4") {
		t.Fatalf("after n2 died: %+v", info)
	}
	// The four-bundle group fits now: n1, n3, n4 and ... no: still three
	// nodes. A fifth node lets it through.
	k.raylet("n5", 8, false, events)
	k.waitState(four.GroupId, pb.GroupState_GROUP_STATE_CREATED)
	// Remove: every node gives its bundles back; twice is an error.
	drain(events)
	if r := k.group(&pb.RemovePlacementGroup{GroupId: spec.GroupId}); r.Error != nil {
		t.Fatal(r.Error)
	}
	ev = collect(events, func(ev string) bool { return strings.Count(ev, "return ") >= 3 })
	if strings.Count(ev, "return ") != 3 {
		t.Fatalf("remove returned:\n%s", ev)
	}
	if r := k.group(&pb.RemovePlacementGroup{GroupId: spec.GroupId}); r.Error == nil || r.Error.Kind != pb.ErrorKind_ERROR_KIND_PLACEMENT_GROUP_REMOVED {
		t.Fatalf("second remove: %+v", r)
	}
	// Work into the removed group, or out of range, is refused.
	reply := k.pick(&pb.PickNode{Scheduling: &pb.Scheduling{PlacementGroup: spec.GroupId, BundleIndex: 0}})
	if reply.Error == nil || reply.Error.Kind != pb.ErrorKind_ERROR_KIND_PLACEMENT_GROUP_REMOVED {
		t.Fatalf("pick in removed group: %+v", reply)
	}
	reply = k.pick(&pb.PickNode{Scheduling: &pb.Scheduling{PlacementGroup: four.GroupId, BundleIndex: 7}})
	if reply.Error == nil || reply.Error.Kind != pb.ErrorKind_ERROR_KIND_INVALID {
		t.Fatalf("pick out of range: %+v", reply)
	}
	reply = k.pick(&pb.PickNode{Resources: map[string]int64{CPU: 2 * int64(Unit)}, Scheduling: &pb.Scheduling{PlacementGroup: four.GroupId, BundleIndex: -1}})
	if reply.Error == nil || reply.Error.Kind != pb.ErrorKind_ERROR_KIND_INFEASIBLE {
		t.Fatalf("pick larger than every bundle: %+v", reply)
	}
	reply = k.pick(&pb.PickNode{Resources: map[string]int64{CPU: int64(Unit)}, Scheduling: &pb.Scheduling{PlacementGroup: four.GroupId, BundleIndex: 2}})
	if reply.Error != nil || reply.Node == nil {
		t.Fatalf("pick in bundle 2: %+v", reply)
	}
}

func TestGroupRollbackWhenANodeRefuses(t *testing.T) {
	k := newActorKit(t)
	events := make(chan string, 100)
	// n1 prepares first; n2, whose view was stale, refuses after it: n1
	// must give its bundle back.
	n1done := make(chan struct{})
	k.rayletWith(&fakeRaylet{id: "n1", events: events, answered: n1done}, 2)
	k.rayletWith(&fakeRaylet{id: "n2", refuse: true, events: events, wait: n1done}, 2)
	spec := spreadSpec("g1", 2)
	k.group(&pb.CreatePlacementGroup{Spec: spec})
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := k.group(&pb.GetPlacementGroup{GroupId: spec.GroupId})
		if r.Info.State != pb.GroupState_GROUP_STATE_PENDING {
			t.Fatalf("state %v, want PENDING", r.Info.State)
		}
		if strings.Contains(r.Info.Reason, "refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reason %q", r.Info.Reason)
		}
		time.Sleep(2 * time.Millisecond)
	}
	ev := collect(events, func(ev string) bool { return strings.Contains(ev, "return n1") })
	if !strings.Contains(ev, "return n1") || strings.Contains(ev, "commit") {
		t.Fatalf("n1 prepared and was not rolled back, or a commit went out:\n%s", ev)
	}
	// Another node that agrees lets the group through.
	k.raylet("n3", 2, false, events)
	info := k.waitState(spec.GroupId, pb.GroupState_GROUP_STATE_CREATED)
	if strings.Contains(strings.Join(info.BundleNodes, " "), "n2") {
		t.Fatalf("placed on the refusing node: %v", info.BundleNodes)
	}
}

// A job's groups go when it finishes; detached ones stay.
func TestGroupsOfAFinishedJob(t *testing.T) {
	k := newActorKit(t)
	events := make(chan string, 100)
	k.raylet("n1", 4, false, events)
	const job = "0123456789abcdef"
	plain, detached := spreadSpec("plain", 1), spreadSpec("detached", 1)
	plain.JobId, detached.JobId, detached.Detached = job, job, true
	other := spreadSpec("other", 1)
	other.JobId = "fedcba9876543210"
	for _, s := range []*pb.PlacementGroupSpec{plain, detached, other} {
		k.group(&pb.CreatePlacementGroup{Spec: s})
		k.waitState(s.GroupId, pb.GroupState_GROUP_STATE_CREATED)
	}
	k.sys.Root.Send(k.pid, &pb.FinishJob{JobId: job})
	if info := k.waitState(plain.GroupId, pb.GroupState_GROUP_STATE_REMOVED); !strings.Contains(info.Reason, "job finished") {
		t.Fatalf("reason %q", info.Reason)
	}
	for _, s := range []*pb.PlacementGroupSpec{detached, other} {
		if r := k.group(&pb.GetPlacementGroup{GroupId: s.GroupId}); r.Info.State != pb.GroupState_GROUP_STATE_CREATED {
			t.Fatalf("group %s after the job finished: %v", s.GroupId, r.Info.State)
		}
	}
}
