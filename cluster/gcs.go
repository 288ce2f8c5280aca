package cluster

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// GCSProcessID is the well-known protoactor ID of the GCS actor.
const GCSProcessID = "gcs"

// Backoff of an actor that fits the cluster but not its free resources.
const (
	placeRetryFirst = 10 * time.Millisecond
	placeRetryMax   = time.Second
)

// systemRequestTimeout bounds a request from one system actor to another,
// which in one process only a defect could leave unanswered.
const systemRequestTimeout = 30 * time.Second

// GCS is the actor holding cluster metadata: nodes, jobs, actors and the
// names they are registered under. It drives an actor's creation (placement,
// then the chosen node's raylet), records its lifecycle, answers those
// waiting on it, and tells every core when an actor dies.
type GCS struct {
	placement *actor.PID
	timers    *scheduler.TimerScheduler
	nodes     map[string]*pb.NodeInfo
	byAddress map[string]string // node address -> node ID
	actors    map[string]*actorRec
	names     map[actorName]string // -> actor ID
	jobs      map[string]*pb.JobInfo
	dead      []string // IDs of dead actors, oldest first
	maxDead   int
	// fingerprint is the head's build: a node with another gets no work.
	fingerprint string
}

// MaxDeadActors is how many dead actors' records the GCS keeps.
const MaxDeadActors = 100_000

type actorRec struct {
	info *pb.ActorInfo
	// spec is dropped when the actor dies: its arguments are not needed.
	spec *pb.ActorSpec
	// moved counts the restarts the actor took on a new node after its
	// node died; its host counts only those on its own node.
	moved     int32
	creators  []*actor.PID // waiting for ALIVE or DEAD (CreateActorReply)
	resolvers []*actor.PID // waiting for a host or DEAD (LookupActorReply)
}

// placeActor asks the placement actor again for a pending actor.
type placeActor struct {
	id    string
	delay time.Duration
}

// NewGCS returns the props of a GCS actor behind guard.
func NewGCS(placementPID *actor.PID, guard *actors.Guard) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return guard.Actor(&GCS{
			placement: placementPID,
			nodes:     map[string]*pb.NodeInfo{},
			byAddress: map[string]string{},
			actors:    map[string]*actorRec{},
			names:     map[actorName]string{},
			jobs:      map[string]*pb.JobInfo{},
			maxDead:   MaxDeadActors,
		})
	})
}

// snapshot copies a record the GCS keeps changing: in process, replies
// travel as pointers.
func snapshot(i *pb.ActorInfo) *pb.ActorInfo {
	return &pb.ActorInfo{
		ActorId: i.ActorId, TypeName: i.TypeName, Name: i.Name, Namespace: i.Namespace, State: i.State,
		Pid: i.Pid, NodeId: i.NodeId, NumRestarts: i.NumRestarts, DeathCause: i.DeathCause,
		Detached: i.Detached, JobId: i.JobId, Resources: i.Resources, PendingReason: i.PendingReason, Owner: i.Owner,
	}
}

// actorName keys named actors: a namespace and a name, neither of which can
// be confused with the other.
type actorName struct{ namespace, name string }

func nameKey(namespace, name string) actorName { return actorName{namespace, name} }

// Receive implements actor.Actor.
func (g *GCS) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		g.timers = scheduler.NewTimerScheduler(c)
	case *pb.NodeInfo:
		if old := g.nodes[m.NodeId]; old != nil && !old.Alive {
			// A node that died does not come back under its ID: its work
			// has moved. Tell it, should it still run.
			if m.Alive {
				c.Send(actors.PID(m.Raylet), &pb.NodeDied{NodeId: m.NodeId, Address: m.Address})
			}
			return
		}
		if !m.Alive {
			g.nodeDied(c, m.NodeId, true) // it is stopping and says so
			return
		}
		g.nodes[m.NodeId] = m
		g.byAddress[m.Address] = m.NodeId
		if m.Address == c.Self().Address {
			g.fingerprint = m.Fingerprint // the head's own node
		}
		if g.fingerprint != "" && m.Fingerprint != "" && m.Fingerprint != g.fingerprint {
			c.Logger().Warn("goray: a node runs another build than the head; it gets no work",
				"node", m.NodeId, "address", m.Address, "build", m.Fingerprint, "head build", g.fingerprint)
			return
		}
		c.Send(g.placement, m)
	case *pb.NodeDied:
		g.nodeDied(c, m.NodeId, m.Left)
	case *pb.RegisterJob:
		g.jobs[m.Job.JobId] = m.Job
		c.Respond(&pb.Ack{})
	case *pb.FinishJob:
		g.finishJob(c, m.JobId)
		c.Send(g.placement, m) // the job's placement groups go too
		c.Respond(&pb.Ack{})
	case *pb.CreateActor:
		g.create(c, m.Spec)
	case placeActor:
		g.place(c, m.id, m.delay)
	case *pb.ActorStateChanged:
		g.changed(c, m)
	case *pb.RestoreActors:
		g.restore(c, m)
	case *pb.LookupActor:
		c.Respond(g.lookup(m))
	case *pb.ResolveActor:
		g.resolve(c, m)
	case *pb.KillActor:
		g.kill(c, m, c.Sender())
	case *pb.ListJobs:
		reply := &pb.ListJobsReply{}
		for _, j := range g.jobs {
			reply.Jobs = append(reply.Jobs, proto.Clone(j).(*pb.JobInfo))
		}
		c.Respond(reply)
	case *pb.ListNodes:
		reply := &pb.ListNodesReply{}
		for _, n := range g.nodes {
			reply.Nodes = append(reply.Nodes, n)
		}
		c.Respond(reply)
	case *pb.ListActors:
		reply := &pb.ListActorsReply{}
		for _, r := range g.actors {
			reply.Actors = append(reply.Actors, snapshot(r.info))
		}
		c.Respond(reply)
	}
}

