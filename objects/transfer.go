package objects

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	pb "github.com/goray-dev/goray/proto"
)

// Defaults of TransferConfig.
const (
	// DefaultChunkSize is the bytes asked of a source in one ReadChunk:
	// 4 MiB. Through protoactor remote between two processes (see
	// transferbench) chunks of 1, 2 and 4 MiB with 12 MiB in flight cost the
	// receiver the same CPU per byte, about 1.3 CPU-seconds per GB, and
	// ran at the same rate within the noise; windows of a single chunk ran
	// slower. 4 MiB takes the fewest messages, and three of them fit in
	// the transport's 16 MiB message limit with room for the framing.
	DefaultChunkSize = 4 << 20
	// DefaultSourceWindow is the bytes of chunks asked of one source node
	// and not yet received: 3 chunks of DefaultChunkSize. protoactor remote
	// sends every message from one node to another over one gRPC stream and
	// batches the messages queued for it into one gRPC message, so the
	// chunks in flight from a source node must fit in one transport
	// message together: 12 MiB leaves 4 MiB of the 16 MiB limit for the
	// envelopes and the other messages of a batch.
	DefaultSourceWindow = 3 * DefaultChunkSize
	// DefaultStallTimeout is how long a source may send no chunk while
	// chunks are asked of it before the pull gives it up for the next.
	DefaultStallTimeout = 10 * time.Second
)

// TransferConfig configures how a store actor pulls objects it lacks from
// other stores (FetchObject). The zero value means the defaults.
type TransferConfig struct {
	// ChunkSize is the bytes asked for in one ReadChunk, at most
	// pb.MaxChunkLen. Zero means DefaultChunkSize.
	ChunkSize int64
	// SourceWindow bounds the bytes of chunks asked of one source node (one
	// protoactor address) and not yet received, over every pull from it; at
	// least ChunkSize. Zero means DefaultSourceWindow, or ChunkSize if that
	// is larger. Keep it and the messages batched with it below the
	// transport's message limit (see DefaultSourceWindow).
	SourceWindow int64
	// StallTimeout is how long a source may send nothing while chunks are
	// asked of it before the pull tries the next source. Zero means
	// DefaultStallTimeout.
	StallTimeout time.Duration
	// MaxObjectSize is the largest object the store pulls: the receiving
	// buffer is allocated whole before the store takes it. Zero means the
	// store's Capacity; at most pb.MaxObjectSize.
	MaxObjectSize int64
}

