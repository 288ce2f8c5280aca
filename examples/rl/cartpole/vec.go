package cartpole

import (
	"fmt"
	"math/rand/v2"
)

// Vec is a batch of N CartPole-v1 environments stepped together, laid out so
// that one call advances all of them without allocating. Observations are
// returned as one flat slice of N*4 values, environment i at [4i, 4i+4).
//
// A finished environment is reset at once inside Step (auto-reset): in the
// slices Step returns, rewards[i] and dones[i] describe the step that ended
// environment i's episode, while obs holds the first observation of its next
// episode. Each environment draws its successive start states from its own
// generator, seeded from the Vec's seed and its index, so a Vec replays
// exactly from (n, seed) and the actions it is given.
//
// The slices returned by Step, Reset and Obs are owned by the Vec and are
// overwritten by its next Step, Reset or ResetEnv. A Vec is not safe for
// concurrent use.
type Vec struct {
	envs    []vecEnv
	obs     []float32
	rewards []float32
	dones   []bool
	trunc   []bool
	seed    int64
}

type vecEnv struct {
	s     State
	rng   rand.PCG
	steps int
}

// NewVec returns n environments, each reset to a start state derived from
// seed and its index. It panics if n < 1.
func NewVec(n int, seed int64) *Vec {
	if n < 1 {
		panic(fmt.Sprintf("cartpole: NewVec with %d environments", n))
	}
	v := &Vec{
		envs:    make([]vecEnv, n),
		obs:     make([]float32, n*obsSize),
		rewards: make([]float32, n),
		dones:   make([]bool, n),
		trunc:   make([]bool, n),
		seed:    seed,
	}
	v.Reset()
	return v
}

// Len returns the number of environments.
func (v *Vec) Len() int { return len(v.envs) }

// ObsSize returns 4, the length of one environment's observation.
func (v *Vec) ObsSize() int { return obsSize }

// NumActions returns 2.
func (v *Vec) NumActions() int { return numActions }

// Reset restarts every environment from the beginning of its generator's
// stream, as NewVec left it, and returns the observations.
func (v *Vec) Reset() []float32 {
	for i := range v.envs {
		v.ResetEnv(i, EnvSeed(v.seed, i))
	}
	return v.obs
}

// ResetEnv restarts environment i with a start state drawn from seed, exactly
// as CartPole.Reset(seed) would, and writes its first observation into the
// slice Obs returns. Later auto-resets of environment i continue the stream
// that seed started.
func (v *Vec) ResetEnv(i int, seed int64) {
	e := &v.envs[i]
	reseed(&e.rng, seed)
	e.s = randomState(&e.rng)
	e.steps = 0
	e.s.observe((*[obsSize]float32)(v.obs[i*obsSize:]))
}

// Obs returns the current observations, N*4 values.
func (v *Vec) Obs() []float32 { return v.obs }

// Step applies actions[i] (0 left, 1 right) to environment i, for every i,
// and returns the observations, the rewards and which environments finished
// an episode, resetting those at once. It panics if len(actions) != Len() or
// an action is not 0 or 1.
func (v *Vec) Step(actions []int) (obs []float32, rewards []float32, dones []bool) {
	if len(actions) != len(v.envs) {
		panic(fmt.Sprintf("cartpole: Vec.Step with %d actions for %d environments", len(actions), len(v.envs)))
	}
	obs, rewards, dones = v.obs, v.rewards, v.dones
	trunc := v.trunc[:len(v.envs)]
	rewards = rewards[:len(v.envs)]
	dones = dones[:len(v.envs)]
	for i := range v.envs {
		a := actions[i]
		checkAction(a)
		e := &v.envs[i]
		terminated := e.s.step(a)
		e.steps++
		truncated := !terminated && e.steps >= MaxSteps
		rewards[i] = 1
		dones[i] = terminated || truncated
		trunc[i] = truncated
		if terminated || truncated {
			e.s = randomState(&e.rng)
			e.steps = 0
		}
		e.s.observe((*[obsSize]float32)(obs[i*obsSize:]))
	}
	return obs, rewards, dones
}

// Truncated reports, for the last Step, which environments ended their
// episode by reaching MaxSteps rather than by failing. It is the same slice
// on every call, overwritten by each Step.
func (v *Vec) Truncated() []bool { return v.trunc }

// EnvSeed is the seed with which environment i of NewVec(n, seed) starts:
// environment i of a Vec starts exactly like CartPole.Reset(EnvSeed(seed, i)).
func EnvSeed(seed int64, i int) int64 {
	return int64(mix64(uint64(seed) ^ mix64(uint64(i)+1)))
}

// mix64 is the SplitMix64 finaliser: a bijection on uint64 whose outputs for
// consecutive inputs look independent.
func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
