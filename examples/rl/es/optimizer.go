package es

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Optimizer is the driver side of evolution strategies: it turns the
// workers' results into a gradient estimate and moves the parameters with
// Adam (Kingma and Ba 2015), the optimiser of the paper's implementation.
// It holds Adam's moment estimates, so one Optimizer belongs to one
// parameter vector. It is not safe for concurrent use.
type Optimizer struct {
	LearningRate float32 // Adam's step size
	Beta1        float32 // decay of the first-moment estimate
	Beta2        float32 // decay of the second-moment estimate
	Epsilon      float32 // added to the root of the second moment

	m, v    []float64
	t       int
	grad    []float64
	returns []float32
	ranks   []float32
	idx     []int
}

// NewOptimizer returns an Adam optimiser for dim parameters with the usual
// defaults β1 = 0.9, β2 = 0.999, ε = 1e-8.
func NewOptimizer(dim int, learningRate float32) *Optimizer {
	return &Optimizer{
		LearningRate: learningRate,
		Beta1:        0.9,
		Beta2:        0.999,
		Epsilon:      1e-8,
		m:            make([]float64, dim),
		v:            make([]float64, dim),
		grad:         make([]float64, dim),
	}
}

// Steps returns how many updates have been applied.
func (o *Optimizer) Steps() int { return o.t }

// Update applies one generation's results to params in place.
//
// The 2n returns (n = len(results), both signs) are replaced by their
// centred ranks in [-0.5, 0.5], tied returns sharing their mean rank, which
// makes the step independent of the scale of the rewards and of outliers.
// The gradient of the expected return is then estimated as
//
//	g = 1/(n*sigma) * Σ_k (rank(RetPos_k) - rank(RetNeg_k)) * eps_k
//
// and Adam takes a step that ascends g while decaying the parameters
// towards zero with coefficient l2 (it descends -g + l2*params).
//
// Results come from other processes, so they are checked: an offset outside
// the noise table, a non-finite return, a parameter count that does not
// match the optimiser or an empty batch leave params untouched and return
// an error wrapping [ErrInvalidArgument].
func (o *Optimizer) Update(params []float32, results []Result, noise *NoiseTable, sigma, l2 float32) error {
	dim := len(o.m)
	switch {
	case len(params) != dim:
		return fmt.Errorf("%w: %d parameters for an optimiser of %d", ErrInvalidArgument, len(params), dim)
	case len(results) == 0:
		return fmt.Errorf("%w: no results", ErrInvalidArgument)
	case noise == nil:
		return fmt.Errorf("%w: nil noise table", ErrInvalidArgument)
	case !(sigma > 0):
		return fmt.Errorf("%w: sigma %v", ErrInvalidArgument, sigma)
	}
	for _, r := range results {
		if !noise.Valid(r.Offset, dim) {
			return fmt.Errorf("%w: offset %d outside a noise table of %d", ErrInvalidArgument, r.Offset, noise.Len())
		}
		if !finite(r.RetPos) || !finite(r.RetNeg) {
			return fmt.Errorf("%w: non-finite return at offset %d", ErrInvalidArgument, r.Offset)
		}
	}

	n := len(results)
	o.returns = grow(o.returns, 2*n)
	for k, r := range results {
		o.returns[k], o.returns[n+k] = r.RetPos, r.RetNeg
	}
	o.ranks = grow(o.ranks, 2*n)
	o.idx = grow(o.idx, 2*n)
	centeredRanks(o.returns, o.ranks, o.idx)

	clear(o.grad)
	for k, r := range results {
		w := float64(o.ranks[k] - o.ranks[n+k])
		if w == 0 {
			continue
		}
		for j, e := range noise.Slice(r.Offset, dim) {
			o.grad[j] += w * float64(e)
		}
	}
	scale := 1 / (float64(n) * float64(sigma))

	o.t++
	b1, b2 := float64(o.Beta1), float64(o.Beta2)
	step := float64(o.LearningRate) * math.Sqrt(1-math.Pow(b2, float64(o.t))) / (1 - math.Pow(b1, float64(o.t)))
	for j := range params {
		g := -o.grad[j]*scale + float64(l2)*float64(params[j])
		o.m[j] = b1*o.m[j] + (1-b1)*g
		o.v[j] = b2*o.v[j] + (1-b2)*g*g
		params[j] -= float32(step * o.m[j] / (math.Sqrt(o.v[j]) + float64(o.Epsilon)))
	}
	return nil
}

// centeredRanks writes to out the rank of each x[i] scaled onto [-0.5, 0.5]
// (the smallest -0.5, the largest 0.5), giving tied values the mean of the
// ranks they span. idx is scratch of the same length.
func centeredRanks(x, out []float32, idx []int) {
	n := len(x)
	if n == 1 {
		out[0] = 0
		return
	}
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(x[a], x[b]) })
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && x[idx[hi]] == x[idx[lo]] {
			hi++
		}
		// Ranks lo .. hi-1 are tied; each gets their mean.
		r := float32(float64(lo+hi-1)/2/float64(n-1) - 0.5)
		for _, i := range idx[lo:hi] {
			out[i] = r
		}
		lo = hi
	}
}

func finite(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }
