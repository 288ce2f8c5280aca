package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/goray-dev/goray/proto"
)

// transportLimit is the message size the test transport accepts, the least
// a goray cluster's transport allows.
const transportLimit = 16 << 20

// tnode is one node of a transfer test: a store actor and a directory in
// an actor system reachable through protoactor remote on 127.0.0.1.
type tnode struct {
	id    string // node ID
	sys   *actor.ActorSystem
	store *actor.PID
	dir   *actor.PID
	s     *Store
}

// The actor systems of the transfer tests, started once: protoactor's
// remote.Start sets gRPC's global logger, which the servers already running
// read, so every remote of the process starts before any test runs, each
// once its predecessor is serving.
var (
	remotesOnce sync.Once
	remotes     []*actor.ActorSystem
	remotesErr  error
	spawned     atomic.Int64
)

func remoteSystem(t *testing.T, i int) *actor.ActorSystem {
	t.Helper()
	remotesOnce.Do(func() {
		l := slog.New(slog.DiscardHandler)
		if os.Getenv("TRANSFER_DEBUG") != "" {
			l = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for range 3 {
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return l }))
			remote.NewRemote(sys, remote.Configure("127.0.0.1", 0,
				remote.WithServerOptions(grpc.MaxRecvMsgSize(transportLimit)))).Start()
			c, err := awaitServing(sys.Address())
			if err != nil {
				remotesErr = err
				return
			}
			conns = append(conns, c)
			remotes = append(remotes, sys)
		}
	})
	if remotesErr != nil {
		t.Fatalf("starting protoactor remote: %v", remotesErr)
	}
	return remotes[i]
}

// awaitServing returns once the gRPC server at addr has acknowledged the
// settings of an HTTP/2 connection, which it returns open: the server's
// goroutines have passed their start, and stay blocked until it is closed.
func awaitServing(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, actorWait)
	if err != nil {
		return nil, err
	}
	if err := serving(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

func serving(conn net.Conn) error {
	if err := conn.SetDeadline(time.Now().Add(actorWait)); err != nil {
		return err
	}
	// The HTTP/2 client preface and an empty SETTINGS frame.
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
		return err
	}
	// Frames until the SETTINGS frame with the ACK flag.
	var hdr [9]byte
	for {
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return err
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if _, err := io.CopyN(io.Discard, conn, int64(n)); err != nil {
			return err
		}
		if hdr[3] == 0x4 && hdr[4]&0x1 != 0 {
			return conn.SetDeadline(time.Time{})
		}
	}
}

// newTNode starts a node on actor system sys (0, 1 or 2) whose store has
// cfg (a capacity of 256 MiB and a spill directory when unset) and opts.
func newTNode(t *testing.T, sys int, id string, cfg StoreConfig, opts ...StoreActorOption) *tnode {
	t.Helper()
	n := &tnode{id: id, sys: remoteSystem(t, sys)}
	if cfg.Capacity == 0 {
		cfg.Capacity = 256 << 20
	}
	if cfg.SpillDir == "" && cfg.FS == nil {
		cfg.SpillDir = t.TempDir()
	}
	var err error
	if n.s, err = NewStore(cfg); err != nil {
		t.Fatal(err)
	}
	seq := spawned.Add(1)
	if n.store, err = n.sys.Root.SpawnNamed(NewStoreActor(n.s, id, opts...), fmt.Sprintf("store-%d", seq)); err != nil {
		t.Fatal(err)
	}
	if n.dir, err = n.sys.Root.SpawnNamed(NewDirectory(func(node string) *actor.PID {
		if node == id {
			return n.store
		}
		return nil
	}), fmt.Sprintf("directory-%d", seq)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.sys.Root.StopFuture(n.dir).Wait()
		_ = n.sys.Root.StopFuture(n.store).Wait()
	})
	return n
}

const (
	nodeA = "00000000000000a1"
	nodeB = "00000000000000b2"
	nodeC = "00000000000000c3"
)

func (n *tnode) request(t *testing.T, pid *actor.PID, msg any) any {
	t.Helper()
	res, err := n.sys.Root.RequestFuture(pid, msg, actorWait).Result()
	if err != nil {
		t.Fatalf("request %T: %v", msg, err)
	}
	return res
}

