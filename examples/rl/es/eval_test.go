package es

import (
	"errors"
	"fmt"
	"testing"

	"github.com/goray-dev/goray/examples/rl/acrobot"
	"github.com/goray-dev/goray/examples/rl/cartpole"
)

// goodParams balance the pole for whole episodes; the perturbations around
// them produce a mix of long and short episodes.
var goodParams = []float32{0, 0, 0, 0, 0.1, 0.5, 1, 1, 0, 0}

// newCartPole is the environment factory of most tests.
func newCartPole() Env { return cartpole.New() }

func newAcrobot() Env { return acrobot.New() }

var (
	_ Env = (*cartpole.CartPole)(nil)
	_ Env = (*acrobot.Acrobot)(nil)
)

func testNoise(t testing.TB) *NoiseTable {
	t.Helper()
	nt, err := NewNoiseTable(42, 1<<12)
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

// acrobotParams are, rounded, the policy go run ./examples/rl -env acrobot
// trained; they swing the acrobot up in about 90 steps on average, and the
// perturbations around them produce a mix of episode lengths.
var acrobotParams = []float32{
	-0.16, 0.34, 0.18, 0.38, -0.06, -0.40,
	0.10, -0.04, -0.32, -0.12, 0.20, -0.15,
	0.36, -0.13, -0.03, 0.11, -0.33, 0.33,
	0.29, -0.07, 0.06,
}

// TestEvaluatorMatchesEvaluate checks, for each environment, that the
// batched evaluator returns exactly what the single-environment reference
// returns, however many environments it steps together.
func TestEvaluatorMatchesEvaluate(t *testing.T) {
	noise := testNoise(t)
	offsets := []int{0, 17, 999, 4000, 123, 17}
	const sigma, episodes, seed = 0.5, 3, 7
	tests := []struct {
		name   string
		newEnv func() Env
		params []float32
	}{
		{"cartpole", newCartPole, goodParams},
		{"acrobot", newAcrobot, acrobotParams},
	}
	for _, tt := range tests {
		want := make([]Result, len(offsets))
		env := tt.newEnv()
		lengths := map[float32]bool{}
		for k, off := range offsets {
			r, err := Evaluate(env, tt.params, noise, off, sigma, episodes, seed)
			if err != nil {
				t.Fatal(err)
			}
			want[k] = r
			lengths[r.RetPos], lengths[r.RetNeg] = true, true
		}
		if len(lengths) < 3 {
			t.Fatalf("%s: returns %v are too uniform to test anything", tt.name, want)
		}
		if want[1] != want[5] {
			t.Fatalf("%s: same offset, different results: %+v vs %+v", tt.name, want[1], want[5])
		}
		wantPolicy, wantSteps, err := EvaluatePolicy(env, tt.params, 4, seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, numEnvs := range []int{1, 3, 16, 64} {
			t.Run(fmt.Sprint(tt.name, "/", numEnvs), func(t *testing.T) {
				ev, err := NewEvaluator(numEnvs, tt.newEnv, noise)
				if err != nil {
					t.Fatal(err)
				}
				prefix := []Result{{Offset: -5}}
				got, err := ev.Evaluate(tt.params, offsets, sigma, episodes, seed, prefix)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1+len(offsets) || got[0].Offset != -5 {
					t.Fatalf("Evaluate did not append to out: %+v", got)
				}
				for k := range want {
					if got[1+k] != want[k] {
						t.Errorf("offset %d: evaluator %+v, reference %+v", offsets[k], got[1+k], want[k])
					}
				}
				mean, steps, err := ev.EvaluatePolicy(tt.params, 4, seed)
				if err != nil || mean != wantPolicy || steps != wantSteps {
					t.Errorf("EvaluatePolicy = %v, %d, %v; want %v, %d", mean, steps, err, wantPolicy, wantSteps)
				}
			})
		}
	}
}

func TestEvaluateMirrored(t *testing.T) {
	noise := testNoise(t)
	env := cartpole.New()
	zero := make([]float32, 10)
	// With sigma 0 both signs run the same policy on the same start states.
	r, err := Evaluate(env, goodParams, noise, 3, 0, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.RetPos != r.RetNeg || r.RetPos != cartpole.MaxSteps || r.Steps != 4*cartpole.MaxSteps {
		t.Fatalf("sigma 0: %+v, want both %d over %d steps", r, cartpole.MaxSteps, 4*cartpole.MaxSteps)
	}
	// The zero policy always pushes left; perturbing it by +eps and -eps
	// flips the sign of every score difference, so the two differ.
	r, err = Evaluate(env, zero, noise, 3, 1, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.RetPos == r.RetNeg {
		t.Fatalf("mirrored perturbations gave identical returns %+v", r)
	}
}

func TestEvaluateRejectsBadInput(t *testing.T) {
	noise := testNoise(t)
	ev, err := NewEvaluator(4, newCartPole, noise)
	if err != nil {
		t.Fatal(err)
	}
	env := cartpole.New()
	tests := []struct {
		name     string
		params   []float32
		offset   int
		episodes int
	}{
		{"short params", make([]float32, 9), 0, 1},
		{"offset past the end", goodParams, noise.Len() - 9, 1},
		{"negative offset", goodParams, -1, 1},
		{"no episodes", goodParams, 0, 0},
		{"too many episodes", goodParams, 0, MaxEpisodes + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Evaluate(env, tt.params, noise, tt.offset, 0.1, tt.episodes, 1); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("Evaluate error %v, want ErrInvalidArgument", err)
			}
			if _, err := ev.Evaluate(tt.params, []int{5, tt.offset}, 0.1, tt.episodes, 1, nil); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("Evaluator.Evaluate error %v, want ErrInvalidArgument", err)
			}
		})
	}
	if _, _, err := ev.EvaluatePolicy(goodParams[:3], 1, 1); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("EvaluatePolicy error %v, want ErrInvalidArgument", err)
	}
	n := 0
	mixed := func() Env {
		n++
		if n%2 == 0 {
			return newAcrobot()
		}
		return newCartPole()
	}
	ctors := []struct {
		name    string
		numEnvs int
		newEnv  func() Env
		noise   *NoiseTable
	}{
		{"no environments", 0, newCartPole, noise},
		{"nil noise table", 1, newCartPole, nil},
		{"nil factory", 1, nil, noise},
		{"factory makes nil", 1, func() Env { return nil }, noise},
		{"factory makes two shapes", 2, mixed, noise},
	}
	for _, tt := range ctors {
		t.Run("NewEvaluator "+tt.name, func(t *testing.T) {
			if _, err := NewEvaluator(tt.numEnvs, tt.newEnv, tt.noise); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("error %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestEvaluatorZeroAllocs(t *testing.T) {
	noise := testNoise(t)
	ev, err := NewEvaluator(8, newCartPole, noise)
	if err != nil {
		t.Fatal(err)
	}
	offsets := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	out := make([]Result, 0, len(offsets))
	run := func() {
		if out, err = ev.Evaluate(goodParams, offsets, 0.3, 2, 1, out[:0]); err != nil {
			t.Fatal(err)
		}
	}
	run() // sizes the per-job buffers
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Fatalf("Evaluator.Evaluate allocates %v times per call once warm", n)
	}
}

// BenchmarkEvaluator measures useful steps per second of a worker evaluating
// a generation of 32 mirrored pairs with 32 environments.
func BenchmarkEvaluator(b *testing.B) {
	noise := testNoise(b)
	ev, err := NewEvaluator(32, newCartPole, noise)
	if err != nil {
		b.Fatal(err)
	}
	offsets := make([]int, 32)
	for i := range offsets {
		offsets[i] = 100 * i
	}
	var out []Result
	var steps int64
	b.ReportAllocs()
	for b.Loop() {
		out, _ = ev.Evaluate(goodParams, offsets, 0.05, 1, 1, out[:0])
		for _, r := range out {
			steps += r.Steps
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

func TestReturns(t *testing.T) {
	tests := []struct {
		name       string
		results    []Result
		mean, best float32
	}{
		{"none", nil, 0, 0},
		{"one pair", []Result{{RetPos: 3, RetNeg: 5}}, 4, 5},
		{"all negative", []Result{{RetPos: -500, RetNeg: -90}, {RetPos: -120, RetNeg: -500}}, -302.5, -90},
		{"best on the minus side", []Result{{RetPos: 10, RetNeg: 500}, {RetPos: 20, RetNeg: 30}}, 140, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if mean, best := Returns(tt.results); mean != tt.mean || best != tt.best {
				t.Fatalf("Returns = %v, %v; want %v, %v", mean, best, tt.mean, tt.best)
			}
		})
	}
}