func gcsError(kind pb.ErrorKind, format string, args ...any) *pb.Error {
	return &pb.Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func (g *GCS) create(c actor.Context, spec *pb.ActorSpec) {
	id := string(spec.ActorId)
	if _, dup := g.actors[id]; dup {
		c.Respond(&pb.CreateActorReply{Error: gcsError(pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS, "actor ID %x already exists", spec.ActorId)})
		return
	}
	if spec.Name != "" {
		key := nameKey(spec.Namespace, spec.Name)
		if other, taken := g.names[key]; taken {
			c.Respond(&pb.CreateActorReply{Error: gcsError(pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS,
				"an actor named %q already exists in namespace %q (%x)", spec.Name, spec.Namespace, other)})
			return
		}
		g.names[key] = id
	}
	rec := &actorRec{
		spec: spec,
		info: &pb.ActorInfo{
			ActorId: spec.ActorId, TypeName: spec.TypeName, Name: spec.Name, Namespace: spec.Namespace,
			State: pb.ActorState_ACTOR_STATE_PENDING, Detached: spec.Detached, JobId: spec.JobId,
			Resources: spec.Resources,
		},
	}
	if !spec.Detached {
		rec.info.Owner = spec.Owner
	}
	if s := c.Sender(); s != nil {
		rec.creators = append(rec.creators, s)
	}
	g.actors[id] = rec
	g.place(c, id, placeRetryFirst)
}

// restore records actors a raylet hosts that this GCS does not know: after
// the head restarted, they run on and are found again by ID and name. An
// actor this GCS knows keeps its record; a name taken meanwhile stays with
// the actor that took it.
func (g *GCS) restore(c actor.Context, m *pb.RestoreActors) {
	for _, a := range m.Actors {
		id := string(a.Spec.ActorId)
		if g.actors[id] != nil || a.State.State == pb.ActorState_ACTOR_STATE_DEAD {
			continue
		}
		spec := a.Spec
		name := spec.Name
		if name != "" {
			key := nameKey(spec.Namespace, name)
			if _, taken := g.names[key]; taken {
				c.Logger().Warn("goray: a restored actor's name is taken; it is known by ID only", "actor", fmt.Sprintf("%x", spec.ActorId), "name", name)
				name = ""
			} else {
				g.names[key] = id
			}
		}
		rec := &actorRec{spec: spec, info: &pb.ActorInfo{
			ActorId: spec.ActorId, TypeName: spec.TypeName, Name: name, Namespace: spec.Namespace,
			State: a.State.State, Pid: a.State.Pid, NodeId: a.State.NodeId, NumRestarts: a.State.NumRestarts,
			Detached: spec.Detached, JobId: spec.JobId, Resources: spec.Resources,
		}}
		if !spec.Detached {
			rec.info.Owner = spec.Owner
		}
		g.actors[id] = rec
	}
}

// unplaced reports whether rec waits for a node: a new actor, or one
// restarting after its node died.
func unplaced(rec *actorRec) bool {
	if rec == nil || rec.info.NodeId != "" {
		return false
	}
	s := rec.info.State
	return s == pb.ActorState_ACTOR_STATE_PENDING || s == pb.ActorState_ACTOR_STATE_RESTARTING
}

func (g *GCS) place(c actor.Context, id string, delay time.Duration) {
	rec := g.actors[id]
	if !unplaced(rec) {
		return
	}
	pick := &pb.PickNode{Resources: rec.spec.Resources, Scheduling: rec.spec.Scheduling}
	if owner := rec.spec.Owner; owner != nil {
		pick.LocalNode = g.byAddress[owner.Address]
	}
	if node := g.nodes[pick.LocalNode]; node != nil && node.Alive && len(pick.Resources) == 0 && !placement.Constrained(rec.spec.Scheduling) {
		// An actor that holds no resources goes to its owner's node: the
		// placement policy's answer for an empty request, without asking.
		g.start(c, rec, node)
		return
	}
	f := c.RequestFuture(g.placement, pick, systemRequestTimeout)
	c.ReenterAfter(f, func(res any, err error) {
		if g.actors[id] != rec || !unplaced(rec) {
			return // killed or placed meanwhile
		}
		reply, _ := res.(*pb.PickNodeReply)
		switch {
		case err != nil || reply == nil:
			g.settle(c, rec, gcsError(pb.ErrorKind_ERROR_KIND_SYSTEM, "placing actor: %v", err))
		case reply.Error != nil && reply.Error.Kind == pb.ErrorKind_ERROR_KIND_NO_CAPACITY:
			rec.info.PendingReason = reply.Error.Message
			g.timers.SendOnce(delay, c.Self(), placeActor{id: id, delay: min(2*delay, placeRetryMax)})
		case reply.Error != nil:
			g.settle(c, rec, &pb.Error{Kind: reply.Error.Kind, Message: fmt.Sprintf("actor %s: %s", rec.spec.TypeName, reply.Error.Message)})
		default:
			g.start(c, rec, reply.Node)
		}
	})
}

func (g *GCS) start(c actor.Context, rec *actorRec, node *pb.NodeInfo) {
	rec.info.NodeId = node.NodeId
	rec.info.PendingReason = ""
	spec := rec.spec
	if rec.moved > 0 && spec.MaxRestarts > 0 {
		// The new host has what is left of the restart budget.
		spec = proto.Clone(spec).(*pb.ActorSpec)
		spec.MaxRestarts = max(spec.MaxRestarts-rec.moved, 0)
	}
	c.Send(actors.PID(node.Raylet), &pb.StartActor{Spec: spec})
}

// nodeDied records that a node left the cluster: the placement actor
// forgets it, every core and raylet hears of it, and its actors restart on
// other nodes while their restart budget lasts, or die. A node that did
// not leave on its own is told too, should it still run.
func (g *GCS) nodeDied(c actor.Context, id string, left bool) {
	node := g.nodes[id]
	if node == nil || !node.Alive {
		return
	}
	if left {
		c.Logger().Info("goray: node left", "node", id, "address", node.Address)
	} else {
		c.Logger().Warn("goray: node died", "node", id, "address", node.Address)
	}
	dead := proto.Clone(node).(*pb.NodeInfo)
	dead.Alive = false
	g.nodes[id] = dead
	delete(g.byAddress, node.Address)
	c.Send(g.placement, dead)
	notice := &pb.NodeDied{NodeId: id, Address: node.Address}
	for _, pid := range g.listeners() {
		c.Send(pid, notice)
	}
	if !left {
		// Should it still run (unreachable, not dead), it stops.
		c.Send(actors.PID(node.Raylet), notice)
	}
	for _, rec := range g.actors {
		// A non-detached actor shares the fate of the process that owns
		// it, as in Ray: its handles are gone with that process.
		if o := rec.info.Owner; o != nil && o.Address == node.Address && rec.info.State != pb.ActorState_ACTOR_STATE_DEAD {
			cause := fmt.Sprintf("its owner died with node %s", id)
			if rec.info.NodeId == id {
				g.settle(c, rec, gcsError(pb.ErrorKind_ERROR_KIND_ACTOR_DIED, "%s", cause))
			} else {
				g.kill(c, &pb.KillActor{ActorId: rec.info.ActorId, NoRestart: true, Cause: cause}, nil)
			}
		}
	}
	for _, j := range g.jobs {
		if j.DriverNode == id && j.EndUnixMs == 0 {
			g.finishJob(c, j.JobId) // its driver is gone
		}
	}
	for _, rec := range g.actors {
		if rec.info.NodeId != id || rec.info.State == pb.ActorState_ACTOR_STATE_DEAD {
			continue
		}
		budget := rec.spec.MaxRestarts
		if budget >= 0 && rec.info.NumRestarts >= budget {
			g.settle(c, rec, gcsError(pb.ErrorKind_ERROR_KIND_ACTOR_DIED, "its node %s died and it has no restarts left", id))
			continue
		}
		rec.moved++
		rec.info.NumRestarts++
		rec.info.State = pb.ActorState_ACTOR_STATE_RESTARTING
		rec.info.NodeId, rec.info.Pid = "", nil
		moved := &pb.ActorMoved{ActorId: rec.info.ActorId, FromNode: id}
		for _, pid := range g.cores() {
			c.Send(pid, moved)
		}
		g.place(c, string(rec.info.ActorId), placeRetryFirst)
	}
}

// cores returns the cores to tell of actor deaths and moves: every live
// node's and every running job's.
func (g *GCS) cores() []*actor.PID {
	var out []*actor.PID
	for _, n := range g.nodes {
		if n.Alive && n.Core != nil {
			out = append(out, actors.PID(n.Core))
		}
	}
	for _, j := range g.jobs {
		if j.Core != nil && j.EndUnixMs == 0 {
			out = append(out, actors.PID(j.Core))
		}
	}
	return out
}

// listeners returns who hears of node deaths: every live node's raylet,
// store and directory, then the cores. Raylets come first, so that a
// node's raylet has dropped the dead node before its core resubmits what
// the dead node held (messages to one node keep their order).
func (g *GCS) listeners() []*actor.PID {
	var out []*actor.PID
	for _, n := range g.nodes {
		if n.Alive {
			out = append(out, actors.PID(n.Raylet), actors.PID(n.Store))
			if n.Directory != nil {
				out = append(out, actors.PID(n.Directory))
			}
		}
	}
	return append(out, g.cores()...)
}

// settle records that an actor is dead: its name is free, those waiting on
// it hear why, every core learns of it, and what it pinned is released.
func (g *GCS) settle(c actor.Context, rec *actorRec, perr *pb.Error) {
	if rec.info.State == pb.ActorState_ACTOR_STATE_DEAD {
		return
	}
	perr = actors.ClipError(perr)
	rec.info.State = pb.ActorState_ACTOR_STATE_DEAD
	rec.info.DeathCause = perr.Message
	g.releaseName(rec)
	for _, s := range rec.creators {
		c.Send(s, &pb.CreateActorReply{Info: snapshot(rec.info), Error: perr})
	}
	rec.creators = nil
	g.answerResolvers(c, rec)
	died := &pb.ActorDied{ActorId: rec.info.ActorId, Error: perr}
	for _, pid := range g.cores() {
		c.Send(pid, died)
	}
	g.unpin(c, rec.spec)
	rec.spec = nil
	g.forgetOldDead(string(rec.info.ActorId))
}

// unpin drops the references the actor held on its constructor's store
// arguments, at the directory of each argument's owner.
func (g *GCS) unpin(c actor.Context, spec *pb.ActorSpec) {
	for _, a := range spec.Args {
		if ref := a.GetRef(); ref != nil {
			c.Send(actor.NewPID(ref.Owner.Address, objects.DirectoryProcessID), &pb.RefDelta{Decr: [][]byte{ref.Id}})
		}
	}
}

// forgetOldDead remembers id as dead and, past MaxDeadActors, forgets the
// oldest dead actor's record (Ray bounds its destroyed-actor cache alike).
func (g *GCS) forgetOldDead(id string) {
	g.dead = append(g.dead, id)
	if len(g.dead) <= g.maxDead {
		return
	}
	oldest := g.dead[0]
	g.dead[0] = ""
	g.dead = g.dead[1:]
	if rec := g.actors[oldest]; rec != nil && rec.info.State == pb.ActorState_ACTOR_STATE_DEAD {
		delete(g.actors, oldest)
	}
}

func (g *GCS) releaseName(rec *actorRec) {
	if rec.info.Name == "" {
		return
	}
	key := nameKey(rec.info.Namespace, rec.info.Name)
	if g.names[key] == string(rec.info.ActorId) {
		delete(g.names, key)
	}
}

func (g *GCS) changed(c actor.Context, m *pb.ActorStateChanged) {
	rec := g.actors[string(m.ActorId)]
	if rec == nil || rec.info.State == pb.ActorState_ACTOR_STATE_DEAD {
		return
	}
	info := rec.info
	if m.Pid != nil {
		info.Pid = m.Pid
	}
	if m.NodeId != "" && m.NodeId != info.NodeId {
		return // a report from a node the actor left
	}
	info.NumRestarts = m.NumRestarts + rec.moved
	switch m.State {
	case pb.ActorState_ACTOR_STATE_ALIVE:
		info.State = m.State
		for _, s := range rec.creators {
			c.Send(s, &pb.CreateActorReply{Info: snapshot(info)})
		}
		rec.creators = nil
		g.answerResolvers(c, rec)
	case pb.ActorState_ACTOR_STATE_RESTARTING:
		info.State = m.State
	case pb.ActorState_ACTOR_STATE_PENDING:
		// The node had no room after all: place the actor again.
		if info.State == pb.ActorState_ACTOR_STATE_PENDING || info.State == pb.ActorState_ACTOR_STATE_RESTARTING {
			info.NodeId = ""
			g.timers.SendOnce(placeRetryFirst, c.Self(), placeActor{id: string(info.ActorId), delay: placeRetryFirst})
		}
	case pb.ActorState_ACTOR_STATE_DEAD:
		perr := m.Error
		if perr == nil {
			perr = gcsError(pb.ErrorKind_ERROR_KIND_ACTOR_DIED, "actor died")
		}
		g.settle(c, rec, perr)
	}
}

func (g *GCS) answerResolvers(c actor.Context, rec *actorRec) {
	for _, s := range rec.resolvers {
		c.Send(s, &pb.LookupActorReply{Info: snapshot(rec.info)})
	}
	rec.resolvers = nil
}

func (g *GCS) find(m *pb.LookupActor) (*actorRec, *pb.Error) {
	if len(m.ActorId) > 0 {
		if rec := g.actors[string(m.ActorId)]; rec != nil {
			return rec, nil
		}
		return nil, gcsError(pb.ErrorKind_ERROR_KIND_NOT_FOUND, "no actor with ID %x", m.ActorId)
	}
	id, ok := g.names[nameKey(m.Namespace, m.Name)]
	if !ok {
		return nil, gcsError(pb.ErrorKind_ERROR_KIND_NOT_FOUND, "no live actor named %q in namespace %q", m.Name, m.Namespace)
	}
	return g.actors[id], nil
}

func (g *GCS) lookup(m *pb.LookupActor) *pb.LookupActorReply {
	rec, perr := g.find(m)
	if perr != nil {
		return &pb.LookupActorReply{Error: perr}
	}
	return &pb.LookupActorReply{Info: snapshot(rec.info)}
}

// resolve answers once the actor has a host to send calls to, or is dead.
func (g *GCS) resolve(c actor.Context, m *pb.ResolveActor) {
	rec, perr := g.find(&pb.LookupActor{ActorId: m.ActorId})
	switch {
	case perr != nil:
		c.Respond(&pb.LookupActorReply{Error: perr})
	case rec.info.State == pb.ActorState_ACTOR_STATE_DEAD || (rec.info.Pid != nil && rec.info.State != pb.ActorState_ACTOR_STATE_PENDING):
		c.Respond(&pb.LookupActorReply{Info: snapshot(rec.info)})
	case c.Sender() != nil:
		rec.resolvers = append(rec.resolvers, c.Sender())
	}
}

// kill stops an actor in any state. One not yet on a node dies here; one on
// a node is killed by its raylet and host. requester, when set, gets the
// reply once no call can reach a live instance.
func (g *GCS) kill(c actor.Context, m *pb.KillActor, requester *actor.PID) {
	reply := func(r *pb.KillActorReply) {
		if requester != nil {
			c.Send(requester, r)
		}
	}
	rec, perr := g.find(&pb.LookupActor{ActorId: m.ActorId})
	if perr != nil {
		reply(&pb.KillActorReply{Error: perr})
		return
	}
	if rec.info.State == pb.ActorState_ACTOR_STATE_DEAD {
		reply(&pb.KillActorReply{})
		return
	}
	node := g.nodes[rec.info.NodeId]
	if node == nil {
		if m.NoRestart {
			g.settle(c, rec, gcsError(pb.ErrorKind_ERROR_KIND_ACTOR_DIED, "%s before it was placed", killCause(m)))
		}
		reply(&pb.KillActorReply{})
		return
	}
	f := c.RequestFuture(actors.PID(node.Raylet), m, systemRequestTimeout)
	c.ReenterAfter(f, func(res any, err error) {
		if err != nil {
			reply(&pb.KillActorReply{Error: gcsError(pb.ErrorKind_ERROR_KIND_SYSTEM, "killing actor %x: %v", m.ActorId, err)})
			return
		}
		if m.NoRestart {
			// Dead from now on: its name is free for a new actor at once.
			g.settle(c, rec, gcsError(pb.ErrorKind_ERROR_KIND_ACTOR_DIED, "%s", killCause(m)))
		}
		reply(&pb.KillActorReply{})
	})
}

// killCause is why a KillActor kills its actor.
func killCause(m *pb.KillActor) string {
	if m.Cause != "" {
		return m.Cause
	}
	return "killed"
}

// finishJob kills the job's actors that are not detached, in whatever state:
// they share the fate of the driver that created them.
func (g *GCS) finishJob(c actor.Context, jobID string) {
	if j := g.jobs[jobID]; j != nil {
		j.EndUnixMs = time.Now().UnixMilli()
	}
	for _, rec := range g.actors {
		if rec.info.JobId == jobID && !rec.info.Detached && rec.info.State != pb.ActorState_ACTOR_STATE_DEAD {
			g.kill(c, &pb.KillActor{ActorId: rec.info.ActorId, NoRestart: true}, nil)
		}
	}
}
