package objects

import (
	"bytes"
	"errors"
	"io/fs"
	"slices"
	"testing"
)

// ioStore is a Store whose file operations the test performs by hand, in the
// order it chooses, against an in-memory file system.
type ioStore struct {
	t *testing.T
	*Store
	fs  *memFS
	got []outcome // outcomes taken from the store, not yet checked
}

func newIOStore(t *testing.T, capacity int64) *ioStore {
	t.Helper()
	f := newMemFS(t)
	s, err := NewStore(StoreConfig{Capacity: capacity, SpillDir: "/spill", FS: f})
	if err != nil {
		t.Fatal(err)
	}
	return &ioStore{t: t, Store: s, fs: f}
}

// pending takes every file operation the store has issued.
func (s *ioStore) pending() []*ioOp {
	var ops []*ioOp
	for op := s.nextIO(); op != nil; op = s.nextIO() {
		ops = append(ops, op)
	}
	return ops
}

// one takes the only issued file operation, which must be kind on id.
func (s *ioStore) one(kind ioKind, id ID) *ioOp {
	s.t.Helper()
	ops := s.pending()
	if len(ops) != 1 || ops[0].kind != kind || ops[0].id != id {
		s.t.Fatalf("issued %s, want only %s", describeOps(ops), describeOps([]*ioOp{{kind: kind, id: id}}))
	}
	return ops[0]
}

// run performs op and hands the result back.
func (s *ioStore) run(op *ioOp) {
	s.finish(runIO(s.fs, op))
	checkInvariants(s.t, s.Store)
}

// fail hands back op as failed with err, without performing it.
func (s *ioStore) fail(op *ioOp, err error) {
	s.finish(ioResult{op: op, err: err})
	checkInvariants(s.t, s.Store)
}

// settle performs file operations until none is left.
func (s *ioStore) settle() {
	for ops := s.pending(); len(ops) > 0; ops = s.pending() {
		for _, op := range ops {
			s.run(op)
		}
	}
}

func (s *ioStore) mustPutNow(id ID, data []byte) {
	s.t.Helper()
	if t, err := s.put(id, data); t != 0 || err != nil {
		s.t.Fatalf("put(%v) = ticket %d, %v; want stored at once", id, t, err)
	}
	checkInvariants(s.t, s.Store)
}

// putWaits puts an object whose outcome must wait for I/O.
func (s *ioStore) putWaits(id ID, data []byte) ticket {
	s.t.Helper()
	t, err := s.put(id, data)
	if t == 0 || err != nil {
		s.t.Fatalf("put(%v) = ticket %d, %v; want a wait", id, t, err)
	}
	checkInvariants(s.t, s.Store)
	return t
}

// served checks that a Get of id is answered at once with want.
func (s *ioStore) served(id ID, want []byte) {
	s.t.Helper()
	data, t, err := s.get(id)
	if t != 0 || err != nil || !bytes.Equal(data, want) {
		s.t.Fatalf("get(%v) = %d bytes, ticket %d, %v; want the bytes at once", id, len(data), t, err)
	}
}

// outcome takes the outcome of t, which must have been produced.
func (s *ioStore) outcome(t ticket) outcome {
	s.t.Helper()
	s.got = append(s.got, s.takeOutcomes()...)
	for i, o := range s.got {
		if o.ticket == t {
			s.got = slices.Delete(s.got, i, i+1)
			return o
		}
	}
	s.t.Fatalf("no outcome for ticket %d", t)
	return outcome{}
}

// noOutcomes checks that no outcome is left unchecked.
func (s *ioStore) noOutcomes() {
	s.t.Helper()
	if out := append(s.got, s.takeOutcomes()...); len(out) != 0 {
		s.t.Fatalf("unexpected outcomes %+v", out)
	}
}

// dropOutcomes forgets the outcomes produced so far.
func (s *ioStore) dropOutcomes() {
	s.got = nil
	s.takeOutcomes()
}

func describeOps(ops []*ioOp) string {
	var b bytes.Buffer
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString([]string{ioWrite: "write", ioRead: "read", ioRemove: "remove"}[op.kind])
		b.WriteString(" ")
		b.WriteString(op.id.String()[24:])
	}
	return "[" + b.String() + "]"
}

var errDisk = errors.New("disk on fire")

