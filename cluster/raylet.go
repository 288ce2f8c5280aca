package cluster

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/gpu"
	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// RayletProcessID is the well-known protoactor ID of a node's raylet.
const RayletProcessID = "raylet"

// reportDelay batches resource reports to the placement actor.
const reportDelay = 20 * time.Millisecond

// Raylet is the actor that schedules work on one node: it holds the node's
// resources, queues tasks until they fit, runs them on a pool of executor
// actors, hosts actors as supervised children, and sends work no local
// capacity could ever fit to the node the placement actor names.
type Raylet struct {
	env       *actors.Env
	placement *actor.PID
	gcs       *actor.PID
	ledger    *ledger
	gpus      *gpu.Assigner

	// Queued tasks wait in their shape's FIFO: a shape that does not fit
	// is skipped as a whole.
	queued  []*shape   // shapes with queued tasks, oldest first
	actorsQ []*hostRec // actors waiting for resources
	idle    []executor
	running map[objects.ID]*runningTask
	spare   *runningTask // a finished task's record, reused by the next

	hosts     map[string]*hostRec // by actor ID
	hostByPID map[string]*hostRec // by host process ID

	reportScheduled bool
	// stopping refuses new work: a child spawned while the raylet stops
	// would never be stopped, and the raylet would wait for it forever.
	stopping bool
}

// taskKey keys running tasks by their 16-byte ID without allocating.
func taskKey(id []byte) objects.ID {
	var k objects.ID
	copy(k[:], id)
	return k
}

type executor struct {
	pid *actor.PID
	ctl *actors.ExecControl
}

type runningTask struct {
	spec    *pb.TaskSpec
	shape   *shape
	exec    executor
	blocked bool
}

type hostRec struct {
	spec     *pb.ActorSpec
	ctl      *actors.HostControl
	typ      *actors.ActorType
	pid      *actor.PID
	shape    *shape
	released bool
}

type flushReport struct{}

// NewRaylet returns the props of a raylet with the node's total resources.
func NewRaylet(env *actors.Env, total placement.Resources, placementPID, gcs *actor.PID) *actor.Props {
	return env.Props(func() actor.Actor {
		return &Raylet{
			env:       env,
			placement: placementPID,
			gcs:       gcs,
			ledger:    newLedger(total),
			gpus:      gpu.NewAssigner(int(total[placement.GPU] / placement.Unit)),
			running:   map[objects.ID]*runningTask{},
			hosts:     map[string]*hostRec{},
			hostByPID: map[string]*hostRec{},
		}
	})
}

// Receive implements actor.Actor.
func (r *Raylet) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *pb.TaskSpec:
		r.submit(c, m)
	case *pb.TaskFinished:
		r.finished(c, m)
	case *pb.TaskBlocked:
		if t := r.running[taskKey(m.TaskId)]; t != nil && !t.blocked {
			t.blocked = true
			r.ledger.lendCPU(t.shape.cpu)
			r.dispatch(c)
		}
	case *pb.TaskUnblocked:
		if t := r.running[taskKey(m.TaskId)]; t != nil && t.blocked {
			// May over-commit the CPUs for a while, as Ray does.
			t.blocked = false
			r.ledger.lendCPU(-t.shape.cpu)
		}
	case *pb.CancelTask:
		r.cancel(c, m)
	case *pb.StartActor:
		r.startActor(c, m.Spec)
	case *pb.ActorStateChanged:
		r.actorChanged(c, m)
	case *pb.KillActor:
		// The control marks the actor dead before the reply, so once Kill
		// returns no call can reach a live instance.
		if h := r.hosts[string(m.ActorId)]; h != nil {
			h.ctl.Kill(m.NoRestart, "killed")
			c.Send(h.pid, m)
		}
		if c.Sender() != nil {
			c.Respond(&pb.KillActorReply{})
		}
	case *actor.Stopping:
		r.stopping = true
		// Children stop once their running code returns: cancel it.
		for _, t := range r.running {
			t.exec.ctl.Cancel(t.spec.TaskId)
		}
		for _, h := range r.hosts {
			h.ctl.Kill(true, "node stopping")
		}
	case flushReport:
		r.reportScheduled = false
		c.Send(r.placement, &pb.ResourceReport{NodeId: r.env.NodeID, Available: placement.ToWire(r.ledger.available())})
	}
}

func (r *Raylet) scheduleReport() {
	if r.reportScheduled {
		return
	}
	r.reportScheduled = true
	sys, self := r.env.System, actor.NewPID(r.env.System.Address(), RayletProcessID)
	time.AfterFunc(reportDelay, func() { sys.Root.Send(self, flushReport{}) })
}

