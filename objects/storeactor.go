package objects

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// StoreProcessID is the well-known protoactor ID of a node's store actor.
const StoreProcessID = "store"

// StoreActor is the actor that owns a node's Store: every read and write of
// the node's objects goes through its mailbox.
type StoreActor struct {
	store  *Store
	nodeID string
}

// NewStoreActor returns the props of a store actor owning s.
func NewStoreActor(s *Store, nodeID string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &StoreActor{store: s, nodeID: nodeID} })
}

// Receive implements actor.Actor.
func (a *StoreActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *pb.PutObject:
		id, err := IDFromBytes(m.ObjectId)
		if err != nil {
			return
		}
		err = a.store.Put(id, m.Data)
		var perr *pb.Error
		if err != nil {
			perr = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: fmt.Sprintf("storing object %s on node %s: %v", id, a.nodeID, err), NodeId: a.nodeID}
		}
		switch {
		case m.Owner != nil:
			res := &pb.Result{ObjectId: m.ObjectId, Error: perr}
			if perr == nil {
				res.StoreNode, res.Size = a.nodeID, int64(len(m.Data))
			}
			c.Send(actor.NewPID(m.Owner.Address, m.Owner.Id), res)
		case c.Sender() != nil:
			c.Respond(&pb.Ack{Error: perr})
		}
	case *pb.GetObject:
		c.Respond(a.get(m.ObjectId))
	case *pb.DeleteObjects:
		for _, b := range m.ObjectIds {
			if id, err := IDFromBytes(b); err == nil {
				a.store.Delete(id)
			}
		}
	case *pb.GetStoreStats:
		s := a.store.Stats()
		c.Respond(&pb.StoreStats{
			Objects: int64(s.Objects), InMemory: int64(s.InMemory), Spilled: int64(s.Spilled),
			UsedBytes: s.UsedBytes, SpilledBytes: s.SpilledBytes, Capacity: s.Capacity,
			SpillCount: s.SpillCount, RestoreCount: s.RestoreCount,
		})
	case *actor.Stopped:
		if err := a.store.Close(); err != nil {
			c.Logger().Warn("closing object store", "error", err)
		}
	}
}

func (a *StoreActor) get(raw []byte) *pb.GetObjectReply {
	id, err := IDFromBytes(raw)
	if err != nil {
		return &pb.GetObjectReply{Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_INVALID, Message: err.Error(), NodeId: a.nodeID}}
	}
	data, err := a.store.Get(id)
	if err != nil {
		return &pb.GetObjectReply{Error: &pb.Error{
			Kind:    pb.ErrorKind_ERROR_KIND_OBJECT_LOST,
			Message: fmt.Sprintf("object %s on node %s: %v", id, a.nodeID, err),
			NodeId:  a.nodeID,
		}}
	}
	return &pb.GetObjectReply{Data: data}
}
