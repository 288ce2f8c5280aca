package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// RayletProcessID is the well-known protoactor ID of a node's raylet.
const RayletProcessID = "raylet"

// reportDelay batches resource reports to the placement actor; a raylet
// reports every reportEvery besides, so that a placement decision that was
// never acted on does not stay in the placement actor's view.
const (
	reportDelay = 20 * time.Millisecond
	reportEvery = time.Second
)

// Backoff of a task that waits for another node to have room.
const (
	spillRetryFirst = 10 * time.Millisecond
	spillRetryMax   = time.Second
)

// maxDeadCauses bounds how many dead actors' causes a raylet remembers to
// answer late calls with.
const maxDeadCauses = 10_000

// Raylet is the actor that schedules work on one node: it holds the node's
// resources, queues tasks until they fit, runs them on a pool of executor
// actors, hosts actors as children, and sends work no local capacity could
// ever fit to the node the placement actor names.
type Raylet struct {
	env          *actors.Env
	declaredDead func()
	placement    *actor.PID
	gcs          *actor.PID
	ledger       *ledger
	timers       *scheduler.TimerScheduler

	// Queued tasks wait in their shape's FIFO: a shape that does not fit
	// is skipped as a whole.
	queued  []*shape   // shapes with queued tasks, oldest first
	actorsQ []*hostRec // actors waiting for resources, oldest first
	idle    []*actor.PID
	running map[objects.ID]*runningTask
	byExec  map[string]*runningTask // by executor process ID
	spare   *runningTask            // a finished task's record, reused by the next
	// spilling holds tasks that only another node can run, waiting for one
	// to have room; spillQueue keeps their order.
	spilling   map[objects.ID]*pb.TaskSpec
	spillQueue []*pb.TaskSpec
	asking     map[objects.ID]bool // asked the placement actor where to go

	hosts  map[string]*hostRec // by actor ID
	byHost map[string]*hostRec // by host process ID
	dead   causeCache          // why recently dead actors died

	// view is the cluster as the placement actor last shared it, and
	// peers the other nodes in it: the raylet picks a node to spill to
	// from it without asking.
	view  *placement.View
	infos map[string]*pb.NodeInfo
	peers int
	rnd   *rand.Rand
	sent  map[string]int // tasks passed to each node since the last view

	// bundles are the placement-group bundles this node holds, each with
	// its own ledger; byGroup indexes them by group.
	bundles map[bundleKey]*bundle
	byGroup map[string][]*bundle
	// reasons says why a task waiting for another node waits.
	reasons map[objects.ID]string

	reportScheduled bool
	// stopping refuses new work: a child spawned while the raylet stops
	// would never be stopped, and the raylet would wait for it forever.
	stopping bool
}

type runningTask struct {
	spec    *pb.TaskSpec
	shape   *shape
	exec    *actor.PID
	gpus    []int32
	blocked bool
}

type hostRec struct {
	spec  *pb.ActorSpec
	typ   *actors.ActorType
	pid   *actor.PID // nil while the actor waits for resources
	shape *shape
	gpus  []int32
	state *pb.ActorStateChanged // the host's last report
}

type (
	flushReport struct{}
	// periodicReport sends a report even when nothing changed (see
	// reportEvery). Each schedules the next: protoactor's repeating timer
	// races when cancelled.
	periodicReport struct{}
	// restoreActors: the head came back; its GCS learns the actors hosted
	// here.
	restoreActors struct{}
	// retrySpill asks the placement actor again for a task waiting for room.
	retrySpill struct {
		id    objects.ID
		delay time.Duration
	}
)

