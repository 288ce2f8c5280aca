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

// probe is an actor that hands every reply it receives to the test, in the
// order they arrive. Replies one actor sends it arrive in the order sent.
type probe struct {
	pid *actor.PID
	got chan any
}

func newProbe(sys *actor.ActorSystem) *probe {
	p := &probe{got: make(chan any, 64)}
	p.pid = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *pb.Result, *pb.Ack, *pb.StoreStats, *pb.GetObjectReply:
			p.got <- m
		}
	}))
	return p
}

// wire is the probe's PID as messages carry it.
func (p *probe) wire() *pb.Pid { return &pb.Pid{Address: p.pid.Address, Id: p.pid.Id} }

// next returns the next reply, failing the test at the deadline.
func (p *probe) next(t *testing.T) any {
	t.Helper()
	select {
	case m := <-p.got:
		return m
	case <-time.After(actorWait):
		t.Fatal("no reply reached the probe")
		return nil
	}
}

// requestAs sends msg to the store with p as its sender.
func (k *storeKit) requestAs(p *probe, msg any) {
	k.sys.Root.RequestWithCustomSender(k.pid, msg, p.pid)
}

// quiet checks that the store sent p nothing more before answering a stats
// request sent now.
func (k *storeKit) quiet(p *probe) {
	k.t.Helper()
	k.requestAs(p, &pb.GetStoreStats{})
	if m := p.next(k.t); !isStats(m) {
		k.t.Fatalf("unexpected reply %T %v", m, m)
	}
}

func isStats(m any) bool { _, ok := m.(*pb.StoreStats); return ok }

// TestStoreActorPutReportsOutcome: a Put reports its outcome to its owner as
// a Result, or else to its sender as an Ack.
func TestStoreActorPutReportsOutcome(t *testing.T) {
	type put struct {
		size   int
		seed   uint64
		same   bool // a put before the tested one, with its ID
		owner  bool // report to the probe as owner
		sender bool // send with the probe as sender
	}
	tests := []struct {
		name    string
		noSpill bool
		fail    bool // spill writes fail
		before  []put
		put     put
		// want: Result or Ack; kind is checked when wantErr.
		wantErr bool
		kind    pb.ErrorKind
	}{
		{name: "stored, owner told", put: put{size: 40, owner: true}},
		{name: "stored, sender told", put: put{size: 40, sender: true}},
		{name: "owner wins over sender", put: put{size: 40, owner: true, sender: true}},
		{name: "stored again, same size", before: []put{{size: 40, same: true}}, put: put{size: 40, seed: 9, owner: true}},
		{name: "stored on disk", put: put{size: 300, owner: true}},
		{name: "stored after spilling", before: []put{{size: 80}}, put: put{size: 60, owner: true}},
		{name: "size mismatch", before: []put{{size: 40, same: true}}, put: put{size: 41, owner: true},
			wantErr: true, kind: pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS},
		{name: "full without spilling, owner", noSpill: true, before: []put{{size: 80}}, put: put{size: 60, owner: true},
			wantErr: true, kind: pb.ErrorKind_ERROR_KIND_NO_CAPACITY},
		{name: "full without spilling, sender", noSpill: true, put: put{size: 101, sender: true},
			wantErr: true, kind: pb.ErrorKind_ERROR_KIND_NO_CAPACITY},
		{name: "disk write fails", fail: true, put: put{size: 300, owner: true},
			wantErr: true, kind: pb.ErrorKind_ERROR_KIND_SYSTEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newStoreKit(t, 100)
			if tt.noSpill {
				st, err := NewStore(StoreConfig{Capacity: 100})
				if err != nil {
					t.Fatal(err)
				}
				k.pid = k.sys.Root.Spawn(NewStoreActor(st, "node-a"))
			}
			id := k.gen.Next()
			if tt.fail {
				k.fs.failAll(fsWrite, k.path(id), errDisk)
			}
			want := payload(tt.put.seed, tt.put.size)
			for _, b := range tt.before {
				bid := k.gen.Next()
				if b.same {
					bid = id
				}
				k.put(bid, payload(b.seed, b.size))
				if b.same {
					want = payload(b.seed, b.size) // objects are immutable: the first bytes stay
				}
			}
			p := newProbe(k.sys)
			m := &pb.PutObject{ObjectId: id.Bytes(), Data: payload(tt.put.seed, tt.put.size)}
			if tt.put.owner {
				m.Owner = p.wire()
			}
			if tt.put.sender {
				k.requestAs(p, m)
			} else {
				k.sys.Root.Send(k.pid, m)
			}

			var gotErr *pb.Error
			switch r := p.next(t).(type) {
			case *pb.Result:
				if !tt.put.owner {
					t.Fatalf("Result %v sent, but the put has no owner", r)
				}
				if !bytes.Equal(r.ObjectId, id.Bytes()) {
					t.Fatalf("Result for object %x, want %v", r.ObjectId, id)
				}
				gotErr = r.Error
				if r.Error == nil && (r.StoreNode != "node-a" || r.Size != int64(tt.put.size)) {
					t.Fatalf("Result %v, want store node node-a and size %d", r, tt.put.size)
				}
			case *pb.Ack:
				if tt.put.owner {
					t.Fatalf("Ack %v sent, want a Result to the owner", r)
				}
				gotErr = r.Error
			default:
				t.Fatalf("reply %T %v", r, r)
			}
			if !tt.wantErr {
				if gotErr != nil {
					t.Fatalf("put failed: %v", gotErr)
				}
				// Reported only once readable: a Get sent now finds it.
				k.mustGet(id, want)
			} else if gotErr == nil || gotErr.Kind != tt.kind || gotErr.NodeId != "node-a" || !strings.Contains(gotErr.Message, id.String()) {
				t.Fatalf("error %v, want a %v error from node-a naming the object", gotErr, tt.kind)
			}
			k.quiet(p)
		})
	}
}

