package objects

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// refOp is one step of a table-driven RefTable scenario.
type refOp struct {
	op        string // "add", "incr", "decr", "free"
	wantErr   error
	wantFreed bool // decr: freed result; free: existed result
	wantCount int  // count after the op; 0 means no entry
}

func TestRefTableCountTransitions(t *testing.T) {
	tests := []struct {
		name        string
		ops         []refOp
		wantIsFreed bool
	}{
		{"add then decr frees", []refOp{
			{op: "add", wantCount: 1},
			{op: "decr", wantFreed: true},
		}, false},
		{"incr keeps it alive", []refOp{
			{op: "add", wantCount: 1},
			{op: "incr", wantCount: 2},
			{op: "incr", wantCount: 3},
			{op: "decr", wantCount: 2},
			{op: "decr", wantCount: 1},
			{op: "decr", wantFreed: true},
		}, false},
		{"decr below zero", []refOp{
			{op: "add", wantCount: 1},
			{op: "decr", wantFreed: true},
			{op: "decr", wantErr: ErrUnknownObject},
			{op: "incr", wantErr: ErrUnknownObject},
		}, false},
		{"unknown id", []refOp{
			{op: "incr", wantErr: ErrUnknownObject},
			{op: "decr", wantErr: ErrUnknownObject},
		}, false},
		{"duplicate add", []refOp{
			{op: "add", wantCount: 1},
			{op: "incr", wantCount: 2},
			{op: "add", wantErr: ErrObjectExists, wantCount: 2},
		}, false},
		{"explicit free with references", []refOp{
			{op: "add", wantCount: 1},
			{op: "incr", wantCount: 2},
			{op: "free", wantFreed: true},
			{op: "incr", wantErr: ErrObjectFreed},
			{op: "decr", wantErr: ErrObjectFreed},
			{op: "add", wantErr: ErrObjectFreed},
			{op: "free", wantFreed: false},
		}, true},
		{"free unknown refuses later add", []refOp{
			{op: "free", wantFreed: false},
			{op: "add", wantErr: ErrObjectFreed},
		}, true},
		{"add after count reached zero", []refOp{
			{op: "add", wantCount: 1},
			{op: "decr", wantFreed: true},
			{op: "add", wantCount: 1},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := NewRefTable()
			id := ID{1}
			for i, op := range tt.ops {
				var err error
				var freed bool
				switch op.op {
				case "add":
					err = rt.Add(id, 42, "n1")
				case "incr":
					err = rt.Incr(id)
				case "decr":
					freed, err = rt.Decr(id)
				case "free":
					freed = rt.Free(id)
				default:
					t.Fatalf("bad op %q", op.op)
				}
				if !errors.Is(err, op.wantErr) || (op.wantErr == nil) != (err == nil) {
					t.Fatalf("op %d %s: error = %v, want %v", i, op.op, err, op.wantErr)
				}
				if freed != op.wantFreed {
					t.Fatalf("op %d %s: freed/existed = %v, want %v", i, op.op, freed, op.wantFreed)
				}
				e, ok := rt.Get(id)
				if ok != (op.wantCount > 0) || e.Count != op.wantCount {
					t.Fatalf("op %d %s: entry = %+v, %v; want count %d", i, op.op, e, ok, op.wantCount)
				}
				if wantLen := min(op.wantCount, 1); rt.Len() != wantLen {
					t.Fatalf("op %d %s: Len = %d, want %d", i, op.op, rt.Len(), wantLen)
				}
			}
			if rt.IsFreed(id) != tt.wantIsFreed {
				t.Fatalf("IsFreed = %v, want %v", rt.IsFreed(id), tt.wantIsFreed)
			}
		})
	}
}

func TestRefTableErrorsNameObject(t *testing.T) {
	rt := NewRefTable()
	id := ID{0xbe, 15: 0xef}
	err := rt.Incr(id)
	if err == nil || !strings.Contains(err.Error(), id.String()) {
		t.Fatalf("error %v does not name the object", err)
	}
}

