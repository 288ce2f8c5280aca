package acrobot

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Physical constants and limits of Acrobot-v1.
const (
	Gravity     = 9.8         // m/s²
	LinkLength1 = 1.0         // m
	LinkMass1   = 1.0         // kg
	LinkMass2   = 1.0         // kg
	LinkCOM1    = 0.5         // m, pivot to the upper link's centre of mass
	LinkCOM2    = 0.5         // m, joint to the lower link's centre of mass
	LinkMOI     = 1.0         // kg·m², moment of inertia of either link
	MaxVel1     = 4 * math.Pi // rad/s, bound on |θ̇1|
	MaxVel2     = 9 * math.Pi // rad/s, bound on |θ̇2|
	Dt          = 0.2         // s, time per step
	MaxSteps    = 500         // steps after which an episode is truncated
	ResetBound  = 0.1         // start state is uniform in [-ResetBound, ResetBound)^4
)

const (
	obsSize      = 6                        // cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2
	numActions   = 3                        // torque -1, 0, +1
	seedStream   = 0xbb67ae8584caa73b       // second PCG seed word, fixed so that a seed alone names a stream
	uniformScale = 2 * ResetBound * 0x1p-53 // maps 53 random bits onto [0, 2*ResetBound)
)

// State is the physical state of an acrobot: the upper link's angle from
// hanging down, the lower link's angle relative to the upper one (radians),
// and their angular velocities.
type State struct {
	Theta1, Theta2, Theta1Dot, Theta2Dot float64
}

// Acrobot is one Acrobot-v1 environment, an es.Env. Actions 0, 1 and 2
// apply a torque of -1, 0 and +1 to the joint between the links.
//
// An Acrobot is not safe for concurrent use.
type Acrobot struct {
	s     State
	rng   rand.PCG
	steps int
	done  bool
	trunc bool
	obs   [obsSize]float32
}

// New returns an acrobot hanging at rest. Call Reset before the first Step
// to start a proper episode.
func New() *Acrobot {
	a := &Acrobot{}
	a.s.observe(&a.obs)
	return a
}

// ObsSize returns 6.
func (a *Acrobot) ObsSize() int { return obsSize }

// NumActions returns 3.
func (a *Acrobot) NumActions() int { return numActions }

// Reset starts an episode whose four state variables are drawn uniformly
// from [-0.1, 0.1) by a generator seeded with seed, and returns the first
// observation. The returned slice is overwritten by the next Reset or Step.
func (a *Acrobot) Reset(seed int64) []float32 {
	a.rng.Seed(uint64(seed), seedStream)
	a.s = State{
		Theta1:    a.uniform(),
		Theta2:    a.uniform(),
		Theta1Dot: a.uniform(),
		Theta2Dot: a.uniform(),
	}
	a.steps, a.done, a.trunc = 0, false, false
	a.s.observe(&a.obs)
	return a.obs[:]
}

func (a *Acrobot) uniform() float64 {
	return float64(a.rng.Uint64()>>11)*uniformScale - ResetBound
}

// Step applies the torque of action (0: -1, 1: 0, 2: +1) for Dt seconds and
// returns the new observation, the reward (-1, or 0 on the step that lifts
// the tip above the goal line) and whether the episode has ended, by
// reaching the goal or by truncation after MaxSteps steps. Once an episode
// has ended, Step leaves the state alone and returns a reward of 0 and done
// until the next Reset. The returned slice is overwritten by the next Reset
// or Step. Step panics on an action outside [0, 3).
func (a *Acrobot) Step(action int) (obs []float32, reward float32, done bool) {
	if uint(action) >= numActions {
		panic(fmt.Sprintf("acrobot: action %d outside [0, %d)", action, numActions))
	}
	if a.done {
		return a.obs[:], 0, true
	}
	a.s = a.s.step(float64(action - 1))
	a.steps++
	terminated := a.s.Height() > LinkLength1
	a.trunc = !terminated && a.steps >= MaxSteps
	a.done = terminated || a.trunc
	a.s.observe(&a.obs)
	if terminated {
		return a.obs[:], 0, true
	}
	return a.obs[:], -1, a.done
}

// State returns the current physical state.
func (a *Acrobot) State() State { return a.s }

// SetState replaces the physical state and starts counting a new episode
// from it. It exists for tests and for replaying a recorded state.
func (a *Acrobot) SetState(s State) {
	a.s = s
	a.steps, a.done, a.trunc = 0, false, false
	a.s.observe(&a.obs)
}

