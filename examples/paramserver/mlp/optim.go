package mlp

import (
	"fmt"
	"math"
)

// Optimizer updates a parameter vector, or one contiguous range of it, from
// a gradient of the same length. An Optimizer keeps per-element state sized by
// its first Apply, so each shard of a parameter server holds its own.
type Optimizer interface {
	Apply(params, grad []float32)
}

// SGD is stochastic gradient descent with optional heavy-ball momentum:
// v ← Momentum·v + g; p ← p − LR·v.
type SGD struct {
	LR, Momentum float32

	vel []float32
}

// Apply performs one update of params from grad. It panics if the lengths
// differ from each other or from those of earlier calls.
func (o *SGD) Apply(params, grad []float32) {
	checkLens(params, grad)
	if o.Momentum == 0 {
		for i, g := range grad {
			params[i] -= o.LR * g
		}
		return
	}
	o.vel = state(o.vel, len(params))
	v := o.vel[:len(params)]
	for i, g := range grad {
		v[i] = o.Momentum*v[i] + g
		params[i] -= o.LR * v[i]
	}
}

// Adam is the Adam optimizer with bias-corrected moment estimates. LR may be
// changed between calls to follow a schedule.
type Adam struct {
	LR, B1, B2, Eps float32

	m, v []float32
	t    int
}

// NewAdam returns Adam with the customary B1 = 0.9, B2 = 0.999, Eps = 1e-8.
func NewAdam(lr float32) *Adam {
	return &Adam{LR: lr, B1: 0.9, B2: 0.999, Eps: 1e-8}
}

// Steps reports how many updates Apply has made.
func (o *Adam) Steps() int { return o.t }

// Apply performs one update of params from grad. It panics if the lengths
// differ from each other or from those of earlier calls.
func (o *Adam) Apply(params, grad []float32) {
	checkLens(params, grad)
	o.m = state(o.m, len(params))
	o.v = state(o.v, len(params))
	o.t++
	c1 := 1 - math.Pow(float64(o.B1), float64(o.t))
	c2 := 1 - math.Pow(float64(o.B2), float64(o.t))
	// p ← p − LR·m̂/(√v̂ + Eps) with m̂ = m/c1 and v̂ = v/c2, folded into
	// one step size and a rescaled epsilon.
	step := float32(float64(o.LR) * math.Sqrt(c2) / c1)
	eps := float32(float64(o.Eps) * math.Sqrt(c2))
	b1, b2 := o.B1, o.B2
	m, v := o.m[:len(params)], o.v[:len(params)]
	done := 0
	if hasKernel {
		done = len(params) &^ 7
		adamKernel(params[:done], m[:done], v[:done], grad[:done], b1, b2, step, eps)
	}
	// The explicit conversions forbid fused multiply-adds, so this loop and
	// the vector kernel round identically and sharding cannot change results.
	for i := done; i < len(params); i++ {
		g := grad[i]
		mi := float32(b1*m[i]) + float32((1-b1)*g)
		vi := float32(b2*v[i]) + float32(float32((1-b2)*g)*g)
		m[i], v[i] = mi, vi
		params[i] -= float32(step*mi) / (float32(math.Sqrt(float64(vi))) + eps)
	}
}

func checkLens(params, grad []float32) {
	if len(params) != len(grad) {
		panic(fmt.Sprintf("mlp: %d parameters with a gradient of %d", len(params), len(grad)))
	}
}

// state allocates optimizer state on first use and rejects a length change.
func state(s []float32, n int) []float32 {
	if s == nil {
		return make([]float32, n)
	}
	if len(s) != n {
		panic(fmt.Sprintf("mlp: optimizer state of %d applied to %d parameters", len(s), n))
	}
	return s
}

// Shards splits a parameter vector of numParams elements into k contiguous
// ranges [lo, hi) whose lengths differ by at most one, in order. It panics
// if k < 1 or numParams < 0.
func Shards(numParams, k int) [][2]int {
	if k < 1 || numParams < 0 {
		panic(fmt.Sprintf("mlp: Shards(%d, %d)", numParams, k))
	}
	r := make([][2]int, k)
	for i := range r {
		r[i] = [2]int{i * numParams / k, (i + 1) * numParams / k}
	}
	return r
}