// TestStoreActorPutReportedWhenReadable: a Put that waits for room, or for
// its write to disk, is reported when that completes, not before, though its
// bytes are served meanwhile.
func TestStoreActorPutReportedWhenReadable(t *testing.T) {
	tests := []struct {
		name string
		hold func(k *storeKit, id ID) *fsGate // holds the I/O the put waits for
		size int
	}{
		{"waiting for a spill", func(k *storeKit, id ID) *fsGate {
			other := k.gen.Next()
			g := k.fs.hold(k.t, fsWrite, k.path(other))
			k.put(other, payload(5, 70))
			return g
		}, 60},
		{"written straight to disk", func(k *storeKit, id ID) *fsGate {
			return k.fs.hold(k.t, fsWrite, k.path(id))
		}, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newStoreKit(t, 100)
			id := k.gen.Next()
			data := payload(1, tt.size)
			gate := tt.hold(k, id)
			p := newProbe(k.sys)
			k.sys.Root.Send(k.pid, &pb.PutObject{ObjectId: id.Bytes(), Data: data, Owner: p.wire()})
			gate.wait(t)
			k.quiet(p) // no Result yet
			k.mustGet(id, data)
			gate.release()
			r, ok := p.next(t).(*pb.Result)
			if !ok || r.Error != nil || r.StoreNode != "node-a" || r.Size != int64(tt.size) {
				t.Fatalf("reply %v, want a successful Result", r)
			}
			k.mustGet(id, data)
			k.quiet(p)
		})
	}
}