// NewRaylet returns the props of a raylet with the node's total resources.
// guard is the middleware every system actor of the node runs behind.
//
// declaredDead is called when the GCS says this node is dead: it was
// unreachable long enough that its actors and tasks were moved elsewhere.
func NewRaylet(env *actors.Env, total placement.Resources, placementPID, gcs *actor.PID, guard *actors.Guard, declaredDead func()) *actor.Props {
	return env.Props(func() actor.Actor {
		return guard.Actor(&Raylet{
			env:          env,
			declaredDead: declaredDead,
			placement:    placementPID,
			gcs:          gcs,
			ledger:       newLedger(total),
			running:      map[objects.ID]*runningTask{},
			byExec:       map[string]*runningTask{},
			spilling:     map[objects.ID]*pb.TaskSpec{},
			asking:       map[objects.ID]bool{},
			hosts:        map[string]*hostRec{},
			byHost:       map[string]*hostRec{},
			dead:         newCauseCache(maxDeadCauses),
			view:         placement.NewView(),
			infos:        map[string]*pb.NodeInfo{},
			sent:         map[string]int{},
			bundles:      map[bundleKey]*bundle{},
			byGroup:      map[string][]*bundle{},
			reasons:      map[objects.ID]string{},
			rnd:          rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)),
		})
	}, actor.WithSupervisor(stopChildren{logger: env}))
}

// Receive implements actor.Actor.
func (r *Raylet) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		r.timers = scheduler.NewTimerScheduler(c)
		r.timers.SendOnce(reportEvery, c.Self(), periodicReport{})
	case *pb.TaskSpec:
		r.submit(c, m)
	case *pb.TaskFinished:
		r.finished(c, m.TaskId)
	case *pb.TaskBlocked:
		if t := r.running[taskKey(m.TaskId)]; t != nil && !t.blocked {
			t.blocked = true
			t.shape.led.lendCPU(t.shape.cpu)
			r.dispatch(c)
		}
	case *pb.TaskUnblocked:
		if t := r.running[taskKey(m.TaskId)]; t != nil && t.blocked {
			// May over-commit the CPUs for a while, as Ray does.
			t.blocked = false
			t.shape.led.lendCPU(-t.shape.cpu)
		}
	case *pb.CancelTask:
		r.cancel(c, m)
	case *pb.StartActor:
		r.startActor(c, m.Spec)
	case *pb.ActorStateChanged:
		r.actorChanged(c, m)
	case *pb.KillActor:
		r.kill(c, m)
	case *pb.ActorCall:
		// A call that reached no host (it stopped): the actor is dead.
		r.answerDead(m)
	case *pb.PrepareBundles:
		c.Respond(r.prepare(m))
	case *pb.CommitBundles:
		r.commit(m)
	case *pb.ReturnBundles:
		r.returnBundles(c, m)
	case *pb.GetNodeStats:
		c.Respond(r.stats())
	case *pb.ListTasks:
		c.Respond(r.tasks())
	case *pb.ClusterView:
		r.learn(m)
		r.spillWaiting(c)
	case *pb.NodeDied:
		if m.NodeId == r.env.NodeID {
			// Its work runs elsewhere now: running it here too would
			// duplicate actors.
			r.declaredDead()
			return
		}
		// Forward nothing more to it, without waiting for the next view.
		if _, ok := r.infos[m.NodeId]; ok {
			r.view.Remove(m.NodeId)
			delete(r.infos, m.NodeId)
			r.peers--
		}
	case *actor.Terminated:
		r.childStopped(c, m.Who)
	case retrySpill:
		if spec := r.spilling[m.id]; spec != nil {
			r.spill(c, spec, m.delay)
		}
	case *actor.Stopping:
		// Children stop with the raylet and answer what they hold.
		r.stopping = true
	case restoreActors:
		r.restore(c)
	case periodicReport:
		if !r.stopping {
			r.timers.SendOnce(reportEvery, c.Self(), periodicReport{})
		}
		r.report(c)
	case flushReport:
		r.reportScheduled = false
		r.report(c)
	}
}

// taskKey keys tasks by their ID; validation guarantees its length.
func taskKey(id []byte) objects.ID {
	k, _ := objects.IDFromBytes(id)
	return k
}

func (r *Raylet) report(c actor.Context) {
	c.Send(r.placement, &pb.ResourceReport{NodeId: r.env.NodeID, Available: placement.ToWire(r.ledger.available())})
}

func (r *Raylet) scheduleReport() {
	if r.reportScheduled {
		return
	}
	r.reportScheduled = true
	r.timers.SendOnce(reportDelay, actor.NewPID(r.env.System.Address(), RayletProcessID), flushReport{})
}

