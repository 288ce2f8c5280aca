package objects

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/goray-dev/goray/internal/hugemem"
)

// Errors returned by Store. They are wrapped with the object ID, so test them
// with errors.Is.
var (
	// ErrObjectNotFound means the store holds no object with the ID.
	ErrObjectNotFound = errors.New("objects: object not found")
	// ErrSizeMismatch means an object was put twice with different sizes.
	ErrSizeMismatch = errors.New("objects: object already stored with a different size")
	// ErrSpillFailed means writing, reading or removing a spill file failed;
	// the underlying file system error is wrapped as well.
	ErrSpillFailed = errors.New("objects: spill to disk failed")
	// ErrStoreFull means an object does not fit in memory and spilling is
	// disabled (StoreConfig.SpillDir is empty).
	ErrStoreFull = errors.New("objects: store full")
	// ErrNotPinned means Unpin was called more often than Pin.
	ErrNotPinned = errors.New("objects: object not pinned")
	// ErrStoreClosed means the store was used after Close.
	ErrStoreClosed = errors.New("objects: store closed")
	// ErrInvalidConfig means StoreConfig failed validation.
	ErrInvalidConfig = errors.New("objects: invalid store config")
	// ErrObjectDeleted means the object was deleted while a request for it
	// waited: a Get for its restore from disk, or a Put for room in memory or
	// for its write to disk.
	ErrObjectDeleted = errors.New("objects: object deleted")
	// ErrStoreBusy means a synchronous call could not finish because disk I/O
	// it depends on was handed out and is still running. It happens only when
	// the synchronous methods are mixed with the store actor's.
	ErrStoreBusy = errors.New("objects: store has disk I/O under way")
	// ErrOutOfRange means a chunk was asked for at an offset past the
	// object's end, or with a length that is not positive.
	ErrOutOfRange = errors.New("objects: chunk out of range")
)

// spillExt is the suffix of spill files; the name before it is the object ID.
const spillExt = ".obj"

// DefaultIOWorkers is the number of goroutines the store actor runs disk I/O
// on unless StoreConfig.IOWorkers says otherwise.
const DefaultIOWorkers = 4

// StoreConfig configures a Store.
type StoreConfig struct {
	// Capacity is the number of bytes of object data held in memory. It must
	// be positive.
	Capacity int64
	// SpillDir is the directory spilled objects are written to, one file per
	// object. It is created on the first spill. Empty disables spilling: a
	// Put that does not fit then fails with ErrStoreFull.
	SpillDir string
	// Logger receives spill and cleanup events. Nil discards them.
	Logger *slog.Logger
	// FS holds the spill files. Nil means the operating system's file system.
	FS SpillFS
	// IOWorkers is the number of goroutines the store actor performs spill
	// writes, restore reads and file removals on; at most this many run at
	// once. Zero means DefaultIOWorkers. The Store itself starts no
	// goroutines.
	IOWorkers int
	// Transfer configures how the store actor pulls objects from other
	// stores. The zero value means the defaults.
	Transfer TransferConfig
}

// StoreStats is a snapshot of a Store's counters.
type StoreStats struct {
	Objects       int    // objects stored: InMemory + Spilled + Pending
	InMemory      int    // objects held in memory, including those being spilled
	Spilled       int    // objects in spill files, including those being restored
	Pending       int    // new objects waiting for room, or being written straight to disk
	Spilling      int    // objects being written to disk to make room (part of InMemory)
	Restoring     int    // objects being read back from disk (part of Spilled)
	UsedBytes     int64  // bytes of the InMemory objects; never above Capacity
	SpillingBytes int64  // bytes of the Spilling objects (part of UsedBytes)
	ReservedBytes int64  // bytes of objects waiting for room: new objects and restores
	SpilledBytes  int64  // bytes of the Spilled objects
	Capacity      int64  // StoreConfig.Capacity
	SpillCount    uint64 // spill files written since NewStore
	RestoreCount  uint64 // spilled objects brought back into memory since NewStore
}

// entryState says where an object's bytes are and what is under way for it.
type entryState uint8

const (
	stateNone entryState = iota // not counted: new, or deleted
	// stateMemory: in memory and on the LRU list.
	stateMemory
	// stateSpilling: being written to its spill file to make room. Its bytes
	// are still served, and still count as used until the write completes.
	stateSpilling
	// stateDisk: only in its spill file.
	stateDisk
	// stateRestoring: in its spill file, which is being read; Gets wait.
	stateRestoring
	// stateRestored: read back from its spill file, which still exists, and
	// waiting in the admission queue for room in memory. Its bytes are
	// served and reserved.
	stateRestored
	// stateAdmitting: a new object waiting in the admission queue for room in
	// memory. Its bytes are served and reserved.
	stateAdmitting
	// stateWriting: a new object that cannot be held in memory, being written
	// straight to its spill file. Its bytes are served meanwhile but do not
	// count as used.
	stateWriting
	numStates
)