// TestStoreActorRejectsMalformedMessages: a malformed request gets an
// INVALID error reply, stores and deletes nothing wrongly, and never crashes
// the actor.
func TestStoreActorRejectsMalformedMessages(t *testing.T) {
	nilID := make([]byte, IDLen)
	short, long := []byte("bad"), make([]byte, IDLen+1)
	long[0] = 1
	tests := []struct {
		name string
		msg  func(k *storeKit, p *probe, kept ID) any
		// ok wants a reply without error (the valid part of the request
		// was carried out); deleted says kept must be gone afterwards.
		ok, deleted bool
	}{
		{"put, short ID, owner", func(_ *storeKit, p *probe, _ ID) any {
			return &pb.PutObject{ObjectId: short, Data: []byte("x"), Owner: p.wire()}
		}, false, false},
		{"put, nil ID", func(*storeKit, *probe, ID) any { return &pb.PutObject{ObjectId: nilID, Data: []byte("x")} }, false, false},
		{"put, no ID", func(*storeKit, *probe, ID) any { return &pb.PutObject{Data: []byte("x")} }, false, false},
		{"put, long ID", func(*storeKit, *probe, ID) any { return &pb.PutObject{ObjectId: long, Data: []byte("x")} }, false, false},
		{"put, owner without address", func(k *storeKit, _ *probe, _ ID) any {
			return &pb.PutObject{ObjectId: k.gen.Next().Bytes(), Data: []byte("x"), Owner: &pb.Pid{Id: "owner"}}
		}, false, false},
		{"put, owner without ID", func(k *storeKit, _ *probe, _ ID) any {
			return &pb.PutObject{ObjectId: k.gen.Next().Bytes(), Data: []byte("x"), Owner: &pb.Pid{Address: "nonhost"}}
		}, false, false},
		{"put, nil message", func(*storeKit, *probe, ID) any { return (*pb.PutObject)(nil) }, false, false},
		{"get, short ID", func(*storeKit, *probe, ID) any { return &pb.GetObject{ObjectId: short} }, false, false},
		{"get, nil ID", func(*storeKit, *probe, ID) any { return &pb.GetObject{ObjectId: nilID} }, false, false},
		{"get, nil message", func(*storeKit, *probe, ID) any { return (*pb.GetObject)(nil) }, false, false},
		{"delete, one malformed ID", func(_ *storeKit, _ *probe, kept ID) any {
			return &pb.DeleteObjects{ObjectIds: [][]byte{short, kept.Bytes(), nil}}
		}, false, true},
		{"delete, nil message", func(*storeKit, *probe, ID) any { return (*pb.DeleteObjects)(nil) }, true, false},
		{"stats, nil message", func(*storeKit, *probe, ID) any { return (*pb.GetStoreStats)(nil) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newStoreKit(t, 100)
			kept := k.gen.Next()
			k.put(kept, []byte("kept"))
			p := newProbe(k.sys)
			k.requestAs(p, tt.msg(k, p, kept))

			var e *pb.Error
			switch r := p.next(t).(type) {
			case *pb.Result:
				if !bytes.Equal(r.ObjectId, short) {
					t.Fatalf("Result for object %x, want the ID the put carried", r.ObjectId)
				}
				e = r.Error
			case *pb.Ack:
				e = r.Error
			case *pb.GetObjectReply:
				e = r.Error
			case *pb.StoreStats:
			default:
				t.Fatalf("reply %T %v", r, r)
			}
			switch {
			case tt.ok && e != nil:
				t.Fatalf("error %v, want none", e)
			case !tt.ok && (e == nil || e.Kind != pb.ErrorKind_ERROR_KIND_INVALID || e.NodeId != "node-a" || !strings.Contains(e.Message, "invalid")):
				t.Fatalf("error %v, want an INVALID error from node-a that says what is invalid", e)
			}
			k.quiet(p)
			if tt.deleted {
				if r := k.request(&pb.GetObject{ObjectId: kept.Bytes()}).(*pb.GetObjectReply); r.Error == nil {
					t.Fatal("the valid ID in the delete was not deleted")
				}
				return
			}
			k.mustGet(kept, []byte("kept"))
			if s := k.stats(); s.Objects != 1 {
				t.Fatalf("%d objects stored, want only the one put before", s.Objects)
			}
		})
	}
}
