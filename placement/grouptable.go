package placement

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// Placement groups, as the placement actor keeps them.
//
// A group is reserved in two phases. The actor picks a node for every
// bundle on its view (ReserveGroup), then asks each node's raylet to set
// its bundles aside (PrepareBundles). When every raylet agrees it commits
// them (CommitBundles) and the group is created; when one refuses, fails to
// answer, or dies, every prepared bundle goes back (ReturnBundles) and the
// group waits for the next change in the cluster to try again.

// prepareTimeout bounds the wait for a raylet's answer to PrepareBundles.
const prepareTimeout = 5 * time.Second

// retryGroupsDelay batches the retries of waiting groups after changes.
const retryGroupsDelay = 10 * time.Millisecond

type group struct {
	info      *pb.PlacementGroupInfo // state, reason, bundle nodes; spec inside
	bundles   []Resources
	selectors []Selector // nil when no bundle has one
	strategy  GroupStrategy
	// attempt numbers the current round of prepares; a reply from an
	// older round is stale.
	attempt int
	// round holds the nodes asked to prepare in the current round; nil
	// when no round is underway. A group spans few nodes: a slice beats
	// maps here.
	round   []grant
	waiters []*actor.PID // GetPlacementGroup with wait_ready
	creator *actor.PID   // CreatePlacementGroup, answered after the first round
	// stopTimer cancels the current round's timeout.
	stopTimer func()
	next      int    // round-robin among bundles for "any bundle"
	order     uint64 // creation order, for retries
}

// grant is one node's part of a round of prepares.
type grant struct {
	node     string
	bundles  []int // bundle indices
	answered bool  // its reply came
	prepared bool  // it set the bundles aside
}

// inRound reports whether a round of prepares is underway.
func (g *group) inRound() bool { return g.round != nil }

// grantOf returns node's part of the current round, or nil.
func (g *group) grantOf(node string) *grant {
	for i := range g.round {
		if g.round[i].node == node {
			return &g.round[i]
		}
	}
	return nil
}

// unanswered returns the nodes of the round whose reply is outstanding.
func (g *group) unanswered() []string {
	var out []string
	for _, r := range g.round {
		if !r.answered {
			out = append(out, r.node)
		}
	}
	return out
}

// retryGroups is the timer message that tries the waiting groups again.
type retryGroups struct{}

func (g *group) id() string { return string(g.info.Spec.GroupId) }

func (g *group) waiting() bool {
	switch g.info.State {
	case pb.GroupState_GROUP_STATE_PENDING, pb.GroupState_GROUP_STATE_RESCHEDULING, pb.GroupState_GROUP_STATE_INFEASIBLE:
		return !g.inRound()
	}
	return false
}

func groupKey(namespace, name string) string { return namespace + "\x00" + name }

func groupError(kind pb.ErrorKind, format string, args ...any) *pb.PlacementGroupReply {
	return &pb.PlacementGroupReply{Error: &pb.Error{Kind: kind, Message: fmt.Sprintf(format, args...)}}
}

// reply snapshots the group's info: its spec never changes once created
// and is shared; the fields that change are copied.
func (g *group) reply() *pb.PlacementGroupReply {
	i := g.info
	return &pb.PlacementGroupReply{Info: &pb.PlacementGroupInfo{Spec: i.Spec, State: i.State,
		BundleNodes: slices.Clone(i.BundleNodes), Reason: i.Reason, Reschedules: i.Reschedules}}
}

