package cartpole

import (
	"fmt"
	"testing"
)

// TestVecMatchesCartPole checks that every environment of a Vec follows the
// same trajectory as a single CartPole started from EnvSeed, up to the end of
// its first episode.
func TestVecMatchesCartPole(t *testing.T) {
	const n = 8
	for _, seed := range []int64{0, 7, -3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			v := NewVec(n, seed)
			singles := make([]*CartPole, n)
			sobs := make([][]float32, n)
			ended := make([]bool, n)
			for i := range singles {
				singles[i] = New()
				sobs[i] = singles[i].Reset(EnvSeed(seed, i))
				if got := v.Obs()[i*4 : i*4+4]; [4]float32(got) != [4]float32(sobs[i]) {
					t.Fatalf("env %d starts at %v, single at %v", i, got, sobs[i])
				}
			}
			actions := make([]int, n)
			for step := range 2 * MaxSteps {
				obs := v.Obs()
				for i := range actions {
					// Half the envs balance, half push on a fixed pattern and fall.
					if i%2 == 0 {
						actions[i] = balance(obs[i*4 : i*4+4])
					} else {
						actions[i] = (step / 3) % 2
					}
				}
				vobs, rewards, dones := v.Step(actions)
				for i, s := range singles {
					if ended[i] {
						continue
					}
					o, r, d := s.Step(actions[i])
					if d != dones[i] || r != rewards[i] || d && s.Truncated() != v.Truncated()[i] {
						t.Fatalf("step %d env %d: vec (r=%v done=%v) single (r=%v done=%v)", step, i, rewards[i], dones[i], r, d)
					}
					if d {
						ended[i] = true
						next := vobs[i*4 : i*4+4]
						for _, x := range next {
							if x < -ResetBound || x >= ResetBound {
								t.Fatalf("env %d: auto-reset observation %v is not a start state", i, next)
							}
						}
						continue
					}
					if [4]float32(o) != [4]float32(vobs[i*4:i*4+4]) {
						t.Fatalf("step %d env %d: vec %v single %v", step, i, vobs[i*4:i*4+4], o)
					}
				}
			}
			for i, e := range ended {
				if !e {
					t.Fatalf("env %d never ended in %d steps", i, 2*MaxSteps)
				}
			}
		})
	}
}

func TestVecDeterministicAutoReset(t *testing.T) {
	run := func() []float32 {
		v := NewVec(4, 11)
		actions := []int{0, 1, 0, 1}
		var trace []float32
		for range 400 {
			obs, _, _ := v.Step(actions)
			trace = append(trace, obs...)
		}
		return trace
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d differs between identical runs: %v vs %v", i, a[i], b[i])
		}
	}
	// A constant push fails within a few dozen steps, so 400 steps hold many
	// episodes per env: Reset must bring back the very first start states.
	v := NewVec(4, 11)
	first := append([]float32(nil), v.Obs()...)
	for range 400 {
		v.Step([]int{0, 1, 0, 1})
	}
	if got := v.Reset(); [16]float32(got) != [16]float32(first) {
		t.Fatalf("Reset gave %v, want the initial %v", got, first)
	}
}

func TestVecPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"NewVec(0)", func() { NewVec(0, 1) }},
		{"short actions", func() { NewVec(3, 1).Step([]int{0, 1}) }},
		{"bad action", func() { NewVec(2, 1).Step([]int{0, 5}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tt.f()
		})
	}
}

// BenchmarkVecStep measures raw stepping of 64 environments with the
// balancing controller choosing actions.
func BenchmarkVecStep(b *testing.B) {
	v := NewVec(64, 1)
	actions := make([]int, v.Len())
	b.ReportAllocs()
	for b.Loop() {
		obs := v.Obs()
		for i := range actions {
			actions[i] = balance(obs[i*4 : i*4+4])
		}
		v.Step(actions)
	}
	b.ReportMetric(float64(b.N*v.Len())/b.Elapsed().Seconds(), "steps/s")
}

func BenchmarkCartPoleStep(b *testing.B) {
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