func (r *Raylet) submit(c actor.Context, spec *pb.TaskSpec) {
	if r.stopping {
		r.fail(spec, pb.ErrorKind_ERROR_KIND_SYSTEM, "node is stopping")
		return
	}
	if sch := spec.Scheduling; sch != nil && len(sch.PlacementGroup) > 0 {
		r.submitInGroup(c, spec)
		return
	}
	s := r.ledger.shapeOf(spec.Resources)
	if s.err != nil {
		r.fail(spec, pb.ErrorKind_ERROR_KIND_INVALID, fmt.Sprintf("task %s: %v", taskName(spec), s.err))
		return
	}
	if placement.Constrained(spec.Scheduling) {
		r.submitConstrained(c, spec, s)
		return
	}
	if s.feasible {
		if node := r.spillTarget(s, spec); node != nil {
			r.forward(c, spec, node)
			return
		}
		if s.tasks.peek() == nil {
			r.queued = append(r.queued, s)
		}
		s.tasks.push(spec)
		r.dispatch(c)
		return
	}
	// No local capacity could ever fit: it waits for another node.
	r.spilling[taskKey(spec.TaskId)] = spec
	r.spillQueue = append(r.spillQueue, spec)
	r.spillWaiting(c)
}

// spillWaiting passes each task waiting for another node to one the shared
// view shows with room, in arrival order. It runs again with every new
// view; a task the view cannot place, or no view yet, is placed by asking
// the placement actor, which knows every node.
func (r *Raylet) spillWaiting(c actor.Context) {
	kept := r.spillQueue[:0]
	for _, spec := range r.spillQueue {
		id := taskKey(spec.TaskId)
		if r.spilling[id] != spec {
			continue // cancelled, or placed meanwhile
		}
		kept = append(kept, spec)
		if r.asking[id] {
			continue // the placement actor decides
		}
		if r.peers == 0 || inGroup(spec) {
			r.spill(c, spec, spillRetryFirst)
			continue
		}
		req := placement.RequestOf(spec.Resources, spec.Scheduling, r.env.NodeID)
		node, err := r.view.Pick(req, r.rnd)
		switch {
		case err == nil && node != r.env.NodeID:
			_ = r.view.Allocate(node, req.Resources)
			delete(r.spilling, id)
			kept = kept[:len(kept)-1]
			r.forward(c, spec, r.infos[node])
		case errors.Is(err, placement.ErrNoCapacity):
			// Every node that could run it is busy: queue it at the one
			// this raylet has sent least to for its size, rather than
			// holding it here until a view shows room.
			if node := r.leastLoaded(req, spec.Scheduling); node != "" {
				delete(r.spilling, id)
				kept = kept[:len(kept)-1]
				r.forward(c, spec, r.infos[node])
			}
		default:
			// The view may lack a node that just joined: the placement
			// actor decides.
			r.spill(c, spec, spillRetryFirst)
		}
	}
	clear(r.spillQueue[len(kept):])
	r.spillQueue = kept
}

// maxHops bounds how often a task is passed on between raylets.
const maxHops = 8

// spillTarget returns another node to run a task this node could run but
// not now, or not without going past the hybrid policy's threshold, when
// the shared view shows one with room; nil keeps the task here. A task
// passed on once stays where it lands, so tasks never bounce between
// nodes whose views disagree.
func (r *Raylet) spillTarget(s *shape, spec *pb.TaskSpec) *pb.NodeInfo {
	if r.peers == 0 || spec.Hops > 0 || (r.ledger.fits(s) && !r.ledger.busy(s) && s.tasks.peek() == nil) {
		return nil
	}
	req := placement.Request{Resources: placement.FromWire(spec.Resources), Local: r.env.NodeID}
	_ = r.view.SetAvailable(r.env.NodeID, r.ledger.available())
	id, err := r.view.Pick(req, r.rnd)
	if err != nil || id == r.env.NodeID {
		return nil
	}
	// Count it against that node until its next report.
	_ = r.view.Allocate(id, req.Resources)
	return r.infos[id]
}

