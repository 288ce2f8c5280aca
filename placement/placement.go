package placement

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	pb "github.com/goray-dev/goray/proto"
)

// ProcessID is the well-known protoactor ID of the placement actor.
const ProcessID = "placement"

// FromWire converts a wire resource map (fixed-point quantities).
func FromWire(m map[string]int64) Resources {
	r := make(Resources, len(m))
	for k, v := range m {
		r[k] = Quantity(v)
	}
	return r
}

// ToWire converts r to its wire form.
func ToWire(r Resources) map[string]int64 {
	m := make(map[string]int64, len(r))
	for k, v := range r {
		m[k] = int64(v)
	}
	return m
}

// viewDelay batches the ClusterView broadcasts to the raylets.
const viewDelay = 20 * time.Millisecond

// Actor is the placement actor: it owns the cluster view, fed by node
// registrations and the raylets' resource reports, answers where an actor
// should run, and shares the view with every raylet (ClusterView, batched)
// so that raylets decide where to spill tasks without asking.
type Actor struct {
	view    *View
	infos   map[string]*pb.NodeInfo
	raylets map[string]*actor.PID // by node: the PID of its raylet
	rnd     *rand.Rand

	timers        *scheduler.TimerScheduler
	viewScheduled bool

	// Placement groups by ID, and the IDs of named ones.
	groups         map[string]*group
	groupNames     map[string]string
	unplaced       map[string]*group // pending, rescheduling or infeasible
	groupOrder     uint64
	removedGroups  []string // oldest first
	retryScheduled bool
}

// shareView is the timer message that sends the ClusterView.
type shareView struct{}

// NewActor returns the props of a placement actor.
func NewActor(seed uint64) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return New(seed) })
}

// New returns a placement actor with an empty view.
func New(seed uint64) *Actor {
	return &Actor{view: NewView(), infos: map[string]*pb.NodeInfo{}, raylets: map[string]*actor.PID{}, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		groups: map[string]*group{}, groupNames: map[string]string{}, unplaced: map[string]*group{}}
}

// Receive implements actor.Actor.
func (a *Actor) Receive(c actor.Context) {
	if a.receiveGroup(c) {
		return
	}
	switch m := c.Message().(type) {
	case *actor.Started:
		a.timers = scheduler.NewTimerScheduler(c)
	case *pb.NodeInfo:
		a.scheduleView(c)
		if !m.Alive {
			a.view.Remove(m.NodeId)
			delete(a.infos, m.NodeId)
			delete(a.raylets, m.NodeId)
			a.groupsNodeDied(c, m.NodeId)
			return
		}
		err := a.view.Upsert(Node{ID: m.NodeId, Total: FromWire(m.Total), Available: FromWire(m.Available), Labels: m.Labels, Alive: true})
		if err != nil {
			c.Logger().Warn("placement: refusing node", "node", m.NodeId, "error", err)
			return
		}
		a.infos[m.NodeId] = m
		if m.Raylet != nil {
			a.raylets[m.NodeId] = actor.NewPID(m.Raylet.Address, m.Raylet.Id)
		} else {
			delete(a.raylets, m.NodeId)
		}
		a.scheduleRetry(c)
	case *pb.ResourceReport:
		if a.view.SetAvailable(m.NodeId, FromWire(m.Available)) == nil {
			a.scheduleView(c)
			a.scheduleRetry(c)
		}
	case shareView:
		a.viewScheduled = false
		a.shareView(c)
	case *pb.PickNode:
		c.Respond(a.pick(m))
	case *pb.ListNodes:
		c.Respond(&pb.ListNodesReply{Nodes: a.viewInfos()})
	}
}

func (a *Actor) scheduleView(c actor.Context) {
	if a.viewScheduled || a.timers == nil {
		return
	}
	a.viewScheduled = true
	a.timers.SendOnce(viewDelay, c.Self(), shareView{})
}

// viewInfos describes every node in the view with what it has available.
func (a *Actor) viewInfos() []*pb.NodeInfo {
	var out []*pb.NodeInfo
	for _, n := range a.view.Nodes() {
		info := a.infos[n.ID]
		if info == nil {
			continue
		}
		out = append(out, &pb.NodeInfo{
			NodeId: n.ID, Address: info.Address, Total: ToWire(n.Total), Available: ToWire(n.Available),
			Labels: n.Labels, Raylet: info.Raylet, Store: info.Store, Directory: info.Directory, Core: info.Core, Alive: true,
		})
	}
	return out
}

// shareView sends every raylet the current view: each node with what it
// has available.
func (a *Actor) shareView(c actor.Context) {
	view := &pb.ClusterView{Nodes: a.viewInfos()}
	for _, n := range view.Nodes {
		if n.Raylet != nil {
			c.Send(actor.NewPID(n.Raylet.Address, n.Raylet.Id), view)
		}
	}
}

func (a *Actor) pick(m *pb.PickNode) *pb.PickNodeReply {
	if s := m.Scheduling; s != nil && len(s.PlacementGroup) > 0 {
		return a.pickInGroup(m, s)
	}
	req := Request{
		Resources:    FromWire(m.Resources),
		Strategy:     Strategy(m.Strategy),
		Local:        m.LocalNode,
		AffinityNode: m.AffinityNode,
		AffinitySoft: m.AffinitySoft,
		Labels:       m.Labels,
	}
	if m.Scheduling != nil {
		req = RequestOf(m.Resources, m.Scheduling, m.LocalNode)
		req.Labels = m.Labels
	}
	id, err := a.view.Pick(req, a.rnd)
	if err != nil {
		kind := pb.ErrorKind_ERROR_KIND_SYSTEM
		switch {
		case errors.Is(err, ErrInfeasible):
			kind = pb.ErrorKind_ERROR_KIND_INFEASIBLE
		case errors.Is(err, ErrInvalidResource), errors.Is(err, ErrInvalidRequest):
			kind = pb.ErrorKind_ERROR_KIND_INVALID
		case errors.Is(err, ErrNoCapacity):
			kind = pb.ErrorKind_ERROR_KIND_NO_CAPACITY
		}
		return &pb.PickNodeReply{Error: &pb.Error{Kind: kind, Message: err.Error()}}
	}
	// Commit the choice until the node reports again, so a burst of picks
	// does not pile onto one node.
	_ = a.view.Allocate(id, req.Resources)
	return &pb.PickNodeReply{Node: a.infos[id]}
}