// receiveGroup handles the placement-group messages; it reports false for
// any other message.
func (a *Actor) receiveGroup(c actor.Context) bool {
	switch m := c.Message().(type) {
	case *pb.CreatePlacementGroup:
		if reply := a.createGroup(c, m.Spec); reply != nil {
			c.Respond(reply)
		}
	case *pb.GetPlacementGroup:
		a.getGroup(c, m)
	case *pb.RemovePlacementGroup:
		c.Respond(a.removeGroup(c, string(m.GroupId), "removed"))
	case *pb.ListPlacementGroups:
		reply := &pb.ListPlacementGroupsReply{}
		for _, g := range a.sortedGroups() {
			reply.Groups = append(reply.Groups, g.reply().Info)
		}
		c.Respond(reply)
	case *pb.FinishJob:
		for _, g := range a.sortedGroups() {
			if g.info.Spec.JobId == m.JobId && !g.info.Spec.Detached {
				a.removeGroup(c, g.id(), "its job finished")
			}
		}
	case *pb.PrepareBundlesReply:
		a.preparedReply(c, m)
	case prepareTimedOut:
		if g := a.groups[m.group]; g != nil && g.attempt == m.attempt {
			if late := g.unanswered(); len(late) > 0 {
				slices.Sort(late)
				a.abandon(c, g, fmt.Sprintf("nodes %v did not answer within %v", late, prepareTimeout))
			}
		}
	case retryGroups:
		a.retryScheduled = false
		waiting := slices.Collect(maps.Values(a.unplaced))
		slices.SortFunc(waiting, func(x, y *group) int { return cmp.Compare(x.order, y.order) })
		for _, g := range waiting {
			if g.waiting() {
				a.tryGroup(c, g)
			}
		}
	default:
		return false
	}
	return true
}

func (a *Actor) sortedGroups() []*group {
	out := slices.Collect(maps.Values(a.groups))
	slices.SortFunc(out, func(x, y *group) int { return cmp.Compare(x.order, y.order) })
	return out
}

// setState moves a group to state, keeping the set of unplaced groups.
func (a *Actor) setState(g *group, state pb.GroupState) {
	g.info.State = state
	switch state {
	case pb.GroupState_GROUP_STATE_PENDING, pb.GroupState_GROUP_STATE_RESCHEDULING, pb.GroupState_GROUP_STATE_INFEASIBLE:
		a.unplaced[g.id()] = g
	default:
		delete(a.unplaced, g.id())
	}
}

// scheduleRetry tries the waiting groups again soon: something changed.
func (a *Actor) scheduleRetry(c actor.Context) {
	if a.retryScheduled || a.timers == nil || len(a.unplaced) == 0 {
		return
	}
	a.retryScheduled = true
	a.timers.SendOnce(retryGroupsDelay, c.Self(), retryGroups{})
}

// createGroup validates and registers a group, and starts placing it. The
// reply waits for the first round of prepares, when there is one, so that
// a group that fits at once is created when its creator hears of it; nil
// means the reply is deferred.
func (a *Actor) createGroup(c actor.Context, spec *pb.PlacementGroupSpec) *pb.PlacementGroupReply {
	id := string(spec.GroupId)
	if _, dup := a.groups[id]; dup {
		return groupError(pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS, "placement group %x already exists", spec.GroupId)
	}
	s, err := groupStrategyOf(spec.Strategy)
	if err != nil {
		return groupError(pb.ErrorKind_ERROR_KIND_INVALID, "%v", err)
	}
	g := &group{strategy: s, bundles: make([]Resources, len(spec.Bundles))}
	for i, b := range spec.Bundles {
		r := FromWire(b.Resources)
		if err := ValidateRequest(r); err != nil {
			return groupError(pb.ErrorKind_ERROR_KIND_INVALID, "bundle %d: %v", i, err)
		}
		if r.IsZero() {
			return groupError(pb.ErrorKind_ERROR_KIND_INVALID, "bundle %d asks for no resources", i)
		}
		g.bundles[i] = r
		if sel := SelectorFromWire(b.Selector); len(sel) > 0 {
			if err := sel.Validate(); err != nil {
				return groupError(pb.ErrorKind_ERROR_KIND_INVALID, "bundle %d: %v", i, err)
			}
			if g.selectors == nil {
				g.selectors = make([]Selector, len(spec.Bundles))
			}
			g.selectors[i] = sel
		}
	}
	if spec.Name != "" {
		key := groupKey(spec.Namespace, spec.Name)
		if other, taken := a.groupNames[key]; taken {
			return groupError(pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS,
				"a placement group named %q already exists in namespace %q (%x)", spec.Name, spec.Namespace, other)
		}
		a.groupNames[key] = id
	}
	a.groupOrder++
	g.order = a.groupOrder
	g.info = &pb.PlacementGroupInfo{Spec: spec, BundleNodes: make([]string, len(spec.Bundles))}
	a.groups[id] = g
	a.setState(g, pb.GroupState_GROUP_STATE_PENDING)
	a.tryGroup(c, g)
	if g.inRound() && c.Sender() != nil {
		g.creator = c.Sender()
		return nil
	}
	return g.reply()
}

