package objects

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

func TestStoreActorMessages(t *testing.T) {
	sys := quietSystem(t)
	st, err := NewStore(StoreConfig{Capacity: 100, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pid := sys.Root.Spawn(NewStoreActor(st, "node-a"))
	request := func(msg any) any {
		t.Helper()
		res, err := sys.Root.RequestFuture(pid, msg, actorWait).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	gen := NewIDGen()
	a, b, c := gen.Next(), gen.Next(), gen.Next()
	for _, m := range []*pb.PutObject{
		{ObjectId: a.Bytes(), Data: bytes.Repeat([]byte("a"), 60)},
		{ObjectId: b.Bytes(), Data: bytes.Repeat([]byte("b"), 60)}, // spills a
		{ObjectId: []byte("bad"), Data: []byte("x")},
		{ObjectId: c.Bytes(), Data: nil},
	} {
		sys.Root.Send(pid, m)
	}
	// Spill writes run off the actor: wait until a is on disk, so that
	// reading it restores it.
	eventually(t, "a is spilled", func() bool { return request(&pb.GetStoreStats{}).(*pb.StoreStats).Spilled == 1 })

	tests := []struct {
		name     string
		id       []byte
		want     []byte
		wantKind pb.ErrorKind
	}{
		{"in memory", b.Bytes(), bytes.Repeat([]byte("b"), 60), 0},
		{"spilled", a.Bytes(), bytes.Repeat([]byte("a"), 60), 0},
		{"empty object", c.Bytes(), nil, 0},
		{"unknown", gen.Next().Bytes(), nil, pb.ErrorKind_ERROR_KIND_OBJECT_LOST},
		{"malformed ID", []byte("bad"), nil, pb.ErrorKind_ERROR_KIND_INVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(&pb.GetObject{ObjectId: tt.id}).(*pb.GetObjectReply)
			if tt.wantKind != 0 {
				if r.Error == nil || r.Error.Kind != tt.wantKind || r.Error.NodeId != "node-a" {
					t.Fatalf("reply %+v, want a %v error from node-a", r, tt.wantKind)
				}
				return
			}
			if r.Error != nil || !bytes.Equal(r.Data, tt.want) {
				t.Fatalf("reply %q, %v", r.Data, r.Error)
			}
		})
	}

	// A restore completes once the spill making room for it is written,
	// after the Get was answered.
	eventually(t, "a is restored", func() bool {
		stats := request(&pb.GetStoreStats{}).(*pb.StoreStats)
		if stats.Objects != 3 || stats.Capacity != 100 || stats.SpillCount == 0 {
			t.Fatalf("stats %+v", stats)
		}
		return stats.RestoreCount > 0
	})
	sys.Root.Send(pid, &pb.DeleteObjects{ObjectIds: [][]byte{a.Bytes(), []byte("bad"), gen.Next().Bytes()}})
	if r := request(&pb.GetObject{ObjectId: a.Bytes()}).(*pb.GetObjectReply); r.Error == nil || !strings.Contains(r.Error.Message, a.String()) {
		t.Errorf("deleted object: %+v", r)
	}
	if stats := request(&pb.GetStoreStats{}).(*pb.StoreStats); stats.Objects != 2 {
		t.Errorf("%d objects after a delete, want 2", stats.Objects)
	}
}

func TestStoreActorStopClosesStore(t *testing.T) {
	sys := quietSystem(t)
	dir := t.TempDir()
	st, err := NewStore(StoreConfig{Capacity: 10, SpillDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	pid := sys.Root.Spawn(NewStoreActor(st, "n"))
	gen := NewIDGen()
	for range 3 {
		sys.Root.Send(pid, &pb.PutObject{ObjectId: gen.Next().Bytes(), Data: make([]byte, 8)})
	}
	// Spill writes run off the actor: wait for them.
	eventually(t, "something is spilled", func() bool {
		res, err := sys.Root.RequestFuture(pid, &pb.GetStoreStats{}, actorWait).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res.(*pb.StoreStats).Spilled > 0
	})
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("spill files left after the store actor stopped: %v", entries)
	}
	if err := st.Put(gen.Next(), []byte("x")); err == nil {
		t.Error("the store accepts puts after its actor stopped")
	}
}

// storeKit is a store actor over an in-memory file system.
type storeKit struct {
	t     *testing.T
	sys   *actor.ActorSystem
	fs    *memFS
	dir   string
	store *Store
	pid   *actor.PID
	gen   *IDGen
}

func newStoreKit(t *testing.T, capacity int64) *storeKit {
	t.Helper()
	k := &storeKit{t: t, sys: quietSystem(t), fs: newMemFS(t), dir: "/spill", gen: NewIDGen()}
	st, err := NewStore(StoreConfig{Capacity: capacity, SpillDir: k.dir, FS: k.fs})
	if err != nil {
		t.Fatal(err)
	}
	k.store = st
	k.pid = k.sys.Root.Spawn(NewStoreActor(st, "node-a"))
	return k
}

func (k *storeKit) request(msg any) any {
	k.t.Helper()
	res, err := k.sys.Root.RequestFuture(k.pid, msg, actorWait).Result()
	if err != nil {
		k.t.Fatalf("request %T: %v", msg, err)
	}
	return res
}

func (k *storeKit) put(id ID, data []byte) {
	k.sys.Root.Send(k.pid, &pb.PutObject{ObjectId: id.Bytes(), Data: data})
}

func (k *storeKit) stats() *pb.StoreStats {
	k.t.Helper()
	return k.request(&pb.GetStoreStats{}).(*pb.StoreStats)
}

// mustGet asks the store actor for id and checks the bytes it answers.
func (k *storeKit) mustGet(id ID, want []byte) {
	k.t.Helper()
	r := k.request(&pb.GetObject{ObjectId: id.Bytes()}).(*pb.GetObjectReply)
	if r.Error != nil || !bytes.Equal(r.Data, want) {
		k.t.Fatalf("Get(%v) = %d bytes, error %v; want the %d bytes put", id, len(r.Data), r.Error, len(want))
	}
}

func (k *storeKit) path(id ID) string { return spillPathOf(k.dir, id) }

// TestStoreActorServesGetsWhileSpillWriteBlocked: a spill write that does
// not return must not stall the store actor's other work.
func TestStoreActorServesGetsWhileSpillWriteBlocked(t *testing.T) {
	k := newStoreKit(t, 100)
	a, b, c := k.gen.Next(), k.gen.Next(), k.gen.Next()
	da, db, dc := payload(1, 60), payload(2, 60), payload(3, 10)
	k.put(a, da)
	k.put(c, dc)
	gate := k.fs.hold(t, fsWrite, k.path(a))
	k.put(b, db) // makes room by spilling a, the least recently used
	gate.wait(t)

	k.mustGet(c, dc) // in memory
	k.mustGet(a, da) // being spilled: still served from memory
	k.mustGet(b, db) // waiting for the room a's spill makes
	if s := k.stats(); s.Spilled != 0 || s.Objects != 3 {
		t.Fatalf("stats while the spill write is held: %+v", s)
	}

	gate.release()
	eventually(t, "a is on disk", func() bool {
		s := k.stats()
		return s.Spilled == 1 && s.InMemory == 2 && s.UsedBytes == 70
	})
	if !k.fs.has(k.path(a)) {
		t.Fatalf("no spill file for a: %v", k.fs.paths())
	}
	k.mustGet(a, da)
}

// spillOne puts a and then b into a store of capacity 100, so that a is
// spilled to make room for b, and waits until it is on disk.
func (k *storeKit) spillOne(a, b ID, da, db []byte) {
	k.t.Helper()
	k.put(a, da)
	k.put(b, db)
	eventually(k.t, "a is on disk", func() bool { return k.stats().Spilled == 1 && k.fs.has(k.path(a)) })
}

// TestStoreActorGetWaitsForRestore: a Get of a spilled object is answered
// when the read from disk completes, with the bytes or with the reason it
// failed, and a Delete during the read wins.
func TestStoreActorGetWaitsForRestore(t *testing.T) {
	tests := []struct {
		name string
		// during runs while the read is held; end releases it.
		during  func(k *storeKit, a ID)
		end     func(g *fsGate)
		wantErr string // in the Get's error; "" wants the bytes
		kind    pb.ErrorKind
		stored  bool // a is still stored afterwards
	}{
		{"read completes", nil, (*fsGate).release, "", 0, true},
		{"read fails", nil, func(g *fsGate) { g.fail(errDisk) }, errDisk.Error(), pb.ErrorKind_ERROR_KIND_OBJECT_LOST, true},
		{"deleted during the read", func(k *storeKit, a ID) {
			k.sys.Root.Send(k.pid, &pb.DeleteObjects{ObjectIds: [][]byte{a.Bytes()}})
		}, (*fsGate).release, "deleted", pb.ErrorKind_ERROR_KIND_OBJECT_FREED, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newStoreKit(t, 100)
			a, b := k.gen.Next(), k.gen.Next()
			da, db := payload(1, 60), payload(2, 60)
			k.spillOne(a, b, da, db)

			gate := k.fs.hold(t, fsRead, k.path(a))
			reply := k.sys.Root.RequestFuture(k.pid, &pb.GetObject{ObjectId: a.Bytes()}, actorWait)
			gate.wait(t)
			k.mustGet(b, db) // the actor is not blocked by the read
			if tt.during != nil {
				tt.during(k, a)
			}
			tt.end(gate)
			res, err := reply.Result()
			if err != nil {
				t.Fatalf("Get of a restoring object: %v", err)
			}
			r := res.(*pb.GetObjectReply)
			if tt.wantErr == "" {
				if r.Error != nil || !bytes.Equal(r.Data, da) {
					t.Fatalf("reply: %d bytes, error %v", len(r.Data), r.Error)
				}
			} else if r.Error == nil || r.Error.Kind != tt.kind || !strings.Contains(r.Error.Message, tt.wantErr) ||
				!strings.Contains(r.Error.Message, a.String()) || len(r.Data) != 0 {
				t.Fatalf("reply %v, want a %v error naming the object and saying %q", r, tt.kind, tt.wantErr)
			}
			if !tt.stored {
				eventually(t, "a's spill file is removed", func() bool { return !k.fs.has(k.path(a)) })
				if s := k.stats(); s.Objects != 1 || s.Spilled != 0 {
					t.Fatalf("stats after the delete: %+v", s)
				}
				return
			}
			k.mustGet(a, da)
		})
	}
}

// TestStoreActorDeleteDuringSpill: deleting an object whose spill write is
// under way removes the file the write leaves, and the object waiting for the
// room is admitted.
func TestStoreActorDeleteDuringSpill(t *testing.T) {
	k := newStoreKit(t, 100)
	a, b := k.gen.Next(), k.gen.Next()
	db := payload(2, 60)
	gate := k.fs.hold(t, fsWrite, k.path(a))
	k.put(a, payload(1, 60))
	k.put(b, db)
	gate.wait(t)
	k.sys.Root.Send(k.pid, &pb.DeleteObjects{ObjectIds: [][]byte{a.Bytes()}})
	if r := k.request(&pb.GetObject{ObjectId: a.Bytes()}).(*pb.GetObjectReply); r.Error == nil {
		t.Fatal("deleted object still served")
	}
	gate.release()
	eventually(t, "the spill file is removed", func() bool {
		_, _, finished := k.fs.stats()
		return finished >= 3 && !k.fs.has(k.path(a)) // mkdir, write, remove
	})
	if s := k.stats(); s.Objects != 1 || s.InMemory != 1 || s.Spilled != 0 || s.UsedBytes != 60 {
		t.Fatalf("stats %+v", s)
	}
	k.mustGet(b, db)
}

// TestStoreActorStopWaitsForIO: stopping the actor waits for the I/O under
// way and then removes every spill file, including the one it was writing.
func TestStoreActorStopWaitsForIO(t *testing.T) {
	waiting := make(chan struct{}, 1)
	l := slog.New(&signalHandler{msg: storeWaitingMsg, ch: waiting})
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return l }))
	t.Cleanup(sys.Shutdown)
	f := newMemFS(t)
	st, err := NewStore(StoreConfig{Capacity: 100, SpillDir: "/spill", FS: f})
	if err != nil {
		t.Fatal(err)
	}
	pid := sys.Root.Spawn(NewStoreActor(st, "n"))
	gen := NewIDGen()
	a, b := gen.Next(), gen.Next()
	gate := f.hold(t, fsWrite, spillPathOf("/spill", a))
	sys.Root.Send(pid, &pb.PutObject{ObjectId: a.Bytes(), Data: payload(1, 60)})
	sys.Root.Send(pid, &pb.PutObject{ObjectId: b.Bytes(), Data: payload(2, 60)})
	gate.wait(t)

	stopped := sys.Root.StopFuture(pid)
	select {
	case <-waiting:
	case <-time.After(actorWait):
		t.Fatal("the stopping store actor did not wait for its spill write")
	}
	gate.release()
	if err := stopped.Wait(); err != nil {
		t.Fatal(err)
	}
	if active, _, _ := f.stats(); active != 0 {
		t.Errorf("%d file operations still running after stop", active)
	}
	eventually(t, "no file operation runs", func() bool { active, _, _ := f.stats(); return active == 0 })
	if files := f.paths(); len(files) != 0 {
		t.Fatalf("spill files left after stop: %v", files)
	}
	if _, err := st.Get(a); !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("Get after stop: %v", err)
	}
}

