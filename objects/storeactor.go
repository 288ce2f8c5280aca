package objects

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	pb "github.com/goray-dev/goray/proto"
)

// StoreProcessID is the well-known protoactor ID of a node's store actor.
const StoreProcessID = "store"

// ErrInvalidRequest means a message to the store actor is malformed in a way
// other than its object IDs (ErrInvalidID), such as an incomplete owner PID.
var ErrInvalidRequest = errors.New("objects: invalid store request")

// StoreActor is the actor that owns a node's Store: every read and write of
// the node's objects goes through its mailbox.
//
// The actor never touches the disk itself. The Store decides which spill
// writes, restore reads and file removals are needed; the actor runs them on
// at most StoreConfig.IOWorkers goroutines, each of which reports completion
// by sending the result to the actor as a message. A request that waits for
// disk I/O (a Get of a spilled object, a Put waiting for room) is answered
// when the result arrives. On stop the actor waits for the I/O under way
// before it closes the store.
type StoreActor struct {
	store  *Store
	nodeID string
	io     ioPool
	// waiting maps the store's tickets to the requests waiting for them.
	waiting map[ticket]waiter

	// Pulls of objects from other stores (transfer.go).
	cfg   TransferConfig
	pulls map[ID]*pull
	links map[string]*link // by the source's address
	tags  uint64           // last tag of chunk requests
	sched *scheduler.TimerScheduler

	// Streams to other nodes' chunk servers (stream.go), by the source's
	// address; nil where streams failed, and chunks travel as messages.
	streams  Streams
	conns    map[string]*streamConn
	streamed uint64 // chunks received over streams
}

// NewStoreActor returns the props of a store actor owning s.
func NewStoreActor(s *Store, nodeID string, opts ...StoreActorOption) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return StoreActorFor(s, nodeID, opts...) })
}