// answerCreator answers the deferred reply to CreatePlacementGroup.
func (a *Actor) answerCreator(c actor.Context, g *group) {
	if g.creator != nil {
		c.Send(g.creator, g.reply())
		g.creator = nil
	}
}

// tryGroup reserves the group's unplaced bundles on the view and asks
// their nodes to prepare them.
func (a *Actor) tryGroup(c actor.Context, g *group) {
	var lost []int
	avoid := map[string]bool{}
	for i, n := range g.info.BundleNodes {
		if n == "" {
			lost = append(lost, i)
		} else if g.strategy == GroupStrictSpread {
			avoid[n] = true
		}
	}
	if len(lost) == 0 {
		return
	}
	req := GroupRequest{Strategy: g.strategy, Avoid: avoid}
	for _, i := range lost {
		req.Bundles = append(req.Bundles, g.bundles[i])
	}
	if g.selectors != nil {
		for _, i := range lost {
			req.Selectors = append(req.Selectors, g.selectors[i])
		}
	}
	if g.strategy == GroupStrictPack && len(lost) < len(g.bundles) {
		// The surviving bundles' node is the only one allowed.
		for _, n := range g.info.BundleNodes {
			if n != "" {
				for id := range a.infos {
					if id != n {
						avoid[id] = true
					}
				}
				break
			}
		}
	}
	nodes, err := a.view.ReserveGroup(req)
	switch {
	case errors.Is(err, ErrInfeasible) && g.info.State == pb.GroupState_GROUP_STATE_RESCHEDULING:
		g.info.Reason = "its lost bundles cannot be placed again on the nodes alive now: " + err.Error()
		return
	case errors.Is(err, ErrInfeasible):
		a.setState(g, pb.GroupState_GROUP_STATE_INFEASIBLE)
		g.info.Reason = err.Error()
		a.answerWaiters(c, g)
		return
	case err != nil:
		if g.info.State == pb.GroupState_GROUP_STATE_INFEASIBLE {
			a.setState(g, pb.GroupState_GROUP_STATE_PENDING)
		}
		g.info.Reason = err.Error()
		return
	}
	g.attempt++
	g.round = make([]grant, 0, 1)
	for k, i := range lost {
		g.info.BundleNodes[i] = nodes[k]
		if r := g.grantOf(nodes[k]); r != nil {
			r.bundles = append(r.bundles, i)
		} else {
			g.round = append(g.round, grant{node: nodes[k], bundles: []int{i}})
		}
	}
	if g.info.State == pb.GroupState_GROUP_STATE_INFEASIBLE {
		a.setState(g, pb.GroupState_GROUP_STATE_PENDING)
	}
	g.info.Reason = "reserving bundles on their nodes"
	for _, r := range g.round {
		msg := &pb.PrepareBundles{GroupId: g.info.Spec.GroupId, Attempt: int64(g.attempt),
			Bundles: make([]*pb.BundleGrant, len(r.bundles))}
		for k, i := range r.bundles {
			// The spec's wire amounts were validated when the group was
			// created, and a sent message is never changed: share them.
			msg.Bundles[k] = &pb.BundleGrant{Index: int32(i), Resources: g.info.Spec.Bundles[i].Resources}
		}
		// The reply comes back as a message (PrepareBundlesReply).
		c.Request(a.rayletOf(r.node), msg)
	}
	g.stopTimer = a.timers.SendOnce(prepareTimeout, c.Self(), prepareTimedOut{group: g.id(), attempt: g.attempt})
}

