package objects

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
)

const kib = 1 << 10
const mib = 1 << 20

// payload returns n deterministic pseudo-random bytes distinct per seed.
func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}).Read(b) // never fails
	return b
}

func newTestStore(t *testing.T, capacity int64) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spill")
	s, err := NewStore(StoreConfig{Capacity: capacity, SpillDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

// where reports "memory", "disk" or "absent" for id, or the name of a
// transient state such as "spilling".
func where(s *Store, id ID) string {
	e, ok := s.objects[id]
	switch {
	case !ok:
		return "absent"
	default:
		return e.state.String()
	}
}

// spillFiles lists the names of the files in dir; a missing dir is empty.
func spillFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func mustPut(t *testing.T, s *Store, id ID, data []byte) {
	t.Helper()
	if err := s.Put(id, data); err != nil {
		t.Fatalf("Put(%v): %v", id, err)
	}
}

func mustGet(t *testing.T, s *Store, id ID, want []byte) {
	t.Helper()
	got, err := s.Get(id)
	if err != nil {
		t.Fatalf("Get(%v): %v", id, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%v) returned %d bytes that differ from the %d put", id, len(got), len(want))
	}
}

// checkInvariants recomputes the accounting from the entries and checks the
// capacity rules.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	var count [numStates]int
	var size [numStates]int64
	var pinned int64
	for id, e := range s.objects {
		if e.id != id || e.state == stateNone || e.deleted {
			t.Fatalf("entry %v: id %v, state %v, deleted %v", id, e.id, e.state, e.deleted)
		}
		count[e.state]++
		size[e.state] += e.size
		if e.state == stateMemory && e.pins > 0 {
			pinned += e.size
		}
		if held := e.data != nil || e.size == 0; held != (e.state != stateDisk && e.state != stateRestoring) {
			t.Fatalf("entry %v in state %v holds data: %v", id, e.state, e.data != nil)
		}
		if onDisk := e.path != ""; onDisk != (e.state == stateDisk || e.state == stateRestoring || e.state == stateRestored) {
			t.Fatalf("entry %v in state %v has path %q", id, e.state, e.path)
		}
	}
	if count != s.count || size != s.bytes {
		t.Fatalf("per-state counts %v bytes %v, entries give %v %v", s.count, s.bytes, count, size)
	}
	st := s.Stats()
	used := size[stateMemory] + size[stateSpilling]
	if st.UsedBytes != used || st.InMemory != count[stateMemory]+count[stateSpilling] ||
		st.Objects != st.InMemory+st.Spilled+st.Pending || st.Objects != len(s.objects) {
		t.Fatalf("stats %+v disagree with entries %v", st, count)
	}
	if s.pinnedMem != pinned {
		t.Fatalf("pinnedMem = %d, entries give %d", s.pinnedMem, pinned)
	}
	if used > s.capacity {
		t.Fatalf("used %d exceeds capacity %d", used, s.capacity)
	}
	if held := size[stateMemory] + s.reserved(); held > s.capacity {
		t.Fatalf("objects in memory (%d bytes) and waiting for room (%d bytes) exceed capacity %d once spills complete",
			size[stateMemory], s.reserved(), s.capacity)
	}
	n := 0
	for e := s.lru.next; e != &s.lru; e = e.next {
		if e.state != stateMemory {
			t.Fatalf("entry %v on the LRU list is in state %v", e.id, e.state)
		}
		n++
	}
	if n != count[stateMemory] {
		t.Fatalf("LRU list has %d entries, %d in memory", n, count[stateMemory])
	}
	if len(s.admitQ) != count[stateAdmitting]+count[stateRestored] {
		t.Fatalf("admission queue has %d entries, %d waiting", len(s.admitQ), count[stateAdmitting]+count[stateRestored])
	}
}

func TestNewStoreInvalidConfig(t *testing.T) {
	for _, c := range []int64{0, -1} {
		if _, err := NewStore(StoreConfig{Capacity: c, SpillDir: t.TempDir()}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("NewStore(capacity %d) error = %v, want ErrInvalidConfig", c, err)
		}
	}
}

func TestStoreNoDiskUntilSpill(t *testing.T) {
	s, dir := newTestStore(t, mib)
	mustPut(t, s, ID{1}, payload(1, 100*kib))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spill dir exists before any spill: %v", err)
	}
}

