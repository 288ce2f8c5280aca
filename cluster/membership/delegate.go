package membership

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/hashicorp/memberlist"
)

// delegate receives memberlist's callbacks. memberlist calls them on its
// own goroutines, some while holding its state lock, so they only update the
// Cluster's view under c.mu and queue events: they never block and never
// call back into memberlist.
type delegate struct {
	c *Cluster
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
)

// Messages between members, sent with memberlist's reliable (TCP) user
// messages: one kind byte and the sender's node ID; a leaving member adds
// its gossip address, so that a member that has not heard of it yet (it
// joined a moment ago) can still confirm.
const (
	msgProtocol = 1 // memberlist's delegate protocol version

	msgLeaving  byte = 1 // the sender is about to leave gracefully
	msgLeaveAck byte = 2 // the sender recorded a msgLeaving
)

func encodeMsg(kind byte, nodeID string) []byte {
	return append([]byte{kind}, nodeID...)
}

// encodeLeaving encodes a msgLeaving from the member at addr.
func encodeLeaving(nodeID string, addr netip.AddrPort) []byte {
	b, _ := addr.MarshalBinary() // never fails
	return append(encodeMsg(msgLeaving, nodeID), b...)
}

// decodeMsg decodes a message; addr is the sender's address, when it gave
// one (a msgLeaving).
func decodeMsg(b []byte) (kind byte, nodeID string, addr netip.AddrPort, err error) {
	if len(b) < 1+NodeIDLen {
		return 0, "", addr, fmt.Errorf("message of %d bytes, want %d or more", len(b), 1+NodeIDLen)
	}
	kind, nodeID, rest := b[0], string(b[1:1+NodeIDLen]), b[1+NodeIDLen:]
	if kind != msgLeaving && kind != msgLeaveAck {
		return 0, "", addr, fmt.Errorf("message kind %d", kind)
	}
	if !ValidNodeID(nodeID) {
		return 0, "", addr, fmt.Errorf("node ID %q", nodeID)
	}
	if len(rest) > 0 {
		if kind != msgLeaving {
			return 0, "", addr, fmt.Errorf("message of %d bytes, want %d", len(b), 1+NodeIDLen)
		}
		if err := addr.UnmarshalBinary(rest); err != nil || !addr.IsValid() || addr.Port() == 0 {
			return 0, "", netip.AddrPort{}, fmt.Errorf("sender address %x", rest)
		}
	}
	return kind, nodeID, addr, nil
}

// NodeMeta returns this member's encoded metadata, which Start and
// UpdateMeta keep within MaxMetaSize.
func (d *delegate) NodeMeta(limit int) []byte {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.metaBytes) > limit {
		// Cannot happen: memberlist passes MaxMetaSize.
		c.log.Error("membership: metadata over memberlist's limit", slog.Int("bytes", len(c.metaBytes)), slog.Int("limit", limit))
		return nil
	}
	return c.metaBytes
}

// NotifyMsg handles a message from another member. Gossip is authenticated
// by the cluster key, but a message is still checked before it is used.
func (d *delegate) NotifyMsg(b []byte) {
	c := d.c
	kind, from, addr, err := decodeMsg(b)
	if err != nil {
		c.log.Warn("membership: ignoring malformed message", slog.Any("error", err))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	switch kind {
	case msgLeaving:
		m, ok := c.view[from]
		if !ok {
			// A member this one has not heard of yet: nothing to record,
			// but it waits for the confirmation.
			if addr.IsValid() && from != c.id {
				c.wg.Add(1)
				go c.sendAck(Member{Addr: addr, Meta: Meta{NodeID: from}})
			}
			return
		}
		c.leavers[from] = struct{}{}
		c.wg.Add(1)
		go c.sendAck(m)
	case msgLeaveAck:
		if c.leaving {
			c.acks[from] = struct{}{}
			c.signal()
		}
	}
}

// sendAck confirms to a leaving member that its leave was recorded.
func (c *Cluster) sendAck(to Member) {
	defer c.wg.Done()
	c.mu.Lock()
	ml, closed := c.ml, c.closed
	c.mu.Unlock()
	if closed || ml == nil {
		return
	}
	if err := ml.SendReliable(nodeOf(to), encodeMsg(msgLeaveAck, c.id)); err != nil {
		c.log.Debug("membership: leave confirmation not delivered", slog.String("peer", to.ID()), slog.Any("error", err))
	}
}

// GetBroadcasts: this package broadcasts nothing of its own.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState: no state beyond memberlist's is exchanged in push/pull.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState: see LocalState.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyAlive admits a member only if its metadata decodes and names it:
// a process of another goray version whose metadata this one cannot read,
// or one announcing another node's ID, never enters the view. Refusals are
// logged once per member and RefusalLogInterval.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	if _, err := memberOf(peer); err != nil {
		c := d.c
		if ok, n := c.limiter.allow(peer.Name); ok {
			c.log.Warn("membership: refusing member", slog.String("peer", peer.Name),
				slog.String("addr", peer.Address()), slog.Any("error", err), slog.Int("refused_since_last_log", n))
		}
		return err
	}
	return nil
}

