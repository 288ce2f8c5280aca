package cluster

import (
	"fmt"
	"hash/maphash"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/gpu"
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
	total     placement.Resources
	used      placement.Resources
	gpus      *gpu.Assigner

	// Queued tasks, one FIFO per resource shape (Ray's scheduling classes):
	// a shape that does not fit is skipped as a whole.
	queues  map[uint64]*fifo
	shapes  []uint64 // shapes with queued tasks, oldest first
	actorsQ []*hostRec // actors waiting for resources
	idle    []*actor.PID
	running map[string]*runningTask

	hosts     map[string]*hostRec // by actor ID
	hostByPID map[string]*hostRec // by host process ID

	reportScheduled bool
}

// fifo is a queue of tasks with one resource shape.
type fifo struct {
	specs []*pb.TaskSpec // entries before head were taken; nil entries were cancelled
	head  int
}

func (q *fifo) push(s *pb.TaskSpec) { q.specs = append(q.specs, s) }

// peek returns the oldest task, skipping cancelled ones.
func (q *fifo) peek() *pb.TaskSpec {
	for q.head < len(q.specs) && q.specs[q.head] == nil {
		q.head++
	}
	if q.head == len(q.specs) {
		return nil
	}
	return q.specs[q.head]
}

func (q *fifo) pop() {
	q.specs[q.head] = nil
	q.head++
	if q.head == len(q.specs) {
		q.specs, q.head = q.specs[:0], 0
	} else if q.head > 1024 && q.head > len(q.specs)/2 {
		q.specs = append(q.specs[:0], q.specs[q.head:]...)
		q.head = 0
	}
}

// shapeSeed keys the hash of resource requests; it is fixed for the process.
var shapeSeed = maphash.MakeSeed()

func shapeOf(req map[string]int64) uint64 {
	var h uint64
	for k, v := range req {
		h += maphash.String(shapeSeed, k) ^ (uint64(v) * 0x9e3779b97f4a7c15)
	}
	return h
}

type runningTask struct {
	spec    *pb.TaskSpec
	res     map[string]int64 // the spec's request, read only
	exec    *actor.PID
	blocked bool
}

type hostRec struct {
	spec     *pb.ActorSpec
	ctl      *actors.HostControl
	typ      *actors.ActorType
	pid      *actor.PID
	res      map[string]int64
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
			total:     total.Clone(),
			used:      placement.Resources{},
			gpus:      gpu.NewAssigner(int(total[placement.GPU] / placement.Unit)),
			running:   map[string]*runningTask{},
			queues:    map[uint64]*fifo{},
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
		if t := r.running[string(m.TaskId)]; t != nil && !t.blocked {
			t.blocked = true
			r.used[placement.CPU] -= placement.Quantity(t.res[placement.CPU])
			r.dispatch(c)
		}
	case *pb.TaskUnblocked:
		if t := r.running[string(m.TaskId)]; t != nil && t.blocked {
			// May over-commit the CPUs for a while, as Ray does.
			t.blocked = false
			r.used[placement.CPU] += placement.Quantity(t.res[placement.CPU])
		}
	case *pb.CancelTask:
		r.cancel(c, m)
	case *pb.StartActor:
		// The raylet fills in GPU IDs: keep its own copy of the spec.
		r.startActor(c, proto.Clone(m.Spec).(*pb.ActorSpec))
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
	case flushReport:
		r.reportScheduled = false
		c.Send(r.placement, &pb.ResourceReport{NodeId: r.env.NodeID, Available: placement.ToWire(r.available())})
	}
}

func (r *Raylet) available() placement.Resources {
	a := make(placement.Resources, len(r.total))
	for k, v := range r.total {
		a[k] = max(v-r.used[k], 0)
	}
	return a
}

func (r *Raylet) fits(req map[string]int64) bool {
	for k, v := range req {
		if r.used[k]+placement.Quantity(v) > r.total[k] {
			return false
		}
	}
	return true
}

func (r *Raylet) fitsTotal(req map[string]int64) bool {
	for k, v := range req {
		if placement.Quantity(v) > r.total[k] {
			return false
		}
	}
	return true
}

func (r *Raylet) allocate(req map[string]int64) {
	for k, v := range req {
		r.used[k] += placement.Quantity(v)
	}
	r.scheduleReport()
}