// signalHandler is a slog handler that signals ch when a record with message
// msg is logged, and drops every record.
type signalHandler struct {
	msg string
	ch  chan struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *signalHandler) WithGroup(string) slog.Handler      { return h }

// TestStoreActorIOBounded: no more file operations run at once than the
// store has I/O workers.
func TestStoreActorIOBounded(t *testing.T) {
	const workers = 2
	sys := quietSystem(t)
	f := newMemFS(t)
	st, err := NewStore(StoreConfig{Capacity: 10, SpillDir: "/spill", FS: f, IOWorkers: workers})
	if err != nil {
		t.Fatal(err)
	}
	pid := sys.Root.Spawn(NewStoreActor(st, "n"))
	gen := NewIDGen()
	const n = 6
	var gates []*fsGate
	for range n { // each too big for memory: written straight to disk
		id := gen.Next()
		gates = append(gates, f.hold(t, fsWrite, spillPathOf("/spill", id)))
		sys.Root.Send(pid, &pb.PutObject{ObjectId: id.Bytes(), Data: payload(1, 20)})
	}
	for i, g := range gates {
		g.wait(t)
		if i+workers < n {
			// The next write starts only when this one is released.
			if active, _, _ := f.stats(); active > workers {
				t.Fatalf("%d file operations at once, %d workers", active, workers)
			}
		}
		g.release()
	}
	eventually(t, "every object is on disk", func() bool { return len(f.paths()) == n })
	if _, peak, _ := f.stats(); peak > workers {
		t.Fatalf("%d file operations ran at once, %d workers", peak, workers)
	}
}

