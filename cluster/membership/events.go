package membership

import (
	"net/netip"
	"strconv"
	"time"
)

// Member is one member of the cluster as this process sees it.
type Member struct {
	// Addr is the member's gossip address: the one others join through.
	Addr netip.AddrPort
	// Meta is the member's latest metadata.
	Meta Meta
}

// ID returns the member's node ID.
func (m Member) ID() string { return m.Meta.NodeID }

// EventKind tells what happened to a member.
type EventKind uint8

// Event kinds.
const (
	// EventJoined: the member became alive: it joined, this process joined
	// its cluster, or it was declared dead falsely and refuted it.
	EventJoined EventKind = iota + 1
	// EventUpdated: the member changed its metadata.
	EventUpdated
	// EventLeft: the member left gracefully (Leave) and is gone.
	EventLeft
	// EventDead: the member stopped answering and was declared dead, or
	// another member took over its address.
	EventDead
)

var kindNames = [...]string{EventJoined: "joined", EventUpdated: "updated", EventLeft: "left", EventDead: "dead"}

// String returns "joined", "updated", "left" or "dead".
func (k EventKind) String() string {
	if k >= EventJoined && k <= EventDead {
		return kindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change of membership.
type Event struct {
	Kind EventKind
	// Member is the member the event is about, with its metadata: for
	// EventLeft and EventDead, the last metadata it announced.
	Member Member
	// At is when this process learned of the event. Updates merged into a
	// queued event (see Cluster.Events) keep the At of the queued one.
	At time.Time
}

// eventQueue holds events between memberlist's callbacks, which must not
// block, and the consumer, who may be slow. It never drops an event. An
// Updated event for a member whose latest queued event is Joined or Updated
// is merged into that event instead of queued, so a slow consumer sees the
// newest metadata once instead of every step; all other events queue, so
// the queue grows by at most one Joined, Left or Dead per membership change.
type eventQueue struct {
	evs []Event
}

func (q *eventQueue) push(e Event) {
	if e.Kind == EventUpdated {
		for i := len(q.evs) - 1; i >= 0; i-- {
			if q.evs[i].Member.ID() != e.Member.ID() {
				continue
			}
			if k := q.evs[i].Kind; k == EventJoined || k == EventUpdated {
				q.evs[i].Member = e.Member
				return
			}
			break
		}
	}
	q.evs = append(q.evs, e)
}

func (q *eventQueue) pop() (Event, bool) {
	if len(q.evs) == 0 {
		return Event{}, false
	}
	e := q.evs[0]
	q.evs[0] = Event{}
	q.evs = q.evs[1:]
	if len(q.evs) == 0 {
		q.evs = nil
	}
	return e, true
}

func (q *eventQueue) len() int { return len(q.evs) }
