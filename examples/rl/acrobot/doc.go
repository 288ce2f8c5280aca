// Package acrobot is the acrobot swing-up task, matching Acrobot-v1: the
// second environment of the reinforcement-learning example, implementing
// the es.Env interface of examples/rl/es.
//
// An acrobot is two links hanging from a fixed pivot, joined by a second
// joint; only that second joint is actuated. The task is to swing the tip
// of the lower link above the height of one link length over the pivot. It
// cannot be done in one push: the agent has to pump energy into the swing.
//
// # Dynamics
//
// The equations of motion are those of Sutton and Barto, "Reinforcement
// Learning: An Introduction" (1998), section 11.3, after Spong (1995), with
// the constants of Acrobot-v1: both links 1 m long and 1 kg, centres of mass
// half-way along, moments of inertia 1 kg·m², g = 9.8 m/s². The state is
// (θ1, θ2, θ̇1, θ̇2): θ1 is the upper link's angle from hanging straight
// down, θ2 the lower link's angle relative to the upper one. With torque τ
// on the second joint:
//
//	d1  = m1·lc1² + m2·(l1² + lc2² + 2·l1·lc2·cos θ2) + I1 + I2
//	d2  = m2·(lc2² + l1·lc2·cos θ2) + I2
//	φ2  = m2·lc2·g·cos(θ1 + θ2 − π/2)
//	φ1  = −m2·l1·lc2·θ̇2²·sin θ2 − 2·m2·l1·lc2·θ̇2·θ̇1·sin θ2 + (m1·lc1 + m2·l1)·g·cos(θ1 − π/2) + φ2
//	θ̈2 = (τ + d2/d1·φ1 − m2·l1·lc2·θ̇1²·sin θ2 − φ2) / (m2·lc2² + I2 − d2²/d1)
//	θ̈1 = −(d2·θ̈2 + φ1) / d1
//
// One step holds the torque for [Dt] = 0.2 s and integrates with one step
// of the classical fourth-order Runge–Kutta method. The angles are then
// wrapped into [−π, π] and the velocities clipped to ±[MaxVel1] and
// ±[MaxVel2].
//
// Actions 0, 1 and 2 apply a torque of −1, 0 and +1 N·m. Observations are
// (cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2) as float32; the state is kept in
// float64. An episode starts with all four state variables uniform in
// [−0.1, 0.1), terminates when the tip is more than one link length above
// the pivot, −cos θ1 − cos(θ1 + θ2) > 1, and is truncated after [MaxSteps]
// steps. Every step earns −1 except the one that reaches the goal, which
// earns 0, so a return is minus the number of steps it took to get the tip
// up (−500 for an episode that never does).
//
// Like package cartpole, this package does not import goray, keeps no
// package-level mutable state, replays a trajectory exactly from the seed
// and the actions, and reuses one observation buffer: the slice Step and
// Reset return is overwritten by the next call.
package acrobot