// forward passes a task on to another node's raylet, and tells the task's
// owner where it went, so that the owner resubmits it should that node die
// before the task is done, even while it is on its way.
func (r *Raylet) forward(c actor.Context, spec *pb.TaskSpec, node *pb.NodeInfo) {
	r.sent[node.NodeId]++
	next := respec(spec)
	next.Hops++
	c.Send(actors.PID(spec.Owner), &pb.TaskAccepted{TaskId: spec.TaskId, NodeId: node.NodeId})
	c.Send(actors.PID(node.Raylet), next)
}

// respec copies a task spec to change the copy: in process, the spec the
// raylet received is its owner's too, and messages are never changed once
// sent. The arguments are shared, as they never change.
func respec(s *pb.TaskSpec) *pb.TaskSpec {
	return &pb.TaskSpec{
		TaskId: s.TaskId, Function: s.Function, Args: s.Args, Resources: s.Resources, MaxRetries: s.MaxRetries,
		RetryExceptions: s.RetryExceptions, Name: s.Name, ReturnId: s.ReturnId, Owner: s.Owner, Attempt: s.Attempt,
		JobId: s.JobId, GpuIds: s.GpuIds, Hops: s.Hops, Scheduling: s.Scheduling,
		ExtraReturnIds: s.ExtraReturnIds, StreamBackpressure: s.StreamBackpressure,
	}
}

// leastLoaded returns the live node other than this one that could fit req
// and was sent the fewest tasks since the last view, for its CPUs.
func (r *Raylet) leastLoaded(req placement.Request, sch *pb.Scheduling) string {
	best, bestLoad := "", 0.0
	for id := range r.infos {
		n, ok := r.view.Node(id)
		if !ok || id == r.env.NodeID || !n.Alive || !req.Resources.Fits(n.Total) || !placement.Admits(sch, id, n.Labels) {
			continue
		}
		load := float64(r.sent[id]+1) / max(n.Total[placement.CPU].Float(), 1)
		if best == "" || load < bestLoad || (load == bestLoad && id < best) {
			best, bestLoad = id, load
		}
	}
	return best
}

// learn takes the cluster view the placement actor shared.
func (r *Raylet) learn(m *pb.ClusterView) {
	seen := make(map[string]bool, len(m.Nodes))
	peers := 0
	for _, n := range m.Nodes {
		seen[n.NodeId] = true
		if err := r.view.Upsert(placement.Node{ID: n.NodeId, Total: placement.FromWire(n.Total),
			Available: placement.FromWire(n.Available), Labels: n.Labels, Alive: n.Alive}); err != nil {
			continue
		}
		r.infos[n.NodeId] = n
		if n.NodeId != r.env.NodeID && n.Alive {
			peers++
		}
	}
	for id := range r.infos {
		if !seen[id] {
			r.view.Remove(id)
			delete(r.infos, id)
		}
	}
	r.peers = peers
	clear(r.sent)
}

