package objects

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// Errors returned by RefTable, wrapped with the object ID.
var (
	// ErrUnknownObject means the table has no entry for the ID: it was never
	// added, or its count already reached zero.
	ErrUnknownObject = errors.New("objects: unknown object")
	// ErrObjectFreed means the object was explicitly freed.
	ErrObjectFreed = errors.New("objects: object freed")
	// ErrObjectExists means Add was called for an ID that is already owned.
	ErrObjectExists = errors.New("objects: object already registered")
)

// DefaultFreedHistory is how many explicitly freed IDs a RefTable from
// NewRefTable remembers.
const DefaultFreedHistory = 100_000

// Entry describes one owned object.
type Entry struct {
	Size      int64
	Count     int      // outstanding references, the owner's handle included
	Locations []string // nodes holding a copy, in the order they were added
}

// RefTable is the owner table of the objects a process owns: their reference
// counts and the nodes holding copies. An entry lives until its count drops to
// zero or it is freed explicitly.
//
// Explicitly freed IDs are remembered so that late references are refused
// with ErrObjectFreed instead of being mistaken for unknown objects. Only the
// most recent freedHistory of them are kept, so memory stays bounded; an ID
// freed longer ago is reported as unknown.
//
// A RefTable is not safe for concurrent use. It is owned by exactly one actor,
// the object directory, which serialises every call to it.
type RefTable struct {
	entries map[ID]*Entry
	freed   freedSet
}

// NewRefTable returns an empty table that remembers DefaultFreedHistory freed IDs.
func NewRefTable() *RefTable {
	return NewRefTableWithHistory(DefaultFreedHistory)
}

// NewRefTableWithHistory returns an empty table that remembers the last
// freedHistory explicitly freed IDs; values below 1 mean 1.
func NewRefTableWithHistory(freedHistory int) *RefTable {
	return &RefTable{
		entries: make(map[ID]*Entry),
		freed:   newFreedSet(max(freedHistory, 1)),
	}
}

// Add registers an object owned here with count 1, the owner's handle.
// location is the node holding the first copy; empty means none yet. Adding an
// owned ID gives ErrObjectExists and adding a freed one ErrObjectFreed; the
// existing state is left untouched.
func (t *RefTable) Add(id ID, size int64, location string) error {
	if t.freed.contains(id) {
		return fmt.Errorf("objects: add %s: %w", id, ErrObjectFreed)
	}
	if _, ok := t.entries[id]; ok {
		return fmt.Errorf("objects: add %s: %w", id, ErrObjectExists)
	}
	e := &Entry{Size: size, Count: 1}
	if location != "" {
		e.Locations = []string{location}
	}
	t.entries[id] = e
	return nil
}

// AddLocation records that node holds a copy of the object. Recording a known
// location again is a no-op.
func (t *RefTable) AddLocation(id ID, node string) error {
	e, err := t.lookup("add location to", id)
	if err != nil {
		return err
	}
	if !slices.Contains(e.Locations, node) {
		e.Locations = append(e.Locations, node)
	}
	return nil
}

// RemoveLocation forgets that node holds a copy of the object and reports
// whether it was recorded.
func (t *RefTable) RemoveLocation(id ID, node string) bool {
	e, ok := t.entries[id]
	if !ok {
		return false
	}
	i := slices.Index(e.Locations, node)
	if i < 0 {
		return false
	}
	e.Locations = slices.Delete(e.Locations, i, i+1)
	return true
}

// RemoveNode forgets node as a location of every object, as when the node
// leaves the cluster, and returns the IDs, sorted, of the objects that had a
// copy there and now have none left.
func (t *RefTable) RemoveNode(node string) []ID {
	var lost []ID
	for id, e := range t.entries {
		i := slices.Index(e.Locations, node)
		if i < 0 {
			continue
		}
		e.Locations = slices.Delete(e.Locations, i, i+1)
		if len(e.Locations) == 0 {
			lost = append(lost, id)
		}
	}
	slices.SortFunc(lost, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return lost
}

// Locations returns a copy of the nodes holding the object, or nil if the
// object is not in the table.
func (t *RefTable) Locations(id ID) []string {
	e, ok := t.entries[id]
	if !ok {
		return nil
	}
	return slices.Clone(e.Locations)
}

// Incr adds a reference.
func (t *RefTable) Incr(id ID) error {
	e, err := t.lookup("incr", id)
	if err != nil {
		return err
	}
	e.Count++
	return nil
}

// Decr drops a reference. When the count reaches zero the entry is removed and
// freed is true; later calls for the ID give ErrUnknownObject.
func (t *RefTable) Decr(id ID) (freed bool, err error) {
	e, err := t.lookup("decr", id)
	if err != nil {
		return false, err
	}
	e.Count--
	if e.Count > 0 {
		return false, nil
	}
	delete(t.entries, id)
	return true, nil
}

// Free removes the object regardless of its count and remembers the ID as
// freed, so later Add, AddLocation, Incr and Decr give ErrObjectFreed. It
// reports whether the object was in the table. Freeing an ID the table does
// not hold still marks it freed, so a registration arriving late is refused.
func (t *RefTable) Free(id ID) (existed bool) {
	_, existed = t.entries[id]
	delete(t.entries, id)
	t.freed.add(id)
	return existed
}

// IsFreed reports whether the ID was explicitly freed and is still within the
// table's freed history.
func (t *RefTable) IsFreed(id ID) bool {
	return t.freed.contains(id)
}

// Len returns the number of objects in the table, freed ones excluded.
func (t *RefTable) Len() int {
	return len(t.entries)
}

// Get returns a copy of the object's entry.
func (t *RefTable) Get(id ID) (Entry, bool) {
	e, ok := t.entries[id]
	if !ok {
		return Entry{}, false
	}
	c := *e
	c.Locations = slices.Clone(e.Locations)
	return c, true
}

func (t *RefTable) lookup(op string, id ID) (*Entry, error) {
	if e, ok := t.entries[id]; ok {
		return e, nil
	}
	if t.freed.contains(id) {
		return nil, fmt.Errorf("objects: %s %s: %w", op, id, ErrObjectFreed)
	}
	return nil, fmt.Errorf("objects: %s %s: %w", op, id, ErrUnknownObject)
}

// freedSet remembers the last limit IDs added: a ring buffer gives the order
// of eviction, a map gives membership.
type freedSet struct {
	limit int
	ring  []ID // grows to limit, then overwritten from next
	next  int
	set   map[ID]struct{}
}

func newFreedSet(limit int) freedSet {
	return freedSet{limit: limit, set: make(map[ID]struct{})}
}

func (f *freedSet) contains(id ID) bool {
	_, ok := f.set[id]
	return ok
}

func (f *freedSet) add(id ID) {
	if f.contains(id) {
		return
	}
	if len(f.ring) < f.limit {
		f.ring = append(f.ring, id)
	} else {
		delete(f.set, f.ring[f.next])
		f.ring[f.next] = id
		f.next = (f.next + 1) % f.limit
	}
	f.set[id] = struct{}{}
}

func (f *freedSet) len() int {
	return len(f.set)
}