var stateNames = [numStates]string{"none", "memory", "spilling", "disk", "restoring", "restored", "admitting", "writing"}

func (st entryState) String() string { return stateNames[st] }

// ticket identifies a request whose outcome the store reports later, once
// the disk I/O it waits for has completed. Zero means none.
type ticket uint64

// outcome is the result of a request that waited for disk I/O.
type outcome struct {
	ticket ticket
	id     ID
	size   int64
	data   []byte // a Get's bytes
	err    error
}

// storeEntry is one object.
type storeEntry struct {
	id    ID
	size  int64
	state entryState
	data  []byte // held in memory: every state but disk and restoring
	path  string // spill file that exists: disk, restoring, restored
	pins  int
	// gets wait for the restore of a restoring object; puts wait for a new
	// (admitting or writing) object to be placed.
	gets, puts []ticket
	// chunks wait for the restore of a restoring object too, for a part of
	// its bytes.
	chunks []chunkWait
	// deleted marks an entry removed from the store while its I/O ran.
	deleted    bool
	prev, next *storeEntry
}

// chunkWait is a chunk read waiting for an object's restore.
type chunkWait struct {
	t      ticket
	off, n int64
}

// ioKind is a file operation.
type ioKind uint8

const (
	ioWrite ioKind = iota + 1
	ioRead
	ioRemove
	ioReadAt // a bounded read of part of a spill file, for a chunk
)

// ioOp is a file operation the store needs performed. Its owner takes it with
// nextIO, performs it (runIO) on any goroutine and hands the result back to
// finish. The fields are not changed after the op is issued.
type ioOp struct {
	kind  ioKind
	id    ID
	path  string
	data  []byte      // ioWrite: the bytes to write
	size  int64       // ioRead: the expected size; ioReadAt: the bytes to read
	off   int64       // ioReadAt: where to read from
	total int64       // ioReadAt: the object's size
	t     ticket      // ioReadAt: the request the bytes answer
	mkdir string      // ioWrite: spill directory to create first, if not yet known to exist
	e     *storeEntry // the entry a write or read serves; nil for removals
}

// ioResult is a performed ioOp.
type ioResult struct {
	op         *ioOp
	data       []byte // ioRead, ioReadAt
	dirReady   bool   // ioWrite: the spill directory exists
	createdDir bool   // ioWrite: and was created by this op
	err        error
}

// opQueue orders the file operations on one object's spill file: only the
// first runs, so that a removal and a later write of the same path, say,
// never overlap.
type opQueue struct {
	ops    []*ioOp
	active bool // ops[0] has been issued
}

// Store is a node's local object store: immutable objects held in memory up to
// a byte capacity, with the least recently used unpinned objects spilled to
// disk when more room is needed.
//
// The store is a deterministic core: it decides, and leaves disk I/O to its
// owner. A call that needs I/O queues file operations (nextIO) and, if the
// caller must wait for them, returns a ticket whose outcome is reported once
// the operations have been performed and their results handed back (finish,
// takeOutcomes). The store actor runs these operations on its I/O goroutines;
// the exported methods run them inline, on the caller's goroutine, and return
// when they are done.
//
// Object states: an object is in memory; or being spilled (written to disk to
// make room, while its bytes are still served from memory); or on disk; or
// being restored (read back; Gets wait for the read); or waiting for room
// (a new object, or a restored one, whose bytes are served meanwhile); or
// being written straight to disk (a new object that cannot be held in
// memory). A Delete wins over I/O under way: the object is gone at once,
// waiting requests fail with ErrObjectDeleted and its spill file is removed
// once the I/O returns.
//
// Memory accounting. UsedBytes counts objects in memory and objects being
// spilled, whose bytes are released only when their spill file has been
// written; it never exceeds Capacity. A new or restored object is admitted to
// memory at once if UsedBytes plus the bytes already waiting for room plus
// its own fit in Capacity. Otherwise it reserves room: least recently used
// unpinned objects are spilled until the objects in memory that are not being
// spilled, plus every reservation, fit in Capacity. Waiting objects are then
// admitted in arrival order as spill writes complete. So the bytes the store
// holds for objects in memory or waiting for room never exceed Capacity plus
// the bytes being spilled. If a spill write fails, its object stays in memory
// and the most recent reservations are dropped until the rest fit: a new
// object is then written straight to disk, a restored one stays on disk.
// Objects being written straight to disk, and bytes being read back, are
// held outside this accounting while their I/O runs.
//
// A Store is not safe for concurrent use. It is owned by exactly one actor,
// which serialises every call to it.
type Store struct {
	capacity int64
	dir      string
	log      *slog.Logger
	fs       SpillFS
	workers  int
	transfer TransferConfig

	objects map[ID]*storeEntry
	// lru is a circular doubly linked list of in-memory entries with a
	// sentinel: lru.next is the least recently used, lru.prev the most.
	lru storeEntry
	// admitQ holds the entries waiting for room, in arrival order.
	admitQ []*storeEntry

	count [numStates]int
	bytes [numStates]int64
	// pinnedMem is the bytes of entries in memory with pins > 0.
	pinnedMem            int64
	spillCount, restores uint64

	busy     map[ID]*opQueue
	ready    []*ioOp // issued, not yet taken by nextIO
	outcomes []outcome
	tickets  ticket // last ticket handed out

	// released counts the bytes of object data the store let go of since
	// buffer last collected garbage.
	released int64

	dirReady   bool
	createdDir bool
	// orphans are spill files whose removal failed; Close retries them.
	orphans map[string]struct{}
	closed  bool
}