// endRound ends the current round of prepares.
func (g *group) endRound() {
	g.round = nil
	if g.stopTimer != nil {
		g.stopTimer()
		g.stopTimer = nil
	}
}

// prepareTimedOut abandons a round of prepares some node has not answered.
type prepareTimedOut struct {
	group   string
	attempt int
}

// preparedReply takes a raylet's answer to PrepareBundles.
func (a *Actor) preparedReply(c actor.Context, m *pb.PrepareBundlesReply) {
	g := a.groups[string(m.GroupId)]
	if g == nil {
		return
	}
	idx := make([]int, len(m.Indices))
	for i, x := range m.Indices {
		idx[i] = int(x)
	}
	why := ""
	if !m.Ok {
		why = fmt.Sprintf("node %s refused: %s", m.NodeId, m.Reason)
	}
	a.prepared(c, g, int(m.Attempt), m.NodeId, idx, m.Ok, why)
	if !m.Ok && m.Available != nil {
		// The node knows best what it has: the view was stale.
		_ = a.view.SetAvailable(m.NodeId, FromWire(m.Available))
	}
}

// rayletOf returns the PID of a node's raylet, made once per node: a PID
// caches where its process is. An unknown node's is a PID nothing answers
// at, so that a prepare sent to it times out.
func (a *Actor) rayletOf(node string) *actor.PID {
	if pid := a.raylets[node]; pid != nil {
		return pid
	}
	return actor.NewPID("nonhost", "none")
}

// prepared takes one raylet's answer to PrepareBundles.
func (a *Actor) prepared(c actor.Context, g *group, attempt int, node string, idx []int, ok bool, why string) {
	var r *grant
	if a.groups[g.id()] == g && g.attempt == attempt {
		r = g.grantOf(node)
	}
	if r == nil || r.answered {
		if ok {
			// A round that was abandoned, or a group that was removed:
			// the node gives the bundles back.
			a.returnBundles(c, g, node, idx, "placement abandoned")
		}
		return
	}
	r.answered = true
	if !ok {
		a.abandon(c, g, why)
		return
	}
	r.prepared = true
	for _, o := range g.round {
		if !o.answered {
			return
		}
	}
	for _, o := range g.round {
		msg := &pb.CommitBundles{GroupId: g.info.Spec.GroupId, Indices: make([]int32, len(o.bundles))}
		for k, i := range o.bundles {
			msg.Indices[k] = int32(i)
		}
		c.Send(a.rayletOf(o.node), msg)
	}
	g.endRound()
	a.setState(g, pb.GroupState_GROUP_STATE_CREATED)
	g.info.Reason = ""
	a.answerCreator(c, g)
	a.answerWaiters(c, g)
}

// abandon undoes the current round of prepares: the view gets the bundles
// back, the nodes that prepared return them, and the group waits.
func (a *Actor) abandon(c actor.Context, g *group, why string) {
	for _, r := range g.round {
		for _, i := range r.bundles {
			a.view.Free(r.node, g.bundles[i])
			g.info.BundleNodes[i] = ""
		}
		if r.prepared {
			a.returnBundles(c, g, r.node, r.bundles, "placement abandoned")
		}
	}
	g.endRound()
	g.info.Reason = why
	a.answerCreator(c, g)
	c.Logger().Debug("placement: group placement abandoned", "group", fmt.Sprintf("%x", g.info.Spec.GroupId), "reason", why)
	a.scheduleRetry(c)
}