func (r *Raylet) release(req map[string]int64) {
	for k, v := range req {
		r.used[k] -= placement.Quantity(v)
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
	if r.fitsTotal(spec.Resources) {
		shape := shapeOf(spec.Resources)
		q := r.queues[shape]
		if q == nil {
			q = &fifo{}
			r.queues[shape] = q
			r.shapes = append(r.shapes, shape)
		}
		q.push(spec)
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
	for len(r.actorsQ) > 0 && r.fits(r.actorsQ[0].res) {
		h := r.actorsQ[0]
		r.actorsQ = r.actorsQ[1:]
		r.spawnHost(c, h)
	}
	kept := r.shapes[:0]
	for _, shape := range r.shapes {
		q := r.queues[shape]
		for spec := q.peek(); spec != nil && r.fits(spec.Resources); spec = q.peek() {
			q.pop()
			r.run(c, spec)
		}
		if q.peek() == nil {
			delete(r.queues, shape)
			continue
		}
		kept = append(kept, shape)
	}
	r.shapes = kept
}

func (r *Raylet) run(c actor.Context, spec *pb.TaskSpec) {
	res := spec.Resources
	if g := placement.Quantity(res[placement.GPU]); g > 0 {
		ids, err := r.acquireGPUs(g)
		if err != nil {
			r.fail(spec, pb.ErrorKind_ERROR_KIND_SYSTEM, err.Error())
			return
		}
		spec.GpuIds = ids
	}
	r.allocate(res)
	var exec *actor.PID
	if n := len(r.idle); n > 0 {
		exec, r.idle = r.idle[n-1], r.idle[:n-1]
	} else {
		exec = c.Spawn(actors.NewExecutor(r.env))
	}
	r.running[string(spec.TaskId)] = &runningTask{spec: spec, res: res, exec: exec}
	c.Send(exec, spec)
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
	t := r.running[string(m.TaskId)]
	if t == nil {
		return
	}
	delete(r.running, string(m.TaskId))
	if t.blocked {
		r.used[placement.CPU] += placement.Quantity(t.res[placement.CPU])
	}
	r.release(t.res)
	r.releaseGPUs(placement.Quantity(t.res[placement.GPU]), t.spec.GpuIds)
	r.idle = append(r.idle, t.exec)
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
	for _, q := range r.queues {
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
	if t := r.running[string(m.TaskId)]; t != nil {
		c.Send(t.exec, m)
	}
}

func (r *Raylet) startActor(c actor.Context, spec *pb.ActorSpec) {
	h := &hostRec{spec: spec, ctl: actors.NewHostControl(spec), res: spec.Resources}
	h.ctl.Policy.InitialBackoff = r.env.RestartBackoff
	typ, err := r.env.Registry.Actor(spec.TypeName)
	if err != nil {
		c.Send(r.gcs, &pb.ActorStateChanged{ActorId: spec.ActorId, State: pb.ActorState_ACTOR_STATE_DEAD, NodeId: r.env.NodeID,
			Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_NOT_FOUND, Message: err.Error(), NodeId: r.env.NodeID}})
		return
	}
	h.typ = typ
	r.hosts[string(spec.ActorId)] = h
	if !r.fits(spec.Resources) {
		r.actorsQ = append(r.actorsQ, h)
		return
	}
	r.spawnHost(c, h)
}

func (r *Raylet) spawnHost(c actor.Context, h *hostRec) {
	if g := placement.Quantity(h.res[placement.GPU]); g > 0 {
		ids, err := r.acquireGPUs(g)
		if err == nil {
			h.spec.GpuIds = ids
		}
	}
	r.allocate(h.res)
	h.pid = c.Spawn(actors.NewHost(r.env, h.typ, h.ctl))
	r.hostByPID[h.pid.Id] = h
}

func (r *Raylet) actorChanged(c actor.Context, m *pb.ActorStateChanged) {
	h := r.hosts[string(m.ActorId)]
	if h != nil && m.State == pb.ActorState_ACTOR_STATE_DEAD && !h.released {
		h.released = true
		r.release(h.res)
		r.releaseGPUs(placement.Quantity(h.res[placement.GPU]), h.spec.GpuIds)
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
