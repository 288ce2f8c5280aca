package es

import (
	"fmt"

	"github.com/goray-dev/goray/examples/rl/cartpole"
)

// cartPoleDim is the number of parameters of a CartPole policy.
const cartPoleDim = 4*2 + 2

// Evaluator evaluates CartPole policies on a [cartpole.Vec]: it keeps every
// environment of the Vec busy with a queue of episodes, each environment
// running its own perturbed copy of the parameters, and allocates nothing
// per step. Its results equal those of [Evaluate] and [EvaluatePolicy] on a
// single [cartpole.CartPole], bit for bit, whatever the number of
// environments.
//
// An Evaluator is what a worker actor holds. It is not safe for concurrent
// use.
type Evaluator struct {
	vec     *cartpole.Vec
	noise   *NoiseTable
	slots   []float32 // one parameter vector per environment
	job     []int     // job run by each environment, -1 when idle
	ret     []float64 // return so far of each environment's episode
	actions []int
	jobRet  []float64 // return of every job of the current call
	jobLen  []int64   // steps of every job of the current call
}

// NewEvaluator returns an Evaluator stepping numEnvs CartPoles at a time and
// drawing perturbations from noise. A few dozen environments amortise the
// per-step overhead; more only add environments that sit idle while the last
// episodes of a call finish. It fails if numEnvs < 1 or noise is nil.
func NewEvaluator(numEnvs int, noise *NoiseTable) (*Evaluator, error) {
	if numEnvs < 1 {
		return nil, fmt.Errorf("%w: %d environments", ErrInvalidArgument, numEnvs)
	}
	if noise == nil {
		return nil, fmt.Errorf("%w: nil noise table", ErrInvalidArgument)
	}
	return &Evaluator{
		vec:     cartpole.NewVec(numEnvs, 0),
		noise:   noise,
		slots:   make([]float32, numEnvs*cartPoleDim),
		job:     make([]int, numEnvs),
		ret:     make([]float64, numEnvs),
		actions: make([]int, numEnvs),
	}, nil
}

// NumEnvs returns the number of environments stepped together.
func (e *Evaluator) NumEnvs() int { return e.vec.Len() }

// Evaluate evaluates the mirrored perturbation at each offset for episodes
// episodes per sign, with start states from [EpisodeSeed](seed, offset, ep),
// and appends one Result per offset, in order, to out. It rejects
// parameters that are not a CartPole policy and offsets outside the noise
// table with [ErrInvalidArgument].
func (e *Evaluator) Evaluate(params []float32, offsets []int, sigma float32, episodes int, seed int64, out []Result) ([]Result, error) {
	if err := checkEval(params, cartPoleDim, e.noise, offsets, episodes); err != nil {
		return out, err
	}
	perPair := 2 * episodes
	e.run(len(offsets)*perPair, func(job int, slot []float32) int64 {
		k, rest := job/perPair, job%perPair
		sign, ep := float32(1), rest
		if rest >= episodes {
			sign, ep = -1, rest-episodes
		}
		off := offsets[k]
		perturb(slot, params, e.noise.Slice(off, cartPoleDim), sign*sigma)
		return EpisodeSeed(seed, off, ep)
	})
	for k, off := range offsets {
		rets := e.jobRet[k*perPair : (k+1)*perPair]
		r := Result{Offset: off, RetPos: meanOf(rets[:episodes]), RetNeg: meanOf(rets[episodes:])}
		for _, n := range e.jobLen[k*perPair : (k+1)*perPair] {
			r.Steps += n
		}
		out = append(out, r)
	}
	return out, nil
}

// EvaluatePolicy runs episodes episodes of the unperturbed policy and returns
// the mean return and the number of steps taken.
func (e *Evaluator) EvaluatePolicy(params []float32, episodes int, seed int64) (mean float32, steps int64, err error) {
	if err := checkParams(params, cartPoleDim, episodes); err != nil {
		return 0, 0, err
	}
	e.run(episodes, func(job int, slot []float32) int64 {
		copy(slot, params)
		return EpisodeSeed(seed, policyTag, job)
	})
	for _, n := range e.jobLen {
		steps += n
	}
	return meanOf(e.jobRet), steps, nil
}

// run plays numJobs episodes, handing them to environments as they free up.
// start fills an environment's parameter slot for a job and returns the
// seed of its start state. The return and length of job j are left in
// e.jobRet[j] and e.jobLen[j].
func (e *Evaluator) run(numJobs int, start func(job int, slot []float32) int64) {
	e.jobRet = grow(e.jobRet, numJobs)
	e.jobLen = grow(e.jobLen, numJobs)
	clear(e.jobLen)
	n := e.vec.Len()
	next, active := 0, 0
	begin := func(i int) {
		if next == numJobs {
			e.job[i] = -1
			return
		}
		slot := e.slots[i*cartPoleDim : (i+1)*cartPoleDim]
		e.vec.ResetEnv(i, start(next, slot))
		e.job[i], e.ret[i] = next, 0
		next++
		active++
	}
	for i := range n {
		begin(i)
	}
	obs := e.vec.Obs()
	for active > 0 {
		for i := range n {
			if e.job[i] < 0 {
				e.actions[i] = 0
				continue
			}
			e.actions[i] = Act(e.slots[i*cartPoleDim:(i+1)*cartPoleDim], obs[i*4:i*4+4])
		}
		_, rewards, dones := e.vec.Step(e.actions)
		for i := range n {
			j := e.job[i]
			if j < 0 {
				continue
			}
			e.ret[i] += float64(rewards[i])
			e.jobLen[j]++
			if dones[i] {
				e.jobRet[j] = e.ret[i]
				active--
				begin(i)
			}
		}
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// meanOf returns the mean of rets, summed in index order so the result does
// not depend on the order in which episodes finished.
func meanOf(rets []float64) float32 {
	var sum float64
	for _, r := range rets {
		sum += r
	}
	return float32(sum / float64(len(rets)))
}
