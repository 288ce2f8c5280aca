package goray

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sync"
	"weak"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// Borrowing, as in Ray: a process that decodes a Ref to an object another
// process owns borrows it. The borrower registers a borrow at the owner
// (BorrowObjects, with a token of its own) and learns from the answer how
// the object settled, or later from ObjectReady; while any borrow is
// registered, the owner keeps its handle, so the object stays alive. When
// the borrower's handle becomes unreachable it releases its token
// (ReleaseObjects), and when the borrower's node dies the owner drops every
// borrow it registered.
//
// Handoffs are covered so that an object never lapses while a reference to
// it travels: a caller keeps the references inside its arguments until the
// call settles, and the executor registers its borrows before the
// function runs; an executor registers the borrows of the references inside
// its result on behalf of the result's owner before delivering it, and the
// result's handle holds them until it is unreachable; a Put value holds the
// references inside it for as long as its handle lives.

// refTable is a process's index of the handles that references inside
// values resolve to: owned handles that were encoded into a value, and
// borrowed ones. It holds them weakly.
type refTable struct {
	mu   sync.Mutex
	refs map[objects.ID]weak.Pointer[handle]
	// lent holds, for each owned object that is borrowed, its handle (which
	// keeps the object alive) and its borrows by token.
	lent map[objects.ID]*lending
}

type lending struct {
	h *handle
	// by maps a borrow's token to the address of the borrower's process.
	by map[objects.ID]string
}

// export records an owned handle that goes into a value, so that a borrow
// of its object finds it.
func (rt *runtime) export(h *handle) {
	if h.owner != nil || h.rt != rt {
		return
	}
	id := h.slot.ID
	t := &rt.table
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refs[id].Value() == h {
		return
	}
	t.refs[id] = weak.Make(h)
	goruntime.AddCleanup(h, rt.forget, id)
}

// forget drops a collected handle from the table.
func (rt *runtime) forget(id objects.ID) {
	t := &rt.table
	t.mu.Lock()
	if t.refs[id].Value() == nil {
		delete(t.refs, id)
	}
	t.mu.Unlock()
}

// isSelf reports whether p is this process's core.
func (rt *runtime) isSelf(p *pb.Pid) bool {
	return p.GetAddress() == rt.ownerPID.Address && p.GetId() == rt.ownerPID.Id
}

// wireRef returns h's reference for the wire, settled or not: its ID, its
// owner, and where its value is when it is in a store.
func (h *handle) wireRef() *pb.ObjectRef {
	if h.slot.IsDone() {
		if _, storeNode, _, _, _ := h.slot.Value(); storeNode != "" {
			return h.objectRef()
		}
	}
	owner := h.owner
	if owner == nil {
		owner = h.rt.ownerPID
	}
	return &pb.ObjectRef{Id: h.slot.ID.Bytes(), Owner: owner}
}

// binder binds the references of one decoded value to a runtime, and
// collects the borrows to register, by owner.
type binder struct {
	rt      *runtime
	borrows map[string]*pb.BorrowObjects
	owners  map[string]*pb.Pid
}

func (rt *runtime) newBinder() *binder { return &binder{rt: rt} }

// ref returns the handle a decoded reference resolves to in this process:
// the one it has, or a new borrowed one.
func (b *binder) ref(w *pb.ObjectRef) *handle {
	rt := b.rt
	id, err := objects.IDFromBytes(w.Id)
	if err != nil {
		return failedHandle(rt, fmt.Errorf("%w: %w", ErrInvalidArgument, err))
	}
	t := &rt.table
	t.mu.Lock()
	if h := t.refs[id].Value(); h != nil {
		t.mu.Unlock()
		return h
	}
	if rt.isSelf(w.Owner) {
		t.mu.Unlock()
		return failedHandle(rt, fmt.Errorf("%w: %s no longer exists at its owner", ErrObjectFreed, id))
	}
	token := rt.ids.Next()
	h := &handle{rt: rt, owner: w.Owner, wire: w, token: token}
	h.slot = rt.owner.Pending(id, h, "")
	t.refs[id] = weak.Make(h)
	t.mu.Unlock()
	goruntime.AddCleanup(h, rt.releaseBorrow, borrowed{id: id, token: token, owner: w.Owner})
	key := w.Owner.Address + "/" + w.Owner.Id
	if b.borrows == nil {
		b.borrows, b.owners = map[string]*pb.BorrowObjects{}, map[string]*pb.Pid{}
	}
	m := b.borrows[key]
	if m == nil {
		m = &pb.BorrowObjects{Borrower: rt.ownerPID}
		b.borrows[key], b.owners[key] = m, w.Owner
	}
	m.ObjectIds = append(m.ObjectIds, id.Bytes())
	m.Tokens = append(m.Tokens, token.Bytes())
	return h
}