// put stores data in n's store, registered with n's directory.
func (n *tnode) put(t *testing.T, id ID, data []byte) {
	t.Helper()
	if r := n.request(t, n.store, &pb.PutObject{ObjectId: id.Bytes(), Data: data}).(*pb.Ack); r.Error != nil {
		t.Fatalf("put: %v", r.Error)
	}
	n.sys.Root.Send(n.dir, &pb.AddObject{ObjectId: id.Bytes(), Size: int64(len(data)), NodeId: n.id})
}

// holds reports whether n's store holds id.
func (n *tnode) holds(t *testing.T, id ID) bool {
	t.Helper()
	return n.request(t, n.store, &pb.GetObject{ObjectId: id.Bytes()}).(*pb.GetObjectReply).Error == nil
}

func (n *tnode) transferStats(t *testing.T) TransferStats {
	t.Helper()
	return n.request(t, n.store, getTransferStats{}).(TransferStats)
}

// fetch fetches id into n's store from sources within actorWait.
func (n *tnode) fetch(ctx context.Context, id ID, size int64, dir *actor.PID, sources ...*actor.PID) ([]byte, error) {
	req := &pb.FetchObject{ObjectId: id.Bytes()}
	for _, s := range sources {
		req.Sources = append(req.Sources, wirePID(s))
	}
	if dir != nil {
		req.Directory = wirePID(dir)
	}
	if size >= 0 {
		req.Size = proto.Int64(size)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*actorWait)
	defer cancel()
	return Fetch(ctx, n.sys.Root, n.store, req)
}

// pattern returns n bytes that differ from chunk to chunk and from object to
// object.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		b[i] = byte(i>>12) ^ seed
	}
	for i := range min(n, 64<<10) {
		b[i] ^= byte(i * 7)
	}
	if n > 0 {
		b[n-1] = seed + 1
	}
	return b
}

func wantKind(t *testing.T, err error, kind pb.ErrorKind, texts ...string) {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFetchFailed) {
		t.Fatalf("fetch error = %v, want a FetchError", err)
	}
	if fe.Err.GetKind() != kind {
		t.Fatalf("fetch error kind = %v (%s), want %v", fe.Err.GetKind(), fe.Err.GetMessage(), kind)
	}
	for _, s := range texts {
		if !strings.Contains(fe.Err.GetMessage(), s) {
			t.Errorf("fetch error %q does not name %q", fe.Err.GetMessage(), s)
		}
	}
}

// settled waits until n's store has no pull and no chunk in flight.
func (n *tnode) settled(t *testing.T) {
	t.Helper()
	eventually(t, "the pulls end", func() bool {
		s := n.transferStats(t)
		return s.Pulls == 0 && s.Waiting == 0 && s.InFlight == 0
	})
}

// TestTransferBetweenNodes pulls a 100 MB object across protoactor remote
// (24 MB under the race detector: still more than a transport message):
// the copy is byte-for-byte equal, the owner's directory records both
// copies, and freeing the object deletes both.
func TestTransferBetweenNodes(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	b := newTNode(t, 1, nodeB, StoreConfig{})
	id := NewIDGen().Next()
	size := 100_000_000
	if raceEnabled {
		size = 24_000_000
	}
	data := pattern(size, 1)
	a.put(t, id, data)

	got, err := b.fetch(context.Background(), id, -1, a.dir, a.store)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the fetched copy differs from the object")
	}
	if !b.holds(t, id) {
		t.Fatal("B does not hold the fetched copy")
	}
	eventually(t, "the directory records both copies", func() bool {
		r := a.request(t, a.dir, &pb.ObjectStatus{ObjectId: id.Bytes()}).(*pb.ObjectStatusReply)
		return slices.Equal(r.Locations, []string{nodeA, nodeB})
	})
	// A second fetch is answered from B's own store.
	if again, err := b.fetch(context.Background(), id, -1, a.dir); err != nil || !bytes.Equal(again, data) {
		t.Fatalf("fetch of a held copy: %v", err)
	}
	b.settled(t)

	a.sys.Root.Send(a.dir, &pb.FreeObjects{ObjectIds: [][]byte{id.Bytes()}})
	eventually(t, "both copies are deleted", func() bool { return !a.holds(t, id) && !b.holds(t, id) })
}