// NewStore returns an empty store. It touches no disk until the first spill.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Capacity <= 0 {
		return nil, fmt.Errorf("%w: capacity %d must be positive", ErrInvalidConfig, cfg.Capacity)
	}
	if cfg.IOWorkers < 0 {
		return nil, fmt.Errorf("%w: %d I/O workers", ErrInvalidConfig, cfg.IOWorkers)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fsys := cfg.FS
	if fsys == nil {
		fsys = osFS{}
	}
	workers := cfg.IOWorkers
	if workers == 0 {
		workers = DefaultIOWorkers
	}
	transfer, err := cfg.Transfer.withDefaults(cfg.Capacity)
	if err != nil {
		return nil, err
	}
	s := &Store{
		capacity: cfg.Capacity,
		dir:      cfg.SpillDir,
		log:      logger,
		fs:       fsys,
		workers:  workers,
		transfer: transfer,
		objects:  make(map[ID]*storeEntry),
		busy:     make(map[ID]*opQueue),
		orphans:  make(map[string]struct{}),
	}
	s.lru.next, s.lru.prev = &s.lru, &s.lru
	return s, nil
}

// Put stores data under id and takes ownership of data: the caller must not
// modify it afterwards. Objects are immutable, so a second Put of a stored ID
// is a no-op if the sizes agree and fails with ErrSizeMismatch otherwise.
//
// If the object does not fit in the remaining capacity, least recently used
// unpinned objects are spilled until it does; if it still does not fit (it is
// larger than the capacity, everything else is pinned, or a spill write
// failed), the object itself is written straight to disk. Put fails only when
// the object can be placed neither in memory nor on disk; objects already
// stored are kept in every case. Disk I/O runs on the caller's goroutine.
func (s *Store) Put(id ID, data []byte) error {
	t, err := s.put(id, data)
	s.runIO()
	if t == 0 {
		return err
	}
	return s.await(t).err
}

// Get returns the object's bytes, which the caller must not modify, and marks
// it most recently used. A spilled object is read back and restored to memory
// if room can be made for it (which may spill others); otherwise its bytes are
// returned and it stays on disk. Unknown IDs give ErrObjectNotFound. Disk I/O
// runs on the caller's goroutine.
func (s *Store) Get(id ID) ([]byte, error) {
	data, t, err := s.get(id)
	s.runIO()
	if t == 0 {
		return data, err
	}
	o := s.await(t)
	return o.data, o.err
}

// Delete removes the object, pinned or not, freeing its memory and its spill
// file. It reports whether the object was stored. Disk I/O runs on the
// caller's goroutine.
func (s *Store) Delete(id ID) bool {
	ok := s.del(id)
	s.runIO()
	return ok
}

// runIO performs every queued file operation inline.
func (s *Store) runIO() {
	for op := s.nextIO(); op != nil; op = s.nextIO() {
		s.finish(runIO(s.fs, op))
	}
}

// await takes the outcome of t, which runIO has produced unless the I/O it
// waits for was handed to someone else.
func (s *Store) await(t ticket) outcome {
	for i, o := range s.outcomes {
		if o.ticket == t {
			s.outcomes = slices.Delete(s.outcomes, i, i+1)
			return o
		}
	}
	return outcome{ticket: t, err: ErrStoreBusy}
}

