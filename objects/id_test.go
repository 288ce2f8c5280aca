package objects

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestIDStringParseRoundTrip(t *testing.T) {
	g := NewIDGen()
	for _, id := range []ID{{}, g.Next(), g.Next(), {0xff, 0x00, 0xab, 15: 0x01}} {
		s := id.String()
		if len(s) != 32 || strings.ToLower(s) != s {
			t.Fatalf("String() = %q, want 32 lower-case hex digits", s)
		}
		got, err := ParseID(s)
		if err != nil {
			t.Fatalf("ParseID(%q): %v", s, err)
		}
		if got != id {
			t.Fatalf("ParseID(%q) = %v, want %v", s, got, id)
		}
		got, err = IDFromBytes(id.Bytes())
		if err != nil || got != id {
			t.Fatalf("IDFromBytes(Bytes()) = %v, %v, want %v", got, err, id)
		}
	}
}

func TestIDKnownEncoding(t *testing.T) {
	id := ID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 15: 0x7f}
	const want = "0123456789abcdef000000000000007f"
	if got := id.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if got, err := ParseID(strings.ToUpper(want)); err != nil || got != id {
		t.Fatalf("ParseID(upper) = %v, %v, want %v", got, err, id)
	}
}

func TestParseIDInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"short", "0123"},
		{"long", strings.Repeat("0", 34)},
		{"not hex", strings.Repeat("zz", 16)},
		{"odd length", strings.Repeat("0", 31)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParseID(tt.in)
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ParseID(%q) error = %v, want ErrInvalidID", tt.in, err)
			}
			if !id.IsNil() {
				t.Fatalf("ParseID(%q) = %v on error, want nil ID", tt.in, id)
			}
		})
	}
}

func TestIDFromBytesInvalid(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 32} {
		if _, err := IDFromBytes(make([]byte, n)); !errors.Is(err, ErrInvalidID) {
			t.Fatalf("IDFromBytes(%d bytes) error = %v, want ErrInvalidID", n, err)
		}
	}
}

func TestIDFromBytesCopies(t *testing.T) {
	b := make([]byte, IDLen)
	b[0] = 7
	id, err := IDFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 9
	if id[0] != 7 {
		t.Fatalf("IDFromBytes aliases its input: id[0] = %d after changing the slice", id[0])
	}
	out := id.Bytes()
	out[0] = 9
	if id[0] != 7 {
		t.Fatal("Bytes aliases the ID")
	}
}

func TestIsNil(t *testing.T) {
	if !(ID{}).IsNil() {
		t.Fatal("zero ID is not nil")
	}
	if (ID{15: 1}).IsNil() {
		t.Fatal("non-zero ID is nil")
	}
	if NewIDGen().Next().IsNil() {
		t.Fatal("generated ID is nil")
	}
}

func TestIDGenSequence(t *testing.T) {
	g := NewIDGen()
	a, b := g.Next(), g.Next()
	if a == b {
		t.Fatal("consecutive IDs are equal")
	}
	if [8]byte(a[:8]) != [8]byte(b[:8]) {
		t.Fatal("one generator produced two prefixes")
	}
	if a[15] != 1 || b[15] != 2 {
		t.Fatalf("counters = %d, %d, want 1, 2", a[15], b[15])
	}
	h := NewIDGen()
	if c := h.Next(); [8]byte(c[:8]) == [8]byte(a[:8]) {
		t.Fatal("two generators share a random prefix")
	}
}

func TestIDGenConcurrentUnique(t *testing.T) {
	g := NewIDGen()
	const workers, per = 8, 2000
	out := make([][]ID, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ids := make([]ID, per)
			for i := range ids {
				ids[i] = g.Next()
			}
			out[w] = ids
		})
	}
	wg.Wait()
	seen := make(map[ID]struct{}, workers*per)
	for _, ids := range out {
		for _, id := range ids {
			if _, dup := seen[id]; dup {
				t.Fatalf("duplicate ID %v", id)
			}
			seen[id] = struct{}{}
		}
	}
}

func TestIDGenNextAllocationFree(t *testing.T) {
	g := NewIDGen()
	var sink ID
	if n := testing.AllocsPerRun(1000, func() { sink = g.Next() }); n != 0 {
		t.Fatalf("Next allocates %.1f times per call, want 0", n)
	}
	_ = sink
}

func BenchmarkIDGenNext(b *testing.B) {
	g := NewIDGen()
	b.ReportAllocs()
	var sink ID
	for b.Loop() {
		sink = g.Next()
	}
	_ = sink
}

func BenchmarkIDGenNextParallel(b *testing.B) {
	g := NewIDGen()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var sink ID
		for pb.Next() {
			sink = g.Next()
		}
		_ = sink
	})
}