func TestStoreCapacityEnforced(t *testing.T) {
	s, _ := newTestStore(t, mib)
	const n, size = 20, 200 * kib
	data := make(map[ID][]byte)
	for i := range n {
		id := ID{byte(i + 1)}
		data[id] = payload(uint64(i), size)
		mustPut(t, s, id, data[id])
		checkInvariants(t, s)
	}
	st := s.Stats()
	if st.UsedBytes > mib {
		t.Fatalf("UsedBytes = %d, capacity %d", st.UsedBytes, mib)
	}
	if want := mib / size; st.InMemory != want {
		t.Fatalf("InMemory = %d, want %d", st.InMemory, want)
	}
	if st.Objects != n || st.Spilled != n-st.InMemory || st.SpilledBytes != int64(st.Spilled*size) {
		t.Fatalf("stats = %+v", st)
	}
	if st.SpillCount != uint64(st.Spilled) || st.Capacity != mib {
		t.Fatalf("stats = %+v", st)
	}
	for id, want := range data {
		mustGet(t, s, id, want)
		checkInvariants(t, s)
	}
}

func TestStoreLRUSpillOrder(t *testing.T) {
	tests := []struct {
		name        string
		touch       []byte // IDs read before the extra puts
		extra       int    // objects put after the first three
		wantSpilled []byte
	}{
		{"insertion order", nil, 1, []byte{1}},
		{"two extra", nil, 2, []byte{1, 2}},
		{"read refreshes", []byte{1}, 1, []byte{2}},
		{"read refreshes twice", []byte{1, 2}, 2, []byte{3, 1}},
		{"reread order", []byte{3, 2, 1}, 2, []byte{3, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const size = 256 * kib
			s, _ := newTestStore(t, 3*size)
			for i := byte(1); i <= 3; i++ {
				mustPut(t, s, ID{i}, payload(uint64(i), size))
			}
			for _, i := range tt.touch {
				mustGet(t, s, ID{i}, payload(uint64(i), size))
			}
			for i := range tt.extra {
				mustPut(t, s, ID{byte(10 + i)}, payload(uint64(10+i), size))
			}
			var spilled []byte
			for i := byte(1); i <= 3; i++ {
				if where(s, ID{i}) == "disk" {
					spilled = append(spilled, i)
				}
			}
			slices.Sort(spilled)
			want := slices.Sorted(slices.Values(tt.wantSpilled))
			if !slices.Equal(spilled, want) {
				t.Fatalf("spilled %v, want %v", spilled, want)
			}
			checkInvariants(t, s)
		})
	}
}

func TestStoreRestoreRoundTrip(t *testing.T) {
	s, dir := newTestStore(t, 2*mib)
	a, b, c := ID{1}, ID{2}, ID{3}
	da, db, dc := payload(1, mib), payload(2, mib), payload(3, mib)
	mustPut(t, s, a, da)
	mustPut(t, s, b, db)
	mustPut(t, s, c, dc) // spills a
	if where(s, a) != "disk" {
		t.Fatalf("a is in %s, want disk", where(s, a))
	}
	if files := spillFiles(t, dir); !slices.Equal(files, []string{a.String() + spillExt}) {
		t.Fatalf("spill files = %v", files)
	}
	mustGet(t, s, a, da) // restores a, spills b
	if where(s, a) != "memory" || where(s, b) != "disk" {
		t.Fatalf("after restore: a in %s, b in %s", where(s, a), where(s, b))
	}
	if files := spillFiles(t, dir); !slices.Equal(files, []string{b.String() + spillExt}) {
		t.Fatalf("spill files after restore = %v", files)
	}
	// Each read now restores the object spilled by the previous one.
	mustGet(t, s, b, db)
	mustGet(t, s, c, dc)
	mustGet(t, s, a, da)
	st := s.Stats()
	if st.RestoreCount != 4 || st.SpillCount != 5 {
		t.Fatalf("restores %d spills %d, want 4 and 5", st.RestoreCount, st.SpillCount)
	}
	checkInvariants(t, s)
}