// spill asks the placement actor for a node that fits spec and sends it
// there; while no node has room, it asks again with a growing delay.
func (r *Raylet) spill(c actor.Context, spec *pb.TaskSpec, delay time.Duration) {
	id := taskKey(spec.TaskId)
	pick := &pb.PickNode{Resources: spec.Resources, LocalNode: r.env.NodeID, Scheduling: spec.Scheduling}
	f := c.RequestFuture(r.placement, pick, systemRequestTimeout)
	r.asking[id] = true
	c.ReenterAfter(f, func(res any, err error) {
		delete(r.asking, id)
		if r.spilling[id] != spec {
			return // cancelled, or placed by a view, meanwhile
		}
		reply, _ := res.(*pb.PickNodeReply)
		switch {
		case err != nil || reply == nil:
			delete(r.spilling, id)
			r.fail(spec, pb.ErrorKind_ERROR_KIND_SYSTEM, fmt.Sprintf("placement unavailable: %v", err))
		case reply.Error != nil && reply.Error.Kind == pb.ErrorKind_ERROR_KIND_NO_CAPACITY:
			// Another node could fit it once it frees up: the next view
			// places it, or asking again does.
			r.reasons[id] = reply.Error.Message
			r.timers.SendOnce(delay, c.Self(), retrySpill{id: id, delay: min(2*delay, spillRetryMax)})
		case reply.Error != nil:
			delete(r.spilling, id)
			r.fail(spec, reply.Error.Kind, fmt.Sprintf("task %s: %s", taskName(spec), reply.Error.Message))
		case reply.Node.NodeId == r.env.NodeID && inGroup(spec):
			if b := r.localBundle(spec); b != nil {
				delete(r.spilling, id)
				delete(r.reasons, id)
				r.enqueueInBundle(c, spec, b)
				return
			}
			// Its bundle is on its way here: ask again.
			r.reasons[id] = "waiting for its placement group bundle to reach node " + r.env.NodeID
			r.timers.SendOnce(delay, c.Self(), retrySpill{id: id, delay: min(2*delay, spillRetryMax)})
		case reply.Node.NodeId == r.env.NodeID && placement.Constrained(spec.Scheduling) && r.ledger.shapeOf(spec.Resources).feasible:
			delete(r.spilling, id)
			delete(r.reasons, id)
			r.enqueue(c, r.ledger.shapeOf(spec.Resources), spec)
		case reply.Node.NodeId == r.env.NodeID:
			delete(r.spilling, id)
			r.fail(spec, pb.ErrorKind_ERROR_KIND_INFEASIBLE, fmt.Sprintf("task %s: node %s cannot fit %v", taskName(spec), r.env.NodeID, placement.FromWire(spec.Resources)))
		case spec.Hops >= maxHops:
			delete(r.spilling, id)
			r.fail(spec, pb.ErrorKind_ERROR_KIND_SYSTEM, fmt.Sprintf("task %s: passed between nodes %d times without finding room", taskName(spec), spec.Hops))
		default:
			delete(r.spilling, id)
			delete(r.reasons, id)
			r.forward(c, spec, reply.Node)
		}
	})
}

func taskName(spec *pb.TaskSpec) string {
	if spec.Name != "" {
		return spec.Name
	}
	return spec.Function
}

func (r *Raylet) fail(spec *pb.TaskSpec, kind pb.ErrorKind, msg string) {
	delete(r.reasons, taskKey(spec.TaskId))
	r.env.Deliver(spec.Owner, spec.ReturnId, nil, &pb.Error{Kind: kind, Message: msg, Function: spec.Function, NodeId: r.env.NodeID}, nil)
}

// dispatch starts queued actors and tasks whose resources are free, in
// arrival order; a task that does not fit yet keeps its place.
func (r *Raylet) dispatch(c actor.Context) {
	for len(r.actorsQ) > 0 && r.actorsQ[0].shape.led.fits(r.actorsQ[0].shape) {
		h := r.actorsQ[0]
		r.actorsQ[0] = nil
		r.actorsQ = r.actorsQ[1:]
		r.spawnHost(c, h)
	}
	kept := r.queued[:0]
	for _, s := range r.queued {
		for spec := s.tasks.peek(); spec != nil && s.led.fits(s); spec = s.tasks.peek() {
			s.tasks.pop()
			r.run(c, s, spec)
		}
		if s.tasks.peek() != nil {
			kept = append(kept, s)
		}
	}
	clear(r.queued[len(kept):])
	r.queued = kept
}

func (r *Raylet) run(c actor.Context, s *shape, spec *pb.TaskSpec) {
	gpus := s.led.allocate(s)
	if gpus != nil {
		spec = respec(spec)
		spec.GpuIds = gpus
	}
	r.scheduleReport()
	var exec *actor.PID
	if n := len(r.idle); n > 0 {
		exec, r.idle = r.idle[n-1], r.idle[:n-1]
	} else {
		exec = c.Spawn(actors.NewExecutor(r.env))
	}
	t := r.spare
	if t != nil {
		r.spare = nil
	} else {
		t = new(runningTask)
	}
	*t = runningTask{spec: spec, shape: s, exec: exec, gpus: gpus}
	r.running[taskKey(spec.TaskId)] = t
	r.byExec[exec.Id] = t
	c.Send(exec, spec)
}

