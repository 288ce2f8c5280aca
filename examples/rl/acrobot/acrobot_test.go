package acrobot

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDeriv(t *testing.T) {
	// Worked by hand from the equations in the package documentation, with
	// m1 = m2 = l1 = I1 = I2 = 1, lc1 = lc2 = 1/2, g = 9.8:
	//
	// rest, torque τ: cos θ2 = 1, so d1 = 1/4 + (1 + 1/4 + 1) + 2 = 9/2 and
	// d2 = (1/4 + 1/2) + 1 = 7/4; the gravity terms hold cos(-π/2) = 0, so
	// φ1 = φ2 = 0 and θ̈2 = τ / (5/4 - (49/16)/(9/2)) = τ / (41/72) = 72τ/41,
	// θ̈1 = -(7/4)(72τ/41)/(9/2) = -28τ/41.
	//
	// upper link horizontal (θ1 = π/2), at rest, no torque: d1 and d2 as
	// above, φ2 = (1/2)(9.8)cos 0 = 4.9, φ1 = (3/2)(9.8) + 4.9 = 19.6, so
	// θ̈2 = ((7/18)(19.6) - 4.9) / (41/72) = (49/18)(72/41) = 196/41 and
	// θ̈1 = -((7/4)(196/41) + 19.6)/(9/2) = -254.8/41.
	//
	// θ2 = π/2, θ̇1 = 1, θ̇2 = -2, τ = 1: cos θ2 = 0 and sin θ2 = 1, so
	// d1 = 1/4 + 5/4 + 2 = 7/2, d2 = 1/4 + 1 = 5/4, φ2 = 4.9 cos 0 = 4.9,
	// φ1 = -(1/2)(4) - 2(1/2)(-2)(1) + 0 + 4.9 = 4.9, so
	// θ̈2 = (1 + (5/14)(4.9) - 1/2 - 4.9) / (5/4 - (25/16)/(7/2))
	//     = -2.65 / (45/56) = -148.4/45 and
	// θ̈1 = -((5/4)(-148.4/45) + 4.9)/(7/2) = -(35/45)/(7/2) = -2/9.
	tests := []struct {
		name   string
		s      State
		torque float64
		want   State
	}{
		{"rest, no torque", State{}, 0, State{}},
		{"rest, torque +1", State{}, 1, State{Theta1Dot: -28.0 / 41, Theta2Dot: 72.0 / 41}},
		{"rest, torque -1", State{}, -1, State{Theta1Dot: 28.0 / 41, Theta2Dot: -72.0 / 41}},
		{"horizontal", State{Theta1: math.Pi / 2}, 0, State{Theta1Dot: -254.8 / 41, Theta2Dot: 196.0 / 41}},
		{"bent and moving", State{Theta2: math.Pi / 2, Theta1Dot: 1, Theta2Dot: -2}, 1,
			State{Theta1: 1, Theta2: -2, Theta1Dot: -2.0 / 9, Theta2Dot: -148.4 / 45}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deriv(tt.s, tt.torque)
			if !near(got, tt.want, 1e-12) {
				t.Fatalf("deriv(%+v, %v) = %+v, want %+v", tt.s, tt.torque, got, tt.want)
			}
		})
	}
}

