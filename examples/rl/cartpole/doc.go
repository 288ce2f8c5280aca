// Package cartpole is the classic cart-pole balancing task, matching
// CartPole-v1: one of the environments of the reinforcement-learning example.
// [CartPole] implements the es.Env interface of examples/rl/es, so the
// evolution-strategies code trains on it as on any other environment.
//
// The package does not import goray. Its values are meant to live inside
// goray actors: each actor owns its own environments, and everything that
// leaves an actor is a plain slice of numbers. There is no package-level
// mutable state, and every trajectory is a pure function of the seed and
// the actions it was given, so two processes of the same build that replay
// the same seed and actions see bit-identical observations.
//
// # Dynamics
//
// The cart-pole follows Barto, Sutton and Anderson (1983) with the constants
// and explicit Euler integration of CartPole-v1: a push of ±10 N every 0.02 s,
// termination when the pole leans past 12 degrees or the cart leaves
// [-2.4, 2.4], a reward of 1 for every step including the last, and
// truncation after [MaxSteps] steps. The state is kept in float64;
// observations are float32.
//
// # Buffers
//
// Step and Reset reuse one observation buffer and allocate nothing: the
// slice they return is overwritten by the next call. Copy it if it must
// outlive that call.
package cartpole
