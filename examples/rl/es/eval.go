package es

import (
	"errors"
	"fmt"
)

// ErrInvalidArgument reports an argument a function cannot work with: a
// parameter vector of the wrong length, an offset outside the noise table, a
// non-positive count. Values that arrive from another process are checked
// and rejected with it rather than causing a panic.
var ErrInvalidArgument = errors.New("es: invalid argument")

// Result is a worker's evaluation of one mirrored perturbation: the mean
// episode return of params + sigma*eps and of params - sigma*eps, where eps
// is the noise-table slice at Offset.
type Result struct {
	Offset int
	RetPos float32
	RetNeg float32
	Steps  int64 // environment steps taken for both signs together
}

// MaxEpisodes bounds the episodes per perturbation and sign that one
// evaluation call accepts, so that a request from another process cannot
// make a worker allocate without limit.
const MaxEpisodes = 1 << 16

// policyTag stands in for an offset when seeding episodes of the
// unperturbed policy, so that they never share start states with a
// perturbation evaluated under the same seed.
const policyTag = -1

// EpisodeSeed returns the seed of the start state of episode ep when the
// perturbation at offset is evaluated under seed. Both signs of a pair use
// the same seeds, so the pair differs only by the sign of the noise. Every
// evaluation function in this package seeds episodes this way.
func EpisodeSeed(seed int64, offset, ep int) int64 {
	h := mix64(uint64(seed))
	h = mix64(h ^ uint64(int64(offset)))
	return int64(mix64(h ^ uint64(int64(ep))))
}

// Evaluate runs episodes episodes of the policy params + sigma*eps and as
// many of params - sigma*eps on env, eps being the noise at offset, and
// returns their mean returns. It works with any Env; for CartPole an
// [Evaluator] gives the same results without an interface call per step or
// an allocation per call.
func Evaluate(env Env, params []float32, noise *NoiseTable, offset int, sigma float32, episodes int, seed int64) (Result, error) {
	dim := NumParams(env.ObsSize(), env.NumActions())
	if err := checkEval(params, dim, noise, []int{offset}, episodes); err != nil {
		return Result{}, err
	}
	eps := noise.Slice(offset, dim)
	p := make([]float32, dim)
	res := Result{Offset: offset}
	for _, sign := range [2]float32{1, -1} {
		perturb(p, params, eps, sign*sigma)
		var total float64
		for ep := range episodes {
			ret, steps := runEpisode(env, p, EpisodeSeed(seed, offset, ep))
			total += ret
			res.Steps += steps
		}
		if sign > 0 {
			res.RetPos = float32(total / float64(episodes))
		} else {
			res.RetNeg = float32(total / float64(episodes))
		}
	}
	return res, nil
}

// Returns returns the mean and the best of the 2*len(results) returns of a
// generation's perturbed policies, both signs counted; it returns 0, 0 for
// no results.
func Returns(results []Result) (mean, best float32) {
	if len(results) == 0 {
		return 0, 0
	}
	var sum float64
	best = results[0].RetPos
	for _, r := range results {
		sum += float64(r.RetPos) + float64(r.RetNeg)
		best = max(best, r.RetPos, r.RetNeg)
	}
	return float32(sum / float64(2*len(results))), best
}

// EvaluatePolicy runs episodes episodes of the unperturbed policy on env and
// returns the mean return and the number of steps taken.
func EvaluatePolicy(env Env, params []float32, episodes int, seed int64) (mean float32, steps int64, err error) {
	if err := checkParams(params, NumParams(env.ObsSize(), env.NumActions()), episodes); err != nil {
		return 0, 0, err
	}
	var total float64
	for ep := range episodes {
		ret, n := runEpisode(env, params, EpisodeSeed(seed, policyTag, ep))
		total += ret
		steps += n
	}
	return float32(total / float64(episodes)), steps, nil
}

func runEpisode(env Env, params []float32, seed int64) (ret float64, steps int64) {
	obs := env.Reset(seed)
	for {
		var r float32
		var done bool
		obs, r, done = env.Step(Act(params, obs))
		ret += float64(r)
		steps++
		if done {
			return ret, steps
		}
	}
}

// perturb sets dst = params + scale*eps.
func perturb(dst, params, eps []float32, scale float32) {
	eps = eps[:len(dst)]
	params = params[:len(dst)]
	for i := range dst {
		dst[i] = params[i] + scale*eps[i]
	}
}

func checkParams(params []float32, dim, episodes int) error {
	if len(params) != dim {
		return fmt.Errorf("%w: %d parameters, the policy has %d", ErrInvalidArgument, len(params), dim)
	}
	if episodes < 1 || episodes > MaxEpisodes {
		return fmt.Errorf("%w: %d episodes, want 1 to %d", ErrInvalidArgument, episodes, MaxEpisodes)
	}
	return nil
}

func checkEval(params []float32, dim int, noise *NoiseTable, offsets []int, episodes int) error {
	if err := checkParams(params, dim, episodes); err != nil {
		return err
	}
	if noise == nil {
		return fmt.Errorf("%w: nil noise table", ErrInvalidArgument)
	}
	for _, off := range offsets {
		if !noise.Valid(off, dim) {
			return fmt.Errorf("%w: offset %d for %d values in a noise table of %d", ErrInvalidArgument, off, dim, noise.Len())
		}
	}
	return nil
}

// mix64 is the SplitMix64 finaliser: a bijection on uint64 whose outputs for
// consecutive inputs look independent.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