// StoreActorFor returns a store actor owning s.
func StoreActorFor(s *Store, nodeID string, opts ...StoreActorOption) *StoreActor {
	a := &StoreActor{
		store: s, nodeID: nodeID, io: ioPool{limit: s.workers}, waiting: make(map[ticket]waiter),
		cfg: s.transfer, pulls: make(map[ID]*pull), links: make(map[string]*link), conns: make(map[string]*streamConn),
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

// replyKind is the message a waiting request is answered with.
type replyKind uint8

const (
	replyGet    replyKind = iota // GetObjectReply to the sender
	replyResult                  // Result to the Put's owner
	replyAck                     // Ack to the Put's sender
	replyChunk                   // ObjectChunk to the ReadChunk's sender
	replyPulled                  // the pull of the object id was put into the store
)

// waiter is where to send the outcome of a request.
type waiter struct {
	kind replyKind
	to   *actor.PID // nil: nobody to tell
	id   []byte     // the object ID as the request carried it
	off  int64      // replyChunk: the offset asked for
	tag  uint64     // replyChunk: the request's tag
	// contained: replyResult: the references the value holds, for the
	// Result.
	contained []*pb.Contained
}

// Receive implements actor.Actor.
func (a *StoreActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.pump(c) // after a restart, resume the I/O the store still needs
	case *pb.PutObject:
		a.put(c, m)
	case *pb.GetObject:
		a.get(c, m)
	case *pb.DeleteObjects:
		a.deleteObjects(c, m)
	case *pb.ReadChunk:
		a.readChunk(c, m)
	case *pb.FetchObject:
		a.fetch(c, m)
	case *pb.ObjectChunk:
		a.chunk(c, m)
	case *streamChunk:
		a.streamChunk(c, m)
	case *streamDown:
		a.streamDown(c, m)
	case *pb.NodeDied:
		a.nodeDied(c, m.Address)
	case *pb.CancelFetch:
		a.cancelFetch(c, m)
	case *fetchExpired:
		a.expired(c, m)
	case *stallCheck:
		a.stalled(c, m)
	case getTransferStats:
		c.Respond(a.transferStats())
	case *pb.GetStoreStats:
		s := a.store.Stats()
		c.Respond(&pb.StoreStats{
			Objects: int64(s.Objects), InMemory: int64(s.InMemory), Spilled: int64(s.Spilled),
			UsedBytes: s.UsedBytes, SpilledBytes: s.SpilledBytes, Capacity: s.Capacity,
			SpillCount: s.SpillCount, RestoreCount: s.RestoreCount, StreamChunks: a.streamed,
		})
	case *ioJob:
		if !a.io.done(m) {
			return // run by an earlier incarnation, which applied it
		}
		a.store.finish(m.res)
		a.pump(c)
		a.deliver(c)
	case *actor.Restarting:
		a.stopPulls(c, fmt.Sprintf("store actor on node %s restarting", a.nodeID))
		a.drainIO(c)
		for t, w := range a.waiting {
			a.reply(c, w, outcome{ticket: t, err: fmt.Errorf("objects: store actor on node %s restarting", a.nodeID)})
		}
		clear(a.waiting)
	case *actor.Stopping:
		a.stopPulls(c, fmt.Sprintf("store actor on node %s stopping", a.nodeID))
		a.drainIO(c)
		if err := a.store.Close(); err != nil {
			c.Logger().Warn("closing object store", "error", err)
		}
		a.deliver(c)
	}
}

// put stores an object and reports the outcome once the object is readable
// from this store, or has failed: to the Put's owner as a Result if it names
// one, else to its sender, if any, as an Ack.
func (a *StoreActor) put(c actor.Context, m *pb.PutObject) {
	w := waiter{kind: replyAck, to: c.Sender(), id: m.GetObjectId()}
	if o := m.GetOwner(); o != nil {
		if o.GetAddress() == "" || o.GetId() == "" {
			a.invalid(c, w, fmt.Errorf("objects: put: %w: owner PID %q at %q is incomplete", ErrInvalidRequest, o.GetId(), o.GetAddress()))
			return
		}
		w.kind, w.to = replyResult, actor.NewPID(o.GetAddress(), o.GetId())
		w.contained = m.GetContained()
	}
	id, err := parseObjectID(m.GetObjectId())
	if err != nil {
		a.invalid(c, w, fmt.Errorf("objects: put: %w", err))
		return
	}
	t, err := a.store.put(id, m.GetData())
	if t == 0 {
		a.reply(c, w, outcome{id: id, size: int64(len(m.GetData())), err: err})
	} else {
		a.waiting[t] = w
	}
	a.pump(c)
}

func (a *StoreActor) get(c actor.Context, m *pb.GetObject) {
	w := waiter{kind: replyGet, to: c.Sender(), id: m.GetObjectId()}
	id, err := parseObjectID(m.GetObjectId())
	if err != nil {
		a.invalid(c, w, fmt.Errorf("objects: get: %w", err))
		return
	}
	a.getID(c, w, id)
}

// getID answers w with the object's bytes, once read back if it is spilled.
func (a *StoreActor) getID(c actor.Context, w waiter, id ID) {
	data, t, err := a.store.get(id)
	if t == 0 {
		a.reply(c, w, outcome{id: id, data: data, err: err})
	} else {
		a.waiting[t] = w
	}
	a.pump(c)
}

// deleteObjects deletes the objects with well-formed IDs. If the message has
// a sender, it is answered with an Ack carrying an INVALID error when some
// IDs were malformed.
func (a *StoreActor) deleteObjects(c actor.Context, m *pb.DeleteObjects) {
	var bad []string
	for i, b := range m.GetObjectIds() {
		id, err := parseObjectID(b)
		if err != nil {
			bad = append(bad, fmt.Sprintf("entry %d: %v", i, err))
			continue
		}
		a.store.del(id)
	}
	a.pump(c)
	a.deliver(c)
	var e *pb.Error
	if len(bad) > 0 {
		const shown = 3
		n, more := len(bad), ""
		if n > shown {
			more = fmt.Sprintf("; and %d more", n-shown)
			bad = bad[:shown]
		}
		err := fmt.Errorf("objects: delete: %d malformed object IDs not deleted: %s%s", n, strings.Join(bad, "; "), more)
		c.Logger().Warn("store: malformed request", "error", err)
		e = a.wireError(pb.ErrorKind_ERROR_KIND_INVALID, err)
	}
	if s := c.Sender(); s != nil {
		c.Send(s, &pb.Ack{Error: e})
	}
}

// invalid answers a malformed request with err.
func (a *StoreActor) invalid(c actor.Context, w waiter, err error) {
	c.Logger().Warn("store: malformed request", "error", err)
	a.reply(c, w, outcome{err: err})
}

// parseObjectID converts an object ID carried in a message, rejecting
// malformed IDs and the nil ID, which names no object.
func parseObjectID(b []byte) (ID, error) {
	id, err := IDFromBytes(b)
	if err != nil {
		return ID{}, err
	}
	if id.IsNil() {
		return ID{}, fmt.Errorf("%w: the nil ID names no object", ErrInvalidID)
	}
	return id, nil
}

// deliver answers the requests whose outcomes the store has produced.
func (a *StoreActor) deliver(c actor.Context) {
	for _, o := range a.store.takeOutcomes() {
		w, ok := a.waiting[o.ticket]
		if !ok {
			continue
		}
		delete(a.waiting, o.ticket)
		a.reply(c, w, o)
	}
}

// reply sends o to w.
func (a *StoreActor) reply(c actor.Context, w waiter, o outcome) {
	switch w.kind {
	case replyGet:
		if w.to == nil {
			return
		}
		r := &pb.GetObjectReply{Data: o.data}
		if o.err != nil {
			r = &pb.GetObjectReply{Error: a.wireError(getErrorKind(o.err), o.err)}
		}
		c.Send(w.to, r)
	case replyChunk:
		if w.to == nil {
			return
		}
		r := &pb.ObjectChunk{ObjectId: w.id, Offset: w.off, TotalSize: o.size, Data: o.data, Tag: w.tag}
		if a.streams != nil {
			r.Stream = a.streams.StreamAddress()
		}
		if o.err != nil {
			r = &pb.ObjectChunk{ObjectId: w.id, Offset: w.off, Tag: w.tag, Error: a.wireError(getErrorKind(o.err), o.err)}
		}
		c.Send(w.to, r)
	case replyPulled:
		if id, err := IDFromBytes(w.id); err == nil {
			a.pulled(c, id, o.err)
		}
	case replyResult, replyAck:
		var e *pb.Error
		if o.err != nil {
			c.Logger().Warn("store put failed", "error", o.err)
			e = a.wireError(putErrorKind(o.err), o.err)
		}
		switch {
		case w.to == nil:
		case w.kind == replyAck:
			c.Send(w.to, &pb.Ack{Error: e})
		case e != nil:
			c.Send(w.to, &pb.Result{ObjectId: w.id, Error: e, Contained: w.contained})
		default:
			c.Send(w.to, &pb.Result{ObjectId: w.id, StoreNode: a.nodeID, Size: o.size,
				Store: &pb.Pid{Address: c.Self().Address, Id: c.Self().Id}, Contained: w.contained})
		}
	}
}

// wireError is err as sent to another actor.
func (a *StoreActor) wireError(kind pb.ErrorKind, err error) *pb.Error {
	return &pb.Error{Kind: kind, Message: fmt.Sprintf("node %s: %v", a.nodeID, err), NodeId: a.nodeID}
}

// getErrorKind classifies the error of a Get.
func getErrorKind(err error) pb.ErrorKind {
	switch {
	case errors.Is(err, ErrInvalidID), errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrOutOfRange):
		return pb.ErrorKind_ERROR_KIND_INVALID
	case errors.Is(err, ErrObjectDeleted):
		return pb.ErrorKind_ERROR_KIND_OBJECT_FREED
	case errors.Is(err, ErrStoreFull):
		return pb.ErrorKind_ERROR_KIND_NO_CAPACITY
	default:
		return pb.ErrorKind_ERROR_KIND_OBJECT_LOST
	}
}