func TestRefTableLocations(t *testing.T) {
	rt := NewRefTable()
	a, b := ID{1}, ID{2}
	if err := rt.Add(a, 10, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Add(b, 20, ""); err != nil {
		t.Fatal(err)
	}
	if got := rt.Locations(b); len(got) != 0 {
		t.Fatalf("Locations(b) = %v, want none", got)
	}
	for _, n := range []string{"n2", "n1", "n3", "n2"} {
		if err := rt.AddLocation(a, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.AddLocation(b, "n2"); err != nil {
		t.Fatal(err)
	}
	if got, want := rt.Locations(a), []string{"n1", "n2", "n3"}; !slices.Equal(got, want) {
		t.Fatalf("Locations(a) = %v, want %v", got, want)
	}

	// Returned slices are copies.
	rt.Locations(a)[0] = "x"
	e, _ := rt.Get(a)
	e.Locations[1] = "y"
	if got := rt.Locations(a); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("caller changed the table: %v", got)
	}
	if e.Size != 10 || e.Count != 1 {
		t.Fatalf("Get(a) = %+v", e)
	}

	if !rt.RemoveLocation(a, "n2") || rt.RemoveLocation(a, "n2") || rt.RemoveLocation(ID{9}, "n1") {
		t.Fatal("RemoveLocation results wrong")
	}
	if got := rt.Locations(a); !slices.Equal(got, []string{"n1", "n3"}) {
		t.Fatalf("Locations(a) after remove = %v", got)
	}

	// n2 held the only copy of b; a still has n1 and n3.
	if lost := rt.RemoveNode("n2"); !slices.Equal(lost, []ID{b}) {
		t.Fatalf("RemoveNode(n2) = %v, want [%v]", lost, b)
	}
	if lost := rt.RemoveNode("n1"); len(lost) != 0 {
		t.Fatalf("RemoveNode(n1) = %v, want none", lost)
	}
	if lost := rt.RemoveNode("n3"); !slices.Equal(lost, []ID{a}) {
		t.Fatalf("RemoveNode(n3) = %v, want [%v]", lost, a)
	}
	if rt.Len() != 2 {
		t.Fatalf("RemoveNode dropped entries: Len = %d", rt.Len())
	}

	if err := rt.AddLocation(ID{9}, "n1"); !errors.Is(err, ErrUnknownObject) {
		t.Fatalf("AddLocation(unknown) error = %v", err)
	}
	rt.Free(a)
	if err := rt.AddLocation(a, "n1"); !errors.Is(err, ErrObjectFreed) {
		t.Fatalf("AddLocation(freed) error = %v", err)
	}
	if rt.Locations(a) != nil {
		t.Fatal("freed object has locations")
	}
}

func TestRefTableRemoveNodeSorted(t *testing.T) {
	rt := NewRefTable()
	var want []ID
	for i := range 50 {
		id := ID{byte(i * 37), byte(i)}
		want = append(want, id)
		if err := rt.Add(id, 1, "dead"); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(want, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	if got := rt.RemoveNode("dead"); !slices.Equal(got, want) {
		t.Fatalf("RemoveNode order = %v, want %v", got, want)
	}
}

func TestRefTableFreedHistoryBounded(t *testing.T) {
	tests := []struct {
		name    string
		history int
		freed   int
	}{
		{"below limit", 100, 60},
		{"at limit", 100, 100},
		{"far past limit", 100, 1000},
		{"limit one", 1, 5},
		{"nonpositive means one", 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := NewRefTableWithHistory(tt.history)
			limit := max(tt.history, 1)
			ids := make([]ID, tt.freed)
			for i := range ids {
				binary.BigEndian.PutUint64(ids[i][8:], uint64(i+1))
				if err := rt.Add(ids[i], 1, "n"); err != nil {
					t.Fatal(err)
				}
				rt.Free(ids[i])
				// Freeing again must not take a second slot.
				rt.Free(ids[i])
			}
			if rt.Len() != 0 {
				t.Fatalf("Len = %d after freeing everything", rt.Len())
			}
			if n := rt.freed.len(); n != min(tt.freed, limit) {
				t.Fatalf("remembered %d freed IDs, want %d", n, min(tt.freed, limit))
			}
			if len(rt.freed.ring) > limit {
				t.Fatalf("ring grew to %d, limit %d", len(rt.freed.ring), limit)
			}
			oldest := tt.freed - min(tt.freed, limit)
			for i, id := range ids {
				if want := i >= oldest; rt.IsFreed(id) != want {
					t.Fatalf("IsFreed(id %d) = %v, want %v", i, rt.IsFreed(id), want)
				}
			}
			// An ID past the history is reported as unknown, not freed.
			if oldest > 0 {
				if err := rt.Incr(ids[0]); !errors.Is(err, ErrUnknownObject) {
					t.Fatalf("Incr(forgotten) error = %v, want ErrUnknownObject", err)
				}
			}
		})
	}
}

func TestRefTableDefaultHistory(t *testing.T) {
	rt := NewRefTable()
	if rt.freed.limit != DefaultFreedHistory {
		t.Fatalf("limit = %d, want %d", rt.freed.limit, DefaultFreedHistory)
	}
}
