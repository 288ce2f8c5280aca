package es

import (
	"fmt"
)

// Evaluator evaluates linear policies on a batch of environments of one
// kind: it keeps every environment busy with a queue of episodes, each
// environment running its own perturbed copy of the parameters, and
// allocates nothing per step once its buffers have grown to a call's size.
// Its results equal those of [Evaluate] and [EvaluatePolicy] on a single
// environment of the same kind, bit for bit, whatever the number of
// environments.
//
// An Evaluator is what a worker actor holds. It is not safe for concurrent
// use.
type Evaluator struct {
	envs    []Env
	obs     [][]float32 // current observation of each environment
	obsSize int
	dim     int // parameters of the policy
	noise   *NoiseTable
	slots   []float32 // one parameter vector per environment
	job     []int     // job run by each environment, -1 when idle
	ret     []float64 // return so far of each environment's episode
	jobRet  []float64 // return of every job of the current call
	jobLen  []int64   // steps of every job of the current call
}

// NewEvaluator returns an Evaluator stepping numEnvs environments made by
// newEnv and drawing perturbations from noise. A few dozen environments
// amortise the per-call overhead; more only add environments that sit idle
// while the last episodes of a call finish. It fails if numEnvs < 1, newEnv
// or noise is nil, or the environments disagree on their shape or have no
// observation or no action.
func NewEvaluator(numEnvs int, newEnv func() Env, noise *NoiseTable) (*Evaluator, error) {
	if numEnvs < 1 {
		return nil, fmt.Errorf("%w: %d environments", ErrInvalidArgument, numEnvs)
	}
	if newEnv == nil {
		return nil, fmt.Errorf("%w: nil environment factory", ErrInvalidArgument)
	}
	if noise == nil {
		return nil, fmt.Errorf("%w: nil noise table", ErrInvalidArgument)
	}
	envs := make([]Env, numEnvs)
	for i := range envs {
		envs[i] = newEnv()
		if envs[i] == nil {
			return nil, fmt.Errorf("%w: the environment factory returned nil", ErrInvalidArgument)
		}
	}
	obsSize, numActions := envs[0].ObsSize(), envs[0].NumActions()
	if obsSize < 1 || numActions < 1 {
		return nil, fmt.Errorf("%w: environment with %d observations and %d actions", ErrInvalidArgument, obsSize, numActions)
	}
	for _, env := range envs[1:] {
		if env.ObsSize() != obsSize || env.NumActions() != numActions {
			return nil, fmt.Errorf("%w: the environment factory makes environments of different shapes", ErrInvalidArgument)
		}
	}
	dim := NumParams(obsSize, numActions)
	return &Evaluator{
		envs:    envs,
		obs:     make([][]float32, numEnvs),
		obsSize: obsSize,
		dim:     dim,
		noise:   noise,
		slots:   make([]float32, numEnvs*dim),
		job:     make([]int, numEnvs),
		ret:     make([]float64, numEnvs),
	}, nil
}

// NumEnvs returns the number of environments stepped together.
func (e *Evaluator) NumEnvs() int { return len(e.envs) }

// Dim returns the number of parameters of a policy for the environments.
func (e *Evaluator) Dim() int { return e.dim }

// Evaluate evaluates the mirrored perturbation at each offset for episodes
// episodes per sign, with start states from [EpisodeSeed](seed, offset, ep),
// and appends one Result per offset, in order, to out. It rejects
// parameters of the wrong length for the environments' policy and offsets
// outside the noise table with [ErrInvalidArgument].
func (e *Evaluator) Evaluate(params []float32, offsets []int, sigma float32, episodes int, seed int64, out []Result) ([]Result, error) {
	if err := checkEval(params, e.dim, e.noise, offsets, episodes); err != nil {
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
		perturb(slot, params, e.noise.Slice(off, e.dim), sign*sigma)
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
	if err := checkParams(params, e.dim, episodes); err != nil {
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
	next, active := 0, 0
	begin := func(i int) {
		if next == numJobs {
			e.job[i] = -1
			return
		}
		slot := e.slots[i*e.dim : (i+1)*e.dim]
		e.obs[i] = e.checkObs(e.envs[i].Reset(start(next, slot)))
		e.job[i], e.ret[i] = next, 0
		next++
		active++
	}
	for i := range e.envs {
		begin(i)
	}
	for active > 0 {
		for i, env := range e.envs {
			j := e.job[i]
			if j < 0 {
				continue
			}
			obs, r, done := env.Step(Act(e.slots[i*e.dim:(i+1)*e.dim], e.obs[i]))
			e.obs[i] = e.checkObs(obs)
			e.ret[i] += float64(r)
			e.jobLen[j]++
			if done {
				e.jobRet[j] = e.ret[i]
				active--
				begin(i)
			}
		}
	}
}

// checkObs panics if an environment broke the Env contract by returning an
// observation of the wrong size: the policy would read past it or misread
// its shape.
func (e *Evaluator) checkObs(obs []float32) []float32 {
	if len(obs) != e.obsSize {
		panic(fmt.Sprintf("es: an environment returned %d observations, its ObsSize is %d", len(obs), e.obsSize))
	}
	return obs
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
