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
// from every store that holds it.
type Directory struct {
	table *RefTable
	// storeOf returns the store actor of a node.
	storeOf func(node string) *actor.PID
}

// NewDirectory returns the props of a directory actor.
func NewDirectory(storeOf func(node string) *actor.PID) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return DirectoryFor(storeOf) })
}

// DirectoryFor returns a directory actor with an empty table.
func DirectoryFor(storeOf func(node string) *actor.PID) *Directory {
	return &Directory{table: NewRefTable(), storeOf: storeOf}
}

// Receive implements actor.Actor.
func (d *Directory) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *pb.AddObject:
		if id, err := IDFromBytes(m.ObjectId); err == nil {
			if err := d.table.Add(id, m.Size, m.NodeId); err != nil {
				c.Logger().Debug("directory add", "error", err)
			}
		}
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

func (d *Directory) delete(c actor.Context, id ID, locations []string) {
	for _, node := range locations {
		if pid := d.storeOf(node); pid != nil {
			c.Send(pid, &pb.DeleteObjects{ObjectIds: [][]byte{id[:]}})
		}
	}
}