// put is Put without the I/O: it returns a nonzero ticket if the outcome must
// wait for disk I/O, and the outcome otherwise.
func (s *Store) put(id ID, data []byte) (ticket, error) {
	if s.closed {
		return 0, fmt.Errorf("objects: put %s: %w", id, ErrStoreClosed)
	}
	size := int64(len(data))
	if e, ok := s.objects[id]; ok {
		if e.size != size {
			return 0, fmt.Errorf("objects: put %s: %w: stored %d bytes, got %d", id, ErrSizeMismatch, e.size, size)
		}
		if e.state == stateAdmitting || e.state == stateWriting {
			t := s.newTicket()
			e.puts = append(e.puts, t)
			return t, nil
		}
		return 0, nil
	}
	e := &storeEntry{id: id, size: size, data: data}
	switch {
	case s.fits(size):
		s.objects[id] = e
		s.setState(e, stateMemory)
		s.link(e)
		return 0, nil
	case s.dir == "":
		return 0, fmt.Errorf("objects: put %s (%d bytes, %d of %d in use): %w", id, size, s.used(), s.capacity, ErrStoreFull)
	case s.reserve(size):
		s.objects[id] = e
		s.setState(e, stateAdmitting)
		s.admitQ = append(s.admitQ, e)
	default:
		s.objects[id] = e
		s.setState(e, stateWriting)
		s.issue(s.writeOp(e))
	}
	t := s.newTicket()
	e.puts = append(e.puts, t)
	return t, nil
}

// get is Get without the I/O: it returns the bytes, an error, or a nonzero
// ticket if the object must first be read from disk.
func (s *Store) get(id ID) ([]byte, ticket, error) {
	if s.closed {
		return nil, 0, fmt.Errorf("objects: get %s: %w", id, ErrStoreClosed)
	}
	e, ok := s.objects[id]
	if !ok {
		return nil, 0, fmt.Errorf("objects: get %s: %w", id, ErrObjectNotFound)
	}
	switch e.state {
	case stateMemory:
		s.unlink(e)
		s.link(e)
		return e.data, 0, nil
	case stateDisk:
		s.setState(e, stateRestoring)
		s.issue(&ioOp{kind: ioRead, id: id, path: e.path, size: e.size, e: e})
	case stateRestoring:
	default: // spilling, restored, admitting, writing: the bytes are at hand
		return e.data, 0, nil
	}
	t := s.newTicket()
	e.gets = append(e.gets, t)
	return nil, t, nil
}

// ReadChunk returns up to n bytes of the object from offset off, fewer at
// its end, and the object's size. It reads a spilled object's chunk from its
// spill file with a read of at most n bytes, without restoring it. An offset
// past the end, or n < 1, gives ErrOutOfRange. Disk I/O runs on the caller's
// goroutine.
func (s *Store) ReadChunk(id ID, off, n int64) (data []byte, size int64, err error) {
	data, size, t, err := s.readChunk(id, off, n)
	s.runIO()
	if t == 0 {
		return data, size, err
	}
	o := s.await(t)
	return o.data, o.size, o.err
}

// readChunk is ReadChunk without the I/O: it returns the bytes and the
// object's size, an error, or a nonzero ticket if the bytes must first be
// read from disk. The bytes of an object in memory are a slice of it, which
// the caller must not modify.
func (s *Store) readChunk(id ID, off, n int64) ([]byte, int64, ticket, error) {
	if s.closed {
		return nil, 0, 0, fmt.Errorf("objects: read chunk of %s: %w", id, ErrStoreClosed)
	}
	e, ok := s.objects[id]
	if !ok {
		return nil, 0, 0, fmt.Errorf("objects: read chunk of %s: %w", id, ErrObjectNotFound)
	}
	if off < 0 || off > e.size || n < 1 {
		return nil, e.size, 0, fmt.Errorf("objects: read chunk of %s: %w: %d bytes at %d of %d", id, ErrOutOfRange, n, off, e.size)
	}
	n = min(n, e.size-off)
	switch e.state {
	case stateMemory:
		s.unlink(e)
		s.link(e)
	case stateDisk:
		if n == 0 {
			return nil, e.size, 0, nil
		}
		t := s.newTicket()
		s.issue(&ioOp{kind: ioReadAt, id: id, path: e.path, off: off, size: n, total: e.size, t: t})
		return nil, e.size, t, nil
	case stateRestoring:
		t := s.newTicket()
		e.chunks = append(e.chunks, chunkWait{t: t, off: off, n: n})
		return nil, e.size, t, nil
	}
	// In memory, or at hand while its I/O runs.
	return e.data[off : off+n : off+n], e.size, 0, nil
}

