package objects

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// OwnerProcessID is the well-known protoactor ID of a process's owner.
const OwnerProcessID = "owner"

// Slot is one object a process owns, from the call that will produce it to
// the moment no handle reaches it. It is completed exactly once.
type Slot struct {
	ID ID
	mu sync.Mutex
	// done is true once the slot completed; waiters read it without mu.
	done      atomic.Bool
	completed bool
	released  bool
	freed     bool
	// wake is closed when the slot completes; it is made only when someone
	// waits before that.
	wake      chan struct{}
	data      []byte  // encoded value, when inline
	storeNode string  // node whose store holds the value, when not inline
	store     *pb.Pid // the store actor holding it, when the result said
	size      int64
	err       *pb.Error
	onDone    []callback
	nextCB    uint64
	// holder is what reaches the slot from user code (a Ref's handle). The
	// slot keeps it alive until it completes, when the Stored hook may tie
	// the object's lifetime to it; then the slot lets go of it.
	holder any
	// actor is the actor whose call completes the slot ("" for a task or
	// Put): the slot fails when that actor dies.
	actor string
	// node is the node a task was accepted at, when another than the
	// owner's (set while pending, under the shard's lock).
	node string
}

type callback struct {
	id uint64
	f  func()
}

// Holder returns the holder the slot was created with, until it completes.
func (s *Slot) Holder() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holder
}

// closedWake is the wake channel of every slot done before anyone waited.
var closedWake = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done is closed once the slot has a value or an error.
func (s *Slot) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.completed {
		return closedWake
	}
	if s.wake == nil {
		s.wake = make(chan struct{})
	}
	return s.wake
}

// IsDone reports whether the slot is complete, without blocking.
func (s *Slot) IsDone() bool { return s.done.Load() }

// Store returns the store actor that holds the completed slot's value, if
// its result named one.
func (s *Slot) Store() *pb.Pid {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store
}

// Value returns the completed slot's outcome: inline bytes, or the node whose
// store holds it, or an error. Call it after Done.
func (s *Slot) Value() (data []byte, storeNode string, size int64, err *pb.Error, freed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data, s.storeNode, s.size, s.err, s.freed
}

// OnDone runs f once the slot completes (at once if it has), on the
// goroutine that completes it: f must be quick and must not complete other
// slots itself. The returned function drops f if it has not run yet.
func (s *Slot) OnDone(f func()) (remove func()) {
	s.mu.Lock()
	if !s.completed {
		s.nextCB++
		id := s.nextCB
		s.onDone = append(s.onDone, callback{id: id, f: f})
		s.mu.Unlock()
		return func() {
			s.mu.Lock()
			for i, cb := range s.onDone {
				if cb.id == id {
					s.onDone = append(s.onDone[:i], s.onDone[i+1:]...)
					break
				}
			}
			if len(s.onDone) == 0 {
				s.onDone = nil
			}
			s.mu.Unlock()
		}
	}
	s.mu.Unlock()
	f()
	return func() {}
}

// callbacks returns how many OnDone callbacks wait.
func (s *Slot) callbacks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.onDone)
}

// Owner is the owner side of a process's objects: the slots of the objects it
// created. It is registered as a protoactor process, so a Result reaches it
// the same way from the same process or across the network, and completes the
// slot on the sender's goroutine without a mailbox hop.
type Owner struct {
	shards [64]ownerShard
	// Stored is called, before the slot is marked done, when a slot completes
	// with a value in a store. Abandoned is called instead when nothing can
	// reach that value: every handle was released, or the slot was already
	// settled (a cancelled call that answered late).
	Stored    func(s *Slot)
	Abandoned func(id ID)
	// Notify receives every other valid message sent to the owner's
	// process (notices from the GCS, replies to the core's requests,
	// borrows of its objects), with its sender when it has one.
	Notify func(msg any, sender *actor.PID)
	// Contained is called, before the slot is marked done, when a slot
	// completes with a Result naming references its value holds; with a nil
	// slot when no slot takes the Result, whose references nothing holds.
	Contained func(s *Slot, res *pb.Result)
}