// TestTransferFromSpilled pulls an object that its source keeps only on
// disk: chunks are read from the spill file a chunk at a time, without
// reading the object back whole.
func TestTransferFromSpilled(t *testing.T) {
	fsys := newMemFS(t)
	a := newTNode(t, 0, nodeA, StoreConfig{Capacity: 1 << 20, SpillDir: "/spill", FS: fsys})
	const chunk = 256 << 10
	b := newTNode(t, 1, nodeB, StoreConfig{Transfer: TransferConfig{ChunkSize: chunk}})
	id := NewIDGen().Next()
	data := pattern(3<<20+123, 2) // larger than A's capacity: written to disk
	a.put(t, id, data)
	if st := a.s.Stats(); st.Spilled != 1 {
		// Stats of the core are read off the actor's goroutine only after
		// the put's reply, when the actor is idle.
		t.Fatalf("A's store: %+v, want the object spilled", st)
	}

	got, err := b.fetch(context.Background(), id, int64(len(data)), a.dir, a.store)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the fetched copy differs from the object")
	}
	st := a.request(t, a.store, &pb.GetStoreStats{}).(*pb.StoreStats)
	if st.Spilled != 1 || st.RestoreCount != 0 {
		t.Errorf("A's store after serving chunks: %+v, want the object still spilled and never restored", st)
	}
	fsys.mu.Lock()
	readFiles, readAtMax := fsys.readFiles, fsys.readAtMax
	fsys.mu.Unlock()
	if readFiles != 0 || readAtMax == 0 || readAtMax > chunk {
		t.Errorf("A read %d whole files and at most %d bytes per chunk read, want 0 and at most %d", readFiles, readAtMax, chunk)
	}
}

// fakeSource is a store that serves chunks of the objects it is given, and
// can hold its replies, corrupt them or not answer at all.
type fakeSource struct {
	mu      sync.Mutex
	objects map[ID][]byte
	reads   []*pb.ReadChunk
	hold    bool
	held    []heldChunk
	mutate  func(*pb.ObjectChunk)
	silent  bool
	sys     *actor.ActorSystem
}

type heldChunk struct {
	to *actor.PID
	m  *pb.ObjectChunk
}

func newFakeSource(t *testing.T, n *tnode, name string) (*fakeSource, *actor.PID) {
	t.Helper()
	f := &fakeSource{objects: map[ID][]byte{}, sys: n.sys}
	pid, err := n.sys.Root.SpawnNamed(actor.PropsFromFunc(f.receive), fmt.Sprintf("%s-%d", name, spawned.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.sys.Root.StopFuture(pid).Wait() })
	return f, pid
}

func (f *fakeSource) receive(c actor.Context) {
	m, ok := c.Message().(*pb.ReadChunk)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, m)
	if f.silent {
		return
	}
	id, _ := IDFromBytes(m.ObjectId)
	r := &pb.ObjectChunk{ObjectId: m.ObjectId, Offset: m.Offset, Tag: m.Tag}
	if data, ok := f.objects[id]; ok {
		end := min(m.Offset+m.Length, int64(len(data)))
		r.TotalSize, r.Data = int64(len(data)), data[m.Offset:end]
	} else {
		r.Error = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_OBJECT_LOST, Message: "fake: not found"}
	}
	if f.mutate != nil {
		f.mutate(r)
	}
	if f.hold {
		f.held = append(f.held, heldChunk{c.Sender(), r})
		return
	}
	c.Send(c.Sender(), r)
}

// release sends the held replies and stops holding.
func (f *fakeSource) release() {
	f.mu.Lock()
	held := f.held
	f.held, f.hold = nil, false
	f.mu.Unlock()
	for _, h := range held {
		f.sys.Root.Send(h.to, h.m)
	}
}

func (f *fakeSource) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reads)
}

func (f *fakeSource) heldCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.held)
}