// TestStoreSpillKeepsBytesUntilWritten: an object being spilled is still
// served and still counts as used; an object waiting for the room it makes is
// served but admitted only when the write completes.
func TestStoreSpillKeepsBytesUntilWritten(t *testing.T) {
	s := newIOStore(t, 100)
	a, b, c := ID{1}, ID{2}, ID{3}
	da, db, dc := payload(1, 60), payload(2, 60), payload(3, 30)
	s.mustPutNow(a, da)
	tb := s.putWaits(b, db)
	write := s.one(ioWrite, a)
	st := s.Stats()
	if where(s.Store, a) != "spilling" || where(s.Store, b) != "admitting" ||
		st.UsedBytes != 60 || st.SpillingBytes != 60 || st.ReservedBytes != 60 || st.Pending != 1 {
		t.Fatalf("while spilling: a %s, b %s, stats %+v", where(s.Store, a), where(s.Store, b), st)
	}
	s.served(a, da)
	s.served(b, db)
	// c fits in what is free now, but not beside b's reservation: it waits
	// too, and nothing more needs spilling.
	tc := s.putWaits(c, dc)
	if ops := s.pending(); len(ops) != 0 {
		t.Fatalf("second put issued %s", describeOps(ops))
	}
	s.noOutcomes()

	s.run(write)
	if o := s.outcome(tb); o.err != nil {
		t.Fatalf("b: %v", o.err)
	}
	if o := s.outcome(tc); o.err != nil {
		t.Fatalf("c: %v", o.err)
	}
	st = s.Stats()
	if where(s.Store, a) != "disk" || where(s.Store, b) != "memory" || where(s.Store, c) != "memory" ||
		st.UsedBytes != 90 || st.SpilledBytes != 60 || st.SpillCount != 1 {
		t.Fatalf("after the write: a %s, b %s, c %s, stats %+v", where(s.Store, a), where(s.Store, b), where(s.Store, c), st)
	}
	if !s.fs.has(spillPathOf("/spill", a)) {
		t.Fatalf("no spill file for a: %v", s.fs.paths())
	}
}

// TestStoreSpillFailure: when a spill write fails, its object stays in memory
// and the object that was waiting for the room goes to disk instead.
func TestStoreSpillFailure(t *testing.T) {
	tests := []struct {
		name       string
		writeFails bool // the fallback write of the new object fails too
	}{
		{"new object written to disk instead", false},
		{"new object cannot be stored", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIOStore(t, 100)
			a, b := ID{1}, ID{2}
			da, db := payload(1, 60), payload(2, 60)
			s.mustPutNow(a, da)
			tb := s.putWaits(b, db)
			s.fail(s.one(ioWrite, a), errDisk)
			if where(s.Store, a) != "memory" || where(s.Store, b) != "writing" {
				t.Fatalf("after the failed spill: a %s, b %s", where(s.Store, a), where(s.Store, b))
			}
			s.noOutcomes()
			s.served(b, db)
			w := s.one(ioWrite, b)
			if !tt.writeFails {
				s.run(w)
				if o := s.outcome(tb); o.err != nil {
					t.Fatalf("b: %v", o.err)
				}
				if where(s.Store, b) != "disk" {
					t.Fatalf("b in %s, want disk", where(s.Store, b))
				}
				return
			}
			s.fail(w, errDisk)
			if o := s.outcome(tb); !errors.Is(o.err, errDisk) {
				t.Fatalf("b: error %v, want %v", o.err, errDisk)
			}
			if s.Contains(b) || where(s.Store, a) != "memory" {
				t.Fatalf("b stored %v, a in %s", s.Contains(b), where(s.Store, a))
			}
		})
	}
}