// putErrorKind classifies the error of a Put.
func putErrorKind(err error) pb.ErrorKind {
	switch {
	case errors.Is(err, ErrInvalidID), errors.Is(err, ErrInvalidRequest):
		return pb.ErrorKind_ERROR_KIND_INVALID
	case errors.Is(err, ErrStoreFull):
		return pb.ErrorKind_ERROR_KIND_NO_CAPACITY
	case errors.Is(err, ErrSizeMismatch):
		return pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS
	case errors.Is(err, ErrObjectDeleted):
		return pb.ErrorKind_ERROR_KIND_OBJECT_FREED
	default:
		return pb.ErrorKind_ERROR_KIND_SYSTEM
	}
}

// pump hands the store's pending file operations to free I/O goroutines.
func (a *StoreActor) pump(c actor.Context) {
	if len(a.store.ready) == 0 || len(a.io.running) >= a.io.limit {
		return // the common case: nothing to start
	}
	fsys, sys, self := a.store.fs, c.ActorSystem(), c.Self()
	a.io.fill(a.store.nextIO, func(j *ioJob) {
		j.res = runIO(fsys, j.op)
		sys.Root.Send(self, j)
	})
}

// storeWaitingMsg is logged when the actor stops or restarts with disk I/O
// under way.
const storeWaitingMsg = "store waiting for disk I/O under way"

// drainIO waits for the file operations under way and applies their results,
// whose messages the actor will not process.
func (a *StoreActor) drainIO(c actor.Context) {
	if n := len(a.io.running); n > 0 {
		c.Logger().Info(storeWaitingMsg, "operations", n)
	}
	for _, j := range a.io.wait() {
		a.store.finish(j.res)
	}
}

// ioJob is a file operation run on an I/O goroutine; res is written there
// before the job is sent back to the actor.
type ioJob struct {
	op  *ioOp
	res ioResult
}

// ioPool runs file operations on at most limit goroutines at once.
type ioPool struct {
	limit   int
	running []*ioJob
	wg      sync.WaitGroup
}

// fill starts run on a new goroutine for each operation next yields, while
// fewer than limit run.
func (p *ioPool) fill(next func() *ioOp, run func(*ioJob)) {
	for len(p.running) < p.limit {
		op := next()
		if op == nil {
			return
		}
		j := &ioJob{op: op}
		p.running = append(p.running, j)
		p.wg.Go(func() { run(j) })
	}
}

// done records that j has returned; it reports false if j is not one of the
// pool's running jobs.
func (p *ioPool) done(j *ioJob) bool {
	i := slices.Index(p.running, j)
	if i < 0 {
		return false
	}
	p.running = slices.Delete(p.running, i, i+1)
	return true
}

// wait blocks until every running job has returned and hands them over.
func (p *ioPool) wait() []*ioJob {
	p.wg.Wait()
	jobs := p.running
	p.running = nil
	return jobs
}