// answerChunks answers the chunk reads waiting for e's restore: from data,
// the object's bytes, or with err.
func (s *Store) answerChunks(e *storeEntry, data []byte, err error) {
	for _, w := range e.chunks {
		o := outcome{ticket: w.t, id: e.id, size: e.size, err: err}
		if err == nil {
			o.data = data[w.off : w.off+w.n : w.off+w.n]
		}
		s.outcomes = append(s.outcomes, o)
	}
	e.chunks = nil
}

// del is Delete without the I/O.
func (s *Store) del(id ID) bool {
	if s.closed {
		return false
	}
	e, ok := s.objects[id]
	if !ok {
		return false
	}
	delete(s.objects, id)
	switch e.state {
	case stateMemory:
		s.unlink(e)
	case stateDisk:
		s.issue(&ioOp{kind: ioRemove, id: id, path: e.path})
	case stateRestored:
		s.unqueue(e)
		s.issue(&ioOp{kind: ioRemove, id: id, path: e.path})
	case stateAdmitting:
		s.unqueue(e)
	case stateSpilling, stateRestoring, stateWriting:
		// Its I/O is under way; finish removes the file it leaves.
		e.deleted = true
	}
	s.answer(e, &e.gets, nil, fmt.Errorf("objects: get %s: %w while it was read from disk", id, ErrObjectDeleted))
	s.answerChunks(e, nil, fmt.Errorf("objects: read chunk of %s: %w while it was read from disk", id, ErrObjectDeleted))
	s.answer(e, &e.puts, nil, fmt.Errorf("objects: put %s: %w before it was stored", id, ErrObjectDeleted))
	s.setState(e, stateNone)
	s.released += int64(len(e.data))
	e.data = nil
	s.admit()
	return true
}

// reclaimMin is the smallest buffer before which buffer may collect
// garbage: below it, fresh pages cost less than a collection.
const reclaimMin = 64 << 20

// buffer returns a zeroed buffer for an object of n bytes, such as a pull's
// assembly. When n is at least reclaimMin and the store let go of at least
// n bytes of objects since it last did so, it collects garbage first, so
// that the buffer can take pages those objects held: the process does not
// grow by n until the collector's next cycle, and pages the runtime has not
// yet returned to the system are not faulted in again (a first touch runs
// at 0.1-0.3 GB/s in some VMs, see the memory_first_touch_gigabytes
// benchmark). A collection takes milliseconds when the heap is mostly
// object bytes, which hold no pointers.
func (s *Store) buffer(n int64) []byte {
	if n >= reclaimMin && s.released >= n {
		s.released = 0
		runtime.GC()
	}
	return hugemem.Bytes(int(n))
}

// Pin keeps an in-memory object from being spilled until a matching Unpin.
// Pins are counted. Pinning a spilled object does not read it back; it stays
// in memory once a Get restores it.
func (s *Store) Pin(id ID) error {
	if s.closed {
		return fmt.Errorf("objects: pin %s: %w", id, ErrStoreClosed)
	}
	e, ok := s.objects[id]
	if !ok {
		return fmt.Errorf("objects: pin %s: %w", id, ErrObjectNotFound)
	}
	e.pins++
	if e.pins == 1 && e.state == stateMemory {
		s.pinnedMem += e.size
	}
	return nil
}

// Unpin releases one Pin. Unpinning more often than pinning gives ErrNotPinned.
func (s *Store) Unpin(id ID) error {
	if s.closed {
		return fmt.Errorf("objects: unpin %s: %w", id, ErrStoreClosed)
	}
	e, ok := s.objects[id]
	if !ok {
		return fmt.Errorf("objects: unpin %s: %w", id, ErrObjectNotFound)
	}
	if e.pins == 0 {
		return fmt.Errorf("objects: unpin %s: %w", id, ErrNotPinned)
	}
	e.pins--
	if e.pins == 0 && e.state == stateMemory {
		s.pinnedMem -= e.size
	}
	return nil
}