// TestStoreDeleteDuringIO: a Delete wins over I/O under way. The object is
// gone at once, waiting requests fail with ErrObjectDeleted, and the file the
// I/O leaves behind is removed when it returns.
func TestStoreDeleteDuringIO(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *ioStore, id ID) (io *ioOp, waiting []ticket)
	}{
		{"spilling", func(s *ioStore, id ID) (*ioOp, []ticket) {
			s.mustPutNow(id, payload(1, 60))
			s.putWaits(ID{9}, payload(9, 60))
			return s.one(ioWrite, id), nil
		}},
		{"restoring", func(s *ioStore, id ID) (*ioOp, []ticket) {
			s.mustPutNow(id, payload(1, 60))
			s.putWaits(ID{9}, payload(9, 60))
			s.run(s.one(ioWrite, id))
			s.dropOutcomes()
			var ts []ticket
			for range 2 {
				_, tk, err := s.get(id)
				if tk == 0 || err != nil {
					s.t.Fatalf("get of a spilled object: ticket %d, %v", tk, err)
				}
				ts = append(ts, tk)
			}
			return s.one(ioRead, id), ts
		}},
		{"writing straight to disk", func(s *ioStore, id ID) (*ioOp, []ticket) {
			tk := s.putWaits(id, payload(1, 200))
			return s.one(ioWrite, id), []ticket{tk}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newIOStore(t, 100)
			id := ID{1}
			op, waiting := tt.setup(s, id)
			if !s.Delete(id) {
				t.Fatal("Delete = false")
			}
			checkInvariants(t, s.Store)
			for _, tk := range waiting {
				if o := s.outcome(tk); !errors.Is(o.err, ErrObjectDeleted) {
					t.Fatalf("waiting request: %v, want ErrObjectDeleted", o.err)
				}
			}
			if s.Contains(id) {
				t.Fatal("deleted object still stored")
			}
			s.run(op)
			s.settle()
			if s.fs.has(spillPathOf("/spill", id)) {
				t.Fatalf("spill file left: %v", s.fs.paths())
			}
			if _, err := s.Get(id); !errors.Is(err, ErrObjectNotFound) {
				t.Fatalf("Get after Delete: %v", err)
			}
			checkInvariants(t, s.Store)
		})
	}
}

// TestStoreRestoreFailureKeepsObject: a failed restore read fails the waiting
// Gets and leaves the object on disk, to be read again later.
func TestStoreRestoreFailureKeepsObject(t *testing.T) {
	s := newIOStore(t, 100)
	a, b := ID{1}, ID{2}
	da := payload(1, 60)
	s.mustPutNow(a, da)
	s.putWaits(b, payload(2, 60))
	s.settle()
	s.dropOutcomes()
	_, tk, _ := s.get(a)
	s.fail(s.one(ioRead, a), errDisk)
	if o := s.outcome(tk); !errors.Is(o.err, errDisk) {
		t.Fatalf("Get: %v, want %v", o.err, errDisk)
	}
	if where(s.Store, a) != "disk" {
		t.Fatalf("a in %s, want disk", where(s.Store, a))
	}
	got, err := s.Get(a)
	if err != nil || !bytes.Equal(got, da) {
		t.Fatalf("second Get: %d bytes, %v", len(got), err)
	}
}

// TestStoreFileOpsOrderedPerObject: operations on one object's spill file
// never overlap and run in the order the store needs them, even when the
// object is spilled again, or deleted and put again, while an earlier
// operation on its file runs.
func TestStoreFileOpsOrderedPerObject(t *testing.T) {
	t.Run("spilled again before the restored file is removed", func(t *testing.T) {
		s := newIOStore(t, 100)
		a, b, c := ID{1}, ID{2}, ID{3}
		s.mustPutNow(a, payload(1, 60))
		s.putWaits(b, payload(2, 60))
		s.settle() // a on disk, b in memory
		_, tk, _ := s.get(a)
		s.run(s.one(ioRead, a))
		s.outcome(tk)
		s.settle() // b spilled, a restored; its old file removed
		s.dropOutcomes()
		if where(s.Store, a) != "memory" || s.fs.has(spillPathOf("/spill", a)) {
			t.Fatalf("a in %s, files %v", where(s.Store, a), s.fs.paths())
		}
		// Restore b: that spills a while b's file removal is still to come,
		// then spill b again while its removal is pending.
		_, tk, _ = s.get(b)
		s.run(s.one(ioRead, b))
		s.outcome(tk)
		write := s.one(ioWrite, a)
		s.run(write)
		remove := s.one(ioRemove, b)
		s.putWaits(c, payload(3, 60)) // spills b: its write must wait for the removal
		if ops := s.pending(); len(ops) != 0 {
			t.Fatalf("issued %s while b's file is being removed", describeOps(ops))
		}
		s.run(remove)
		s.run(s.one(ioWrite, b))
		if !s.fs.has(spillPathOf("/spill", b)) || where(s.Store, b) != "disk" {
			t.Fatalf("b in %s, files %v", where(s.Store, b), s.fs.paths())
		}
	})
	t.Run("put again while the deleted object's spill write runs", func(t *testing.T) {
		s := newIOStore(t, 100)
		a, b := ID{1}, ID{2}
		s.mustPutNow(a, payload(1, 60))
		s.putWaits(b, payload(2, 60))
		oldWrite := s.one(ioWrite, a)
		s.Delete(a)
		s.runIO()
		// a again, too big for memory: its write waits for the old one and
		// for the removal of the file the old one leaves.
		ta := s.putWaits(a, payload(7, 200))
		if ops := s.pending(); len(ops) != 0 {
			t.Fatalf("issued %s while a's old write runs", describeOps(ops))
		}
		s.run(oldWrite)
		s.run(s.one(ioRemove, a))
		s.run(s.one(ioWrite, a))
		if o := s.outcome(ta); o.err != nil {
			t.Fatalf("put: %v", o.err)
		}
		got, err := s.Get(a)
		if err != nil || !bytes.Equal(got, payload(7, 200)) {
			t.Fatalf("Get: %d bytes, %v", len(got), err)
		}
	})
}