// reference computes one step independently of the package: the equations
// of motion in their Lagrangian form M(q)·q̈ + h(q, q̇) + G(q) = (0, τ),
// with gravity written with sines and the 2×2 system solved by Cramer's
// rule, one classical Runge–Kutta step over Dt on arrays, the angles
// wrapped by whole turns and the velocities clipped. It also returns the
// state before wrapping and clipping, so that tests can tell which of the
// two a case exercises.
func reference(s State, torque float64) (next, raw [4]float64) {
	f := func(y [4]float64) [4]float64 {
		q1, q2, w1, w2 := y[0], y[1], y[2], y[3]
		m11 := 0.25 + (1 + 0.25 + math.Cos(q2)) + 2
		m12 := 0.25 + 0.5*math.Cos(q2) + 1
		m22 := 0.25 + 1
		h1 := -0.5 * math.Sin(q2) * (2*w1*w2 + w2*w2)
		h2 := 0.5 * math.Sin(q2) * w1 * w1
		g1 := 1.5*9.8*math.Sin(q1) + 0.5*9.8*math.Sin(q1+q2)
		g2 := 0.5 * 9.8 * math.Sin(q1+q2)
		r1, r2 := -h1-g1, torque-h2-g2
		det := m11*m22 - m12*m12
		return [4]float64{w1, w2, (r1*m22 - m12*r2) / det, (m11*r2 - m12*r1) / det}
	}
	axpy := func(y, k [4]float64, h float64) [4]float64 {
		for i := range y {
			y[i] += h * k[i]
		}
		return y
	}
	y := [4]float64{s.Theta1, s.Theta2, s.Theta1Dot, s.Theta2Dot}
	k1 := f(y)
	k2 := f(axpy(y, k1, 0.1))
	k3 := f(axpy(y, k2, 0.1))
	k4 := f(axpy(y, k3, 0.2))
	for i := range y {
		raw[i] = y[i] + 0.2/6*(k1[i]+2*k2[i]+2*k3[i]+k4[i])
	}
	next = raw
	for i := range 2 {
		for next[i] > math.Pi {
			next[i] -= 2 * math.Pi
		}
		for next[i] < -math.Pi {
			next[i] += 2 * math.Pi
		}
	}
	next[2] = math.Max(-4*math.Pi, math.Min(4*math.Pi, next[2]))
	next[3] = math.Max(-9*math.Pi, math.Min(9*math.Pi, next[3]))
	return next, raw
}

func TestStepMatchesReference(t *testing.T) {
	// exercises says what a case must exercise, checked on the reference's
	// state before wrapping and clipping.
	const (
		plain = iota
		wraps1
		wraps2
		clips1
		clips2
	)
	tests := []struct {
		name      string
		s         State
		exercises int
	}{
		{"rest", State{}, plain},
		{"horizontal", State{Theta1: math.Pi / 2}, plain},
		{"bent and moving", State{Theta2: math.Pi / 2, Theta1Dot: 1, Theta2Dot: -2}, plain},
		{"mid-swing", State{Theta1: 1.3, Theta2: -2.5, Theta1Dot: 5, Theta2Dot: -8}, plain},
		{"start state", State{Theta1: 0.05, Theta2: -0.08, Theta1Dot: 0.01, Theta2Dot: -0.09}, plain},
		{"theta1 past +pi", State{Theta1: 3.1, Theta1Dot: 3}, wraps1},
		{"theta2 past -pi", State{Theta2: -3.1, Theta2Dot: -5}, wraps2},
		{"theta1 velocity clipped", State{Theta1: 0.3, Theta1Dot: 20}, clips1},
		{"theta2 velocity clipped", State{Theta2: 0.3, Theta2Dot: -40}, clips2},
	}
	for _, tt := range tests {
		for action := range 3 {
			torque := float64(action - 1)
			want, raw := reference(tt.s, torque)
			switch tt.exercises {
			case wraps1:
				if raw[0] <= math.Pi {
					t.Fatalf("%s: theta1 reaches only %v, the case does not wrap", tt.name, raw[0])
				}
			case wraps2:
				if raw[1] >= -math.Pi {
					t.Fatalf("%s: theta2 reaches only %v, the case does not wrap", tt.name, raw[1])
				}
			case clips1:
				if math.Abs(raw[2]) <= MaxVel1 {
					t.Fatalf("%s: |theta1 velocity| reaches only %v, the case does not clip", tt.name, raw[2])
				}
			case clips2:
				if math.Abs(raw[3]) <= MaxVel2 {
					t.Fatalf("%s: |theta2 velocity| reaches only %v, the case does not clip", tt.name, raw[3])
				}
			}
			a := New()
			a.SetState(tt.s)
			obs, r, done := a.Step(action)
			got := a.State()
			w := State{want[0], want[1], want[2], want[3]}
			if !near(got, w, 1e-9) {
				t.Errorf("%s, action %d: state %+v, reference %+v", tt.name, action, got, w)
				continue
			}
			if h := w.Height(); done != (h > 1) || r != map[bool]float32{false: -1, true: 0}[h > 1] {
				t.Errorf("%s, action %d: reward %v done %v at height %v", tt.name, action, r, done, h)
			}
			wantObs := [6]float64{math.Cos(w.Theta1), math.Sin(w.Theta1), math.Cos(w.Theta2), math.Sin(w.Theta2), w.Theta1Dot, w.Theta2Dot}
			for i := range wantObs {
				if math.Abs(float64(obs[i])-wantObs[i]) > 1e-6*max(1, math.Abs(wantObs[i])) {
					t.Errorf("%s, action %d: observation %v, want %v", tt.name, action, obs, wantObs)
					break
				}
			}
		}
	}
}

