package es

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestCenteredRanks(t *testing.T) {
	third := float32(1.0 / 3)
	tests := []struct {
		name string
		x    []float32
		want []float32
	}{
		{"single", []float32{7}, []float32{0}},
		{"pair", []float32{2, 1}, []float32{0.5, -0.5}},
		{"distinct", []float32{3, 1, 2}, []float32{0.5, -0.5, 0}},
		{"ties share the mean rank", []float32{1, 2, 1, 2}, []float32{-third, third, -third, third}},
		{"all equal", []float32{500, 500, 500}, []float32{0, 0, 0}},
		{"negative and repeated", []float32{-5, 9, 9, 9, 0}, []float32{-0.5, 0.25, 0.25, 0.25, -0.25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := make([]float32, len(tt.x))
			centeredRanks(tt.x, out, make([]int, len(tt.x)))
			for i := range out {
				if math.Abs(float64(out[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("ranks %v, want %v", out, tt.want)
				}
			}
		})
	}
}

// referenceUpdate is the update of Optimizer.Update written out directly:
// centred ranks, g = Σ (r⁺-r⁻) eps / (n sigma), then Adam on -g + l2 θ.
type referenceAdam struct {
	m, v []float64
	t    int
}

func (a *referenceAdam) update(params []float64, ranksPos, ranksNeg []float64, eps [][]float32, sigma, l2, lr float64) {
	n := float64(len(ranksPos))
	a.t++
	for j := range params {
		var g float64
		for k := range ranksPos {
			g += (ranksPos[k] - ranksNeg[k]) * float64(eps[k][j])
		}
		g /= n * sigma
		d := -g + l2*params[j]
		a.m[j] = 0.9*a.m[j] + 0.1*d
		a.v[j] = 0.999*a.v[j] + 0.001*d*d
		mHat := a.m[j] / (1 - math.Pow(0.9, float64(a.t)))
		vHat := a.v[j] / (1 - math.Pow(0.999, float64(a.t)))
		params[j] -= lr * mHat / (math.Sqrt(vHat) + 1e-8)
	}
}

func TestOptimizerUpdateMatchesFormula(t *testing.T) {
	noise := testNoise(t)
	// Returns 10, 40 (+) and 20, 30 (-) rank as 10 < 20 < 30 < 40.
	results := []Result{
		{Offset: 5, RetPos: 10, RetNeg: 20},
		{Offset: 300, RetPos: 40, RetNeg: 30},
	}
	ranksPos := []float64{-0.5, 0.5}
	ranksNeg := []float64{-1.0 / 6, 1.0 / 6}
	eps := [][]float32{noise.Slice(5, 10), noise.Slice(300, 10)}
	const sigma, l2, lr = 0.1, 0.02, 0.05

	params := []float32{1, -2, 3, 0.5, 0, -0.1, 0.2, 4, -4, 1.5}
	ref := make([]float64, len(params))
	for i, p := range params {
		ref[i] = float64(p)
	}
	opt := NewOptimizer(len(params), lr)
	ra := &referenceAdam{m: make([]float64, len(params)), v: make([]float64, len(params))}
	for step := range 4 {
		if err := opt.Update(params, results, noise, sigma, l2); err != nil {
			t.Fatal(err)
		}
		ra.update(ref, ranksPos, ranksNeg, eps, sigma, l2, lr)
		for j := range params {
			if math.Abs(float64(params[j])-ref[j]) > 1e-5 {
				t.Fatalf("step %d param %d: %v, reference %v", step+1, j, params[j], ref[j])
			}
		}
	}
	if opt.Steps() != 4 {
		t.Fatalf("Steps() = %d, want 4", opt.Steps())
	}
}

func TestOptimizerRankInvariance(t *testing.T) {
	noise := testNoise(t)
	results := []Result{
		{Offset: 1, RetPos: 12, RetNeg: 9},
		{Offset: 50, RetPos: 30, RetNeg: 200},
		{Offset: 900, RetPos: 15, RetNeg: 15},
	}
	// A monotone transformation of the returns keeps the ranks, and so the step.
	warped := slices.Clone(results)
	for i := range warped {
		warped[i].RetPos = 3*warped[i].RetPos*warped[i].RetPos - 7
		warped[i].RetNeg = 3*warped[i].RetNeg*warped[i].RetNeg - 7
	}
	a, b := make([]float32, 10), make([]float32, 10)
	if err := NewOptimizer(10, 0.1).Update(a, results, noise, 0.1, 0.01); err != nil {
		t.Fatal(err)
	}
	if err := NewOptimizer(10, 0.1).Update(b, warped, noise, 0.1, 0.01); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) || slices.Equal(a, make([]float32, 10)) {
		t.Fatalf("updates differ or are zero: %v vs %v", a, b)
	}

	// When every return ties there is no signal and, without decay, no step.
	tied := []Result{{Offset: 1, RetPos: 500, RetNeg: 500}, {Offset: 2, RetPos: 500, RetNeg: 500}}
	p := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	want := slices.Clone(p)
	if err := NewOptimizer(10, 0.1).Update(p, tied, noise, 0.1, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p, want) {
		t.Fatalf("tied returns moved the parameters to %v", p)
	}
}

func TestOptimizerRejectsBadResults(t *testing.T) {
	noise := testNoise(t)
	good := []Result{{Offset: 1, RetPos: 1, RetNeg: 2}}
	tests := []struct {
		name    string
		params  []float32
		results []Result
		noise   *NoiseTable
		sigma   float32
	}{
		{"no results", make([]float32, 10), nil, noise, 0.1},
		{"offset outside", make([]float32, 10), []Result{{Offset: noise.Len() - 5}}, noise, 0.1},
		{"negative offset", make([]float32, 10), []Result{{Offset: -1}}, noise, 0.1},
		{"NaN return", make([]float32, 10), []Result{{Offset: 1, RetPos: float32(math.NaN())}}, noise, 0.1},
		{"infinite return", make([]float32, 10), []Result{{Offset: 1, RetNeg: float32(math.Inf(-1))}}, noise, 0.1},
		{"wrong parameter count", make([]float32, 9), good, noise, 0.1},
		{"nil noise", make([]float32, 10), good, nil, 0.1},
		{"zero sigma", make([]float32, 10), good, noise, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := NewOptimizer(10, 0.1)
			for i := range tt.params {
				tt.params[i] = float32(i)
			}
			before := slices.Clone(tt.params)
			if err := opt.Update(tt.params, tt.results, tt.noise, tt.sigma, 0.01); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("error %v, want ErrInvalidArgument", err)
			}
			if !slices.Equal(tt.params, before) || opt.Steps() != 0 {
				t.Fatal("a rejected update changed state")
			}
		})
	}
}