type ownerShard struct {
	mu sync.Mutex
	m  map[ID]*Slot
	// closed makes new slots fail at once with closedErr.
	closed    bool
	closedErr *pb.Error
}

// NewOwner returns an owner with no slots.
func NewOwner() *Owner {
	o := &Owner{}
	for i := range o.shards {
		o.shards[i].m = map[ID]*Slot{}
	}
	return o
}

func (o *Owner) shard(id ID) *ownerShard {
	return &o.shards[id[IDLen-1]&63]
}

// Pending returns a new slot waiting for the Result with its ID; actor
// names the actor whose call will complete it, if any. After Close, the
// slot fails at once with Close's error.
func (o *Owner) Pending(id ID, holder any, actor string) *Slot {
	s := &Slot{ID: id, holder: holder, actor: actor}
	sh := o.shard(id)
	sh.mu.Lock()
	if sh.closed {
		perr := sh.closedErr
		sh.mu.Unlock()
		o.complete(s, &pb.Result{Error: perr})
		return s
	}
	sh.m[id] = s
	sh.mu.Unlock()
	return s
}

// Ready returns a slot already completed with res: an inline value or a
// store location (Put).
func (o *Owner) Ready(id ID, holder any, res *pb.Result) *Slot {
	s := &Slot{ID: id, holder: holder}
	o.complete(s, res)
	return s
}

// ReadyInline returns a slot already completed with an inline value that
// holds no references: Ready without a Result to build.
func (o *Owner) ReadyInline(id ID, data []byte) *Slot {
	s := &Slot{ID: id, data: data, completed: true}
	s.done.Store(true)
	return s
}

// Fail completes a pending slot with an error raised locally.
func (o *Owner) Fail(id ID, perr *pb.Error) {
	o.Complete(&pb.Result{ObjectId: id[:], Error: perr})
}

// Complete settles the slot a Result is for. Results for unknown slots (a
// duplicate, or a cancelled call answering late) are dropped; it reports
// whether a slot took the result.
func (o *Owner) Complete(res *pb.Result) bool {
	id, err := IDFromBytes(res.ObjectId)
	if err != nil {
		return false
	}
	s := o.take(id)
	if s == nil {
		if len(res.Contained) > 0 && o.Contained != nil {
			o.Contained(nil, res)
		}
		if res.Error == nil && res.StoreNode != "" && o.Abandoned != nil {
			o.Abandoned(id)
		}
		return false
	}
	o.complete(s, res)
	return true
}

// take removes and returns the pending slot of id, or nil.
func (o *Owner) take(id ID) *Slot {
	sh := o.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.m[id]
	delete(sh.m, id)
	return s
}

// Settle is Complete for a slot that may have settled already: a result
// for no pending slot is dropped without a hook.
func (o *Owner) Settle(res *pb.Result) bool {
	id, err := IDFromBytes(res.ObjectId)
	if err != nil {
		return false
	}
	s := o.take(id)
	if s == nil {
		return false
	}
	o.complete(s, res)
	return true
}

func (o *Owner) complete(s *Slot, res *pb.Result) {
	s.mu.Lock()
	s.err = res.Error
	if res.Error == nil {
		s.data, s.storeNode, s.store, s.size = res.Inline, res.StoreNode, res.Store, res.Size
	}
	released := s.released || s.freed
	s.mu.Unlock()
	// The hooks run before the slot is observably done, so nobody reads a
	// store object its directory does not know yet, nor a value whose
	// references are not bound.
	if len(res.Contained) > 0 && o.Contained != nil {
		o.Contained(s, res)
	}
	if res.Error == nil && res.StoreNode != "" {
		if released {
			if o.Abandoned != nil {
				o.Abandoned(s.ID)
			}
		} else if o.Stored != nil {
			o.Stored(s)
		}
	}
	s.mu.Lock()
	s.completed = true
	s.done.Store(true)
	s.holder = nil
	cbs := s.onDone
	s.onDone = nil
	if s.wake != nil {
		close(s.wake)
	}
	s.mu.Unlock()
	for _, cb := range cbs {
		cb.f()
	}
}