func (r *Raylet) finished(c actor.Context, id []byte) {
	k := taskKey(id)
	t := r.running[k]
	if t == nil {
		return
	}
	delete(r.running, k)
	delete(r.byExec, t.exec.Id)
	r.releaseTask(t)
	r.idle = append(r.idle, t.exec)
	*t = runningTask{}
	r.spare = t
	r.dispatch(c)
}

func (r *Raylet) releaseTask(t *runningTask) {
	if t.blocked {
		t.shape.led.lendCPU(-t.shape.cpu)
	}
	t.shape.led.release(t.shape, t.gpus)
	r.scheduleReport()
}

// cancel drops a queued or spilling task, or cancels a running one through
// its executor. Actor calls are cancelled by their host, which the caller
// tells directly; one addressed here is forwarded.
func (r *Raylet) cancel(c actor.Context, m *pb.CancelTask) {
	if len(m.ActorId) > 0 {
		if h := r.hosts[string(m.ActorId)]; h != nil && h.pid != nil {
			c.Send(h.pid, m)
		}
		return
	}
	k := taskKey(m.TaskId)
	for _, s := range r.queued {
		if spec := s.tasks.remove(m.TaskId); spec != nil {
			r.fail(spec, pb.ErrorKind_ERROR_KIND_CANCELLED, fmt.Sprintf("task %s cancelled before it ran", taskName(spec)))
			return
		}
	}
	if spec := r.spilling[k]; spec != nil {
		delete(r.spilling, k)
		delete(r.reasons, k)
		r.fail(spec, pb.ErrorKind_ERROR_KIND_CANCELLED, fmt.Sprintf("task %s cancelled while it waited for a node", taskName(spec)))
		return
	}
	if t := r.running[k]; t != nil {
		c.Send(t.exec, m)
	}
}

func (r *Raylet) startActor(c actor.Context, spec *pb.ActorSpec) {
	died := func(kind pb.ErrorKind, msg string) {
		r.reportDead(c, spec.ActorId, &pb.Error{Kind: kind, Message: msg, Function: spec.TypeName, NodeId: r.env.NodeID})
	}
	if r.stopping {
		died(pb.ErrorKind_ERROR_KIND_SYSTEM, "node is stopping")
		return
	}
	if r.hosts[string(spec.ActorId)] != nil {
		return // a duplicate start
	}
	typ, err := r.env.Registry.Actor(spec.TypeName)
	if err != nil {
		died(pb.ErrorKind_ERROR_KIND_NOT_FOUND, err.Error())
		return
	}
	led := r.ledger
	if sch := spec.Scheduling; sch != nil && len(sch.PlacementGroup) > 0 {
		b := r.localBundleFor(sch, spec.Resources)
		if b == nil {
			// The group's bundle is not here (any more): the GCS places
			// the actor again.
			c.Send(r.gcs, &pb.ActorStateChanged{ActorId: spec.ActorId, State: pb.ActorState_ACTOR_STATE_PENDING, NodeId: r.env.NodeID,
				Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_NO_CAPACITY, Message: fmt.Sprintf("node %s holds no bundle of its placement group", r.env.NodeID), NodeId: r.env.NodeID}})
			return
		}
		led = b.led
	}
	h := &hostRec{spec: spec, typ: typ, shape: led.shapeOf(spec.Resources)}
	switch {
	case h.shape.err != nil:
		died(pb.ErrorKind_ERROR_KIND_INVALID, h.shape.err.Error())
	case !h.shape.feasible:
		died(pb.ErrorKind_ERROR_KIND_INFEASIBLE, fmt.Sprintf("node %s cannot fit %v", r.env.NodeID, placement.FromWire(spec.Resources)))
	case led.fits(h.shape) && len(r.actorsQ) == 0:
		r.hosts[string(spec.ActorId)] = h
		r.spawnHost(c, h)
	case r.peers > 0:
		// The placement actor's view was out of date: give the actor back,
		// to be placed where there is room now.
		c.Send(r.gcs, &pb.ActorStateChanged{ActorId: spec.ActorId, State: pb.ActorState_ACTOR_STATE_PENDING, NodeId: r.env.NodeID,
			Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_NO_CAPACITY, Message: fmt.Sprintf("node %s has no room now", r.env.NodeID), NodeId: r.env.NodeID}})
	default:
		r.hosts[string(spec.ActorId)] = h
		r.actorsQ = append(r.actorsQ, h)
	}
}