// memberOf decodes a memberlist node.
func memberOf(n *memberlist.Node) (Member, error) {
	var meta Meta
	if err := meta.UnmarshalBinary(n.Meta); err != nil {
		return Member{}, err
	}
	if meta.NodeID != n.Name {
		return Member{}, fmt.Errorf("%w: member %q announces node ID %q", ErrInvalidMeta, n.Name, meta.NodeID)
	}
	ip, ok := netip.AddrFromSlice(n.Addr)
	if !ok {
		return Member{}, fmt.Errorf("%w: member %q has address %v", ErrInvalidMeta, n.Name, n.Addr)
	}
	return Member{Addr: netip.AddrPortFrom(ip.Unmap(), n.Port), Meta: meta}, nil
}

// NotifyJoin: a member became alive.
//
// Two live processes cannot share a gossip address, so when the member has
// the address of another one in the view, one of them is a process that is
// gone (restarted with a fresh node ID) and memberlist has not noticed yet.
// The one started later (Meta.StartedAt; both ran on one machine) is kept.
// A replaced member in the view is reported dead now rather than after
// failure detection; a stale one arriving late (from a push/pull with a
// member that still lists it) never enters the view.
func (d *delegate) NotifyJoin(n *memberlist.Node) {
	c := d.c
	m, err := memberOf(n)
	if err != nil {
		// NotifyAlive admitted it, so this does not happen.
		c.log.Error("membership: joined member has invalid metadata", slog.String("peer", n.Name), slog.Any("error", err))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	id := m.ID()
	if _, ok := c.replaced[id]; ok {
		return
	}
	if prev, ok := c.view[id]; ok {
		// Not expected from memberlist; treat it as an update.
		if !prev.Meta.Equal(m.Meta) || prev.Addr != m.Addr {
			c.view[id] = m
			c.byAddr[m.Addr] = id
			c.push(EventUpdated, m)
		}
		return
	}
	if otherID, ok := c.byAddr[m.Addr]; ok {
		other := c.view[otherID]
		if otherID == c.id || !newer(m.Meta, other.Meta) {
			c.log.Info("membership: ignoring a stale member at the address of a newer one",
				slog.String("stale", id), slog.String("current", otherID), slog.String("addr", m.Addr.String()))
			c.replaced[id] = struct{}{}
			return
		}
		c.log.Info("membership: member replaced by a newer one at its address",
			slog.String("old", otherID), slog.String("new", id), slog.String("addr", m.Addr.String()))
		c.replaced[otherID] = struct{}{}
		c.remove(other)
	}
	c.view[id] = m
	c.byAddr[m.Addr] = id
	c.push(EventJoined, m)
}

// newer reports whether a started after b, breaking ties by node ID.
func newer(a, b Meta) bool {
	if !a.StartedAt.Equal(b.StartedAt) {
		return a.StartedAt.After(b.StartedAt)
	}
	return a.NodeID > b.NodeID
}

// NotifyUpdate: a member changed its metadata.
func (d *delegate) NotifyUpdate(n *memberlist.Node) {
	c := d.c
	m, err := memberOf(n)
	if err != nil {
		c.log.Error("membership: updated member has invalid metadata", slog.String("peer", n.Name), slog.Any("error", err))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, ok := c.view[m.ID()]
	if c.closed || !ok {
		return
	}
	if prev.Addr != m.Addr && c.byAddr[prev.Addr] == m.ID() {
		delete(c.byAddr, prev.Addr)
	}
	c.view[m.ID()] = m
	c.byAddr[m.Addr] = m.ID()
	c.push(EventUpdated, m)
}

// NotifyLeave: a member left or was declared dead. memberlist does not say
// which (its Node.State is not set for this callback), so a member counts
// as left when it announced its leave to this one first (see Leave).
func (d *delegate) NotifyLeave(n *memberlist.Node) {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if _, ok := c.replaced[n.Name]; ok {
		delete(c.replaced, n.Name)
		return
	}
	m, ok := c.view[n.Name]
	if !ok {
		return
	}
	c.remove(m)
}

// remove takes m out of the view and queues its Left or Dead event; c.mu
// is held.
func (c *Cluster) remove(m Member) {
	id := m.ID()
	delete(c.view, id)
	if c.byAddr[m.Addr] == id {
		delete(c.byAddr, m.Addr)
	}
	kind := EventDead
	if _, ok := c.leavers[id]; ok || (id == c.id && c.leaving) {
		kind = EventLeft
	}
	delete(c.leavers, id)
	c.push(kind, m)
	c.signal()
}
