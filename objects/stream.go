package objects

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// Streams reaches the chunk servers of other nodes over byte streams: a
// chunk read from a stream is copied once, from the kernel into the pull's
// buffer. cluster/transport implements it with authenticated TCP streams.
type Streams interface {
	// StreamAddress is where this node serves chunks (ServeChunks), told
	// to every node that asks this store for a chunk.
	StreamAddress() string
	// DialStream opens a stream to the chunk server at addr.
	DialStream(ctx context.Context, addr string) (net.Conn, error)
}

// StoreActorOption configures a store actor.
type StoreActorOption func(*StoreActor)

// WithStreams has the store actor pull chunks over streams where the
// source's node serves them, and tell requesters where this node does.
// Without it, chunks travel only as ReadChunk and ObjectChunk messages.
func WithStreams(s Streams) StoreActorOption {
	return func(a *StoreActor) { a.streams = s }
}

// The chunk protocol on a stream. The client writes requests and the
// server answers them in order, each with a header, an error text and the
// chunk's bytes. Integers are little-endian.
const (
	// streamRequestLen: object ID, offset, length.
	streamRequestLen = IDLen + 8 + 8
	// streamHeaderLen: status (0: the chunk follows; else the error kind
	// plus one), offset, total size, data length, error text length.
	streamHeaderLen = 4 + 8 + 8 + 8 + 4
	// maxStreamErrorLen bounds an error text.
	maxStreamErrorLen = 4096
	// streamPipeline is how many requests of one stream a server reads
	// ahead of the chunk it sends.
	streamPipeline = 4
	// streamChunkWait bounds the wait for the store's answer to one
	// request, a spill file read at worst.
	streamChunkWait = time.Minute
)

// ErrStreamProtocol reports a stream peer that broke the chunk protocol.
var ErrStreamProtocol = errors.New("objects: stream protocol violated")

// ServeChunks returns the handler of a node's inbound chunk streams (see
// cluster/transport's ServeStreams): it answers each request with a chunk
// it asks of store, the node's store actor, and closes the stream when the
// client does or breaks the protocol.
func ServeChunks(root *actor.RootContext, store *actor.PID) func(net.Conn) {
	return func(conn net.Conn) { serveChunks(root, store, conn) }
}

func serveChunks(root *actor.RootContext, store *actor.PID, conn net.Conn) {
	defer conn.Close()
	type answer struct {
		f   *actor.Future
		off int64 // asked for
	}
	answers := make(chan answer, streamPipeline)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		broken := false
		for a := range answers {
			if broken {
				continue // drain: the reader is about to see the closed stream
			}
			if err := writeChunk(conn, a.f, a.off); err != nil {
				broken = true
				_ = conn.Close()
			}
		}
	}()
	defer func() { close(answers); <-sent }()
	var req [streamRequestLen]byte
	for {
		if _, err := io.ReadFull(conn, req[:]); err != nil {
			return
		}
		off := int64(binary.LittleEndian.Uint64(req[IDLen:]))
		n := int64(binary.LittleEndian.Uint64(req[IDLen+8:]))
		if off < 0 || n <= 0 || n > pb.MaxChunkLen {
			return
		}
		// The request's ID is copied: req is read into again while the
		// store reads this one.
		id := append([]byte(nil), req[:IDLen]...)
		answers <- answer{root.RequestFuture(store, &pb.ReadChunk{ObjectId: id, Offset: off, Length: n}, streamChunkWait), off}
	}
}

// writeChunk waits for the store's answer f to the request for the chunk
// at off and writes it to conn.
func writeChunk(conn net.Conn, f *actor.Future, off int64) error {
	res, err := f.Result()
	var m *pb.ObjectChunk
	switch r := res.(type) {
	case *pb.ObjectChunk:
		m = r
	default:
		if err == nil {
			err = fmt.Errorf("unexpected answer %T", res)
		}
		m = &pb.ObjectChunk{Offset: off, Error: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: fmt.Sprintf("objects: store did not answer: %v", err)}}
	}
	var hdr [streamHeaderLen]byte
	msg := m.GetError().GetMessage()
	if len(msg) > maxStreamErrorLen {
		msg = msg[:maxStreamErrorLen]
	}
	data, status := m.GetData(), uint32(0)
	if e := m.GetError(); e != nil {
		data, status = nil, uint32(e.GetKind())+1
	}
	binary.LittleEndian.PutUint32(hdr[0:], status)
	binary.LittleEndian.PutUint64(hdr[4:], uint64(m.GetOffset()))
	binary.LittleEndian.PutUint64(hdr[12:], uint64(m.GetTotalSize()))
	binary.LittleEndian.PutUint64(hdr[20:], uint64(len(data)))
	binary.LittleEndian.PutUint32(hdr[28:], uint32(len(msg)))
	bufs := net.Buffers{hdr[:]}
	for _, b := range [][]byte{[]byte(msg), data} {
		if len(b) > 0 { // an empty write is not free on every net.Conn
			bufs = append(bufs, b)
		}
	}
	_, err = bufs.WriteTo(conn)
	return err
}

// streamReq is a chunk asked for on a stream: the bytes arrive in dst, the
// part of the pull's buffer that the request owns until its answer (or the
// end of the stream) is reported to the store actor.
type streamReq struct {
	id  ID
	off int64
	tag uint64
	dst []byte
}

// streamConn is a store actor's stream to the chunk server of one source
// node. Two goroutines run it: one writes the requests the actor queues,
// the other reads the answers into their buffers and tells the actor of
// each (streamChunk). When the stream ends they tell the actor once more
// (streamDown), after both have stopped: from then on nothing writes to
// the buffers of the requests left unanswered.
type streamConn struct {
	source string // the source node's actor system address
	addr   string // its chunk server's address
	cancel context.CancelFunc

	mu      sync.Mutex
	queued  []streamReq // asked by the actor, not yet written
	pending []streamReq // written, not yet answered, in order
	conn    net.Conn
	closed  bool
	wake    chan struct{}
}

