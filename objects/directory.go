package objects

import (
	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// DirectoryProcessID is the well-known protoactor ID of a node's directory.
const DirectoryProcessID = "directory"

// Directory is the actor that owns the owner table of the store objects
// created on its node: reference counts and locations. When an object's
// count reaches zero, or it is freed explicitly, the directory deletes it
// from every store that holds it, on this node or another.
//
// A location is a node ID and that node's store actor. AddObject names the
// node of the first copy and, usually, its store; when it does not, the
// store is the one storeOf returns.
// AddLocation, which a store sends when it has pulled a copy, names the
// store as well, and the directory remembers it for the node until the node
// is removed. A store that reports a copy of an object the directory no
// longer owns (it was freed, or its last reference dropped, while the copy
// was pulled) is told to delete it.
//
// RemoveNode forgets a dead node's copies. The directory answers its sender
// with ObjectsLost: the objects left without any copy, in batches of at
// most pb.MaxIDs, the last marked final. Their entries stay in the table,
// with their counts, so that the caller can rebuild them (resubmit the
// tasks that made them) and add a location again, or free them.
type Directory struct {
	table *RefTable
	// storeOf returns the store actor of a node, or nil if it is unknown.
	storeOf func(node string) *actor.PID
	// stores holds the store actors named by AddLocation, by node.
	stores map[string]*actor.PID
}

// NewDirectory returns the props of a directory actor.
func NewDirectory(storeOf func(node string) *actor.PID) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return DirectoryFor(storeOf) })
}

// DirectoryFor returns a directory actor with an empty table. storeOf
// returns the store actor of a node that holds a copy without an
// AddLocation having named it (the node of AddObject); it may be nil, and
// may return nil for a node it does not know.
func DirectoryFor(storeOf func(node string) *actor.PID) *Directory {
	if storeOf == nil {
		storeOf = func(string) *actor.PID { return nil }
	}
	return &Directory{table: NewRefTable(), storeOf: storeOf, stores: make(map[string]*actor.PID)}
}

// Receive implements actor.Actor.
func (d *Directory) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *pb.AddObject:
		if id, err := IDFromBytes(m.ObjectId); err == nil {
			if err := d.table.Add(id, m.Size, m.NodeId); err != nil {
				c.Logger().Debug("directory add", "error", err)
			}
			if m.Store != nil {
				d.stores[m.NodeId] = actor.NewPID(m.Store.Address, m.Store.Id)
			}
		}
	case *pb.AddLocation:
		d.addLocation(c, m)
	case *pb.RemoveNode:
		d.removeNode(c, m)
	case *pb.NodeDied:
		d.removeNode(c, &pb.RemoveNode{NodeId: m.NodeId})
	case *pb.RefDelta:
		for _, b := range m.Incr {
			if id, err := IDFromBytes(b); err == nil {
				_ = d.table.Incr(id)
			}
		}
		for _, b := range m.Decr {
			id, err := IDFromBytes(b)
			if err != nil {
				continue
			}
			locs := d.table.Locations(id)
			if freed, err := d.table.Decr(id); err == nil && freed {
				d.delete(c, id, locs)
			}
		}
	case *pb.FreeObjects:
		for _, b := range m.ObjectIds {
			id, err := IDFromBytes(b)
			if err != nil {
				continue
			}
			locs := d.table.Locations(id)
			if d.table.Free(id) {
				d.delete(c, id, locs)
			}
		}
	case *pb.ObjectStatus:
		id, err := IDFromBytes(m.ObjectId)
		reply := &pb.ObjectStatusReply{}
		if err == nil {
			if e, ok := d.table.Get(id); ok {
				reply.Known, reply.Count, reply.Locations = true, int32(e.Count), e.Locations
			}
			reply.Freed = d.table.IsFreed(id)
		}
		c.Respond(reply)
	}
}

// addLocation records a copy a store reports, or has the store delete it if
// the object is no longer owned here.
func (d *Directory) addLocation(c actor.Context, m *pb.AddLocation) {
	if err := m.Validate(); err != nil {
		c.Logger().Warn("directory: malformed request", "error", err)
		return
	}
	id, err := IDFromBytes(m.ObjectId)
	if err != nil {
		return
	}
	store := actor.NewPID(m.Store.Address, m.Store.Id)
	if err := d.table.AddLocation(id, m.NodeId); err != nil {
		c.Logger().Debug("directory: a copy of an object no longer owned; deleting it", "object", id, "node", m.NodeId, "error", err)
		c.Send(store, &pb.DeleteObjects{ObjectIds: [][]byte{id[:]}})
		return
	}
	d.stores[m.NodeId] = store
}

// removeNode forgets a node's copies and reports the objects left without
// any.
func (d *Directory) removeNode(c actor.Context, m *pb.RemoveNode) {
	if err := m.Validate(); err != nil {
		c.Logger().Warn("directory: malformed request", "error", err)
		return
	}
	lost := d.table.RemoveNode(m.NodeId)
	delete(d.stores, m.NodeId)
	if len(lost) > 0 {
		c.Logger().Warn("directory: objects lost their last copy with a node", "node", m.NodeId, "objects", len(lost))
	}
	to := c.Sender()
	if to == nil {
		return
	}
	for {
		n := min(len(lost), pb.MaxIDs)
		batch := make([][]byte, n)
		for i, id := range lost[:n] {
			batch[i] = id.Bytes()
		}
		lost = lost[n:]
		c.Send(to, &pb.ObjectsLost{NodeId: m.NodeId, ObjectIds: batch, Final: len(lost) == 0})
		if len(lost) == 0 {
			return
		}
	}
}

// delete asks every store holding a copy of id to delete it.
func (d *Directory) delete(c actor.Context, id ID, locations []string) {
	for _, node := range locations {
		pid := d.stores[node]
		if pid == nil {
			pid = d.storeOf(node)
		}
		if pid != nil {
			c.Send(pid, &pb.DeleteObjects{ObjectIds: [][]byte{id[:]}})
		} else {
			c.Logger().Warn("directory: no store known for a copy to delete", "object", id, "node", node)
		}
	}
}