func TestStoreGetTooBigToRestoreStaysOnDisk(t *testing.T) {
	s, dir := newTestStore(t, mib)
	a, b := ID{1}, ID{2}
	da, db := payload(1, 600*kib), payload(2, 600*kib)
	mustPut(t, s, a, da)
	mustPut(t, s, b, db) // spills a
	if err := s.Pin(b); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, a, da) // b is pinned: no room, so a is served from disk
	if where(s, a) != "disk" || where(s, b) != "memory" {
		t.Fatalf("a in %s, b in %s; want disk, memory", where(s, a), where(s, b))
	}
	if got := s.Stats().RestoreCount; got != 0 {
		t.Fatalf("RestoreCount = %d, want 0", got)
	}
	if len(spillFiles(t, dir)) != 1 {
		t.Fatalf("spill files = %v", spillFiles(t, dir))
	}
	checkInvariants(t, s)
}

func TestStorePinnedNeverSpilled(t *testing.T) {
	const size = 256 * kib
	s, _ := newTestStore(t, 4*size)
	pinned := []ID{{1}, {2}}
	for i, id := range pinned {
		mustPut(t, s, id, payload(uint64(i), size))
		if err := s.Pin(id); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		mustPut(t, s, ID{byte(10 + i)}, payload(uint64(10+i), size))
		for _, id := range pinned {
			if where(s, id) != "memory" {
				t.Fatalf("pinned %v spilled after put %d", id, i)
			}
		}
		checkInvariants(t, s)
	}
	// Fill memory with pinned objects: a new one then goes straight to disk
	// without spilling anything pinned.
	for _, id := range []ID{{3}, {4}} {
		mustPut(t, s, id, payload(3, size))
		if err := s.Pin(id); err != nil {
			t.Fatal(err)
		}
		pinned = append(pinned, id)
	}
	before := s.Stats().SpillCount
	mustPut(t, s, ID{99}, payload(99, size))
	if where(s, ID{99}) != "disk" {
		t.Fatalf("object put into a fully pinned store is in %s, want disk", where(s, ID{99}))
	}
	if got := s.Stats().SpillCount - before; got != 1 {
		t.Fatalf("%d spill writes, want only the new object's", got)
	}
	for _, id := range pinned {
		if where(s, id) != "memory" {
			t.Fatalf("pinned %v spilled", id)
		}
	}
	// Unpinning makes the object spillable again, and counts are respected.
	if err := s.Pin(ID{1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Unpin(ID{1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Unpin(ID{1}); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("extra Unpin error = %v, want ErrNotPinned", err)
	}
	mustPut(t, s, ID{100}, payload(100, size))
	if where(s, ID{1}) != "disk" {
		t.Fatalf("unpinned object in %s, want disk", where(s, ID{1}))
	}
	checkInvariants(t, s)
}

func TestStorePinUnknown(t *testing.T) {
	s, _ := newTestStore(t, mib)
	if err := s.Pin(ID{1}); !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("Pin error = %v, want ErrObjectNotFound", err)
	}
	if err := s.Unpin(ID{1}); !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("Unpin error = %v, want ErrObjectNotFound", err)
	}
}

func TestStoreDelete(t *testing.T) {
	const size = 512 * kib
	s, dir := newTestStore(t, mib)
	a, b, c := ID{1}, ID{2}, ID{3}
	mustPut(t, s, a, payload(1, size))
	mustPut(t, s, b, payload(2, size))
	mustPut(t, s, c, payload(3, size)) // spills a
	if err := s.Pin(b); err != nil {
		t.Fatal(err)
	}
	for _, id := range []ID{a, b} { // a on disk, b pinned in memory
		if !s.Delete(id) {
			t.Fatalf("Delete(%v) = false", id)
		}
		if s.Contains(id) {
			t.Fatalf("Contains(%v) after Delete", id)
		}
		if _, err := s.Get(id); !errors.Is(err, ErrObjectNotFound) {
			t.Fatalf("Get(%v) after Delete error = %v", id, err)
		}
		checkInvariants(t, s)
	}
	if files := spillFiles(t, dir); len(files) != 0 {
		t.Fatalf("spill files after Delete = %v", files)
	}
	if s.Delete(a) {
		t.Fatal("second Delete = true")
	}
	st := s.Stats()
	if st.Objects != 1 || st.UsedBytes != size || st.SpilledBytes != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestStoreHugeObjectStraightToDisk(t *testing.T) {
	s, dir := newTestStore(t, mib)
	small := payload(1, 100*kib)
	mustPut(t, s, ID{1}, small)
	huge := payload(2, 3*mib)
	mustPut(t, s, ID{2}, huge)
	if where(s, ID{2}) != "disk" || where(s, ID{1}) != "memory" {
		t.Fatalf("huge in %s, small in %s; want disk, memory", where(s, ID{2}), where(s, ID{1}))
	}
	if files := spillFiles(t, dir); !slices.Equal(files, []string{ID{2}.String() + spillExt}) {
		t.Fatalf("spill files = %v", files)
	}
	mustGet(t, s, ID{2}, huge)
	if where(s, ID{2}) != "disk" || where(s, ID{1}) != "memory" {
		t.Fatal("Get of huge object moved objects")
	}
	st := s.Stats()
	if st.UsedBytes != 100*kib || st.SpilledBytes != 3*mib || st.SpillCount != 1 || st.RestoreCount != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestStorePutSameIDTwice(t *testing.T) {
	s, _ := newTestStore(t, mib)
	id := ID{1}
	orig := payload(1, 10*kib)
	mustPut(t, s, id, orig)
	if err := s.Put(id, payload(2, 10*kib)); err != nil {
		t.Fatalf("second Put, same size: %v", err)
	}
	mustGet(t, s, id, orig)
	err := s.Put(id, payload(2, 11*kib))
	if !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("second Put, other size: error = %v, want ErrSizeMismatch", err)
	}
	if want := id.String(); !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not name the object", err)
	}
	mustGet(t, s, id, orig)
	if st := s.Stats(); st.Objects != 1 || st.UsedBytes != 10*kib {
		t.Fatalf("stats = %+v", st)
	}
}

func TestStoreNoSpillDir(t *testing.T) {
	s, err := NewStore(StoreConfig{Capacity: mib})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := payload(1, 700*kib)
	mustPut(t, s, ID{1}, a)
	for _, size := range []int{400 * kib, 2 * mib} {
		if err := s.Put(ID{2}, payload(2, size)); !errors.Is(err, ErrStoreFull) {
			t.Fatalf("Put(%d bytes) error = %v, want ErrStoreFull", size, err)
		}
	}
	mustGet(t, s, ID{1}, a)
	if s.Contains(ID{2}) {
		t.Fatal("failed Put stored the object")
	}
}

func TestStoreGetNotFound(t *testing.T) {
	s, _ := newTestStore(t, mib)
	id := ID{7}
	_, err := s.Get(id)
	if !errors.Is(err, ErrObjectNotFound) {
		t.Fatalf("Get error = %v, want ErrObjectNotFound", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(id.String())) {
		t.Fatalf("error %q does not name the object", err)
	}
}

func TestStoreCloseCleansUp(t *testing.T) {
	tests := []struct {
		name        string
		dirExists   bool
		wantDirGone bool
	}{
		{"created dir is removed", false, true},
		{"existing dir is kept", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spill")
			if tt.dirExists {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			s, err := NewStore(StoreConfig{Capacity: mib, SpillDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 6 {
				mustPut(t, s, ID{byte(i + 1)}, payload(uint64(i), 400*kib))
			}
			if n := len(spillFiles(t, dir)); n != 4 {
				t.Fatalf("%d spill files before Close, want 4", n)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			_, statErr := os.Stat(dir)
			if gone := errors.Is(statErr, os.ErrNotExist); gone != tt.wantDirGone {
				t.Fatalf("spill dir gone = %v, want %v (stat: %v)", gone, tt.wantDirGone, statErr)
			}
			if files := spillFiles(t, dir); len(files) != 0 {
				t.Fatalf("spill files after Close = %v", files)
			}
			if err := s.Put(ID{9}, nil); !errors.Is(err, ErrStoreClosed) {
				t.Fatalf("Put after Close error = %v, want ErrStoreClosed", err)
			}
			if _, err := s.Get(ID{1}); !errors.Is(err, ErrStoreClosed) {
				t.Fatalf("Get after Close error = %v, want ErrStoreClosed", err)
			}
			if s.Contains(ID{1}) || s.Stats().Objects != 0 {
				t.Fatal("objects survive Close")
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		})
	}
}

func TestStoreSpillDirFailure(t *testing.T) {
	const size = 400 * kib
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // makes dir unusable
		huge  bool                           // the failing Put is larger than capacity
	}{
		{"file in place of dir, spill others", blockWithFile, false},
		{"file in place of dir, huge object", blockWithFile, true},
		{"file in place of parent", func(t *testing.T, dir string) { blockWithFile(t, filepath.Dir(dir)) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "parent", "spill")
			if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			s, err := NewStore(StoreConfig{Capacity: mib, SpillDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			a, b := payload(1, size), payload(2, size)
			mustPut(t, s, ID{1}, a)
			mustPut(t, s, ID{2}, b)

			n := size
			if tt.huge {
				n = 2 * mib
			}
			err = s.Put(ID{3}, payload(3, n))
			if !errors.Is(err, ErrSpillFailed) {
				t.Fatalf("Put error = %v, want ErrSpillFailed", err)
			}
			var pathErr *os.PathError
			if !errors.As(err, &pathErr) {
				t.Fatalf("Put error %v does not wrap the os error", err)
			}
			if want := (ID{3}).String(); !bytes.Contains([]byte(err.Error()), []byte(want)) {
				t.Fatalf("error %q does not name the object", err)
			}
			if s.Contains(ID{3}) {
				t.Fatal("failed Put stored the object")
			}
			mustGet(t, s, ID{1}, a)
			mustGet(t, s, ID{2}, b)
			if where(s, ID{1}) != "memory" || where(s, ID{2}) != "memory" {
				t.Fatal("objects left memory although spilling failed")
			}
			// Objects that still fit are accepted.
			small := payload(4, 100*kib)
			mustPut(t, s, ID{4}, small)
			mustGet(t, s, ID{4}, small)
			checkInvariants(t, s)
		})
	}
}

func blockWithFile(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSpillFileRemovedUnderneath(t *testing.T) {
	s, dir := newTestStore(t, mib)
	mustPut(t, s, ID{1}, payload(1, 600*kib))
	mustPut(t, s, ID{2}, payload(2, 600*kib)) // spills 1
	if err := os.Remove(filepath.Join(dir, ID{1}.String()+spillExt)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ID{1})
	if !errors.Is(err, ErrSpillFailed) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Get error = %v, want ErrSpillFailed wrapping ErrNotExist", err)
	}
	if !s.Contains(ID{1}) || where(s, ID{2}) != "memory" {
		t.Fatal("failed restore changed the store")
	}
}

func TestStoreZeroSizeObject(t *testing.T) {
	s, _ := newTestStore(t, kib)
	mustPut(t, s, ID{1}, nil)
	mustPut(t, s, ID{2}, payload(2, kib))
	got, err := s.Get(ID{1})
	if err != nil || len(got) != 0 {
		t.Fatalf("Get = %d bytes, %v", len(got), err)
	}
	if where(s, ID{1}) != "memory" {
		t.Fatalf("zero-size object in %s", where(s, ID{1}))
	}
}

func TestStoreErrorNamesObject(t *testing.T) {
	s, _ := newTestStore(t, kib)
	id := ID{0xab, 15: 0xcd}
	for _, err := range []error{s.Pin(id), s.Unpin(id)} {
		if !bytes.Contains([]byte(fmt.Sprint(err)), []byte(id.String())) {
			t.Fatalf("error %q does not name the object", err)
		}
	}
}

func BenchmarkStorePutGet1MiB(b *testing.B) {
	s, err := NewStore(StoreConfig{Capacity: 64 * mib, SpillDir: filepath.Join(b.TempDir(), "spill")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := payload(1, mib)
	g := NewIDGen()
	b.SetBytes(mib)
	b.ReportAllocs()
	for b.Loop() {
		id := g.Next()
		if err := s.Put(id, data); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(id); err != nil {
			b.Fatal(err)
		}
		s.Delete(id)
	}
}

// BenchmarkStorePutSpill1MiB measures Put when every Put spills one object
// and Get when every Get restores one.
func BenchmarkStorePutSpill1MiB(b *testing.B) {
	s, err := NewStore(StoreConfig{Capacity: 4 * mib, SpillDir: filepath.Join(b.TempDir(), "spill")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := payload(1, mib)
	g := NewIDGen()
	var ids []ID
	for range 4 {
		id := g.Next()
		ids = append(ids, id)
		if err := s.Put(id, data); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(2 * mib)
	b.ReportAllocs()
	for b.Loop() {
		id := g.Next()
		if err := s.Put(id, data); err != nil {
			b.Fatal(err)
		}
		// ids[len-4] was spilled by an earlier Put; reading it restores it.
		if _, err := s.Get(ids[len(ids)-4]); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
		if len(ids) > 8 {
			s.Delete(ids[0])
			ids = ids[1:]
		}
	}
}

// TestStoreBufferReclaims checks when buffer collects garbage first: only
// for a buffer of at least reclaimMin, and only once the store let go of as
// many bytes of objects (deleted or spilled) since it last did.
func TestStoreBufferReclaims(t *testing.T) {
	// No collection but buffer's during the test.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	const big = reclaimMin
	tests := []struct {
		name    string
		release func(t *testing.T, s *Store)
		n       int64
		collect bool
	}{
		{"nothing released", func(*testing.T, *Store) {}, big, false},
		{"deleted as much", func(t *testing.T, s *Store) { putDelete(t, s, big) }, big, true},
		{"deleted less", func(t *testing.T, s *Store) { putDelete(t, s, big/2) }, big, false},
		{"spilled as much", func(t *testing.T, s *Store) {
			mustPut(t, s, ID{1}, make([]byte, big))
			mustPut(t, s, ID{2}, make([]byte, big)) // spills ID{1}
			if w := where(s, ID{1}); w != "disk" {
				t.Fatalf("first object in %s, want disk", w)
			}
		}, big, true},
		{"small buffer", func(t *testing.T, s *Store) { putDelete(t, s, big) }, big - 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t, big+big/2)
			tt.release(t, s)
			before := numGC()
			b := s.buffer(tt.n)
			if got := numGC() > before; got != tt.collect {
				t.Fatalf("collected: %v, want %v", got, tt.collect)
			}
			if int64(len(b)) != tt.n {
				t.Fatalf("buffer of %d bytes, want %d", len(b), tt.n)
			}
			if tt.collect {
				// The count starts again.
				before = numGC()
				s.buffer(tt.n)
				if numGC() != before {
					t.Fatal("collected again without releasing anything")
				}
			}
		})
	}
}

func numGC() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}

func putDelete(t *testing.T, s *Store, n int) {
	t.Helper()
	mustPut(t, s, ID{9}, make([]byte, n))
	if !s.Delete(ID{9}) {
		t.Fatal("delete: not stored")
	}
}
