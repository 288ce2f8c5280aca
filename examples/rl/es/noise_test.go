package es

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestNoiseTableDeterministic(t *testing.T) {
	a, err := NewNoiseTable(5, 1001)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewNoiseTable(5, 1001)
	c, _ := NewNoiseTable(6, 1001)
	same, differ := true, false
	for i := range a.Len() {
		same = same && a.data[i] == b.data[i]
		differ = differ || a.data[i] != c.data[i]
	}
	if !same || !differ || a.Len() != 1001 || a.Seed() != 5 {
		t.Fatalf("same seed equal=%v, other seed differs=%v, len=%d", same, differ, a.Len())
	}
	// A shorter table from the same seed is a prefix of the longer one.
	p, _ := NewNoiseTable(5, 100)
	for i := range p.Len() {
		if p.data[i] != a.data[i] {
			t.Fatalf("value %d of the prefix differs", i)
		}
	}
}

func TestNoiseTableIsStandardNormal(t *testing.T) {
	const n = 1 << 18
	nt, err := NewNoiseTable(1, n)
	if err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	within1 := 0
	for _, v := range nt.data {
		x := float64(v)
		sum += x
		sq += x * x
		if math.Abs(x) < 1 {
			within1++
		}
	}
	mean := sum / n
	std := math.Sqrt(sq/n - mean*mean)
	frac := float64(within1) / n
	// Standard errors at this size: mean 0.002, std 0.0014, fraction 0.0009.
	if math.Abs(mean) > 0.01 || math.Abs(std-1) > 0.01 || math.Abs(frac-0.6827) > 0.005 {
		t.Fatalf("mean %v std %v P(|x|<1) %v, want 0, 1, 0.6827", mean, std, frac)
	}
}

func TestNoiseTableSliceAndSample(t *testing.T) {
	nt, _ := NewNoiseTable(3, 64)
	tests := []struct {
		offset, dim int
		valid       bool
	}{
		{0, 10, true}, {54, 10, true}, {55, 10, false}, {-1, 10, false}, {0, 0, false}, {0, 64, true}, {0, 65, false},
	}
	for _, tt := range tests {
		if got := nt.Valid(tt.offset, tt.dim); got != tt.valid {
			t.Errorf("Valid(%d, %d) = %v, want %v", tt.offset, tt.dim, got, tt.valid)
		}
	}
	s := nt.Slice(54, 10)
	if len(s) != 10 || cap(s) != 10 || s[0] != nt.data[54] || s[9] != nt.data[63] {
		t.Fatalf("Slice(54, 10) = len %d cap %d, wrong window", len(s), cap(s))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[int]bool{}
	for range 2000 {
		off := nt.Sample(rng, 10)
		if !nt.Valid(off, 10) {
			t.Fatalf("Sample gave offset %d", off)
		}
		seen[off] = true
	}
	if len(seen) != 55 {
		t.Fatalf("Sample reached %d of 55 offsets", len(seen))
	}
	if _, err := NewNoiseTable(1, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NewNoiseTable(1, 0) error %v, want ErrInvalidArgument", err)
	}
}