// TestStoreCloseRemovesFilesOfUnappliedIO: files written by operations whose
// results never reached the store are removed too. (Whether the spill
// directory was created is learned from those results, so it may be left;
// the store actor applies every result before it closes the store.)
func TestStoreCloseRemovesFilesOfUnappliedIO(t *testing.T) {
	s := newIOStore(t, 100)
	a, b, c := ID{1}, ID{2}, ID{3}
	s.mustPutNow(a, payload(1, 60))
	tb := s.putWaits(b, payload(2, 60))
	runIO(s.fs, s.one(ioWrite, a)) // performed, result never handed back
	tc := s.putWaits(c, payload(3, 500))
	runIO(s.fs, s.one(ioWrite, c))
	if len(s.fs.paths()) != 2 {
		t.Fatalf("files %v", s.fs.paths())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []ticket{tb, tc} {
		if o := s.outcome(tk); !errors.Is(o.err, ErrStoreClosed) {
			t.Fatalf("waiting put: %v, want ErrStoreClosed", o.err)
		}
	}
	if files := s.fs.paths(); len(files) != 0 {
		t.Fatalf("files left after Close: %v", files)
	}
}

// TestStoreSyncCallsWithIOHandedOut: the synchronous methods report
// ErrStoreBusy rather than hang when I/O they need is held elsewhere.
func TestStoreSyncCallsWithIOHandedOut(t *testing.T) {
	s := newIOStore(t, 100)
	a := ID{1}
	s.mustPutNow(a, payload(1, 60))
	s.putWaits(ID{2}, payload(2, 60))
	s.settle()
	s.dropOutcomes()
	_, _, _ = s.get(a)
	held := s.pending()
	if _, err := s.Get(a); !errors.Is(err, ErrStoreBusy) {
		t.Fatalf("Get with the read handed out: %v, want ErrStoreBusy", err)
	}
	for _, op := range held {
		s.run(op)
	}
	if _, err := s.Get(a); err != nil {
		t.Fatal(err)
	}
}

// TestStoreStaleIOResultIgnored: a result the store does not wait for, such
// as one applied twice, changes nothing.
func TestStoreStaleIOResultIgnored(t *testing.T) {
	s := newIOStore(t, 100)
	s.mustPutNow(ID{1}, payload(1, 60))
	s.putWaits(ID{2}, payload(2, 60))
	op := s.one(ioWrite, ID{1})
	r := runIO(s.fs, op)
	s.finish(r)
	before := s.Stats()
	s.finish(r)
	s.finish(ioResult{op: &ioOp{kind: ioRead, id: ID{1}, path: op.path}, err: fs.ErrNotExist})
	if after := s.Stats(); after != before {
		t.Fatalf("stats changed from %+v to %+v", before, after)
	}
	checkInvariants(t, s.Store)
	if out := append(s.got, s.takeOutcomes()...); len(out) != 1 || out[0].id != (ID{2}) || out[0].err != nil {
		t.Fatalf("outcomes %+v, want only the waiting put's success", out)
	}
}
