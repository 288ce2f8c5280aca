package cluster

import (
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// The raylet's part of scheduling strategies and placement groups.

type bundleKey struct {
	group string
	index int32
}

// bundle is a placement-group bundle this node holds: resources set aside
// from the node's ledger, with a ledger of their own that the group's
// tasks and actors draw from.
type bundle struct {
	key       bundleKey
	res       placement.Resources
	led       *ledger
	devices   []int32
	committed bool
}

func inGroup(spec *pb.TaskSpec) bool {
	return spec.Scheduling != nil && len(spec.Scheduling.PlacementGroup) > 0
}

// prepare sets the bundles aside, all of them or none.
func (r *Raylet) prepare(m *pb.PrepareBundles) *pb.PrepareBundlesReply {
	reply := r.prepareBundles(m)
	reply.GroupId, reply.Attempt, reply.NodeId = m.GroupId, m.Attempt, r.env.NodeID
	for _, g := range m.Bundles {
		reply.Indices = append(reply.Indices, g.Index)
	}
	return reply
}

func (r *Raylet) prepareBundles(m *pb.PrepareBundles) *pb.PrepareBundlesReply {
	if r.stopping {
		return &pb.PrepareBundlesReply{Reason: "node is stopping"}
	}
	group := string(m.GroupId)
	var taken []*bundle
	for _, g := range m.Bundles {
		key := bundleKey{group, g.Index}
		if r.bundles[key] != nil {
			continue // prepared already
		}
		res := placement.FromWire(g.Resources)
		devices, err := r.ledger.take(res)
		if err != nil {
			for _, b := range taken {
				r.ledger.give(b.res, b.devices)
			}
			return &pb.PrepareBundlesReply{Reason: fmt.Sprintf("bundle %d {%v}: %v", g.Index, res, err),
				Available: placement.ToWire(r.ledger.available())}
		}
		taken = append(taken, &bundle{key: key, res: res, devices: devices, led: newBundleLedger(res, devices)})
	}
	for _, b := range taken {
		r.bundles[b.key] = b
		r.byGroup[group] = append(r.byGroup[group], b)
	}
	r.scheduleReport()
	// Only a refusal carries what is available: it corrects a stale view,
	// and an agreement leaves the view as the placement actor reserved it.
	return &pb.PrepareBundlesReply{Ok: true}
}

func (r *Raylet) commit(m *pb.CommitBundles) {
	for _, i := range m.Indices {
		if b := r.bundles[bundleKey{string(m.GroupId), i}]; b != nil {
			b.committed = true
		}
	}
}

// returnBundles gives bundles back to the node, killing what runs in them.
func (r *Raylet) returnBundles(c actor.Context, m *pb.ReturnBundles) {
	group := string(m.GroupId)
	var drop []*bundle
	if len(m.Indices) == 0 {
		drop = append(drop, r.byGroup[group]...)
	}
	for _, i := range m.Indices {
		if b := r.bundles[bundleKey{group, i}]; b != nil {
			drop = append(drop, b)
		}
	}
	reason := m.Reason
	if reason == "" {
		reason = "its placement group bundle was returned"
	}
	for _, b := range drop {
		r.dropBundle(c, b, reason)
	}
	r.dispatch(c)
}

func (r *Raylet) dropBundle(c actor.Context, b *bundle, reason string) {
	if r.bundles[b.key] != b {
		return
	}
	delete(r.bundles, b.key)
	list := r.byGroup[b.key.group]
	for i, x := range list {
		if x == b {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(r.byGroup, b.key.group)
	} else {
		r.byGroup[b.key.group] = list
	}
	// Queued tasks fail; running ones are cancelled.
	kept := r.queued[:0]
	for _, s := range r.queued {
		if s.led != b.led {
			kept = append(kept, s)
			continue
		}
		for spec := s.tasks.peek(); spec != nil; spec = s.tasks.peek() {
			s.tasks.pop()
			r.fail(spec, pb.ErrorKind_ERROR_KIND_PLACEMENT_GROUP_REMOVED, fmt.Sprintf("task %s: %s", taskName(spec), reason))
		}
	}
	clear(r.queued[len(kept):])
	r.queued = kept
	for _, t := range r.running {
		if t.shape.led == b.led {
			c.Send(t.exec, &pb.CancelTask{TaskId: t.spec.TaskId})
		}
	}
	for _, h := range r.hosts {
		if h.shape.led == b.led {
			r.reportDead(c, h.spec.ActorId, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: reason,
				Function: h.spec.TypeName, NodeId: r.env.NodeID})
		}
	}
	// What still runs (a task that ignores its cancelled context) draws on
	// the dropped bundle's ledger, not the node's.
	r.ledger.give(b.res, b.devices)
	r.scheduleReport()
}

// localBundle returns the bundle of spec's group on this node that takes
// it: the one named, or for any bundle the first that could fit it,
// preferring one with room now.
func (r *Raylet) localBundle(spec *pb.TaskSpec) *bundle {
	return r.localBundleFor(spec.Scheduling, spec.Resources)
}

func (r *Raylet) localBundleFor(sch *pb.Scheduling, res map[string]int64) *bundle {
	group := string(sch.PlacementGroup)
	if sch.BundleIndex >= 0 {
		return r.bundles[bundleKey{group, sch.BundleIndex}]
	}
	var fallback *bundle
	for _, b := range r.byGroup[group] {
		s := b.led.shapeOf(res)
		if !s.feasible || s.err != nil {
			continue
		}
		if b.led.fits(s) {
			return b
		}
		if fallback == nil {
			fallback = b
		}
	}
	return fallback
}

// submitInGroup runs a task of a placement group in its bundle here, or
// asks the placement actor where the bundle is.
func (r *Raylet) submitInGroup(c actor.Context, spec *pb.TaskSpec) {
	b := r.localBundle(spec)
	if b == nil {
		r.waitForNode(c, spec)
		return
	}
	r.enqueueInBundle(c, spec, b)
}

func (r *Raylet) enqueueInBundle(c actor.Context, spec *pb.TaskSpec, b *bundle) {
	s := b.led.shapeOf(spec.Resources)
	switch {
	case s.err != nil:
		r.fail(spec, pb.ErrorKind_ERROR_KIND_INVALID, fmt.Sprintf("task %s: %v", taskName(spec), s.err))
	case !s.feasible:
		r.fail(spec, pb.ErrorKind_ERROR_KIND_INFEASIBLE, fmt.Sprintf("task %s asks for {%v}; bundle %d of its placement group holds {%v}",
			taskName(spec), placement.FromWire(spec.Resources), b.key.index, b.res))
	default:
		r.enqueue(c, s, spec)
	}
}

// enqueue queues a task on its shape and runs what fits.
func (r *Raylet) enqueue(c actor.Context, s *shape, spec *pb.TaskSpec) {
	if s.tasks.peek() == nil {
		r.queued = append(r.queued, s)
	}
	s.tasks.push(spec)
	r.dispatch(c)
}

// waitForNode holds a task until the placement actor names a node for it.
func (r *Raylet) waitForNode(c actor.Context, spec *pb.TaskSpec) {
	id := taskKey(spec.TaskId)
	if r.spilling[id] == spec {
		return
	}
	r.spilling[id] = spec
	r.spillQueue = append(r.spillQueue, spec)
	r.spill(c, spec, spillRetryFirst)
}

// selfLabels returns this node's labels as the shared view has them.
func (r *Raylet) selfLabels() (map[string]string, bool) {
	info := r.infos[r.env.NodeID]
	if info == nil {
		return nil, false
	}
	return info.Labels, true
}

// submitConstrained places a task with a strategy or label selector.
func (r *Raylet) submitConstrained(c actor.Context, spec *pb.TaskSpec, s *shape) {
	sch := spec.Scheduling
	self := r.env.NodeID
	labels, known := r.selfLabels()
	admits := s.feasible && known && placement.Admits(sch, self, labels)
	if spec.Hops > 0 && admits {
		r.enqueue(c, s, spec) // the node that sent it chose this one
		return
	}
	if r.peers == 0 {
		if admits && (sch.Strategy != pb.Strategy_STRATEGY_NODE_AFFINITY || sch.AffinityNode == self) {
			r.enqueue(c, s, spec)
			return
		}
		// The placement actor decides, or says why it cannot run.
		r.waitForNode(c, spec)
		return
	}
	req := placement.RequestOf(spec.Resources, sch, self)
	_ = r.view.SetAvailable(self, r.ledger.available())
	node, err := r.view.Pick(req, r.rnd)
	switch {
	case err == nil && node == self:
		r.enqueue(c, s, spec)
	case err == nil:
		_ = r.view.Allocate(node, req.Resources)
		r.forward(c, spec, r.infos[node])
	case errors.Is(err, placement.ErrNoCapacity):
		// It can run, but nowhere now: queue it where it may run.
		target := ""
		if sch.Strategy == pb.Strategy_STRATEGY_NODE_AFFINITY {
			if n, ok := r.view.Node(sch.AffinityNode); ok && n.Alive && req.Resources.Fits(n.Total) {
				target = n.ID
			}
		}
		if target == "" && admits && (sch.Strategy != pb.Strategy_STRATEGY_NODE_AFFINITY || sch.AffinitySoft) {
			target = self
		}
		if target == "" {
			target = r.leastLoaded(req, sch)
		}
		switch target {
		case "":
			r.waitForNode(c, spec)
		case self:
			r.enqueue(c, s, spec)
		default:
			r.forward(c, spec, r.infos[target])
		}
	default:
		r.waitForNode(c, spec)
	}
}