// TestTransferConcurrentFetchesShareOnePull fetches one object five times
// at once: one pull serves them all, each chunk asked for once.
func TestTransferConcurrentFetchesShareOnePull(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	const chunk = 64 << 10
	b := newTNode(t, 1, nodeB, StoreConfig{Transfer: TransferConfig{ChunkSize: chunk}})
	src, srcPID := newFakeSource(t, a, "fake")
	id := NewIDGen().Next()
	data := pattern(10*chunk+5, 3)
	src.objects[id] = data
	src.hold = true

	const fetches = 5
	errs := make(chan error, fetches)
	for range fetches {
		go func() {
			got, err := b.fetch(context.Background(), id, -1, nil, srcPID)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("the fetched copy differs from the object")
			}
			errs <- err
		}()
	}
	eventually(t, "every fetch waits for the pull", func() bool {
		return b.transferStats(t) == TransferStats{Pulls: 1, Waiting: fetches, InFlight: chunk} && src.heldCount() > 0
	})
	if n := src.heldCount(); n != 1 {
		t.Fatalf("%d chunks asked for before the first reply, want 1", n)
	}
	src.release()
	for range fetches {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := src.readCount(); n != 11 {
		t.Errorf("the source was asked for %d chunks, want 11", n)
	}
	b.settled(t)
}

// TestTransferWindowBounded holds a source's replies: the chunks asked of
// it and not answered stay within the window, over two pulls at once.
func TestTransferWindowBounded(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	const chunk, window = 64 << 10, 3 * 64 << 10
	b := newTNode(t, 1, nodeB, StoreConfig{Transfer: TransferConfig{ChunkSize: chunk, SourceWindow: window}})
	src, srcPID := newFakeSource(t, a, "fake")
	gen := NewIDGen()
	ids := []ID{gen.Next(), gen.Next()}
	for i, id := range ids {
		src.objects[id] = pattern(20*chunk, byte(i))
	}
	src.hold = true
	errs := make(chan error, len(ids))
	for _, id := range ids {
		go func() {
			_, err := b.fetch(context.Background(), id, 20*chunk, nil, srcPID)
			errs <- err
		}()
	}
	eventually(t, "both pulls wait", func() bool { return b.transferStats(t).Pulls == 2 })
	eventually(t, "the window fills", func() bool { return src.heldCount() == window/chunk })
	if st := b.transferStats(t); st.InFlight != window {
		t.Errorf("in flight: %d bytes, want %d", st.InFlight, window)
	}
	if n := src.heldCount(); n != window/chunk {
		t.Fatalf("%d chunks asked for at once, want the window's %d", n, window/chunk)
	}
	// Released a batch at a time, the source never has more than a window
	// of requests unanswered.
	for range 100 {
		src.mu.Lock()
		src.hold = true
		src.mu.Unlock()
		src.release()
		src.mu.Lock()
		src.hold = true
		src.mu.Unlock()
		if b.transferStats(t).Pulls == 0 {
			break
		}
		if n := src.heldCount(); n > window/chunk {
			t.Fatalf("%d chunks unanswered, more than the window's %d", n, window/chunk)
		}
	}
	src.release()
	for range ids {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := src.readCount(); n != 40 {
		t.Errorf("the source was asked for %d chunks, want 40", n)
	}
}

// TestTransferTriesNextSource fetches from sources of which the first lacks
// the object, then from sources none of which has it.
func TestTransferTriesNextSource(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	b := newTNode(t, 1, nodeB, StoreConfig{})
	c := newTNode(t, 2, nodeC, StoreConfig{})
	id := NewIDGen().Next()
	data := pattern(5<<20, 4)
	c.put(t, id, data)

	got, err := b.fetch(context.Background(), id, -1, nil, a.store, c.store)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the fetched copy differs from the object")
	}

	other := NewIDGen().Next()
	_, err = b.fetch(context.Background(), other, -1, nil, a.store, c.store)
	wantKind(t, err, pb.ErrorKind_ERROR_KIND_OBJECT_LOST, a.store.String(), c.store.String(), "object not found")
	_, err = b.fetch(context.Background(), other, -1, nil)
	wantKind(t, err, pb.ErrorKind_ERROR_KIND_OBJECT_LOST, "no source")
	b.settled(t)
}

