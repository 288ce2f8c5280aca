package gpu

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
)

func TestAssigner(t *testing.T) {
	type step struct {
		op      string // "acq", "rel", "facq", "frel"
		count   int
		ids     []int
		q       float64
		idx     int
		want    string // result of acq ("[0 1]") or facq ("2")
		wantErr error
	}
	tests := []struct {
		name  string
		n     int
		steps []step
		free  int
	}{
		{"whole devices lowest first", 4, []step{
			{op: "acq", count: 2, want: "[0 1]"},
			{op: "acq", count: 1, want: "[2]"},
			{op: "rel", ids: []int{0}},
			{op: "acq", count: 2, want: "[0 3]"},
		}, 0},
		{"all or nothing", 2, []step{
			{op: "acq", count: 1, want: "[0]"},
			{op: "acq", count: 2, wantErr: ErrInsufficient},
			{op: "acq", count: 1, want: "[1]"},
		}, 0},
		{"zero and negative counts", 1, []step{
			{op: "acq", count: 0, want: "[]"},
			{op: "acq", count: -1, wantErr: ErrInvalid},
		}, 1},
		{"bad releases change nothing", 2, []step{
			{op: "acq", count: 1, want: "[0]"},
			{op: "rel", ids: []int{0, 1}, wantErr: ErrInvalid},
			{op: "rel", ids: []int{0, 0}, wantErr: ErrInvalid},
			{op: "rel", ids: []int{7}, wantErr: ErrInvalid},
			{op: "acq", count: 1, want: "[1]"},
			{op: "rel", ids: []int{1, 0}},
		}, 2},
		{"fractions pack onto one device", 2, []step{
			{op: "facq", q: 0.5, want: "0"},
			{op: "facq", q: 0.25, want: "0"},
			{op: "facq", q: 0.25, want: "0"},
			{op: "facq", q: 0.1, want: "1"},
			{op: "facq", q: 0.3, want: "1"},
		}, 0},
		{"fraction prefers fullest device with room", 3, []step{
			{op: "facq", q: 0.7, want: "0"},
			{op: "facq", q: 0.5, want: "1"},
			{op: "facq", q: 0.4, want: "1"},
			{op: "facq", q: 0.3, want: "0"},
		}, 1},
		{"exact fixed point: ten tenths fill a device", 1, []step{
			{op: "facq", q: 0.1, want: "0"}, {op: "facq", q: 0.1, want: "0"}, {op: "facq", q: 0.1, want: "0"},
			{op: "facq", q: 0.1, want: "0"}, {op: "facq", q: 0.1, want: "0"}, {op: "facq", q: 0.1, want: "0"},
			{op: "facq", q: 0.1, want: "0"}, {op: "facq", q: 0.1, want: "0"}, {op: "facq", q: 0.1, want: "0"},
			{op: "facq", q: 0.1, want: "0"},
			{op: "facq", q: 0.0001, wantErr: ErrInsufficient},
		}, 0},
		{"shared device is not given whole", 1, []step{
			{op: "facq", q: 0.5, want: "0"},
			{op: "acq", count: 1, wantErr: ErrInsufficient},
			{op: "frel", idx: 0, q: 0.5},
			{op: "acq", count: 1, want: "[0]"},
			{op: "facq", q: 0.5, wantErr: ErrInsufficient},
		}, 0},
		{"bad fractions", 1, []step{
			{op: "facq", q: 0, wantErr: ErrInvalid},
			{op: "facq", q: 1, wantErr: ErrInvalid},
			{op: "facq", q: -0.5, wantErr: ErrInvalid},
			{op: "facq", q: math.NaN(), wantErr: ErrInvalid},
			{op: "facq", q: 0.00001, wantErr: ErrInvalid},
			{op: "frel", idx: 0, q: 0.5, wantErr: ErrInvalid},
			{op: "facq", q: 0.25, want: "0"},
			{op: "frel", idx: 0, q: 0.5, wantErr: ErrInvalid},
			{op: "frel", idx: 3, q: 0.25, wantErr: ErrInvalid},
			{op: "frel", idx: 0, q: 0.25},
		}, 1},
		{"no devices", 0, []step{
			{op: "acq", count: 1, wantErr: ErrInsufficient},
			{op: "facq", q: 0.5, wantErr: ErrInsufficient},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssigner(tt.n)
			for i, s := range tt.steps {
				var got string
				var err error
				switch s.op {
				case "acq":
					var ids []int
					ids, err = a.Acquire(s.count)
					got = fmt.Sprint(ids)
				case "rel":
					err = a.Release(s.ids)
				case "facq":
					var idx int
					idx, err = a.AcquireFraction(s.q)
					got = fmt.Sprint(idx)
				case "frel":
					err = a.ReleaseFraction(s.idx, s.q)
				}
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d %s: err = %v, want %v", i, s.op, err, s.wantErr)
				}
				if err == nil && s.want != "" && got != s.want {
					t.Fatalf("step %d %s: got %s, want %s", i, s.op, got, s.want)
				}
			}
			if got := a.Free(); got != tt.free {
				t.Fatalf("Free = %d, want %d", got, tt.free)
			}
			if a.Len() != tt.n {
				t.Fatalf("Len = %d", a.Len())
			}
		})
	}
}

func TestAssignerConcurrent(t *testing.T) {
	const n = 8
	a := NewAssigner(n)
	var wg sync.WaitGroup
	held := make(chan []int, 64)
	for range 64 {
		wg.Go(func() {
			if ids, err := a.Acquire(1); err == nil {
				held <- ids
			}
		})
	}
	wg.Wait()
	close(held)
	seen := map[int]bool{}
	for ids := range held {
		for _, i := range ids {
			if seen[i] {
				t.Fatalf("device %d handed out twice", i)
			}
			seen[i] = true
		}
	}
	if len(seen) != n || a.Free() != 0 {
		t.Fatalf("handed out %d devices, %d free", len(seen), a.Free())
	}
}
