// Package cartpole is the simulation core of the reinforcement-learning
// example: the [Env] interface that an environment implements, the classic
// cart-pole balancing task ([CartPole], matching CartPole-v1), and [Vec], a
// batch of cart-poles stepped together.
//
// The package does not import goray. Its values are meant to live inside
// goray actors: each actor owns its own environments, and everything that
// leaves an actor is a plain slice of numbers. There is no package-level
// mutable state, and every trajectory is a pure function of the seeds and
// actions it was given, so two processes of the same build that replay the
// same seeds and actions see bit-identical observations.
//
// # Where Env lives
//
// [Env] is declared here, next to its reference implementation, rather than
// in a package of its own: a user who brings a simulator imports one package
// and finds both the contract and a complete, tested example of it. The
// evolution-strategies package (examples/rl/es) accepts any [Env].
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
// Step and Reset reuse one observation buffer per environment and allocate
// nothing: the slice they return is overwritten by the next call. Copy it if
// it must outlive that call.
package cartpole