// Contains reports whether the object is stored, in memory or on disk.
func (s *Store) Contains(id ID) bool {
	_, ok := s.objects[id]
	return ok
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() StoreStats {
	c, b := &s.count, &s.bytes
	return StoreStats{
		Objects:       len(s.objects),
		InMemory:      c[stateMemory] + c[stateSpilling],
		Spilled:       c[stateDisk] + c[stateRestoring] + c[stateRestored],
		Pending:       c[stateAdmitting] + c[stateWriting],
		Spilling:      c[stateSpilling],
		Restoring:     c[stateRestoring],
		UsedBytes:     s.used(),
		SpillingBytes: b[stateSpilling],
		ReservedBytes: s.reserved(),
		SpilledBytes:  b[stateDisk] + b[stateRestoring] + b[stateRestored],
		Capacity:      s.capacity,
		SpillCount:    s.spillCount,
		RestoreCount:  s.restores,
	}
}

// Close drops every object and removes every spill file the store wrote, and
// the spill directory if the store created it and it is empty. Requests still
// waiting for I/O fail with ErrStoreClosed (see takeOutcomes). Close performs
// the removals inline; file operations handed out by nextIO must have
// returned first, which the store actor ensures by waiting for its I/O
// goroutines. Later calls fail with ErrStoreClosed; a second Close returns
// nil.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	paths := s.orphans
	for _, e := range s.objects {
		switch e.state {
		case stateDisk, stateRestoring, stateRestored:
			paths[e.path] = struct{}{}
		case stateSpilling, stateWriting:
			paths[s.spillPath(e.id)] = struct{}{}
		}
		s.answer(e, &e.gets, nil, fmt.Errorf("objects: get %s: %w", e.id, ErrStoreClosed))
		s.answer(e, &e.puts, nil, fmt.Errorf("objects: put %s: %w", e.id, ErrStoreClosed))
		s.answerChunks(e, nil, fmt.Errorf("objects: read chunk of %s: %w", e.id, ErrStoreClosed))
	}
	for _, q := range s.busy {
		for _, op := range q.ops {
			paths[op.path] = struct{}{}
			if op.kind == ioReadAt {
				s.outcomes = append(s.outcomes, outcome{ticket: op.t, id: op.id, err: fmt.Errorf("objects: read chunk of %s: %w", op.id, ErrStoreClosed)})
			}
		}
	}
	var errs []error
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		if err := s.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if s.createdDir {
		// Fails harmlessly if someone else put files there.
		_ = s.fs.Remove(s.dir)
	}
	clear(s.objects)
	clear(s.orphans)
	clear(s.busy)
	s.ready, s.admitQ = nil, nil
	s.lru.next, s.lru.prev = &s.lru, &s.lru
	s.count, s.bytes, s.pinnedMem = [numStates]int{}, [numStates]int64{}, 0
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("objects: close store: %w: %w", ErrSpillFailed, err)
	}
	return nil
}

// nextIO takes the next file operation to perform, or nil if there is none.
// Operations on different objects may be performed concurrently and in any
// order; each result must be handed to finish.
func (s *Store) nextIO() *ioOp {
	if len(s.ready) == 0 {
		return nil
	}
	op := s.ready[0]
	s.ready[0] = nil
	s.ready = s.ready[1:]
	return op
}

// takeOutcomes returns the outcomes of waiting requests produced since the
// last call.
func (s *Store) takeOutcomes() []outcome {
	out := s.outcomes
	s.outcomes = nil
	return out
}

// finish applies the result of a file operation taken from nextIO.
func (s *Store) finish(r ioResult) {
	op := r.op
	q := s.busy[op.id]
	if s.closed || q == nil || !q.active || q.ops[0] != op {
		s.log.Debug("ignoring the result of a file operation the store no longer waits for", "object", op.id, "path", op.path)
		return
	}
	q.ops[0] = nil
	q.ops = q.ops[1:]
	q.active = false
	if r.dirReady {
		s.dirReady = true
		s.createdDir = s.createdDir || r.createdDir
	}
	switch op.kind {
	case ioWrite:
		s.finishWrite(op, r.err)
	case ioRead:
		s.finishRead(op, r.data, r.err)
	case ioReadAt:
		o := outcome{ticket: op.t, id: op.id, size: op.total, data: r.data, err: r.err}
		if r.err != nil {
			o.err = fmt.Errorf("objects: read chunk of %s: %w", op.id, r.err)
		}
		s.outcomes = append(s.outcomes, o)
	case ioRemove:
		if r.err != nil {
			s.orphans[op.path] = struct{}{}
			s.log.Warn("removing spill file failed", "path", op.path, "error", r.err)
		}
	}
	s.kick(op.id)
}

func (s *Store) finishWrite(op *ioOp, err error) {
	e := op.e
	if e.deleted {
		if err == nil {
			s.issueFirst(&ioOp{kind: ioRemove, id: op.id, path: op.path})
		}
		return
	}
	switch {
	case e.state == stateSpilling && err != nil:
		s.log.Warn("spilling object failed; keeping it in memory", "object", e.id, "error", err)
		s.setState(e, stateMemory)
		s.linkOldest(e)
		s.shed()
	case e.state == stateWriting && err != nil:
		delete(s.objects, e.id)
		s.setState(e, stateNone)
		e.data = nil
		s.answer(e, &e.puts, nil, fmt.Errorf("objects: put %s: %w", e.id, err))
	default: // spilled, or written straight to disk
		wasNew := e.state == stateWriting
		s.released += int64(len(e.data))
		e.data, e.path = nil, op.path
		s.setState(e, stateDisk)
		s.spillCount++
		if wasNew {
			s.log.Debug("object stored on disk", "object", e.id, "bytes", e.size)
			s.answer(e, &e.puts, nil, nil)
		} else {
			s.log.Debug("object spilled", "object", e.id, "bytes", e.size)
		}
	}
	s.admit()
}