// Steps returns the number of steps taken in the current episode.
func (a *Acrobot) Steps() int { return a.steps }

// Truncated reports whether the current episode ended by reaching MaxSteps
// rather than by reaching the goal.
func (a *Acrobot) Truncated() bool { return a.trunc }

// Height returns the height of the tip of the lower link over the pivot, in
// link lengths: -cos θ1 - cos(θ1 + θ2). An episode terminates when it
// exceeds 1.
func (s State) Height() float64 { return -math.Cos(s.Theta1) - math.Cos(s.Theta1+s.Theta2) }

// step returns the state Dt seconds after s under torque: one classical
// Runge–Kutta step, the angles wrapped into [-π, π] and the velocities
// clipped.
func (s State) step(torque float64) State {
	const h = Dt
	k1 := deriv(s, torque)
	k2 := deriv(s.add(k1, h/2), torque)
	k3 := deriv(s.add(k2, h/2), torque)
	k4 := deriv(s.add(k3, h), torque)
	n := State{
		Theta1:    s.Theta1 + h/6*(k1.Theta1+2*k2.Theta1+2*k3.Theta1+k4.Theta1),
		Theta2:    s.Theta2 + h/6*(k1.Theta2+2*k2.Theta2+2*k3.Theta2+k4.Theta2),
		Theta1Dot: s.Theta1Dot + h/6*(k1.Theta1Dot+2*k2.Theta1Dot+2*k3.Theta1Dot+k4.Theta1Dot),
		Theta2Dot: s.Theta2Dot + h/6*(k1.Theta2Dot+2*k2.Theta2Dot+2*k3.Theta2Dot+k4.Theta2Dot),
	}
	n.Theta1 = wrap(n.Theta1)
	n.Theta2 = wrap(n.Theta2)
	n.Theta1Dot = max(-MaxVel1, min(MaxVel1, n.Theta1Dot))
	n.Theta2Dot = max(-MaxVel2, min(MaxVel2, n.Theta2Dot))
	return n
}

// add returns s + h*d, component by component.
func (s State) add(d State, h float64) State {
	return State{
		Theta1:    s.Theta1 + h*d.Theta1,
		Theta2:    s.Theta2 + h*d.Theta2,
		Theta1Dot: s.Theta1Dot + h*d.Theta1Dot,
		Theta2Dot: s.Theta2Dot + h*d.Theta2Dot,
	}
}

// deriv returns the time derivative of s under torque: the velocities and
// the accelerations of the equations in the package documentation.
func deriv(s State, torque float64) State {
	const (
		m1, m2   = LinkMass1, LinkMass2
		l1       = LinkLength1
		lc1, lc2 = LinkCOM1, LinkCOM2
		i1, i2   = LinkMOI, LinkMOI
		g        = Gravity
	)
	sin2, cos2 := math.Sincos(s.Theta2)
	d1 := m1*lc1*lc1 + m2*(l1*l1+lc2*lc2+2*l1*lc2*cos2) + i1 + i2
	d2 := m2*(lc2*lc2+l1*lc2*cos2) + i2
	phi2 := m2 * lc2 * g * math.Cos(s.Theta1+s.Theta2-math.Pi/2)
	phi1 := -m2*l1*lc2*s.Theta2Dot*s.Theta2Dot*sin2 -
		2*m2*l1*lc2*s.Theta2Dot*s.Theta1Dot*sin2 +
		(m1*lc1+m2*l1)*g*math.Cos(s.Theta1-math.Pi/2) + phi2
	acc2 := (torque + d2/d1*phi1 - m2*l1*lc2*s.Theta1Dot*s.Theta1Dot*sin2 - phi2) /
		(m2*lc2*lc2 + i2 - d2*d2/d1)
	acc1 := -(d2*acc2 + phi1) / d1
	return State{Theta1: s.Theta1Dot, Theta2: s.Theta2Dot, Theta1Dot: acc1, Theta2Dot: acc2}
}

// wrap brings an angle into [-π, π] by whole turns.
func wrap(x float64) float64 { return math.Remainder(x, 2*math.Pi) }

func (s *State) observe(obs *[obsSize]float32) {
	sin1, cos1 := math.Sincos(s.Theta1)
	sin2, cos2 := math.Sincos(s.Theta2)
	obs[0] = float32(cos1)
	obs[1] = float32(sin1)
	obs[2] = float32(cos2)
	obs[3] = float32(sin2)
	obs[4] = float32(s.Theta1Dot)
	obs[5] = float32(s.Theta2Dot)
}