func (a *Actor) returnBundles(c actor.Context, g *group, node string, idx []int, reason string) {
	if a.infos[node] == nil {
		return
	}
	msg := &pb.ReturnBundles{GroupId: g.info.Spec.GroupId, Reason: reason, Indices: make([]int32, len(idx))}
	for k, i := range idx {
		msg.Indices[k] = int32(i)
	}
	c.Send(a.rayletOf(node), msg)
}

func (a *Actor) answerWaiters(c actor.Context, g *group) {
	for _, w := range g.waiters {
		c.Send(w, g.reply())
	}
	g.waiters = nil
}

func (a *Actor) findGroup(m *pb.GetPlacementGroup) (*group, *pb.PlacementGroupReply) {
	if len(m.GroupId) > 0 {
		if g := a.groups[string(m.GroupId)]; g != nil {
			return g, nil
		}
		return nil, groupError(pb.ErrorKind_ERROR_KIND_NOT_FOUND, "no placement group %x", m.GroupId)
	}
	id, ok := a.groupNames[groupKey(m.Namespace, m.Name)]
	if !ok {
		return nil, groupError(pb.ErrorKind_ERROR_KIND_NOT_FOUND, "no placement group named %q in namespace %q", m.Name, m.Namespace)
	}
	return a.groups[id], nil
}

func (a *Actor) getGroup(c actor.Context, m *pb.GetPlacementGroup) {
	g, errReply := a.findGroup(m)
	switch {
	case errReply != nil:
		c.Respond(errReply)
	case !m.WaitReady || !g.waiting() && !g.inRound() || g.info.State == pb.GroupState_GROUP_STATE_INFEASIBLE:
		c.Respond(g.reply())
	case c.Sender() != nil:
		g.waiters = append(g.waiters, c.Sender())
	}
}

// removeGroup releases every bundle of a group and kills what runs in
// them. Removing a removed group fails with PLACEMENT_GROUP_REMOVED.
func (a *Actor) removeGroup(c actor.Context, id, reason string) *pb.PlacementGroupReply {
	g := a.groups[id]
	if g == nil {
		return groupError(pb.ErrorKind_ERROR_KIND_NOT_FOUND, "no placement group %x", id)
	}
	if g.info.State == pb.GroupState_GROUP_STATE_REMOVED {
		return groupError(pb.ErrorKind_ERROR_KIND_PLACEMENT_GROUP_REMOVED, "placement group %x was removed already", id)
	}
	byNode := map[string][]int{}
	for i, n := range g.info.BundleNodes {
		if n != "" {
			a.view.Free(n, g.bundles[i])
			byNode[n] = append(byNode[n], i)
		}
	}
	for n, ix := range byNode {
		// Nodes still preparing answer later, and are told then.
		if r := g.grantOf(n); r == nil || r.answered {
			a.returnBundles(c, g, n, ix, "its placement group was "+reason)
		}
	}
	g.endRound()
	a.setState(g, pb.GroupState_GROUP_STATE_REMOVED)
	g.info.Reason = reason
	a.answerCreator(c, g)
	g.info.BundleNodes = make([]string, len(g.bundles))
	if g.info.Spec.Name != "" {
		key := groupKey(g.info.Spec.Namespace, g.info.Spec.Name)
		if a.groupNames[key] == id {
			delete(a.groupNames, key)
		}
	}
	a.answerWaiters(c, g)
	a.removedGroups = append(a.removedGroups, id)
	if len(a.removedGroups) > maxRemovedGroups {
		delete(a.groups, a.removedGroups[0])
		a.removedGroups = a.removedGroups[1:]
	}
	a.scheduleRetry(c)
	return g.reply()
}

// maxRemovedGroups bounds the removed groups the actor remembers, to
// answer work sent to them.
const maxRemovedGroups = 10_000

