package cartpole

import (
	"math"
	"testing"
)

// balance is a hand-tuned linear controller that keeps the pole up for the
// whole episode from any CartPole-v1 start state.
func balance(o []float32) int {
	if 0.1*o[0]+0.5*o[1]+o[2]+o[3] > 0 {
		return 1
	}
	return 0
}

func TestStepDynamics(t *testing.T) {
	// From rest, theta = 0 so sin = 0 and cos = 1. With F = ±10:
	//   temp     = F/1.1                         = ±100/11
	//   thetaAcc = -temp / (0.5*(4/3 - 0.1/1.1)) = ∓600/41
	//   xAcc     = temp + 0.05*(600/41)/1.1      = ±400/41
	// so one push right gives x_dot = 0.02*400/41 = 8/41 and
	// theta_dot = -12/41; x and theta move only on the next step (Euler uses
	// the old velocities). A push left then cancels both velocities exactly.
	// The general-state rows apply the same equations to
	// (0.01, -0.02, 0.03, -0.04) with sin and cos of 0.03 and 0.0292,
	// evaluated to 30 significant digits.
	tests := []struct {
		name    string
		start   State
		actions []int
		want    []State
	}{
		{
			name:    "rest/right-left",
			actions: []int{1, 0},
			want: []State{
				{X: 0, XDot: 8.0 / 41, Theta: 0, ThetaDot: -12.0 / 41},
				{X: 0.16 / 41, XDot: 0, Theta: -0.24 / 41, ThetaDot: 0},
			},
		},
		{
			name:    "rest/left-right",
			actions: []int{0, 1},
			want: []State{
				{X: 0, XDot: -8.0 / 41, Theta: 0, ThetaDot: 12.0 / 41},
				{X: -0.16 / 41, XDot: 0, Theta: 0.24 / 41, ThetaDot: 0},
			},
		},
		{
			name:    "general/left-right",
			start:   State{X: 0.01, XDot: -0.02, Theta: 0.03, ThetaDot: -0.04},
			actions: []int{0, 1},
			want: []State{
				{X: 0.0096, XDot: -0.21553901710278938789, Theta: 0.0292, ThetaDot: 0.26199522377603919399},
				{X: 0.0052892196579442122421, XDot: -0.020845786573834144436, Theta: 0.03443990447552078388, ThetaDot: -0.021336548341699881039},
			},
		},
		{
			name:    "general/right-left",
			start:   State{X: 0.01, XDot: -0.02, Theta: 0.03, ThetaDot: -0.04},
			actions: []int{1, 0},
			want: []State{
				{X: 0.0096, XDot: 0.17467919574755523909, Theta: 0.0292, ThetaDot: -0.32306871796000815502},
				{X: 0.013093583914951104782, XDot: -0.020846120233304541539, Theta: 0.0227386256407998369, ThetaDot: -0.021322189539218182966},
			},
		},
	}
	const tol = 1e-9
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New()
			c.SetState(tt.start)
			for i, a := range tt.actions {
				obs, r, done := c.Step(a)
				got, want := c.State(), tt.want[i]
				if math.Abs(got.X-want.X) > tol || math.Abs(got.XDot-want.XDot) > tol ||
					math.Abs(got.Theta-want.Theta) > tol || math.Abs(got.ThetaDot-want.ThetaDot) > tol {
					t.Fatalf("step %d: state %+v, want %+v", i+1, got, want)
				}
				wantObs := []float32{float32(want.X), float32(want.XDot), float32(want.Theta), float32(want.ThetaDot)}
				for j := range wantObs {
					if math.Abs(float64(obs[j]-wantObs[j])) > 1e-7 {
						t.Fatalf("step %d: obs %v, want %v", i+1, obs, wantObs)
					}
				}
				if r != 1 || done {
					t.Fatalf("step %d: reward %v done %v, want 1 false", i+1, r, done)
				}
			}
		})
	}
}