func (r *Raylet) spawnHost(c actor.Context, h *hostRec) {
	h.gpus = h.shape.led.allocate(h.shape)
	r.scheduleReport()
	h.pid = c.Spawn(actors.NewHost(r.env, h.typ, h.spec, h.gpus))
	r.byHost[h.pid.Id] = h
}

// actorChanged passes a host's report on to the GCS; a dead actor's
// resources go back to the pool.
func (r *Raylet) actorChanged(c actor.Context, m *pb.ActorStateChanged) {
	h := r.hosts[string(m.ActorId)]
	switch {
	case m.State == pb.ActorState_ACTOR_STATE_DEAD:
		if h != nil {
			r.forget(c, h)
		}
		r.dead.add(string(m.ActorId), m.Error)
	case h != nil:
		h.state = m
	}
	c.Send(r.gcs, m)
}

// restore tells the GCS of every actor hosted here that has reported its
// state: a head that restarted knows none of them.
func (r *Raylet) restore(c actor.Context) {
	m := &pb.RestoreActors{}
	for _, h := range r.hosts {
		if h.state == nil {
			continue
		}
		m.Actors = append(m.Actors, &pb.RestoredActor{Spec: h.spec, State: h.state})
		if len(m.Actors) == pb.MaxIDs {
			c.Send(r.gcs, m)
			m = &pb.RestoreActors{}
		}
	}
	if len(m.Actors) > 0 {
		c.Send(r.gcs, m)
	}
}

// forget drops an actor's record and gives its resources back.
func (r *Raylet) forget(c actor.Context, h *hostRec) {
	delete(r.hosts, string(h.spec.ActorId))
	if h.pid == nil {
		for i, q := range r.actorsQ {
			if q == h {
				r.actorsQ = append(r.actorsQ[:i], r.actorsQ[i+1:]...)
				break
			}
		}
		return
	}
	delete(r.byHost, h.pid.Id)
	// The host answers what its mailbox still holds, then stops.
	c.Poison(h.pid)
	h.shape.led.release(h.shape, h.gpus)
	r.scheduleReport()
	r.dispatch(c)
}

func (r *Raylet) reportDead(c actor.Context, actorID []byte, perr *pb.Error) {
	r.actorChanged(c, &pb.ActorStateChanged{ActorId: actorID, State: pb.ActorState_ACTOR_STATE_DEAD, NodeId: r.env.NodeID, Error: perr})
}

// kill stops an actor in whatever state the raylet has it: one waiting for
// resources dies here; a hosted one is killed by its host, which answers
// the requester once no call can reach a live instance.
func (r *Raylet) kill(c actor.Context, m *pb.KillActor) {
	h := r.hosts[string(m.ActorId)]
	switch {
	case h != nil && h.pid != nil:
		c.Forward(h.pid)
		return
	case h != nil && m.NoRestart:
		r.reportDead(c, m.ActorId, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: "killed before it started",
			Function: h.spec.TypeName, NodeId: r.env.NodeID})
	}
	if c.Sender() != nil {
		c.Respond(&pb.KillActorReply{})
	}
}

// stats describes what the node holds and runs now.
func (r *Raylet) stats() *pb.NodeStats {
	st := &pb.NodeStats{
		NodeId: r.env.NodeID, Total: placement.ToWire(r.ledger.totals()), Available: placement.ToWire(r.ledger.available()),
		RunningTasks: int32(len(r.running)), QueuedTasks: int32(len(r.spilling)),
		Actors: int32(len(r.byHost)), QueuedActors: int32(len(r.actorsQ)), Peers: int32(r.peers),
	}
	for _, s := range r.queued {
		st.QueuedTasks += int32(s.tasks.len())
	}
	return st
}

