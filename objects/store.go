package objects

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
)

// Errors returned by Store. They are wrapped with the object ID, so test them
// with errors.Is.
var (
	// ErrObjectNotFound means the store holds no object with the ID.
	ErrObjectNotFound = errors.New("objects: object not found")
	// ErrSizeMismatch means an object was put twice with different sizes.
	ErrSizeMismatch = errors.New("objects: object already stored with a different size")
	// ErrSpillFailed means writing, reading or removing a spill file failed;
	// the underlying os error is wrapped as well.
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
)

// spillExt is the suffix of spill files; the name before it is the object ID.
const spillExt = ".obj"

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
}

// StoreStats is a snapshot of a Store's counters.
type StoreStats struct {
	Objects      int    // objects stored, in memory or spilled
	InMemory     int    // objects held in memory
	Spilled      int    // objects held only on disk
	UsedBytes    int64  // bytes of in-memory object data
	SpilledBytes int64  // bytes of spilled object data
	Capacity     int64  // StoreConfig.Capacity
	SpillCount   uint64 // spill files written since NewStore
	RestoreCount uint64 // spilled objects brought back into memory since NewStore
}

// storeEntry is one object. Exactly one of data (in memory) and path (spilled)
// is meaningful; an in-memory entry is linked into the LRU list.
type storeEntry struct {
	id         ID
	size       int64
	data       []byte
	path       string // spill file; empty while in memory
	pins       int
	prev, next *storeEntry
}

func (e *storeEntry) spilled() bool { return e.path != "" }