func TestTermination(t *testing.T) {
	// One step moves x by Tau*XDot and theta by Tau*ThetaDot, so these
	// starts land just past or just short of a threshold.
	tests := []struct {
		name  string
		start State
		done  bool
	}{
		{"x past right", State{X: 2.39, XDot: 1}, true},
		{"x past left", State{X: -2.39, XDot: -1}, true},
		{"x short of right", State{X: 2.3, XDot: 1}, false},
		{"x short of left", State{X: -2.3, XDot: -1}, false},
		{"theta past right", State{Theta: ThetaThreshold - 0.001, ThetaDot: 0.1}, true},
		{"theta past left", State{Theta: -ThetaThreshold + 0.001, ThetaDot: -0.1}, true},
		{"theta short of right", State{Theta: ThetaThreshold - 0.001, ThetaDot: 0.01}, false},
		{"theta short of left", State{Theta: -ThetaThreshold + 0.001, ThetaDot: -0.01}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New()
			c.SetState(tt.start)
			_, r, done := c.Step(0)
			if done != tt.done || r != 1 {
				t.Fatalf("done=%v reward=%v, want done=%v reward=1 (state %+v)", done, r, tt.done, c.State())
			}
			if c.Truncated() {
				t.Fatal("termination reported as truncation")
			}
			if !done {
				return
			}
			before := c.State()
			obs, r, done := c.Step(1)
			if r != 0 || !done || c.State() != before {
				t.Fatalf("step after the end: reward=%v done=%v state changed=%v", r, done, c.State() != before)
			}
			if obs[0] != float32(before.X) {
				t.Fatalf("step after the end changed the observation")
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	c := New()
	for seed := range int64(5) {
		obs := c.Reset(seed)
		total := float32(0)
		for n := 1; ; n++ {
			var r float32
			var done bool
			obs, r, done = c.Step(balance(obs))
			total += r
			if done {
				if n != MaxSteps || !c.Truncated() || c.Steps() != MaxSteps {
					t.Fatalf("seed %d: ended after %d steps, truncated=%v", seed, n, c.Truncated())
				}
				break
			}
			if n > MaxSteps {
				t.Fatalf("seed %d: episode ran past %d steps", seed, MaxSteps)
			}
		}
		if total != MaxSteps {
			t.Fatalf("seed %d: return %v, want %d", seed, total, MaxSteps)
		}
	}
}

func TestResetDeterminism(t *testing.T) {
	a, b := New(), New()
	seen := map[[4]float32]int64{}
	for seed := range int64(200) {
		oa := append([]float32(nil), a.Reset(seed)...)
		ob := b.Reset(seed)
		if [4]float32(oa) != [4]float32(ob) {
			t.Fatalf("seed %d: %v != %v", seed, oa, ob)
		}
		for _, v := range oa {
			if v < -ResetBound || v >= ResetBound {
				t.Fatalf("seed %d: start %v outside [-%v, %v)", seed, oa, ResetBound, ResetBound)
			}
		}
		if prev, ok := seen[[4]float32(oa)]; ok {
			t.Fatalf("seeds %d and %d give the same start %v", prev, seed, oa)
		}
		seen[[4]float32(oa)] = seed
	}
	// Same seed and actions, same trajectory, bit for bit.
	a.Reset(42)
	b.Reset(42)
	for i := range 300 {
		act := i % 2
		oa, _, da := a.Step(act)
		ob, _, db := b.Step(act)
		if [4]float32(oa) != [4]float32(ob) || a.State() != b.State() || da != db {
			t.Fatalf("step %d: trajectories diverge", i)
		}
		if da {
			break
		}
	}
}

func TestInvalidActionPanics(t *testing.T) {
	for _, a := range []int{-1, 2} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Step(%d) did not panic", a)
				}
			}()
			New().Step(a)
		}()
	}
}

func TestZeroAllocs(t *testing.T) {
	c := New()
	obs := c.Reset(1) // the buffer every later Step and Reset writes into
	tests := []struct {
		name string
		f    func()
	}{
		{"Step", func() {
			if _, _, done := c.Step(balance(obs)); done {
				c.Reset(2)
			}
		}},
		{"Reset", func() { c.Reset(3) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tt.name, n)
		}
	}
}

func BenchmarkStep(b *testing.B) {
	c := New()
	obs := c.Reset(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, done := c.Step(balance(obs)); done {
			c.Reset(2)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}
