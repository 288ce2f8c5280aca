package cartpole

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Physical constants and limits of CartPole-v1.
const (
	Gravity        = 9.8                    // m/s²
	MassCart       = 1.0                    // kg
	MassPole       = 0.1                    // kg
	TotalMass      = MassCart + MassPole    // kg
	Length         = 0.5                    // m, half the pole's length
	PoleMassLength = MassPole * Length      // kg·m
	ForceMag       = 10.0                   // N, magnitude of every push
	Tau            = 0.02                   // s, time per step
	ThetaThreshold = 12 * 2 * math.Pi / 360 // rad; past ±12° the episode terminates
	XThreshold     = 2.4                    // m; past ±2.4 the episode terminates
	MaxSteps       = 500                    // steps after which an episode is truncated
	ResetBound     = 0.05                   // start state is uniform in [-ResetBound, ResetBound)^4
)

const (
	obsSize      = 4                        // x, x_dot, theta, theta_dot
	numActions   = 2                        // 0 pushes left, 1 pushes right
	fourThirds   = 4.0 / 3.0                // moment-of-inertia factor of a uniform rod
	seedStream   = 0x9e3779b97f4a7c15       // second PCG seed word, fixed so that a seed alone names a stream
	uniformScale = 2 * ResetBound * 0x1p-53 // maps 53 random bits onto [0, 2*ResetBound)
)

// State is the physical state of one cart-pole: cart position and velocity,
// pole angle (radians, 0 is upright) and angular velocity.
type State struct {
	X, XDot, Theta, ThetaDot float64
}

// CartPole is one CartPole-v1 environment, an es.Env. Action 0
// pushes the cart left and action 1 pushes it right; observations are
// (x, x_dot, theta, theta_dot).
//
// A CartPole is not safe for concurrent use.
type CartPole struct {
	s     State
	rng   rand.PCG
	steps int
	done  bool
	trunc bool
	obs   [obsSize]float32
}

// New returns a cart-pole at rest in the upright position. Call Reset before
// the first Step to start a proper episode.
func New() *CartPole { return &CartPole{} }

// ObsSize returns 4.
func (c *CartPole) ObsSize() int { return obsSize }

// NumActions returns 2.
func (c *CartPole) NumActions() int { return numActions }

// Reset starts an episode whose four state variables are drawn uniformly from
// [-0.05, 0.05) by a generator seeded with seed, and returns the first
// observation. The returned slice is overwritten by the next Reset or Step.
func (c *CartPole) Reset(seed int64) []float32 {
	reseed(&c.rng, seed)
	c.s = randomState(&c.rng)
	c.steps, c.done, c.trunc = 0, false, false
	c.s.observe(&c.obs)
	return c.obs[:]
}

// Step pushes the cart (0 left, 1 right), advances the dynamics by Tau and
// returns the new observation, a reward of 1 and whether the episode has
// ended, by termination or by truncation after MaxSteps steps. Once an
// episode has ended, Step leaves the state alone and returns a reward of 0
// and done until the next Reset. The returned slice is overwritten by the
// next Reset or Step. Step panics on an action other than 0 or 1.
func (c *CartPole) Step(action int) (obs []float32, reward float32, done bool) {
	checkAction(action)
	if c.done {
		return c.obs[:], 0, true
	}
	terminated := c.s.step(action)
	c.steps++
	c.trunc = !terminated && c.steps >= MaxSteps
	c.done = terminated || c.trunc
	c.s.observe(&c.obs)
	return c.obs[:], 1, c.done
}

// State returns the current physical state.
func (c *CartPole) State() State { return c.s }

// SetState replaces the physical state and starts counting a new episode
// from it. It exists for tests and for replaying a recorded state.
func (c *CartPole) SetState(s State) {
	c.s = s
	c.steps, c.done, c.trunc = 0, false, false
	c.s.observe(&c.obs)
}

// Steps returns the number of steps taken in the current episode.
func (c *CartPole) Steps() int { return c.steps }

// Truncated reports whether the current episode ended by reaching MaxSteps
// rather than by the pole falling or the cart leaving the track.
func (c *CartPole) Truncated() bool { return c.trunc }

// step advances s by one Euler step under action and reports whether the new
// state lies outside the allowed region.
func (s *State) step(action int) (terminated bool) {
	force := -ForceMag
	if action == 1 {
		force = ForceMag
	}
	sin, cos := math.Sincos(s.Theta)
	temp := (force + PoleMassLength*s.ThetaDot*s.ThetaDot*sin) / TotalMass
	thetaAcc := (Gravity*sin - cos*temp) / (Length * (fourThirds - MassPole*cos*cos/TotalMass))
	xAcc := temp - PoleMassLength*thetaAcc*cos/TotalMass

	s.X += Tau * s.XDot
	s.XDot += Tau * xAcc
	s.Theta += Tau * s.ThetaDot
	s.ThetaDot += Tau * thetaAcc

	return s.X < -XThreshold || s.X > XThreshold ||
		s.Theta < -ThetaThreshold || s.Theta > ThetaThreshold
}

func (s *State) observe(obs *[obsSize]float32) {
	obs[0] = float32(s.X)
	obs[1] = float32(s.XDot)
	obs[2] = float32(s.Theta)
	obs[3] = float32(s.ThetaDot)
}

// reseed points p at the stream named by seed.
func reseed(p *rand.PCG, seed int64) { p.Seed(uint64(seed), seedStream) }

// randomState draws a start state uniformly from [-ResetBound, ResetBound)^4.
func randomState(p *rand.PCG) State {
	var s State
	s.X = uniform(p)
	s.XDot = uniform(p)
	s.Theta = uniform(p)
	s.ThetaDot = uniform(p)
	return s
}

func uniform(p *rand.PCG) float64 { return float64(p.Uint64()>>11)*uniformScale - ResetBound }

func checkAction(action int) {
	if uint(action) >= numActions {
		panic(fmt.Sprintf("cartpole: action %d outside [0, %d)", action, numActions))
	}
}