// Release records that no handle reaches the slot any more. It reports true
// when the slot holds a store object the directory counts, whose owner
// reference must now be dropped.
func (o *Owner) Release(s *Slot) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.released = true
	if !s.completed {
		return false
	}
	return s.err == nil && s.storeNode != "" && !s.freed
}

// Free drops a slot's value at once. It reports whether the value lived in a
// store (and the directory must free it there).
func (o *Owner) Free(s *Slot) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.freed {
		return false
	}
	s.freed = true
	inStore := s.completed && s.err == nil && s.storeNode != ""
	s.data = nil
	return inStore
}

// Close settles every pending slot with perr, and every slot created later
// too (shutdown).
func (o *Owner) Close(perr *pb.Error) {
	o.failWhere(func(*Slot) bool { return true }, perr, true)
}

// FailActor settles with perr every pending slot that a call of actor was
// to complete and whose holder passes match (nil matches all): the actor
// died, or its node did.
func (o *Owner) FailActor(actor string, perr *pb.Error, match func(holder any) bool) {
	o.failWhere(func(s *Slot) bool { return s.actor == actor && (match == nil || match(s.holder)) }, perr, false)
}

// Accepted records that the task completing slot id runs on node.
func (o *Owner) Accepted(id ID, node string) {
	sh := o.shard(id)
	sh.mu.Lock()
	if s := sh.m[id]; s != nil {
		s.node = node
	}
	sh.mu.Unlock()
}

// PendingHolder returns the holder of pending slot id, or nil.
func (o *Owner) PendingHolder(id ID) any {
	sh := o.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.m[id]; s != nil {
		return s.holder
	}
	return nil
}

// PendingOn returns the holders of the pending slots whose task runs on
// node.
func (o *Owner) PendingOn(node string) []any {
	var out []any
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		for _, s := range sh.m {
			if s.node == node {
				out = append(out, s.holder)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

func (o *Owner) failWhere(match func(*Slot) bool, perr *pb.Error, close bool) {
	var failed []*Slot
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		if close {
			sh.closed, sh.closedErr = true, perr
		}
		for id, s := range sh.m {
			if match(s) {
				failed = append(failed, s)
				delete(sh.m, id)
			}
		}
		sh.mu.Unlock()
	}
	for _, s := range failed {
		o.complete(s, &pb.Result{Error: perr})
	}
}

// PendingCount returns how many slots wait for a result.
func (o *Owner) PendingCount() int {
	n := 0
	for i := range o.shards {
		sh := &o.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// SendUserMessage implements actor.Process: it completes slots from
// Results and passes other messages to Notify.
func (o *Owner) SendUserMessage(_ *actor.PID, message any) {
	_, msg, sender := actor.UnwrapEnvelope(message)
	switch m := msg.(type) {
	case *pb.Result:
		// The owner is no mailbox actor, so no middleware checks what
		// reaches it. A malformed result fails its slot, if it names one.
		if err := m.Validate(); err != nil {
			m = &pb.Result{ObjectId: m.ObjectId, Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: "malformed result: " + err.Error()}}
		}
		o.Complete(m)
	case pb.Validator:
		if o.Notify != nil && m.Validate() == nil {
			o.Notify(m, sender)
		}
	}
}

// SendSystemMessage implements actor.Process; the owner has no lifecycle.
func (o *Owner) SendSystemMessage(*actor.PID, any) {}

// Stop implements actor.Process.
func (o *Owner) Stop(*actor.PID) {}