// tasks lists the tasks the raylet holds: running, queued, and waiting
// for another node.
func (r *Raylet) tasks() *pb.ListTasksReply {
	reply := &pb.ListTasksReply{}
	add := func(spec *pb.TaskSpec, state pb.TaskState, reason string) {
		reply.Tasks = append(reply.Tasks, &pb.TaskInfo{TaskId: spec.TaskId, Function: spec.Function, Name: spec.Name,
			State: state, NodeId: r.env.NodeID, Resources: spec.Resources, JobId: spec.JobId, Attempt: spec.Attempt, Reason: reason})
	}
	for _, t := range r.running {
		add(t.spec, pb.TaskState_TASK_STATE_RUNNING, "")
	}
	for _, s := range r.queued {
		where := "node " + r.env.NodeID
		if s.led != r.ledger {
			where = "its placement group bundle on " + where
		}
		reason := fmt.Sprintf("waiting for {%v} on %s, which has {%v} free", placement.FromWire(s.req), where, s.led.available())
		for _, spec := range s.tasks.specs[s.tasks.head:] {
			if spec != nil {
				add(spec, pb.TaskState_TASK_STATE_QUEUED, reason)
			}
		}
	}
	for id, spec := range r.spilling {
		reason := r.reasons[id]
		if reason == "" {
			reason = fmt.Sprintf("waiting for a node that can take {%v}", placement.FromWire(spec.Resources))
		}
		add(spec, pb.TaskState_TASK_STATE_WAITING_FOR_NODE, reason)
	}
	return reply
}

// answerDead fails a call that reached no host.
func (r *Raylet) answerDead(call *pb.ActorCall) {
	cause := r.dead.get(string(call.ActorId))
	msg := fmt.Sprintf("actor %x is dead", call.ActorId)
	if cause != nil {
		msg = cause.Message
	}
	r.env.Deliver(call.Owner, call.ReturnId, nil, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: msg, Function: call.Method, NodeId: r.env.NodeID}, nil)
}

// childStopped handles a child that stopped: a host that stopped without
// reporting its death, or an executor that stopped with a task, failed.
func (r *Raylet) childStopped(c actor.Context, who *actor.PID) {
	if h := r.byHost[who.Id]; h != nil {
		r.reportDead(c, h.spec.ActorId, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: "actor host stopped unexpectedly",
			Function: h.spec.TypeName, NodeId: r.env.NodeID})
		return
	}
	if t := r.byExec[who.Id]; t != nil {
		k := taskKey(t.spec.TaskId)
		delete(r.running, k)
		delete(r.byExec, who.Id)
		r.releaseTask(t)
		if !r.stopping {
			r.fail(t.spec, pb.ErrorKind_ERROR_KIND_SYSTEM, "task executor stopped unexpectedly")
			r.dispatch(c)
		}
	}
}

// stopChildren is the raylet's supervisor strategy. Hosts and executors
// recover their own panics, so a failure reaching it is a defect: it is
// logged at Error and the child stops (its Terminated tells the raylet),
// never restarted silently.
type stopChildren struct{ logger *actors.Env }

// HandleFailure implements actor.SupervisorStrategy.
func (s stopChildren) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	s.logger.Logger.Error("goray: raylet child failed; stopping it", "child", child.Id, "reason", fmt.Sprint(reason))
	sup.StopChildren(child)
}

// causeCache remembers the last few dead actors' causes.
type causeCache struct {
	limit int
	ring  []string
	next  int
	m     map[string]*pb.Error
}

func newCauseCache(limit int) causeCache {
	return causeCache{limit: limit, m: map[string]*pb.Error{}}
}

func (c *causeCache) add(id string, cause *pb.Error) {
	if _, ok := c.m[id]; ok || cause == nil {
		return
	}
	if len(c.ring) < c.limit {
		c.ring = append(c.ring, id)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = id
		c.next = (c.next + 1) % c.limit
	}
	c.m[id] = cause
}

func (c *causeCache) get(id string) *pb.Error { return c.m[id] }