// withDefaults fills in the defaults and checks the bounds.
func (c TransferConfig) withDefaults(capacity int64) (TransferConfig, error) {
	if c.ChunkSize < 0 || c.SourceWindow < 0 || c.StallTimeout < 0 || c.MaxObjectSize < 0 {
		return c, fmt.Errorf("%w: negative transfer setting in %+v", ErrInvalidConfig, c)
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.SourceWindow == 0 {
		c.SourceWindow = max(DefaultSourceWindow, c.ChunkSize)
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.MaxObjectSize == 0 {
		c.MaxObjectSize = min(capacity, maxObjectSize)
	}
	switch {
	case c.ChunkSize > pb.MaxChunkLen:
		return c, fmt.Errorf("%w: chunk size %d, more than %d", ErrInvalidConfig, c.ChunkSize, pb.MaxChunkLen)
	case c.SourceWindow < c.ChunkSize:
		return c, fmt.Errorf("%w: source window %d smaller than a chunk of %d", ErrInvalidConfig, c.SourceWindow, c.ChunkSize)
	case c.MaxObjectSize > maxObjectSize:
		return c, fmt.Errorf("%w: largest object %d, more than %d", ErrInvalidConfig, c.MaxObjectSize, int64(maxObjectSize))
	}
	return c, nil
}

// pull is the transfer of one object into this store: the requests waiting
// for it, the sources to try and the chunks assembled so far.
type pull struct {
	id      ID
	idBytes []byte // id, as messages carry it
	asm     *assembly
	// sources are tried in order; cur is the one asked now, and tag marks
	// the requests sent to it.
	sources []*actor.PID
	cur     int
	tag     uint64
	// tried says why each source given up failed.
	tried     []string
	directory *actor.PID
	waiters   []*fetchWaiter
	// queued: in its source's link queue, waiting for room in the window.
	queued bool
	// storing: assembled, and being put into the store.
	storing bool
	// chunks counts the chunks received; the stall check compares it, and
	// the tag, with their values when it was armed.
	chunks, stallChunks uint64
	stallTag            uint64
	stopStall           scheduler.CancelFunc
	// stream is the stream the current source's chunks were asked on, and
	// streamOut counts those not answered yet: parts of the buffer that
	// the stream's goroutines may still write.
	stream    *streamConn
	streamOut int
}

// fetchWaiter is a FetchObject waiting for a pull.
type fetchWaiter struct {
	to   *actor.PID // nil: nobody to answer
	stop scheduler.CancelFunc
}

// link is the traffic to one source node: the bytes of chunks asked of it
// and not received, and the pulls waiting for room within the window, first
// come first served.
type link struct {
	inFlight int64
	queue    []*pull
}

// Messages the store actor sends itself.
type (
	// fetchExpired: the deadline of a FetchObject passed.
	fetchExpired struct {
		p *pull
		w *fetchWaiter
	}
	// stallCheck: time to check that a pull's source is making progress.
	stallCheck struct{ p *pull }
)

// readChunk serves a chunk of an object this store holds: from memory, or
// with a bounded read of its spill file on an I/O goroutine.
func (a *StoreActor) readChunk(c actor.Context, m *pb.ReadChunk) {
	w := waiter{kind: replyChunk, to: c.Sender(), id: m.GetObjectId(), off: m.GetOffset(), tag: m.GetTag()}
	if err := m.Validate(); err != nil {
		a.invalid(c, w, fmt.Errorf("objects: read chunk: %w: %w", ErrInvalidRequest, err))
		return
	}
	id, err := parseObjectID(m.GetObjectId())
	if err != nil {
		a.invalid(c, w, fmt.Errorf("objects: read chunk: %w", err))
		return
	}
	data, size, t, err := a.store.readChunk(id, m.GetOffset(), m.GetLength())
	if t == 0 {
		a.reply(c, w, outcome{id: id, size: size, data: data, err: err})
	} else {
		a.waiting[t] = w
	}
	a.pump(c)
}

// fetch answers a FetchObject: from the store if it holds the object,
// otherwise once a pull has brought it here.
func (a *StoreActor) fetch(c actor.Context, m *pb.FetchObject) {
	to := c.Sender()
	if err := m.Validate(); err != nil {
		a.invalid(c, waiter{kind: replyGet, to: to}, fmt.Errorf("objects: fetch: %w: %w", ErrInvalidRequest, err))
		return
	}
	id, err := parseObjectID(m.GetObjectId())
	if err != nil {
		a.invalid(c, waiter{kind: replyGet, to: to}, fmt.Errorf("objects: fetch: %w", err))
		return
	}
	p := a.pulls[id]
	if p == nil && a.store.Contains(id) {
		a.getID(c, waiter{kind: replyGet, to: to, id: m.GetObjectId()}, id)
		return
	}
	fresh := p == nil
	if fresh {
		expected := int64(-1)
		if m.Size != nil {
			expected = m.GetSize()
		}
		if expected > a.cfg.MaxObjectSize {
			err := fmt.Errorf("objects: fetch %s: object of %d bytes, more than the %d this store pulls", id, expected, a.cfg.MaxObjectSize)
			a.reply(c, waiter{kind: replyGet, to: to}, outcome{err: fmt.Errorf("%w: %w", ErrStoreFull, err)})
			return
		}
		p = &pull{id: id, idBytes: id.Bytes(), asm: newAssembly(id, a.cfg.ChunkSize, a.cfg.MaxObjectSize, expected, a.store.buffer)}
		a.pulls[id] = p
	}
	for _, s := range m.GetSources() {
		pid := actor.NewPID(s.GetAddress(), s.GetId())
		if pid.Equal(c.Self()) || slices.ContainsFunc(p.sources, pid.Equal) {
			continue
		}
		p.sources = append(p.sources, pid)
	}
	if p.directory == nil && m.GetDirectory() != nil {
		p.directory = actor.NewPID(m.GetDirectory().GetAddress(), m.GetDirectory().GetId())
	}
	w := &fetchWaiter{to: to}
	if ms := m.GetTimeoutMs(); ms > 0 {
		w.stop = a.timers(c).SendOnce(time.Duration(ms)*time.Millisecond, c.Self(), &fetchExpired{p: p, w: w})
	}
	p.waiters = append(p.waiters, w)
	if fresh {
		a.startSource(c, p)
	}
}

// startSource asks sources[cur] for the chunks the pull still needs, or
// fails the pull if every source has been tried.
func (a *StoreActor) startSource(c actor.Context, p *pull) {
	if p.cur >= len(p.sources) {
		what := "no source was given"
		if len(p.tried) > 0 {
			what = "tried " + strings.Join(p.tried, "; ")
		}
		a.endPull(c, p, pb.ErrorKind_ERROR_KIND_OBJECT_LOST, fmt.Errorf("objects: fetch %s: no source could provide it: %s", p.id, what))
		return
	}
	a.tags++
	p.tag = a.tags
	if p.stopStall == nil {
		p.stallTag, p.stallChunks = p.tag, p.chunks
		p.stopStall = a.timers(c).SendOnce(a.cfg.StallTimeout, c.Self(), &stallCheck{p: p})
	}
	l := a.link(p.sources[p.cur].Address)
	a.enqueue(l, p)
	a.drain(c, l)
}

// nodeDied gives up every pull whose current source is on the node that
// died at addr: its next source is tried at once, or the fetch fails with
// OBJECT_LOST, instead of waiting out the stall timeout.
func (a *StoreActor) nodeDied(c actor.Context, addr string) {
	if addr == "" {
		return
	}
	if sc := a.conns[addr]; sc != nil {
		sc.close()
	}
	delete(a.conns, addr) // a node started later at addr gets a stream again
	for _, p := range a.pulls {
		if p.cur < len(p.sources) && p.sources[p.cur].Address == addr {
			a.sourceFailed(c, p, fmt.Errorf("its node at %s died", addr))
		}
	}
}

// sourceFailed gives the pull's current source up and moves to the next.
// After a malformed chunk nothing that source sent is kept.
func (a *StoreActor) sourceFailed(c actor.Context, p *pull, err error) {
	src := p.sources[p.cur]
	c.Logger().Info("store: giving up a source", "object", p.id, "source", src.String(), "error", err)
	p.tried = append(p.tried, fmt.Sprintf("%s (%v)", src, err))
	a.leave(c, p)
	// The stream's goroutines may still write to the chunks they were
	// asked for: the next source fills a new buffer.
	if errors.Is(err, ErrMalformedChunk) || p.streamOut > 0 {
		p.asm.reset()
	}
	p.stream, p.streamOut = nil, 0
	p.cur++
	a.startSource(c, p)
}

// leave takes the pull off its current source's link: its chunks in flight
// are given back to the window (and asked again of the next source, or, if
// the source sent something malformed, everything is).
func (a *StoreActor) leave(c actor.Context, p *pull) {
	freed := p.asm.drop()
	if p.cur >= len(p.sources) {
		return
	}
	addr := p.sources[p.cur].Address
	l := a.links[addr]
	if l == nil {
		return
	}
	l.inFlight -= freed
	if p.queued {
		l.queue = slices.DeleteFunc(l.queue, func(q *pull) bool { return q == p })
		p.queued = false
	}
	a.drain(c, l)
	if l.inFlight == 0 && len(l.queue) == 0 {
		delete(a.links, addr)
	}
}

func (a *StoreActor) link(addr string) *link {
	l := a.links[addr]
	if l == nil {
		l = &link{}
		a.links[addr] = l
	}
	return l
}

func (a *StoreActor) enqueue(l *link, p *pull) {
	if !p.queued {
		l.queue = append(l.queue, p)
		p.queued = true
	}
}

// drain asks for chunks on behalf of the pulls queued on l, first come
// first served, while the window has room.
func (a *StoreActor) drain(c actor.Context, l *link) {
	for len(l.queue) > 0 {
		p := l.queue[0]
		if a.request(c, p, l) {
			return // the window is full; p stays first
		}
		l.queue[0] = nil
		l.queue = l.queue[1:]
		p.queued = false
	}
}

// request asks the pull's source for the chunks it needs while the window
// of l has room. It reports whether the window stopped it.
func (a *StoreActor) request(c actor.Context, p *pull, l *link) (blocked bool) {
	src := p.sources[p.cur]
	sc := a.conns[src.Address]
	for {
		off, n, ok := p.asm.want()
		if !ok {
			return false
		}
		if l.inFlight > 0 && l.inFlight+n > a.cfg.SourceWindow {
			return true
		}
		p.asm.ask(off, n)
		l.inFlight += n
		// A stream needs the buffer, which exists once the size is known.
		if sc != nil && p.asm.size >= 0 && n > 0 {
			p.stream = sc
			p.streamOut++
			sc.send(streamReq{id: p.id, off: off, tag: p.tag, dst: p.asm.buf[off : off+n]})
			continue
		}
		c.Request(src, &pb.ReadChunk{ObjectId: p.idBytes, Offset: off, Length: n, Tag: p.tag})
	}
}

// chunk takes a reply to a chunk request.
func (a *StoreActor) chunk(c actor.Context, m *pb.ObjectChunk) {
	id, err := IDFromBytes(m.GetObjectId())
	if err != nil {
		return
	}
	p := a.pulls[id]
	if p == nil || p.storing || m.GetTag() != p.tag {
		return // a late reply: to a pull that ended, or to an earlier source
	}
	if err := m.Validate(); err != nil {
		a.sourceFailed(c, p, fmt.Errorf("%w: %w", ErrMalformedChunk, err))
		return
	}
	src := p.sources[p.cur].Address
	if _, known := a.conns[src]; !known && a.streams != nil && m.GetStream() != "" && m.GetError() == nil {
		a.conns[src] = openStream(a.streams, c.ActorSystem().Root, c.Self(), src, m.GetStream())
	}
	status, freed, err := p.asm.add(m)
	a.took(c, p, status, freed, err)
}

// streamChunk takes the answer to a chunk asked for over a stream.
func (a *StoreActor) streamChunk(c actor.Context, m *streamChunk) {
	p := a.pulls[m.r.id]
	if p == nil || p.storing || m.r.tag != p.tag || p.stream != m.sc {
		return // a late answer: to a pull that ended, or to an earlier source
	}
	p.streamOut--
	if m.err == nil {
		a.streamed++
	}
	status, freed, err := p.asm.placed(m.r.off, m.total, m.n, m.err)
	a.took(c, p, status, freed, err)
}

// streamDown forgets a stream that ended: chunks from its source travel as
// messages from now on, and those it left unanswered are asked again.
func (a *StoreActor) streamDown(c actor.Context, m *streamDown) {
	if a.conns[m.sc.source] == m.sc {
		a.conns[m.sc.source] = nil
		c.Logger().Info("store: stream to a source ended; its chunks travel as messages", "source", m.sc.source, "stream", m.sc.addr, "error", m.err)
	}
	l := a.links[m.sc.source]
	for _, p := range a.pulls {
		if p.stream != m.sc || p.storing {
			continue
		}
		p.stream, p.streamOut = nil, 0
		if l != nil {
			l.inFlight -= p.asm.drop()
			a.enqueue(l, p)
		}
	}
	if l != nil {
		a.drain(c, l)
	}
}

// took goes on with pull p after its assembly took a chunk.
func (a *StoreActor) took(c actor.Context, p *pull, status chunkStatus, freed int64, err error) {
	l := a.link(p.sources[p.cur].Address)
	l.inFlight -= freed
	switch {
	case err != nil:
		a.sourceFailed(c, p, err)
	case status == chunkIgnored:
	case status == chunkComplete:
		p.chunks++
		a.drain(c, l)
		a.assembled(c, p)
	default:
		p.chunks++
		a.enqueue(l, p)
		a.drain(c, l)
	}
}

// assembled puts a whole object into the store; the pull's waiters are
// answered once the store has taken it.
func (a *StoreActor) assembled(c actor.Context, p *pull) {
	p.storing = true
	a.leave(c, p)
	if p.stopStall != nil {
		p.stopStall()
	}
	t, err := a.store.put(p.id, p.asm.buf)
	if t == 0 {
		a.pulled(c, p.id, err)
	} else {
		a.waiting[t] = waiter{kind: replyPulled, id: p.idBytes}
	}
	a.pump(c)
}

// pulled ends a pull whose object the store has taken (err nil) or refused.
func (a *StoreActor) pulled(c actor.Context, id ID, err error) {
	p := a.pulls[id]
	if p == nil {
		return
	}
	if err != nil {
		a.endPull(c, p, putErrorKind(err), fmt.Errorf("objects: fetch %s: storing the copy: %w", id, err))
		return
	}
	delete(a.pulls, id)
	if p.directory != nil {
		c.Send(p.directory, &pb.AddLocation{ObjectId: p.idBytes, NodeId: a.nodeID, Store: wirePID(c.Self())})
	}
	reply := &pb.GetObjectReply{Data: p.asm.buf}
	for _, w := range p.waiters {
		if w.stop != nil {
			w.stop()
		}
		if w.to != nil {
			c.Send(w.to, reply)
		}
	}
	c.Logger().Debug("store: pulled object", "object", id, "bytes", len(p.asm.buf), "source", p.sources[p.cur].String())
}

// endPull fails every request waiting for the pull and drops it.
func (a *StoreActor) endPull(c actor.Context, p *pull, kind pb.ErrorKind, err error) {
	delete(a.pulls, p.id)
	a.leave(c, p)
	if p.stopStall != nil {
		p.stopStall()
	}
	reply := &pb.GetObjectReply{Error: a.wireError(kind, err)}
	for _, w := range p.waiters {
		if w.stop != nil {
			w.stop()
		}
		if w.to != nil {
			c.Send(w.to, reply)
		}
	}
	p.waiters = nil
	c.Logger().Info("store: fetch failed", "object", p.id, "error", err)
}

// withdraw answers the waiter w of p as cancelled and forgets it; a pull
// nobody waits for any more is cancelled, unless it is already storing
// its object.
func (a *StoreActor) withdraw(c actor.Context, p *pull, w *fetchWaiter, why string) {
	i := slices.Index(p.waiters, w)
	if i < 0 {
		return
	}
	p.waiters = slices.Delete(p.waiters, i, i+1)
	if w.stop != nil {
		w.stop()
	}
	if w.to != nil {
		c.Send(w.to, &pb.GetObjectReply{Error: a.wireError(pb.ErrorKind_ERROR_KIND_CANCELLED,
			fmt.Errorf("objects: fetch %s: %s", p.id, why))})
	}
	if len(p.waiters) == 0 && !p.storing {
		delete(a.pulls, p.id)
		a.leave(c, p)
		if p.stopStall != nil {
			p.stopStall()
		}
		c.Logger().Debug("store: pull cancelled: nobody waits for it", "object", p.id)
	}
}

// cancelFetch withdraws the requests of m.Requester.
func (a *StoreActor) cancelFetch(c actor.Context, m *pb.CancelFetch) {
	if err := m.Validate(); err != nil {
		c.Logger().Warn("store: malformed request", "error", err)
		return
	}
	id, err := parseObjectID(m.GetObjectId())
	if err != nil {
		return
	}
	p := a.pulls[id]
	if p == nil {
		return
	}
	req := actor.NewPID(m.GetRequester().GetAddress(), m.GetRequester().GetId())
	for _, w := range slices.Clone(p.waiters) {
		if w.to != nil && w.to.Equal(req) && a.pulls[id] == p {
			a.withdraw(c, p, w, "the requester gave up")
		}
	}
}

// expired withdraws a request whose deadline passed.
func (a *StoreActor) expired(c actor.Context, e *fetchExpired) {
	if a.pulls[e.p.id] == e.p {
		a.withdraw(c, e.p, e.w, "the requester's deadline passed")
	}
}

// stalled gives a source up if it sent nothing since the last check while
// chunks were asked of it, and checks again later.
func (a *StoreActor) stalled(c actor.Context, s *stallCheck) {
	p := s.p
	if a.pulls[p.id] != p || p.storing {
		return
	}
	if p.tag == p.stallTag && p.chunks == p.stallChunks && p.asm.inFlight > 0 {
		if p.stream != nil {
			// Whatever holds the stream up holds up every pull on it.
			p.stream.close()
		}
		a.sourceFailed(c, p, fmt.Errorf("%w: no chunk for %v", ErrSourceStalled, a.cfg.StallTimeout))
		if a.pulls[p.id] != p {
			return
		}
	}
	p.stallTag, p.stallChunks = p.tag, p.chunks
	p.stopStall = a.timers(c).SendOnce(a.cfg.StallTimeout, c.Self(), &stallCheck{p: p})
}

// stopPulls fails every pull: the actor stops or restarts.
func (a *StoreActor) stopPulls(c actor.Context, why string) {
	for _, p := range a.pulls {
		if p.stopStall != nil {
			p.stopStall()
		}
		reply := &pb.GetObjectReply{Error: a.wireError(pb.ErrorKind_ERROR_KIND_SYSTEM, fmt.Errorf("objects: fetch %s: %s", p.id, why))}
		for _, w := range p.waiters {
			if w.stop != nil {
				w.stop()
			}
			if w.to != nil {
				c.Send(w.to, reply)
			}
		}
	}
	clear(a.pulls)
	clear(a.links)
	for _, sc := range a.conns {
		if sc != nil {
			sc.close()
		}
	}
	clear(a.conns)
}

// TransferStats is a snapshot of a store actor's pulls.
type TransferStats struct {
	Pulls    int   // pulls under way
	Waiting  int   // FetchObject requests waiting for them
	InFlight int64 // bytes of chunks asked for and not received, over all sources
	// Streams counts the streams open to other nodes' chunk servers, and
	// StreamChunks the chunks received over streams since the actor
	// started.
	Streams      int
	StreamChunks uint64
}

// getTransferStats asks a store actor, in process, for its TransferStats.
type getTransferStats struct{}

func (a *StoreActor) transferStats() TransferStats {
	var s TransferStats
	s.Pulls = len(a.pulls)
	for _, p := range a.pulls {
		s.Waiting += len(p.waiters)
	}
	for _, l := range a.links {
		s.InFlight += l.inFlight
	}
	for _, sc := range a.conns {
		if sc != nil {
			s.Streams++
		}
	}
	s.StreamChunks = a.streamed
	return s
}

// timers returns the actor's timer scheduler.
func (a *StoreActor) timers(c actor.Context) *scheduler.TimerScheduler {
	if a.sched == nil {
		a.sched = scheduler.NewTimerScheduler(c.ActorSystem().Root)
	}
	return a.sched
}

func wirePID(p *actor.PID) *pb.Pid { return &pb.Pid{Address: p.Address, Id: p.Id} }

// ErrFetchFailed is wrapped by the errors of Fetch that the store reported.
var ErrFetchFailed = errors.New("objects: fetch failed")

// FetchError is the error a store reported for a fetch: errors.As gives
// the wire error, with its kind. It wraps ErrFetchFailed.
type FetchError struct {
	Err *pb.Error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrFetchFailed, e.Err.GetKind(), e.Err.GetMessage())
}

// Unwrap returns ErrFetchFailed.
func (e *FetchError) Unwrap() error { return ErrFetchFailed }

// Fetch asks store, the store actor of the caller's node, for an object and
// waits for its bytes within ctx. If the store lacks the object it pulls it
// from req's sources and records the copy with req's directory (see
// FetchObject). req's deadline is ctx's; req is not modified. When ctx ends
// first, Fetch tells the store (CancelFetch), which cancels the pull if
// nobody else waits for it, and returns ctx's error. A failure the store
// reports is a *FetchError.
func Fetch(ctx context.Context, root *actor.RootContext, store *actor.PID, req *pb.FetchObject) ([]byte, error) {
	var ms int64
	if d, ok := ctx.Deadline(); ok {
		wait := time.Until(d)
		if wait <= 0 {
			return nil, ctx.Err()
		}
		// Rounded up, so that the store gives up no earlier than ctx.
		ms = int64((wait + time.Millisecond - 1) / time.Millisecond)
	}
	// The reply goes to a process of this call's own, which hands it over
	// without a goroutine of its own.
	reg := root.ActorSystem().ProcessRegistry
	inbox := &replyInbox{ch: make(chan any, 1)}
	self, ok := reg.Add(inbox, "fetch"+reg.NextId())
	if !ok {
		return nil, fmt.Errorf("objects: fetch: registering the reply process %s failed", self.Id)
	}
	defer reg.Remove(self)
	r := &pb.FetchObject{ObjectId: req.GetObjectId(), Sources: req.GetSources(), Directory: req.GetDirectory(), Size: req.Size, TimeoutMs: ms}
	root.RequestWithCustomSender(store, r, self)
	select {
	case res := <-inbox.ch:
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			// The store gave up at the deadline, as ctx is about to.
			<-ctx.Done()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch v := res.(type) {
		case *pb.GetObjectReply:
			if v.GetError() != nil {
				return nil, &FetchError{Err: v.GetError()}
			}
			return v.GetData(), nil
		case *pb.Error:
			return nil, &FetchError{Err: v}
		default:
			return nil, fmt.Errorf("objects: fetch: unexpected reply %T", res)
		}
	case <-ctx.Done():
		root.Send(store, &pb.CancelFetch{ObjectId: req.GetObjectId(), Requester: wirePID(self)})
		return nil, ctx.Err()
	}
}

// replyInbox is a protoactor process that keeps the first message sent to it.
type replyInbox struct{ ch chan any }

func (p *replyInbox) SendUserMessage(_ *actor.PID, m any) {
	select {
	case p.ch <- actor.UnwrapEnvelopeMessage(m):
	default: // a reply after the first: nobody reads it
	}
}

func (p *replyInbox) SendSystemMessage(*actor.PID, any) {}

func (p *replyInbox) Stop(*actor.PID) {}