// Store is a node's local object store: immutable objects held in memory up to
// a byte capacity, with the least recently used unpinned objects spilled to
// disk when more room is needed.
//
// A Store is not safe for concurrent use. It is owned by exactly one actor,
// which serialises every call to it.
type Store struct {
	capacity int64
	dir      string
	log      *slog.Logger
	fs       SpillFS

	objects map[ID]*storeEntry
	// lru is a circular doubly linked list of in-memory entries with a
	// sentinel: lru.next is the least recently used, lru.prev the most.
	lru storeEntry

	used, spilledBytes    int64
	pinnedMem             int64 // bytes of in-memory objects with pins > 0
	inMemory, spilledObjs int
	spillCount, restores  uint64

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
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fsys := cfg.FS
	if fsys == nil {
		fsys = osFS{}
	}
	s := &Store{
		capacity: cfg.Capacity,
		dir:      cfg.SpillDir,
		log:      logger,
		fs:       fsys,
		objects:  make(map[ID]*storeEntry),
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
// stored are kept in every case.
func (s *Store) Put(id ID, data []byte) error {
	if s.closed {
		return fmt.Errorf("objects: put %s: %w", id, ErrStoreClosed)
	}
	size := int64(len(data))
	if e, ok := s.objects[id]; ok {
		if e.size != size {
			return fmt.Errorf("objects: put %s: %w: stored %d bytes, got %d", id, ErrSizeMismatch, e.size, size)
		}
		return nil
	}
	e := &storeEntry{id: id, size: size}
	if size <= s.capacity && s.makeRoom(size) {
		e.data = data
		s.link(e)
		s.used += size
		s.inMemory++
		s.objects[id] = e
		return nil
	}
	if s.dir == "" {
		return fmt.Errorf("objects: put %s (%d bytes, %d of %d in use): %w", id, size, s.used, s.capacity, ErrStoreFull)
	}
	path, err := s.writeSpill(id, data)
	if err != nil {
		return fmt.Errorf("objects: put %s: %w", id, err)
	}
	e.path = path
	s.objects[id] = e
	s.spilledBytes += size
	s.spilledObjs++
	s.spillCount++
	s.log.Debug("object stored on disk", "object", id, "bytes", size)
	return nil
}

// Get returns the object's bytes, which the caller must not modify, and marks
// it most recently used. A spilled object is read back and restored to memory
// if room can be made for it (which may spill others); otherwise its bytes are
// returned and it stays on disk. Unknown IDs give ErrObjectNotFound.
func (s *Store) Get(id ID) ([]byte, error) {
	if s.closed {
		return nil, fmt.Errorf("objects: get %s: %w", id, ErrStoreClosed)
	}
	e, ok := s.objects[id]
	if !ok {
		return nil, fmt.Errorf("objects: get %s: %w", id, ErrObjectNotFound)
	}
	if !e.spilled() {
		s.unlink(e)
		s.link(e)
		return e.data, nil
	}
	data, err := s.fs.ReadFile(e.path)
	if err != nil {
		return nil, fmt.Errorf("objects: get %s: read %w: %w", id, ErrSpillFailed, err)
	}
	if int64(len(data)) != e.size {
		return nil, fmt.Errorf("objects: get %s: %w: spill file %s has %d bytes, want %d", id, ErrSpillFailed, e.path, len(data), e.size)
	}
	if e.size > s.capacity || !s.makeRoom(e.size) {
		return data, nil
	}
	path := e.path
	e.data, e.path = data, ""
	s.spilledBytes -= e.size
	s.spilledObjs--
	s.link(e)
	s.used += e.size
	s.inMemory++
	if e.pins > 0 {
		s.pinnedMem += e.size
	}
	s.restores++
	s.removeFile(path)
	s.log.Debug("object restored from disk", "object", id, "bytes", e.size)
	return data, nil
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
	if e.pins == 1 && !e.spilled() {
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
	if e.pins == 0 && !e.spilled() {
		s.pinnedMem -= e.size
	}
	return nil
}

// Delete removes the object, pinned or not, freeing its memory and its spill
// file. It reports whether the object was stored.
func (s *Store) Delete(id ID) bool {
	if s.closed {
		return false
	}
	e, ok := s.objects[id]
	if !ok {
		return false
	}
	delete(s.objects, id)
	if e.spilled() {
		s.spilledBytes -= e.size
		s.spilledObjs--
		s.removeFile(e.path)
		return true
	}
	s.unlink(e)
	s.used -= e.size
	s.inMemory--
	if e.pins > 0 {
		s.pinnedMem -= e.size
	}
	e.data = nil
	return true
}

// Contains reports whether the object is stored, in memory or on disk.
func (s *Store) Contains(id ID) bool {
	_, ok := s.objects[id]
	return ok
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() StoreStats {
	return StoreStats{
		Objects:      len(s.objects),
		InMemory:     s.inMemory,
		Spilled:      s.spilledObjs,
		UsedBytes:    s.used,
		SpilledBytes: s.spilledBytes,
		Capacity:     s.capacity,
		SpillCount:   s.spillCount,
		RestoreCount: s.restores,
	}
}

// Close drops every object and removes every spill file the store wrote, and
// the spill directory if the store created it and it is empty. Later calls
// fail with ErrStoreClosed; a second Close returns nil.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, e := range s.objects {
		if e.spilled() {
			s.orphans[e.path] = struct{}{}
		}
	}
	for path := range s.orphans {
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
	s.lru.next, s.lru.prev = &s.lru, &s.lru
	s.used, s.spilledBytes, s.pinnedMem, s.inMemory, s.spilledObjs = 0, 0, 0, 0, 0
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("objects: close store: %w: %w", ErrSpillFailed, err)
	}
	return nil
}

// makeRoom spills least recently used unpinned objects until size more bytes
// fit in memory. It reports whether they fit. It spills nothing if the pinned
// objects alone leave too little room, and it stops at the first failed
// spill, leaving that object in memory.
func (s *Store) makeRoom(size int64) bool {
	if s.used+size <= s.capacity {
		return true
	}
	if s.dir == "" || s.pinnedMem+size > s.capacity {
		return false
	}
	for e := s.lru.next; s.used+size > s.capacity; {
		if e == &s.lru {
			return false
		}
		next := e.next
		if e.pins == 0 {
			if err := s.spill(e); err != nil {
				s.log.Warn("spilling object failed; keeping it in memory", "object", e.id, "error", err)
				return false
			}
		}
		e = next
	}
	return true
}

// spill moves an in-memory entry to disk.
func (s *Store) spill(e *storeEntry) error {
	path, err := s.writeSpill(e.id, e.data)
	if err != nil {
		return err
	}
	s.unlink(e)
	s.used -= e.size
	s.inMemory--
	e.data, e.path = nil, path
	s.spilledBytes += e.size
	s.spilledObjs++
	s.spillCount++
	s.log.Debug("object spilled", "object", e.id, "bytes", e.size)
	return nil
}

// writeSpill writes data to the object's spill file, which is either absent
// or complete.
func (s *Store) writeSpill(id ID, data []byte) (string, error) {
	if err := s.ensureDir(); err != nil {
		return "", err
	}
	path := filepath.Join(s.dir, id.String()+spillExt)
	if err := s.fs.WriteFile(path, data); err != nil {
		return "", fmt.Errorf("%w: write %s: %w", ErrSpillFailed, path, err)
	}
	return path, nil
}

// ensureDir creates the spill directory on first use and remembers whether
// this store created it.
func (s *Store) ensureDir() error {
	if s.dirReady {
		return nil
	}
	created, err := s.fs.MkdirAll(s.dir)
	if err != nil {
		return fmt.Errorf("%w: create spill directory: %w", ErrSpillFailed, err)
	}
	s.createdDir = created
	s.dirReady = true
	return nil
}

// removeFile deletes a spill file, remembering it for Close if that fails.
func (s *Store) removeFile(path string) {
	if err := s.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.orphans[path] = struct{}{}
		s.log.Warn("removing spill file failed", "path", path, "error", err)
	}
}

// link appends an unlinked entry to the LRU list as most recently used.
func (s *Store) link(e *storeEntry) {
	e.prev, e.next = s.lru.prev, &s.lru
	s.lru.prev.next = e
	s.lru.prev = e
}

// unlink removes an entry from the LRU list.
func (s *Store) unlink(e *storeEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}