// TestTransferStalledSource gives up a source that never answers.
func TestTransferStalledSource(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	b := newTNode(t, 1, nodeB, StoreConfig{Transfer: TransferConfig{StallTimeout: 500 * time.Millisecond}})
	silent, silentPID := newFakeSource(t, a, "silent")
	silent.silent = true
	id := NewIDGen().Next()
	data := pattern(1<<20, 5)
	a.put(t, id, data)
	got, err := b.fetch(context.Background(), id, -1, nil, silentPID, a.store)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetch past a silent source: %v", err)
	}
	_, err = b.fetch(context.Background(), NewIDGen().Next(), -1, nil, silentPID)
	wantKind(t, err, pb.ErrorKind_ERROR_KIND_OBJECT_LOST, "silent", "no chunk")
}

// TestTransferRequesterGivesUp cancels a fetch while its pull waits for a
// held chunk: the pull ends, and nothing more is asked of the source.
func TestTransferRequesterGivesUp(t *testing.T) {
	for _, how := range []string{"cancel", "deadline"} {
		t.Run(how, func(t *testing.T) {
			a := newTNode(t, 0, nodeA, StoreConfig{})
			const chunk = 64 << 10
			// No stall timeout ends the pull in its stead.
			b := newTNode(t, 1, nodeB, StoreConfig{Transfer: TransferConfig{ChunkSize: chunk, SourceWindow: 3 * chunk, StallTimeout: time.Hour}})
			src, srcPID := newFakeSource(t, a, "fake")
			id := NewIDGen().Next()
			src.objects[id] = pattern(10*chunk, 6)
			src.hold = true

			ctx, cancel := context.WithCancel(context.Background())
			if how == "deadline" {
				ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
			}
			defer cancel()
			errs := make(chan error, 1)
			go func() {
				_, err := b.fetch(ctx, id, 10*chunk, nil, srcPID)
				errs <- err
			}()
			eventually(t, "the pull asks for chunks", func() bool { return src.heldCount() == 3 })
			if how == "cancel" {
				cancel()
			}
			if err := <-errs; !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch = %v, want the context's error", err)
			}
			b.settled(t)
			asked := src.readCount()
			src.release()
			// The late replies are ignored and ask for nothing more: a
			// probe fetch through the same source shows its requests
			// arrived after the late replies were handled.
			probe := NewIDGen().Next()
			src.objects[probe] = []byte("probe")
			if got, err := b.fetch(context.Background(), probe, -1, nil, srcPID); err != nil || string(got) != "probe" {
				t.Fatalf("probe fetch: %q, %v", got, err)
			}
			if n := src.readCount(); n != asked+1 {
				t.Errorf("the source was asked for %d chunks after the fetch ended, want only the probe's", n-asked)
			}
			if b.holds(t, id) {
				t.Error("B holds the object of a cancelled pull")
			}
		})
	}
}

// TestTransferMalformedChunks fails a fetch whose source answers with
// chunks that are not what was asked, and leaves the store able to fetch.
func TestTransferMalformedChunks(t *testing.T) {
	const chunk = 64 << 10
	tests := []struct {
		name   string
		size   int64 // expected size given with the fetch, or -1
		mutate func(*pb.ObjectChunk)
		want   string
	}{
		{"short chunk", -1, func(m *pb.ObjectChunk) {
			if m.Offset == chunk {
				m.Data = m.Data[:100]
			}
		}, "100 bytes at offset 65536"},
		{"long chunk", -1, func(m *pb.ObjectChunk) {
			if m.Offset == 0 {
				m.Data = append(slices.Clone(m.Data), 1)
			}
		}, "65537 bytes at offset 0"},
		{"total size lies", 4*chunk + 10, func(m *pb.ObjectChunk) { m.TotalSize = 3 * chunk }, "known to have"},
		{"total size changes", -1, func(m *pb.ObjectChunk) {
			if m.Offset > 0 {
				m.TotalSize++
			}
		}, "known to have"},
		{"total size too large", -1, func(m *pb.ObjectChunk) { m.TotalSize = pb.MaxObjectSize }, "more than the"},
		{"wrong offset", -1, func(m *pb.ObjectChunk) {
			if m.Offset == 2*chunk {
				m.Offset = 2*chunk + 1
			}
		}, "no chunk"},
		{"invalid message", -1, func(m *pb.ObjectChunk) { m.TotalSize = 1 }, "end past total_size"},
		{"malformed object ID", -1, func(m *pb.ObjectChunk) { m.ObjectId = m.ObjectId[:3] }, "no chunk"},
	}
	a := newTNode(t, 0, nodeA, StoreConfig{})
	// Long enough that a loaded machine delivers every chunk a good source sends.
	b := newTNode(t, 1, nodeB, StoreConfig{Transfer: TransferConfig{ChunkSize: chunk, StallTimeout: time.Second}})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, srcPID := newFakeSource(t, a, "bad"+string(rune('a'+i)))
			id := NewIDGen().Next()
			data := pattern(4*chunk+10, byte(i))
			src.objects[id] = data
			src.mutate = tt.mutate
			_, err := b.fetch(context.Background(), id, tt.size, nil, srcPID)
			wantKind(t, err, pb.ErrorKind_ERROR_KIND_OBJECT_LOST, tt.want)
			b.settled(t)
			if b.holds(t, id) {
				t.Fatal("B holds an object it failed to fetch")
			}
			// A good source after the bad one: the fetch starts over.
			a.put(t, id, data)
			got, err := b.fetch(context.Background(), id, tt.size, nil, srcPID, a.store)
			if tt.size < 0 && (err != nil || !bytes.Equal(got, data)) {
				t.Fatalf("fetch from a good source after a bad one: %v", err)
			}
		})
	}
}

