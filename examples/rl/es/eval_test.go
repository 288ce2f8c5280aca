package es

import (
	"errors"
	"fmt"
	"testing"

	"github.com/goray-dev/goray/examples/rl/cartpole"
)

// goodParams balance the pole for whole episodes; the perturbations around
// them produce a mix of long and short episodes.
var goodParams = []float32{0, 0, 0, 0, 0.1, 0.5, 1, 1, 0, 0}

func testNoise(t testing.TB) *NoiseTable {
	t.Helper()
	nt, err := NewNoiseTable(42, 1<<12)
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

// TestEvaluatorMatchesEvaluate checks that the batched evaluator returns
// exactly what the single-environment reference returns, however many
// environments it steps together.
func TestEvaluatorMatchesEvaluate(t *testing.T) {
	noise := testNoise(t)
	offsets := []int{0, 17, 999, 4000, 123, 17}
	const sigma, episodes, seed = 0.5, 3, 7
	want := make([]Result, len(offsets))
	env := cartpole.New()
	lengths := map[float32]bool{}
	for k, off := range offsets {
		r, err := Evaluate(env, goodParams, noise, off, sigma, episodes, seed)
		if err != nil {
			t.Fatal(err)
		}
		want[k] = r
		lengths[r.RetPos], lengths[r.RetNeg] = true, true
	}
	if len(lengths) < 3 {
		t.Fatalf("returns %v are too uniform to test anything", want)
	}
	if want[1] != want[5] {
		t.Fatalf("same offset, different results: %+v vs %+v", want[1], want[5])
	}
	wantPolicy, wantSteps, err := EvaluatePolicy(env, goodParams, 4, seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, numEnvs := range []int{1, 3, 16, 64} {
		t.Run(fmt.Sprint(numEnvs), func(t *testing.T) {
			ev, err := NewEvaluator(numEnvs, noise)
			if err != nil {
				t.Fatal(err)
			}
			prefix := []Result{{Offset: -5}}
			got, err := ev.Evaluate(goodParams, offsets, sigma, episodes, seed, prefix)
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
			mean, steps, err := ev.EvaluatePolicy(goodParams, 4, seed)
			if err != nil || mean != wantPolicy || steps != wantSteps {
				t.Errorf("EvaluatePolicy = %v, %d, %v; want %v, %d", mean, steps, err, wantPolicy, wantSteps)
			}
		})
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
	ev, err := NewEvaluator(4, noise)
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
	if _, err := NewEvaluator(0, noise); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NewEvaluator(0) error %v, want ErrInvalidArgument", err)
	}
	if _, err := NewEvaluator(1, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NewEvaluator(nil noise) error %v, want ErrInvalidArgument", err)
	}
}

func TestEvaluatorZeroAllocs(t *testing.T) {
	noise := testNoise(t)
	ev, err := NewEvaluator(8, noise)
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

// BenchmarkVecPolicy measures the hot loop of a worker: a linear policy
// choosing actions for 64 CartPoles, stepped together.
func BenchmarkVecPolicy(b *testing.B) {
	v := cartpole.NewVec(64, 1)
	actions := make([]int, v.Len())
	b.ReportAllocs()
	for b.Loop() {
		obs := v.Obs()
		for i := range actions {
			actions[i] = Act(goodParams, obs[i*4:i*4+4])
		}
		v.Step(actions)
	}
	b.ReportMetric(float64(b.N*v.Len())/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkEvaluator measures useful steps per second of a worker evaluating
// a generation of 32 mirrored pairs with 32 environments.
func BenchmarkEvaluator(b *testing.B) {
	noise := testNoise(b)
	ev, err := NewEvaluator(32, noise)
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