// TestIOPoolFill: the pool starts no more jobs than its limit and starts the
// next one when a job is done.
func TestIOPoolFill(t *testing.T) {
	var queue []*ioOp
	for i := range 5 {
		queue = append(queue, &ioOp{id: ID{byte(i + 1)}})
	}
	next := func() *ioOp {
		if len(queue) == 0 {
			return nil
		}
		op := queue[0]
		queue = queue[1:]
		return op
	}
	release := make(chan struct{})
	run := func(*ioJob) { <-release }
	p := ioPool{limit: 2}
	p.fill(next, run)
	if len(p.running) != 2 || len(queue) != 3 {
		t.Fatalf("%d running, %d queued; want 2 and 3", len(p.running), len(queue))
	}
	p.fill(next, run)
	if len(p.running) != 2 || len(queue) != 3 {
		t.Fatalf("second fill: %d running, %d queued", len(p.running), len(queue))
	}
	if !p.done(p.running[0]) || p.done(&ioJob{}) {
		t.Fatal("done misreports which jobs run")
	}
	p.fill(next, run)
	if len(p.running) != 2 || len(queue) != 2 {
		t.Fatalf("after one is done: %d running, %d queued", len(p.running), len(queue))
	}
	close(release)
	if jobs := p.wait(); len(jobs) != 2 || len(p.running) != 0 {
		t.Fatalf("wait handed over %d jobs, %d left", len(jobs), len(p.running))
	}
}