// TestTransferStoreFullFails fetches an object larger than the store pulls.
func TestTransferStoreFullFails(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	b := newTNode(t, 1, nodeB, StoreConfig{Capacity: 1 << 20})
	id := NewIDGen().Next()
	a.put(t, id, pattern(2<<20, 7))
	_, err := b.fetch(context.Background(), id, 2<<20, nil, a.store)
	wantKind(t, err, pb.ErrorKind_ERROR_KIND_NO_CAPACITY)
	_, err = b.fetch(context.Background(), id, -1, nil, a.store)
	wantKind(t, err, pb.ErrorKind_ERROR_KIND_OBJECT_LOST, "more than the 1048576 accepted")
	b.settled(t)
}

// TestTransferLateCopyOfFreedObject frees an object while a copy is pulled:
// the copy reported afterwards is deleted.
func TestTransferLateCopyOfFreedObject(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	b := newTNode(t, 1, nodeB, StoreConfig{Transfer: TransferConfig{ChunkSize: 64 << 10}})
	src, srcPID := newFakeSource(t, a, "fake")
	id := NewIDGen().Next()
	data := pattern(1<<20, 8)
	a.put(t, id, data)
	src.objects[id] = data
	src.hold = true
	errs := make(chan error, 1)
	go func() {
		_, err := b.fetch(context.Background(), id, -1, a.dir, srcPID)
		errs <- err
	}()
	eventually(t, "the pull asks for a chunk", func() bool { return src.heldCount() > 0 })
	a.sys.Root.Send(a.dir, &pb.FreeObjects{ObjectIds: [][]byte{id.Bytes()}})
	eventually(t, "A's copy is deleted", func() bool { return !a.holds(t, id) })
	src.release()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's late copy is deleted", func() bool { return !b.holds(t, id) })
}