func (r *Raylet) submit(c actor.Context, spec *pb.TaskSpec) {
	if r.stopping {
		r.fail(spec, pb.ErrorKind_ERROR_KIND_SYSTEM, "node is stopping")
		return
	}
	s := r.ledger.shapeOf(spec.Resources)
	if s.err != nil {
		r.fail(spec, pb.ErrorKind_ERROR_KIND_INVALID, fmt.Sprintf("task %s: %v", taskName(spec), s.err))
		return
	}
	if s.feasible {
		if s.tasks.peek() == nil {
			r.queued = append(r.queued, s)
		}
		s.tasks.push(spec)
		r.dispatch(c)
		return
	}
	// No local capacity could ever fit: ask where else it could run.
	pick := &pb.PickNode{Resources: spec.Resources, LocalNode: r.env.NodeID}
	f := c.RequestFuture(r.placement, pick, 10*time.Second)
	c.ReenterAfter(f, func(res any, err error) {
		reply, _ := res.(*pb.PickNodeReply)
		switch {
		case err != nil:
			r.fail(spec, pb.ErrorKind_ERROR_KIND_SYSTEM, fmt.Sprintf("placement unavailable: %v", err))
		case reply.Error != nil && reply.Error.Kind == pb.ErrorKind_ERROR_KIND_NO_CAPACITY:
			// Another node could fit it once it frees up: ask again soon.
			sys, self := r.env.System, c.Self()
			time.AfterFunc(100*time.Millisecond, func() { sys.Root.Send(self, spec) })
		case reply.Error != nil:
			r.fail(spec, reply.Error.Kind, fmt.Sprintf("task %s: %s", taskName(spec), reply.Error.Message))
		case reply.Node.NodeId == r.env.NodeID:
			r.fail(spec, pb.ErrorKind_ERROR_KIND_INFEASIBLE, fmt.Sprintf("task %s: node %s cannot fit %v", taskName(spec), r.env.NodeID, placement.FromWire(spec.Resources)))
		default:
			c.Send(actors.PID(reply.Node.Raylet), spec)
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
	r.env.Deliver(spec.Owner, spec.ReturnId, nil, &pb.Error{Kind: kind, Message: msg, Function: spec.Function, NodeId: r.env.NodeID})
}

// dispatch starts queued actors and tasks whose resources are free, in
// arrival order; a task that does not fit yet keeps its place.
func (r *Raylet) dispatch(c actor.Context) {
	for len(r.actorsQ) > 0 && r.ledger.fits(r.actorsQ[0].shape) {
		h := r.actorsQ[0]
		r.actorsQ = r.actorsQ[1:]
		r.spawnHost(c, h)
	}
	kept := r.queued[:0]
	for _, s := range r.queued {
		for spec := s.tasks.peek(); spec != nil && r.ledger.fits(s); spec = s.tasks.peek() {
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
	if g := s.gpu; g > 0 {
		ids, err := r.acquireGPUs(g)
		if err != nil {
			r.fail(spec, pb.ErrorKind_ERROR_KIND_SYSTEM, err.Error())
			return
		}
		spec.GpuIds = ids
	}
	r.ledger.allocate(s)
	r.scheduleReport()
	var exec executor
	if n := len(r.idle); n > 0 {
		exec, r.idle = r.idle[n-1], r.idle[:n-1]
	} else {
		props, ctl := actors.NewExecutor(r.env)
		exec = executor{pid: c.Spawn(props), ctl: ctl}
	}
	t := r.spare
	if t != nil {
		r.spare = nil
	} else {
		t = new(runningTask)
	}
	*t = runningTask{spec: spec, shape: s, exec: exec}
	r.running[taskKey(spec.TaskId)] = t
	c.Send(exec.pid, spec)
}

func (r *Raylet) acquireGPUs(q placement.Quantity) ([]int32, error) {
	var ids []int
	if q < placement.Unit {
		id, err := r.gpus.AcquireFraction(q.Float())
		if err != nil {
			return nil, err
		}
		ids = []int{id}
	} else {
		var err error
		if ids, err = r.gpus.Acquire(int(q / placement.Unit)); err != nil {
			return nil, err
		}
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out, nil
}

func (r *Raylet) releaseGPUs(q placement.Quantity, ids []int32) {
	if len(ids) == 0 {
		return
	}
	if q < placement.Unit {
		r.gpus.ReleaseFraction(int(ids[0]), q.Float())
		return
	}
	ints := make([]int, len(ids))
	for i, id := range ids {
		ints[i] = int(id)
	}
	r.gpus.Release(ints)
}

func (r *Raylet) finished(c actor.Context, m *pb.TaskFinished) {
	t := r.running[taskKey(m.TaskId)]
	if t == nil {
		return
	}
	delete(r.running, taskKey(m.TaskId))
	if t.blocked {
		r.ledger.lendCPU(-t.shape.cpu)
	}
	r.ledger.release(t.shape)
	r.releaseGPUs(t.shape.gpu, t.spec.GpuIds)
	r.idle = append(r.idle, t.exec)
	*t = runningTask{}
	r.spare = t
	r.scheduleReport()
	r.dispatch(c)
}

func (r *Raylet) cancel(c actor.Context, m *pb.CancelTask) {
	if len(m.ActorId) > 0 {
		if h := r.hosts[string(m.ActorId)]; h != nil {
			h.ctl.Cancel(m.ReturnId)
		}
		return
	}
	for _, s := range r.queued {
		q := &s.tasks
		for i := q.head; i < len(q.specs); i++ {
			spec := q.specs[i]
			if spec == nil || string(spec.TaskId) != string(m.TaskId) {
				continue
			}
			q.specs[i] = nil
			r.fail(spec, pb.ErrorKind_ERROR_KIND_CANCELLED, fmt.Sprintf("task %s cancelled before it ran", taskName(spec)))
			return
		}
	}
	if t := r.running[taskKey(m.TaskId)]; t != nil {
		t.exec.ctl.Cancel(m.TaskId)
	}
}

func (r *Raylet) startActor(c actor.Context, spec *pb.ActorSpec) {
	if r.stopping {
		c.Send(r.gcs, &pb.ActorStateChanged{ActorId: spec.ActorId, State: pb.ActorState_ACTOR_STATE_DEAD, NodeId: r.env.NodeID,
			Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: "node is stopping", NodeId: r.env.NodeID}})
		return
	}
	h := &hostRec{spec: spec, ctl: actors.NewHostControl(spec), shape: r.ledger.shapeOf(spec.Resources)}
	h.ctl.Policy.InitialBackoff = r.env.RestartBackoff
	typ, err := r.env.Registry.Actor(spec.TypeName)
	if err != nil {
		c.Send(r.gcs, &pb.ActorStateChanged{ActorId: spec.ActorId, State: pb.ActorState_ACTOR_STATE_DEAD, NodeId: r.env.NodeID,
			Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_NOT_FOUND, Message: err.Error(), NodeId: r.env.NodeID}})
		return
	}
	h.typ = typ
	r.hosts[string(spec.ActorId)] = h
	if !h.shape.feasible {
		r.actorChanged(c, &pb.ActorStateChanged{ActorId: spec.ActorId, State: pb.ActorState_ACTOR_STATE_DEAD, NodeId: r.env.NodeID,
			Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_INFEASIBLE, Message: fmt.Sprintf("node %s cannot fit %v", r.env.NodeID, placement.FromWire(spec.Resources)), NodeId: r.env.NodeID}})
		return
	}
	if !r.ledger.fits(h.shape) {
		r.actorsQ = append(r.actorsQ, h)
		return
	}
	r.spawnHost(c, h)
}

func (r *Raylet) spawnHost(c actor.Context, h *hostRec) {
	if g := h.shape.gpu; g > 0 {
		ids, err := r.acquireGPUs(g)
		if err == nil {
			h.ctl.GPUIDs = ids
		}
	}
	r.ledger.allocate(h.shape)
	r.scheduleReport()
	h.pid = c.Spawn(actors.NewHost(r.env, h.typ, h.ctl))
	r.hostByPID[h.pid.Id] = h
}

func (r *Raylet) actorChanged(c actor.Context, m *pb.ActorStateChanged) {
	h := r.hosts[string(m.ActorId)]
	if h != nil && m.State == pb.ActorState_ACTOR_STATE_DEAD && !h.released {
		h.released = true
		r.ledger.release(h.shape)
		r.releaseGPUs(h.shape.gpu, h.ctl.GPUIDs)
		delete(r.hosts, string(m.ActorId))
		r.scheduleReport()
		r.dispatch(c)
	}
	c.Send(r.gcs, m)
}

// HandleFailure implements actor.SupervisorStrategy for the raylet's
// children: a failed host restarts after its backoff while its budget lasts,
// then restarts once more as a tombstone that answers ACTOR_DIED.
func (r *Raylet) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	h := r.hostByPID[child.Id]
	if h == nil {
		sup.RestartChildren(child)
		return
	}
	restart, n, delay := h.ctl.Failed(actors.FailureReason(reason))
	if !restart {
		sup.RestartChildren(child)
		return
	}
	r.env.System.Root.Send(r.gcs, &pb.ActorStateChanged{ActorId: h.spec.ActorId, State: pb.ActorState_ACTOR_STATE_RESTARTING, Pid: actors.WirePID(child), NodeId: r.env.NodeID, NumRestarts: n})
	time.AfterFunc(time.Duration(delay), func() { sup.RestartChildren(child) })
}