// finish registers the borrows the binder collected and waits until each
// owner answered, or ctx ends.
func (b *binder) finish(ctx context.Context) error {
	for key, m := range b.borrows {
		for part := range chunks(m) {
			reply, err := b.rt.request(ctx, actors.PID(b.owners[key]), part)
			if err != nil {
				b.rt.failBorrows(part.ObjectIds, fmt.Errorf("%w: registering a borrow at its owner: %w", ErrObjectLost, err))
				if ctx.Err() != nil {
					return err
				}
				continue
			}
			if r, ok := reply.(*pb.BorrowObjectsReply); ok && r.Validate() == nil {
				b.rt.borrowReply(r)
			}
		}
	}
	return nil
}

// finishAsync registers the borrows the binder collected without waiting:
// the answers come to the core.
func (b *binder) finishAsync() {
	for key, m := range b.borrows {
		for part := range chunks(m) {
			b.rt.root.RequestWithCustomSender(actors.PID(b.owners[key]), part, b.rt.node.OwnerPID)
		}
	}
}

// chunks splits m into messages within pb.MaxIDs.
func chunks(m *pb.BorrowObjects) func(func(*pb.BorrowObjects) bool) {
	return func(yield func(*pb.BorrowObjects) bool) {
		for i := 0; i < len(m.ObjectIds); i += pb.MaxIDs {
			j := min(i+pb.MaxIDs, len(m.ObjectIds))
			if !yield(&pb.BorrowObjects{ObjectIds: m.ObjectIds[i:j], Tokens: m.Tokens[i:j], Borrower: m.Borrower}) {
				return
			}
		}
	}
}

// failBorrows settles borrowed objects whose borrow could not be
// registered.
func (rt *runtime) failBorrows(ids [][]byte, err error) {
	perr := toWire(err)
	for _, id := range ids {
		rt.owner.Settle(&pb.Result{ObjectId: id, Error: perr})
	}
}

// borrowReply settles the borrowed objects an owner's answer says are
// settled.
func (rt *runtime) borrowReply(r *pb.BorrowObjectsReply) {
	for _, res := range r.Ready {
		rt.owner.Settle(res)
	}
}

// borrowed identifies one borrow, to release.
type borrowed struct {
	id    objects.ID
	token objects.ID
	owner *pb.Pid
}

// releaseBorrow ends a borrow whose handle became unreachable.
func (rt *runtime) releaseBorrow(b borrowed) {
	rt.forget(b.id)
	rt.release([]borrowed{b})
}

// release ends borrows, at this process when it owns the objects, else by
// telling their owners.
func (rt *runtime) release(bs []borrowed) {
	if rt.err() != nil {
		return
	}
	msgs := map[string]*pb.ReleaseObjects{}
	owners := map[string]*pb.Pid{}
	for _, b := range bs {
		if rt.isSelf(b.owner) {
			rt.unlend(b.id, b.token)
			continue
		}
		key := b.owner.Address + "/" + b.owner.Id
		m := msgs[key]
		if m == nil || len(m.ObjectIds) == pb.MaxIDs {
			if m != nil {
				rt.root.Send(actors.PID(owners[key]), m)
			}
			m = &pb.ReleaseObjects{}
			msgs[key], owners[key] = m, b.owner
		}
		m.ObjectIds = append(m.ObjectIds, b.id.Bytes())
		m.Tokens = append(m.Tokens, b.token.Bytes())
	}
	for key, m := range msgs {
		rt.root.Send(actors.PID(owners[key]), m)
	}
}

// lend registers a borrow of an object this process owns and returns how
// it settled (nil while it is pending; the borrower hears of it then).
func (rt *runtime) lend(id, token objects.ID, borrower *pb.Pid) (res *pb.Result, pending bool) {
	t := &rt.table
	t.mu.Lock()
	l := t.lent[id]
	h := t.refs[id].Value()
	if l != nil {
		h = l.h
	}
	if h == nil || h.owner != nil {
		t.mu.Unlock()
		return &pb.Result{ObjectId: id.Bytes(), Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_OBJECT_FREED,
			Message: fmt.Sprintf("object %s no longer exists at its owner", id)}}, false
	}
	if l == nil {
		l = &lending{h: h, by: map[objects.ID]string{}}
		t.lent[id] = l
	}
	l.by[token] = borrower.GetAddress()
	t.mu.Unlock()
	if h.slot.IsDone() {
		return h.outcome(), false
	}
	if borrower != nil && !rt.isSelf(borrower) {
		to := actors.PID(borrower)
		h.slot.OnDone(func() { rt.root.Send(to, &pb.ObjectReady{Result: h.outcome()}) })
	}
	return nil, true
}

// unlend ends one borrow of an object this process owns; the object's
// handle is let go with its last borrow.
func (rt *runtime) unlend(id, token objects.ID) {
	t := &rt.table
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.lent[id]; l != nil {
		delete(l.by, token)
		if len(l.by) == 0 {
			delete(t.lent, id)
		}
	}
}

