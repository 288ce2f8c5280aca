package es

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/goray-dev/goray/examples/rl/cartpole"
)

// smallConfig learns CartPole quickly: a smaller noise table and never
// stopping early, so a fixed number of generations runs.
func smallConfig(seed int64) Config {
	cfg := DefaultConfig()
	cfg.Seed = seed
	cfg.NoiseSize = 1 << 16
	cfg.MaxGenerations = 25
	cfg.SolveThreshold = 1e9
	return cfg
}

func TestTrainLearns(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			res, err := Train(t.Context(), smallConfig(seed))
			if err != nil {
				t.Fatal(err)
			}
			h := res.History
			if len(h) != 26 || res.Solved {
				t.Fatalf("%d generations, solved=%v; want 26 unsolved", len(h), res.Solved)
			}
			best := float32(0)
			for _, g := range h {
				best = max(best, g.EvalReturn)
			}
			if h[0].EvalReturn > 20 || best < 200 {
				t.Fatalf("return went from %v to at best %v; want from under 20 to at least 200", h[0].EvalReturn, best)
			}
			for i := 1; i < len(h); i++ {
				if h[i].Steps <= h[i-1].Steps || h[i].Index != i {
					t.Fatalf("generation %d: steps %d after %d, index %d", i, h[i].Steps, h[i-1].Steps, h[i].Index)
				}
			}
			t.Logf("seed %d: eval return %v -> best %v in %v, %d steps", seed, h[0].EvalReturn, best, res.Elapsed, res.Steps)
		})
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
			res, err := Train(t.Context(), cfg)
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
	a, err := Train(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NumEnvs = 5 // the batching of episodes must not matter
	b, err := Train(t.Context(), cfg)
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
	res, err := Train(ctx, smallConfig(1))
	if !errors.Is(err, context.Canceled) || len(res.History) != 0 {
		t.Fatalf("error %v after %d generations, want context.Canceled after 0", err, len(res.History))
	}

	ctx, cancel = context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := Train(ctx, smallConfig(1)); !errors.Is(err, context.DeadlineExceeded) {
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
		{"tiny noise table", func(c *Config) { c.NoiseSize = 9 }},
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
			if _, err := Train(t.Context(), cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Train: %v, want ErrInvalidConfig", err)
			}
		})
	}
}