func (s *Store) finishRead(op *ioOp, data []byte, err error) {
	e := op.e
	if e.deleted {
		s.issueFirst(&ioOp{kind: ioRemove, id: op.id, path: op.path})
		return
	}
	if err != nil {
		s.setState(e, stateDisk)
		s.answer(e, &e.gets, nil, fmt.Errorf("objects: get %s: %w", e.id, err))
		s.answerChunks(e, nil, fmt.Errorf("objects: read chunk of %s: %w", e.id, err))
		return
	}
	s.answer(e, &e.gets, data, nil)
	s.answerChunks(e, data, nil)
	switch {
	case s.fits(e.size):
		e.data = data
		s.setState(e, stateMemory)
		s.link(e)
		s.restored(e)
	case s.reserve(e.size):
		e.data = data
		s.setState(e, stateRestored)
		s.admitQ = append(s.admitQ, e)
	default: // no room can be made: it stays on disk
		s.setState(e, stateDisk)
	}
}

// restored completes the restore of an entry now in memory.
func (s *Store) restored(e *storeEntry) {
	s.issueFirst(&ioOp{kind: ioRemove, id: e.id, path: e.path})
	e.path = ""
	s.restores++
	s.log.Debug("object restored from disk", "object", e.id, "bytes", e.size)
}

// used is the bytes of objects in memory, including those being spilled.
func (s *Store) used() int64 { return s.bytes[stateMemory] + s.bytes[stateSpilling] }

// reserved is the bytes of objects waiting for room.
func (s *Store) reserved() int64 { return s.bytes[stateAdmitting] + s.bytes[stateRestored] }

// fits reports whether size more bytes can be admitted to memory now without
// taking room reserved by waiting objects.
func (s *Store) fits(size int64) bool {
	return s.used()+s.reserved()+size <= s.capacity
}

// reserve starts spilling least recently used unpinned objects until size
// more bytes fit once every spill under way has completed. It reports false,
// spilling nothing, if pinned objects and earlier reservations leave too
// little room.
func (s *Store) reserve(size int64) bool {
	if s.dir == "" || s.pinnedMem+s.reserved()+size > s.capacity {
		return false
	}
	for e := s.lru.next; s.bytes[stateMemory]+s.reserved()+size > s.capacity; {
		if e == &s.lru {
			// Unreachable while pinnedMem is exact.
			s.log.Error("store accounting broken: no unpinned object left to spill", "pinned", s.pinnedMem, "memory", s.bytes[stateMemory])
			return false
		}
		next := e.next
		if e.pins == 0 {
			s.unlink(e)
			s.setState(e, stateSpilling)
			s.issue(s.writeOp(e))
		}
		e = next
	}
	return true
}

// admit moves waiting objects into memory, in arrival order, while they fit.
func (s *Store) admit() {
	for len(s.admitQ) > 0 {
		e := s.admitQ[0]
		if s.used()+e.size > s.capacity {
			return
		}
		s.admitQ[0] = nil
		s.admitQ = s.admitQ[1:]
		wasRestore := e.state == stateRestored
		s.setState(e, stateMemory)
		s.link(e)
		if wasRestore {
			s.restored(e)
		} else {
			s.answer(e, &e.puts, nil, nil)
		}
	}
}

// shed gives up the most recent reservations until every waiting object fits
// once the spills under way complete: after a failed spill there is less
// room than was counted on. A new object is written straight to disk
// instead; a restored one stays on disk.
func (s *Store) shed() {
	for len(s.admitQ) > 0 && s.bytes[stateMemory]+s.reserved() > s.capacity {
		e := s.admitQ[len(s.admitQ)-1]
		s.admitQ[len(s.admitQ)-1] = nil
		s.admitQ = s.admitQ[:len(s.admitQ)-1]
		if e.state == stateRestored {
			e.data = nil
			s.setState(e, stateDisk)
			continue
		}
		s.setState(e, stateWriting)
		s.issue(s.writeOp(e))
	}
}

// unqueue removes e from the admission queue.
func (s *Store) unqueue(e *storeEntry) {
	if i := slices.Index(s.admitQ, e); i >= 0 {
		s.admitQ = slices.Delete(s.admitQ, i, i+1)
	}
}