// borrowerDied ends every borrow registered by a process at address, and
// fails the objects this process borrows from a core there.
func (rt *runtime) borrowerDied(address string) {
	t := &rt.table
	var orphans []*handle
	t.mu.Lock()
	for id, l := range t.lent {
		for token, by := range l.by {
			if by == address {
				delete(l.by, token)
			}
		}
		if len(l.by) == 0 {
			delete(t.lent, id)
		}
	}
	for _, w := range t.refs {
		if h := w.Value(); h != nil && h.owner != nil && h.owner.Address == address {
			orphans = append(orphans, h)
		}
	}
	t.mu.Unlock()
	for _, h := range orphans {
		rt.owner.Settle(&pb.Result{ObjectId: h.slot.ID.Bytes(), Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_OBJECT_LOST,
			Message: fmt.Sprintf("the owner of %s died (at %s)", h.slot.ID, address)}})
	}
}

// outcome describes how h's slot settled, for a borrower.
func (h *handle) outcome() *pb.Result {
	id := h.slot.ID.Bytes()
	if h.err != nil {
		return &pb.Result{ObjectId: id, Error: toWire(h.err)}
	}
	data, storeNode, size, perr, freed := h.slot.Value()
	switch {
	case freed:
		return &pb.Result{ObjectId: id, Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_OBJECT_FREED, Message: fmt.Sprintf("object %s was freed", h.slot.ID)}}
	case perr != nil:
		return &pb.Result{ObjectId: id, Error: perr}
	case storeNode != "":
		ref := h.objectRef()
		var store *pb.Pid
		if len(ref.Locations) > 0 {
			store = ref.Locations[0]
		}
		return &pb.Result{ObjectId: id, StoreNode: storeNode, Store: store, Size: size}
	}
	return &pb.Result{ObjectId: id, Inline: data}
}

// lendMessage answers a BorrowObjects sent to this process's core.
func (rt *runtime) lendMessage(m *pb.BorrowObjects, sender *actor.PID) {
	reply := &pb.BorrowObjectsReply{}
	for i := range m.ObjectIds {
		id, err1 := objects.IDFromBytes(m.ObjectIds[i])
		token, err2 := objects.IDFromBytes(m.Tokens[i])
		if err1 != nil || err2 != nil {
			continue
		}
		res, pending := rt.lend(id, token, m.Borrower)
		if pending {
			reply.Pending = append(reply.Pending, id.Bytes())
		} else {
			reply.Ready = append(reply.Ready, res)
		}
	}
	if sender != nil {
		rt.root.Send(sender, reply)
	}
}

// releaseMessage ends the borrows a ReleaseObjects names.
func (rt *runtime) releaseMessage(m *pb.ReleaseObjects) {
	for i := range m.ObjectIds {
		id, err1 := objects.IDFromBytes(m.ObjectIds[i])
		token, err2 := objects.IDFromBytes(m.Tokens[i])
		if err1 == nil && err2 == nil {
			rt.unlend(id, token)
		}
	}
}

// pinFor registers, on behalf of receiver (the core a result goes to),
// borrows of the references s holds, so that they outlive the sender's
// handles; it returns them for the result.
func (rt *runtime) pinFor(ctx context.Context, receiver *pb.Pid, s *refScan) ([]*pb.Contained, error) {
	out := make([]*pb.Contained, 0, len(s.refs))
	remote := map[string]*pb.BorrowObjects{}
	owners := map[string]*pb.Pid{}
	for _, h := range s.refs {
		token := rt.ids.Next()
		w := h.wireRef()
		out = append(out, &pb.Contained{Ref: w, Token: token.Bytes()})
		if rt.isSelf(w.Owner) {
			rt.lend(h.slot.ID, token, receiver)
			continue
		}
		key := w.Owner.Address + "/" + w.Owner.Id
		m := remote[key]
		if m == nil {
			m = &pb.BorrowObjects{Borrower: receiver}
			remote[key], owners[key] = m, w.Owner
		}
		m.ObjectIds = append(m.ObjectIds, w.Id)
		m.Tokens = append(m.Tokens, token.Bytes())
	}
	for key, m := range remote {
		for part := range chunks(m) {
			if _, err := rt.request(ctx, actors.PID(owners[key]), part); err != nil {
				return nil, fmt.Errorf("registering the references of a result at their owner: %w", err)
			}
		}
	}
	return out, nil
}

// contained binds the references a result holds when the result reaches
// this process (s is its slot, nil when no slot took it): the result's
// handle holds them, and releases the borrows the executor registered for
// it once it is unreachable.
func (rt *runtime) contained(s *objects.Slot, res *pb.Result) {
	pins := make([]borrowed, 0, len(res.Contained))
	for _, c := range res.Contained {
		id, err1 := objects.IDFromBytes(c.Ref.Id)
		token, err2 := objects.IDFromBytes(c.Token)
		if err1 == nil && err2 == nil {
			pins = append(pins, borrowed{id: id, token: token, owner: c.Ref.Owner})
		}
	}
	var outer *handle
	if s != nil && res.Error == nil {
		outer, _ = s.Holder().(*handle)
	}
	if outer == nil {
		rt.release(pins)
		return
	}
	b := rt.newBinder()
	nested := make([]*handle, 0, len(res.Contained))
	for _, c := range res.Contained {
		nested = append(nested, b.ref(c.Ref))
	}
	b.finishAsync()
	outer.nested = nested
	goruntime.AddCleanup(outer, rt.release, pins)
}
