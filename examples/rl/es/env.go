package es

// Env is a simulator an agent interacts with one step at a time: the
// extension point of the RL example. Implement it for your own simulator and
// everything in this package trains on it unchanged; packages cartpole
// (CartPole-v1) and acrobot (Acrobot-v1) are two complete, tested
// implementations.
//
// An episode starts with Reset and ends when Step reports done. The contract:
//
//   - Reset(seed) starts a new episode and returns its first observation. The
//     start state must be a pure function of seed, so that an episode can be
//     replayed in another process from the seed alone.
//   - Step(action) advances one step with an action in [0, NumActions()) and
//     returns the next observation, the reward for this step, and whether the
//     episode has ended (by failure, by success or by a time limit). After
//     done, the next call must be Reset.
//   - Every episode must end: an environment that can run forever must
//     truncate itself after a bounded number of steps.
//   - Observations have exactly ObsSize() elements, and ObsSize and
//     NumActions never change. The returned slices may be reused buffers that
//     the following Reset or Step overwrites; callers copy what they keep.
//
// An Env holds the state of one episode and is not safe for concurrent use.
// Give each goroutine or actor its own; an [Evaluator] makes the ones it
// steps with the factory it is given.
type Env interface {
	// Reset starts a new episode whose start state is determined by seed
	// and returns the first observation.
	Reset(seed int64) []float32
	// Step applies action and returns the next observation, the reward
	// earned by this step and whether the episode is over.
	Step(action int) (obs []float32, reward float32, done bool)
	// ObsSize is the number of elements in every observation.
	ObsSize() int
	// NumActions is the number of discrete actions; valid actions are
	// 0 .. NumActions()-1.
	NumActions() int
}

// PolicyDim returns the number of parameters of the linear policy for env:
// NumParams(env.ObsSize(), env.NumActions()).
func PolicyDim(env Env) int { return NumParams(env.ObsSize(), env.NumActions()) }
