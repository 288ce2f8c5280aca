package es

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/goray-dev/goray/examples/rl/cartpole"
)

// smallConfig learns quickly: a smaller noise table and never stopping
// early, so a fixed number of generations runs.
func smallConfig(seed int64) Config {
	cfg := DefaultConfig()
	cfg.Seed = seed
	cfg.NoiseSize = 1 << 16
	cfg.MaxGenerations = 25
	cfg.SolveThreshold = 1e9
	return cfg
}

// TestTrainLearns trains each environment for a fixed number of
// generations from the zero policy, which fails at once on CartPole (it
// always pushes left) and never reaches the goal on Acrobot (a constant
// torque), and requires the unperturbed policy to get far better.
func TestTrainLearns(t *testing.T) {
	tests := []struct {
		name        string
		newEnv      func() Env
		generations int
		start, best float32 // the first eval return is at most start; the best at least best
	}{
		{"cartpole", newCartPole, 25, 20, 200},
		{"acrobot", newAcrobot, 8, -500, -150},
	}
	for _, tt := range tests {
		for _, seed := range []int64{1, 2, 3} {
			t.Run(fmt.Sprint(tt.name, "/", seed), func(t *testing.T) {
				cfg := smallConfig(seed)
				cfg.MaxGenerations = tt.generations
				res, err := Train(t.Context(), tt.newEnv, cfg)
				if err != nil {
					t.Fatal(err)
				}
				h := res.History
				if len(h) != tt.generations+1 || res.Solved {
					t.Fatalf("%d generations, solved=%v; want %d unsolved", len(h), res.Solved, tt.generations+1)
				}
				best := h[0].EvalReturn
				for _, g := range h {
					best = max(best, g.EvalReturn)
				}
				if h[0].EvalReturn > tt.start || best < tt.best {
					t.Fatalf("return went from %v to at best %v; want from at most %v to at least %v", h[0].EvalReturn, best, tt.start, tt.best)
				}
				for i := 1; i < len(h); i++ {
					if h[i].Steps <= h[i-1].Steps || h[i].Index != i {
						t.Fatalf("generation %d: steps %d after %d, index %d", i, h[i].Steps, h[i-1].Steps, h[i].Index)
					}
				}
				for i, g := range h {
					if last := i == len(h)-1; g.Updated == last || g.Updated && (g.MaxReturn < g.MeanReturn || g.MeanReturn == 0) {
						t.Fatalf("generation %d: %+v", i, g)
					}
				}
				t.Logf("seed %d: eval return %v -> best %v in %v, %d steps", seed, h[0].EvalReturn, best, res.Elapsed, res.Steps)
			})
		}
	}
}

// TestTrainSolves runs to the solved bar of CartPole-v1, a mean return of at
// least 475 over 100 consecutive episodes of the unperturbed policy, and
// confirms it on 100 further episodes Train never saw.
func TestTrainSolves(t *testing.T) {
	if testing.Short() {
		t.Skip("trains to completion")
	}
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Seed = seed
			cfg.NoiseSize = 1 << 20
			res, err := Train(t.Context(), newCartPole, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Solved || res.SolveReturn < 475 {
				t.Fatalf("not solved after %d generations: solve return %v", len(res.History), res.SolveReturn)
			}
			mean, _, err := EvaluatePolicy(cartpole.New(), res.Params, 100, seed+1000)
			if err != nil {
				t.Fatal(err)
			}
			if mean < 475 {
				t.Fatalf("solved policy averages %v on unseen episodes", mean)
			}
			t.Logf("seed %d: solved in %d generations, %d steps, %v; unseen-episode mean %v",
				seed, len(res.History)-1, res.Steps, res.Elapsed, mean)
		})
	}
}

func TestTrainDeterministic(t *testing.T) {
	cfg := smallConfig(4)
	cfg.MaxGenerations = 8
	a, err := Train(t.Context(), newCartPole, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NumEnvs = 5 // the batching of episodes must not matter
	b, err := Train(t.Context(), newCartPole, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.History) != len(b.History) || a.Steps != b.Steps {
		t.Fatalf("runs differ: %d vs %d generations, %d vs %d steps", len(a.History), len(b.History), a.Steps, b.Steps)
	}
	for i := range a.History {
		ga, gb := a.History[i], b.History[i]
		ga.Elapsed, gb.Elapsed = 0, 0
		if ga != gb {
			t.Fatalf("generation %d: %+v vs %+v", i, ga, gb)
		}
	}
	for i := range a.Params {
		if a.Params[i] != b.Params[i] {
			t.Fatalf("final parameters differ: %v vs %v", a.Params, b.Params)
		}
	}
}

func TestTrainStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := Train(ctx, newCartPole, smallConfig(1))
	if !errors.Is(err, context.Canceled) || len(res.History) != 0 {
		t.Fatalf("error %v after %d generations, want context.Canceled after 0", err, len(res.History))
	}

	ctx, cancel = context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := Train(ctx, newCartPole, smallConfig(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no noise table", func(c *Config) { c.NoiseSize = 0 }},
		{"no pairs", func(c *Config) { c.Pairs = 0 }},
		{"zero sigma", func(c *Config) { c.Sigma = 0 }},
		{"negative learning rate", func(c *Config) { c.LearningRate = -1 }},
		{"negative l2", func(c *Config) { c.L2 = -0.1 }},
		{"no episodes", func(c *Config) { c.Episodes = 0 }},
		{"no envs", func(c *Config) { c.NumEnvs = 0 }},
		{"no generations", func(c *Config) { c.MaxGenerations = 0 }},
		{"no eval episodes", func(c *Config) { c.EvalEpisodes = 0 }},
		{"no solve episodes", func(c *Config) { c.SolveEpisodes = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.edit(&cfg)
			if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig", err)
			}
			if _, err := Train(t.Context(), newCartPole, cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Train: %v, want ErrInvalidConfig", err)
			}
		})
	}
	// Settings that are valid on their own but not for the environment.
	small := DefaultConfig()
	small.NoiseSize = 9 // a CartPole policy has 10 parameters
	trainOnly := []struct {
		name   string
		newEnv func() Env
		cfg    Config
	}{
		{"noise table smaller than the policy", newCartPole, small},
		{"nil factory", nil, DefaultConfig()},
		{"factory returns nil", func() Env { return nil }, DefaultConfig()},
	}
	for _, tt := range trainOnly {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Train(t.Context(), tt.newEnv, tt.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Train: %v, want ErrInvalidConfig", err)
			}
		})
	}
}