// setState moves e to st, keeping the per-state counts and pinnedMem exact.
func (s *Store) setState(e *storeEntry, st entryState) {
	if e.state != stateNone {
		s.count[e.state]--
		s.bytes[e.state] -= e.size
	}
	if e.pins > 0 && e.state == stateMemory {
		s.pinnedMem -= e.size
	}
	e.state = st
	if st != stateNone {
		s.count[st]++
		s.bytes[st] += e.size
	}
	if e.pins > 0 && st == stateMemory {
		s.pinnedMem += e.size
	}
}

// answer reports the outcome of every ticket in *waiting and clears it.
func (s *Store) answer(e *storeEntry, waiting *[]ticket, data []byte, err error) {
	for _, t := range *waiting {
		s.outcomes = append(s.outcomes, outcome{ticket: t, id: e.id, size: e.size, data: data, err: err})
	}
	*waiting = nil
}

func (s *Store) newTicket() ticket {
	s.tickets++
	return s.tickets
}

func (s *Store) spillPath(id ID) string { return filepath.Join(s.dir, id.String()+spillExt) }

// writeOp is the write of e's bytes to its spill file.
func (s *Store) writeOp(e *storeEntry) *ioOp {
	op := &ioOp{kind: ioWrite, id: e.id, path: s.spillPath(e.id), data: e.data, e: e}
	if !s.dirReady {
		op.mkdir = s.dir
	}
	return op
}

// issue queues op behind the other operations on its object's file.
func (s *Store) issue(op *ioOp) {
	q := s.busy[op.id]
	if q == nil {
		q = &opQueue{}
		s.busy[op.id] = q
	}
	q.ops = append(q.ops, op)
	s.kick(op.id)
}

// issueFirst queues op ahead of the other operations waiting on its object's
// file. finish uses it for the follow-up of the operation just completed,
// which must come before operations queued for a later incarnation of the
// object.
func (s *Store) issueFirst(op *ioOp) {
	q := s.busy[op.id]
	if q == nil {
		q = &opQueue{}
		s.busy[op.id] = q
	}
	q.ops = slices.Insert(q.ops, 0, op)
	s.kick(op.id)
}

// kick issues the first operation queued on id's file unless one runs.
func (s *Store) kick(id ID) {
	q := s.busy[id]
	if q == nil || q.active {
		return
	}
	if len(q.ops) == 0 {
		delete(s.busy, id)
		return
	}
	q.active = true
	s.ready = append(s.ready, q.ops[0])
}

// runIO performs op on fsys. It is safe to call from any goroutine.
func runIO(fsys SpillFS, op *ioOp) ioResult {
	r := ioResult{op: op}
	switch op.kind {
	case ioWrite:
		if op.mkdir != "" {
			created, err := fsys.MkdirAll(op.mkdir)
			if err != nil {
				r.err = fmt.Errorf("%w: create spill directory: %w", ErrSpillFailed, err)
				return r
			}
			r.dirReady, r.createdDir = true, created
		}
		if err := fsys.WriteFile(op.path, op.data); err != nil {
			r.err = fmt.Errorf("%w: write %s: %w", ErrSpillFailed, op.path, err)
		}
	case ioRead:
		data, err := fsys.ReadFile(op.path)
		switch {
		case err != nil:
			r.err = fmt.Errorf("read %w: %w", ErrSpillFailed, err)
		case int64(len(data)) != op.size:
			r.err = fmt.Errorf("%w: spill file %s has %d bytes, want %d", ErrSpillFailed, op.path, len(data), op.size)
		default:
			r.data = data
		}
	case ioReadAt:
		buf := hugemem.Bytes(int(op.size))
		n, err := fsys.ReadAt(op.path, buf, op.off)
		if n == len(buf) {
			err = nil // io.ReaderAt may report io.EOF with the last byte
		}
		if err != nil {
			r.err = fmt.Errorf("%w: read %d bytes at %d of %s: %w", ErrSpillFailed, op.size, op.off, op.path, err)
		} else {
			r.data = buf
		}
	case ioRemove:
		if err := fsys.Remove(op.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.err = fmt.Errorf("%w: remove %s: %w", ErrSpillFailed, op.path, err)
		}
	}
	return r
}

// link appends an unlinked entry to the LRU list as most recently used.
func (s *Store) link(e *storeEntry) {
	e.prev, e.next = s.lru.prev, &s.lru
	s.lru.prev.next = e
	s.lru.prev = e
}

// linkOldest adds an unlinked entry to the LRU list as least recently used.
func (s *Store) linkOldest(e *storeEntry) {
	e.prev, e.next = &s.lru, s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

// unlink removes an entry from the LRU list.
func (s *Store) unlink(e *storeEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}