// groupsNodeDied re-places the bundles a dead node held.
func (a *Actor) groupsNodeDied(c actor.Context, node string) {
	for _, g := range a.sortedGroups() {
		if g.info.State == pb.GroupState_GROUP_STATE_REMOVED {
			continue
		}
		if g.inRound() {
			if r := g.grantOf(node); r != nil {
				// It was preparing bundles: the round fails.
				g.round = slices.DeleteFunc(g.round, func(r grant) bool { return r.node == node })
				for i, n := range g.info.BundleNodes {
					if n == node {
						g.info.BundleNodes[i] = ""
					}
				}
				a.abandon(c, g, fmt.Sprintf("node %s died while it prepared bundles", node))
				continue
			}
		}
		hit := false
		for i, n := range g.info.BundleNodes {
			if n == node {
				g.info.BundleNodes[i] = ""
				hit = true
			}
		}
		if !hit {
			continue
		}
		if g.info.State == pb.GroupState_GROUP_STATE_CREATED {
			a.setState(g, pb.GroupState_GROUP_STATE_RESCHEDULING)
			g.info.Reschedules++
		}
		g.info.Reason = fmt.Sprintf("node %s died; placing its bundles again", node)
		c.Logger().Warn("goray: a node holding placement group bundles died; placing them again",
			"group", fmt.Sprintf("%x", g.info.Spec.GroupId), "node", node)
		a.tryGroup(c, g)
	}
}

// pickInGroup answers where work scheduled into a placement group goes.
func (a *Actor) pickInGroup(m *pb.PickNode, s *pb.Scheduling) *pb.PickNodeReply {
	fail := func(kind pb.ErrorKind, format string, args ...any) *pb.PickNodeReply {
		return &pb.PickNodeReply{Error: &pb.Error{Kind: kind, Message: fmt.Sprintf(format, args...)}}
	}
	g := a.groups[string(s.PlacementGroup)]
	if g == nil {
		return fail(pb.ErrorKind_ERROR_KIND_NOT_FOUND, "no placement group %x", s.PlacementGroup)
	}
	if g.info.State == pb.GroupState_GROUP_STATE_REMOVED {
		return fail(pb.ErrorKind_ERROR_KIND_PLACEMENT_GROUP_REMOVED, "placement group %x was removed", s.PlacementGroup)
	}
	req := FromWire(m.Resources)
	if err := ValidateRequest(req); err != nil {
		return fail(pb.ErrorKind_ERROR_KIND_INVALID, "%v", err)
	}
	n := len(g.bundles)
	if int(s.BundleIndex) >= n {
		return fail(pb.ErrorKind_ERROR_KIND_INVALID, "bundle index %d is out of range: placement group %x has %d bundles",
			s.BundleIndex, s.PlacementGroup, n)
	}
	var fits []int
	for i, b := range g.bundles {
		if (s.BundleIndex < 0 || int(s.BundleIndex) == i) && req.Fits(b) {
			fits = append(fits, i)
		}
	}
	if len(fits) == 0 {
		if s.BundleIndex >= 0 {
			return fail(pb.ErrorKind_ERROR_KIND_INFEASIBLE, "request {%v} does not fit bundle %d {%v} of placement group %x",
				req, s.BundleIndex, g.bundles[s.BundleIndex], s.PlacementGroup)
		}
		return fail(pb.ErrorKind_ERROR_KIND_INFEASIBLE, "request {%v} fits no bundle of placement group %x %s",
			req, s.PlacementGroup, describe(g.bundles))
	}
	if g.info.State != pb.GroupState_GROUP_STATE_CREATED {
		return fail(pb.ErrorKind_ERROR_KIND_NO_CAPACITY, "placement group %x is %v: %s", s.PlacementGroup,
			g.info.State, g.info.Reason)
	}
	g.next++
	i := fits[g.next%len(fits)]
	node := a.infos[g.info.BundleNodes[i]]
	if node == nil {
		return fail(pb.ErrorKind_ERROR_KIND_NO_CAPACITY, "bundle %d of placement group %x has no node now", i, s.PlacementGroup)
	}
	return &pb.PickNodeReply{Node: node}
}