func TestRestIsEquilibrium(t *testing.T) {
	// Hanging straight down with no torque, nothing moves: cos(-π/2)
	// rounds to 6e-17 rather than 0, so allow drift of that order.
	a := New()
	a.SetState(State{})
	for i := range 200 {
		if _, r, done := a.Step(1); r != -1 || done {
			t.Fatalf("step %d: reward %v done %v", i+1, r, done)
		}
	}
	if s := a.State(); !near(s, State{}, 1e-12) {
		t.Fatalf("after 200 steps at rest: %+v", s)
	}
}

func TestTermination(t *testing.T) {
	tests := []struct {
		name  string
		start State
		done  bool
	}{
		// Balanced straight up: an equilibrium, so the tip stays at height 2.
		{"upright", State{Theta1: math.Pi}, true},
		// Height -2cos 2 = 0.83 at the start; 3 rad/s lifts it past 1.
		{"rising through the line", State{Theta1: 2, Theta1Dot: 3}, true},
		// From height -2cos 1.5 = -0.14, 3.4 rad/s ends the step at a
		// height of 1.017 and 3.3 rad/s at 0.982.
		{"just over the line", State{Theta1: 1.5, Theta1Dot: 3.4}, true},
		{"just short of the line", State{Theta1: 1.5, Theta1Dot: 3.3}, false},
		// Height -2cos 2.6 = 1.71 at the start, falling fast to below 1.
		{"falling through the line", State{Theta1: 2.6, Theta1Dot: -6}, false},
		{"horizontal", State{Theta1: math.Pi / 2}, false},
		{"hanging", State{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := reference(tt.start, 0)
			if h := (State{want[0], want[1], want[2], want[3]}).Height(); (h > 1) != tt.done {
				t.Fatalf("the reference ends at height %v; the case is mislabelled", h)
			}
			a := New()
			a.SetState(tt.start)
			_, r, done := a.Step(1)
			wantR := float32(-1)
			if tt.done {
				wantR = 0
			}
			if done != tt.done || r != wantR || a.Truncated() {
				t.Fatalf("done=%v reward=%v truncated=%v, want done=%v reward=%v truncated=false (state %+v)",
					done, r, a.Truncated(), tt.done, wantR, a.State())
			}
			if !done {
				return
			}
			before := a.State()
			obs, r, done := a.Step(2)
			if r != 0 || !done || a.State() != before || a.Steps() != 1 {
				t.Fatalf("step after the end: reward=%v done=%v state changed=%v steps=%d", r, done, a.State() != before, a.Steps())
			}
			if obs[4] != float32(before.Theta1Dot) {
				t.Fatal("step after the end changed the observation")
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	// Without torque the acrobot only swings with the energy it starts
	// with, a few hundredths of what reaching the line takes; a constant
	// torque only moves the point it swings about. Either way every episode
	// runs into the time limit.
	tests := []struct {
		name   string
		action int
	}{{"torque -1", 0}, {"no torque", 1}, {"torque +1", 2}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New()
			for seed := range int64(5) {
				a.Reset(seed)
				total := float32(0)
				for n := 1; ; n++ {
					_, r, done := a.Step(tt.action)
					total += r
					if done {
						if n != MaxSteps || !a.Truncated() || a.Steps() != MaxSteps {
							t.Fatalf("seed %d: ended after %d steps, truncated=%v", seed, n, a.Truncated())
						}
						break
					}
				}
				if total != -MaxSteps {
					t.Fatalf("seed %d: return %v, want %d", seed, total, -MaxSteps)
				}
			}
		})
	}
}

// TestRandomActions checks that the task is hard in the way the README
// says: uniformly random actions almost never get the tip up in time.
func TestRandomActions(t *testing.T) {
	const episodes = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	a := New()
	total := 0.0
	for ep := range int64(episodes) {
		a.Reset(ep)
		for done := false; !done; {
			var r float32
			_, r, done = a.Step(rng.IntN(3))
			total += float64(r)
		}
	}
	mean := total / episodes
	t.Logf("random actions average %.1f over %d episodes", mean, episodes)
	if mean > -495 {
		t.Fatalf("random actions average %.1f; want below -495", mean)
	}
}

func TestReset(t *testing.T) {
	a, b := New(), New()
	seen := map[State]int64{}
	var lo, hi [4]float64
	for seed := range int64(200) {
		oa := [6]float32(a.Reset(seed))
		ob := [6]float32(b.Reset(seed))
		s := a.State()
		if oa != ob || s != b.State() || a.Steps() != 0 || a.Truncated() {
			t.Fatalf("seed %d: two resets differ: %v vs %v", seed, oa, ob)
		}
		for _, v := range []float64{s.Theta1, s.Theta2, s.Theta1Dot, s.Theta2Dot} {
			if v < -0.1 || v >= 0.1 {
				t.Fatalf("seed %d: start %+v outside [-0.1, 0.1)", seed, s)
			}
		}
		if oa[0] != float32(math.Cos(s.Theta1)) || oa[3] != float32(math.Sin(s.Theta2)) || oa[5] != float32(s.Theta2Dot) {
			t.Fatalf("seed %d: observation %v does not describe %+v", seed, oa, s)
		}
		for i, v := range []float64{s.Theta1, s.Theta2, s.Theta1Dot, s.Theta2Dot} {
			lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
		}
		if prev, ok := seen[s]; ok {
			t.Fatalf("seeds %d and %d give the same start %+v", prev, seed, s)
		}
		seen[s] = seed
	}
	// 200 draws of each variable spread over nearly all of its range.
	for i := range lo {
		if lo[i] > -0.09 || hi[i] < 0.09 {
			t.Fatalf("state variable %d only covers [%v, %v]", i, lo[i], hi[i])
		}
	}
	// Same seed and actions, same trajectory, bit for bit.
	a.Reset(42)
	b.Reset(42)
	for i := range 300 {
		act := (i / 7) % 3
		oa, _, da := a.Step(act)
		ob, _, db := b.Step(act)
		if [6]float32(oa) != [6]float32(ob) || a.State() != b.State() || da != db {
			t.Fatalf("step %d: trajectories diverge", i)
		}
	}
}

func TestInvalidActionPanics(t *testing.T) {
	for _, action := range []int{-1, 3} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Step(%d) did not panic", action)
				}
			}()
			New().Step(action)
		}()
	}
}

func TestZeroAllocs(t *testing.T) {
	a := New()
	a.Reset(1)
	tests := []struct {
		name string
		f    func()
	}{
		{"Step", func() {
			if _, _, done := a.Step(2); done {
				a.Reset(2)
			}
		}},
		{"Reset", func() { a.Reset(3) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tt.name, n)
		}
	}
}

func BenchmarkStep(b *testing.B) {
	a := New()
	a.Reset(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, done := a.Step(i / 5 % 3); done {
			a.Reset(int64(i))
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

// near reports whether a and b agree within tol, relative to the larger
// of 1 and each value.
func near(a, b State, tol float64) bool {
	pairs := [4][2]float64{{a.Theta1, b.Theta1}, {a.Theta2, b.Theta2}, {a.Theta1Dot, b.Theta1Dot}, {a.Theta2Dot, b.Theta2Dot}}
	for _, p := range pairs {
		if math.Abs(p[0]-p[1]) > tol*max(1, math.Abs(p[1])) {
			return false
		}
	}
	return true
}