// TestTransferFetchValidates refuses a malformed FetchObject, ReadChunk and
// CancelFetch without a guard in front of the store.
func TestTransferFetchValidates(t *testing.T) {
	b := newTNode(t, 1, nodeB, StoreConfig{})
	id := NewIDGen().Next()
	r := b.request(t, b.store, &pb.FetchObject{ObjectId: id.Bytes(), Sources: []*pb.Pid{{Id: "store"}}}).(*pb.GetObjectReply)
	if r.GetError().GetKind() != pb.ErrorKind_ERROR_KIND_INVALID {
		t.Errorf("FetchObject with an incomplete source: %v, want INVALID", r.GetError())
	}
	c := b.request(t, b.store, &pb.ReadChunk{ObjectId: id.Bytes(), Length: pb.MaxChunkLen + 1, Tag: 9}).(*pb.ObjectChunk)
	if c.GetError().GetKind() != pb.ErrorKind_ERROR_KIND_INVALID || c.Tag != 9 {
		t.Errorf("ReadChunk of too many bytes: %v, want INVALID with the tag", c)
	}
	c = b.request(t, b.store, &pb.ReadChunk{ObjectId: id.Bytes(), Length: 10}).(*pb.ObjectChunk)
	if c.GetError().GetKind() != pb.ErrorKind_ERROR_KIND_OBJECT_LOST {
		t.Errorf("ReadChunk of a missing object: %v, want OBJECT_LOST", c)
	}
	b.put(t, id, []byte("0123456789"))
	c = b.request(t, b.store, &pb.ReadChunk{ObjectId: id.Bytes(), Offset: 11, Length: 10}).(*pb.ObjectChunk)
	if c.GetError().GetKind() != pb.ErrorKind_ERROR_KIND_INVALID {
		t.Errorf("ReadChunk past the end: %v, want INVALID", c)
	}
	c = b.request(t, b.store, &pb.ReadChunk{ObjectId: id.Bytes(), Offset: 4, Length: 100}).(*pb.ObjectChunk)
	if c.Error != nil || string(c.Data) != "456789" || c.TotalSize != 10 || c.Offset != 4 {
		t.Errorf("ReadChunk clipped at the end: %v", c)
	}
	b.sys.Root.Send(b.store, &pb.CancelFetch{ObjectId: id.Bytes()}) // no requester: ignored
	if !b.holds(t, id) {
		t.Error("the store lost an object to malformed requests")
	}
}

// TestDirectoryRemoveNode reports the objects a dead node held the last
// copy of, and frees the others from the stores still holding them.
func TestDirectoryRemoveNode(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	b := newTNode(t, 1, nodeB, StoreConfig{})
	gen := NewIDGen()
	onlyB, both := gen.Next(), gen.Next()
	a.sys.Root.Send(a.dir, &pb.AddObject{ObjectId: onlyB.Bytes(), Size: 1, NodeId: nodeB})
	a.put(t, both, []byte("x"))
	a.sys.Root.Send(a.dir, &pb.AddLocation{ObjectId: both.Bytes(), NodeId: nodeB, Store: wirePID(b.store)})
	b.put(t, both, []byte("x"))

	r := a.request(t, a.dir, &pb.RemoveNode{NodeId: nodeB}).(*pb.ObjectsLost)
	if !r.Final || r.NodeId != nodeB || len(r.ObjectIds) != 1 || !bytes.Equal(r.ObjectIds[0], onlyB[:]) {
		t.Fatalf("RemoveNode reply: %v, want the one object only B held", r)
	}
	st := a.request(t, a.dir, &pb.ObjectStatus{ObjectId: both.Bytes()}).(*pb.ObjectStatusReply)
	if !slices.Equal(st.Locations, []string{nodeA}) {
		t.Errorf("locations after removing B: %v", st.Locations)
	}
	// B's store is forgotten with B: freeing deletes only A's copy.
	a.sys.Root.Send(a.dir, &pb.FreeObjects{ObjectIds: [][]byte{both.Bytes()}})
	eventually(t, "A's copy is deleted", func() bool { return !a.holds(t, both) })
	if !b.holds(t, both) {
		t.Error("the directory deleted a copy on a removed node")
	}
	r = a.request(t, a.dir, &pb.RemoveNode{NodeId: nodeC}).(*pb.ObjectsLost)
	if !r.Final || len(r.ObjectIds) != 0 {
		t.Errorf("RemoveNode of a node with no copies: %v", r)
	}
}

// TestTransferFetchDeadline sends a FetchObject with a deadline and no
// CancelFetch after it: the store answers CANCELLED at the deadline and
// ends the pull.
func TestTransferFetchDeadline(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	b := newTNode(t, 1, nodeB, StoreConfig{Transfer: TransferConfig{StallTimeout: time.Hour}})
	src, srcPID := newFakeSource(t, a, "fake")
	id := NewIDGen().Next()
	src.objects[id] = []byte("held")
	src.hold = true
	start := time.Now()
	r := b.request(t, b.store, &pb.FetchObject{ObjectId: id.Bytes(), Sources: []*pb.Pid{wirePID(srcPID)}, TimeoutMs: 200}).(*pb.GetObjectReply)
	if r.GetError().GetKind() != pb.ErrorKind_ERROR_KIND_CANCELLED {
		t.Fatalf("reply %v, want CANCELLED", r)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("answered after %v, before the deadline", d)
	}
	b.settled(t)
	src.release()
}