// Messages from a streamConn to its store actor.
type (
	// streamChunk: the answer to r. On success r.dst holds the chunk's n
	// bytes; otherwise err says why (the source's error, wrapping
	// ErrSourceFailed, or a broken protocol, wrapping ErrMalformedChunk).
	streamChunk struct {
		sc    *streamConn
		r     streamReq
		total int64
		n     int64
		err   error
	}
	// streamDown: the stream ended, and its goroutines have stopped.
	streamDown struct {
		sc  *streamConn
		err error
	}
)

// openStream starts a stream to the chunk server at addr of the node at
// source; it dials in the background, and requests queued meanwhile are
// sent once it is up.
func openStream(streams Streams, root *actor.RootContext, self *actor.PID, source, addr string) *streamConn {
	ctx, cancel := context.WithCancel(context.Background())
	sc := &streamConn{source: source, addr: addr, cancel: cancel, wake: make(chan struct{}, 1)}
	go sc.run(ctx, streams, root, self)
	return sc
}

// send queues r; it never blocks.
func (sc *streamConn) send(r streamReq) {
	sc.mu.Lock()
	sc.queued = append(sc.queued, r)
	sc.mu.Unlock()
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

// close ends the stream; the actor hears of it with streamDown.
func (sc *streamConn) close() {
	sc.cancel()
	sc.mu.Lock()
	sc.closed = true
	if sc.conn != nil {
		_ = sc.conn.Close()
	}
	sc.mu.Unlock()
}

func (sc *streamConn) run(ctx context.Context, streams Streams, root *actor.RootContext, self *actor.PID) {
	conn, err := streams.DialStream(ctx, sc.addr)
	if err != nil {
		root.Send(self, &streamDown{sc: sc, err: err})
		return
	}
	sc.mu.Lock()
	sc.conn = conn
	if sc.closed {
		_ = conn.Close()
	}
	sc.mu.Unlock()
	defer conn.Close()
	readErr := make(chan error, 1)
	go func() {
		err := sc.read(conn, func(m any) { root.Send(self, m) })
		_ = conn.Close() // ends the writer too
		sc.cancel()
		readErr <- err
	}()
	werr := sc.write(ctx, conn)
	_ = conn.Close()
	rerr := <-readErr
	root.Send(self, &streamDown{sc: sc, err: firstCause(rerr, werr)})
}

// firstCause returns the first error that says more than that the stream was
// closed.
func firstCause(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// write sends the queued requests until ctx ends or a write fails.
func (sc *streamConn) write(ctx context.Context, conn net.Conn) error {
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sc.wake:
		}
		sc.mu.Lock()
		reqs := sc.queued
		sc.queued = nil
		sc.pending = append(sc.pending, reqs...)
		sc.mu.Unlock()
		buf = buf[:0]
		for _, r := range reqs {
			buf = append(buf, r.id[:]...)
			buf = binary.LittleEndian.AppendUint64(buf, uint64(r.off))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(len(r.dst)))
		}
		if _, err := conn.Write(buf); err != nil {
			return err
		}
	}
}

// read reads the answers to the pending requests, in order, each into its
// buffer, and reports each (streamChunk), until the stream fails or the
// server breaks the protocol.
func (sc *streamConn) read(conn io.Reader, report func(any)) error {
	var hdr [streamHeaderLen]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return err
		}
		sc.mu.Lock()
		var r streamReq
		ok := len(sc.pending) > 0
		if ok {
			r = sc.pending[0]
			sc.pending[0] = streamReq{}
			sc.pending = sc.pending[1:]
		}
		sc.mu.Unlock()
		status := binary.LittleEndian.Uint32(hdr[0:])
		off := int64(binary.LittleEndian.Uint64(hdr[4:]))
		total := int64(binary.LittleEndian.Uint64(hdr[12:]))
		n := int64(binary.LittleEndian.Uint64(hdr[20:]))
		msgLen := binary.LittleEndian.Uint32(hdr[28:])
		var bad error
		switch {
		case !ok:
			bad = fmt.Errorf("%w: an answer to no request", ErrStreamProtocol)
		case off != r.off:
			bad = fmt.Errorf("%w: %w: answer for offset %d to the request for offset %d", ErrMalformedChunk, ErrStreamProtocol, off, r.off)
		case msgLen > maxStreamErrorLen || (status == 0 && msgLen > 0):
			bad = fmt.Errorf("%w: %w: error text of %d bytes (status %d)", ErrMalformedChunk, ErrStreamProtocol, msgLen, status)
		case status == 0 && n != int64(len(r.dst)):
			bad = fmt.Errorf("%w: %d bytes at offset %d, want %d", ErrMalformedChunk, n, off, len(r.dst))
		case status != 0 && n != 0:
			bad = fmt.Errorf("%w: %w: %d bytes beside an error", ErrMalformedChunk, ErrStreamProtocol, n)
		}
		if bad != nil {
			if ok {
				report(&streamChunk{sc: sc, r: r, err: bad})
			}
			return bad
		}
		if status != 0 {
			msg := make([]byte, msgLen)
			if _, err := io.ReadFull(conn, msg); err != nil {
				return err
			}
			report(&streamChunk{sc: sc, r: r, err: fmt.Errorf("%w: %s: %s", ErrSourceFailed, pb.ErrorKind(status-1), msg)})
			continue
		}
		if _, err := io.ReadFull(conn, r.dst); err != nil {
			return err
		}
		report(&streamChunk{sc: sc, r: r, total: total, n: n})
	}
}
