package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goray-dev/goray"
)

// startRuntime starts an embedded goray node with two CPUs for one test.
func startRuntime(t *testing.T) context.Context {
	t.Helper()
	ctx, err := goray.Init(context.Background(), goray.WithCPUs(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := goray.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ctx
}

// smallConfig learns quickly: a small noise table, few environments, and a
// solved bar it never reaches, so that exactly MaxGenerations updates run.
func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.EnvsPerWorker = 16
	cfg.Pairs = 16
	cfg.NoiseSize = 1 << 16
	cfg.MaxGenerations = 20
	cfg.SolveThreshold = 1e9
	return cfg
}

// balancing is a hand-set linear policy that keeps the pole up: it pushes
// towards the side the pole leans and falls to.
var balancing = []float32{0, 0, 0, 0, 0.1, 0.5, 1, 1, 0, 0}

func TestTrainLearns(t *testing.T) {
	ctx := startRuntime(t)
	for _, seed := range []int64{1, 2} {
		cfg := smallConfig()
		cfg.Seed = seed
		var out bytes.Buffer
		res, err := Train(ctx, cfg, &out)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		h := res.History
		if len(h) != cfg.MaxGenerations+1 || res.Solved {
			t.Fatalf("seed %d: %d generations, solved=%v; want %d unsolved", seed, len(h), res.Solved, cfg.MaxGenerations+1)
		}
		best := float32(0)
		for _, g := range h {
			best = max(best, g.EvalReturn)
		}
		if h[0].EvalReturn >= 50 || best <= 200 {
			t.Fatalf("seed %d: eval return went from %v to at best %v; want from under 50 to over 200", seed, h[0].EvalReturn, best)
		}
		for i := 1; i < len(h); i++ {
			if h[i].Index != i || h[i].Steps <= h[i-1].Steps {
				t.Fatalf("seed %d: generation %d has index %d and %d steps after %d", seed, i, h[i].Index, h[i].Steps, h[i-1].Steps)
			}
		}
		if res.Steps != h[len(h)-1].Steps {
			t.Fatalf("seed %d: %d steps in all, last generation says %d", seed, res.Steps, h[len(h)-1].Steps)
		}
		if n := strings.Count(out.String(), "\ngen "); n != len(h) {
			t.Fatalf("seed %d: %d progress lines for %d generations:\n%s", seed, n, len(h), out.String())
		}
		if !strings.Contains(out.String(), "not solved after 20 generations") {
			t.Fatalf("seed %d: output does not report the end of training:\n%s", seed, out.String())
		}
		t.Logf("seed %d: eval return %v -> best %v, %d steps in %v", seed, h[0].EvalReturn, best, res.Steps, res.Elapsed)
	}
}

// TestTrainSameForAnyWorkerCount checks that only seeds and offsets decide
// the run: splitting the work over more actors changes no number.
func TestTrainSameForAnyWorkerCount(t *testing.T) {
	ctx := startRuntime(t)
	run := func(workers int) Result {
		cfg := smallConfig()
		cfg.MaxGenerations = 6
		cfg.Workers = workers
		cfg.EvalEpisodes = 40 // three blocks of 16 episodes, dealt over the workers
		res, err := Train(ctx, cfg, io.Discard)
		if err != nil {
			t.Fatalf("%d workers: %v", workers, err)
		}
		for i := range res.History {
			res.History[i].Elapsed = 0
		}
		return res
	}
	want := run(1)
	for _, workers := range []int{2, 3, 5} {
		got := run(workers)
		if !reflect.DeepEqual(got.History, want.History) || !slices.Equal(got.Params, want.Params) {
			t.Fatalf("%d workers:\nhistory %+v\nparams %v\nwant (1 worker):\nhistory %+v\nparams %v",
				workers, got.History, got.Params, want.History, want.Params)
		}
	}
}

func TestTrainSolves(t *testing.T) {
	ctx := startRuntime(t)
	cfg := DefaultConfig()
	var out bytes.Buffer
	res, err := Train(ctx, cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Solved || res.SolveReturn < 475 {
		t.Fatalf("not solved after %d generations, solve return %v:\n%s", len(res.History)-1, res.SolveReturn, out.String())
	}
	if !strings.Contains(out.String(), "solved in ") {
		t.Fatalf("output does not report the solve:\n%s", out.String())
	}
	// A fresh actor confirms the policy on episodes training never saw.
	workers, err := startWorkers(ctx, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goray.Put(ctx, res.Params)
	if err != nil {
		t.Fatal(err)
	}
	mean, _, err := gatherPolicy(ctx, submitPolicy(ctx, workers, p, policyBlocks(100, cfg.EnvsPerWorker, 12345)), 100, cfg.EnvsPerWorker)
	if err != nil {
		t.Fatal(err)
	}
	if mean < 475 {
		t.Fatalf("solved policy averages %v over 100 unseen episodes", mean)
	}
	t.Logf("solved in %d generations, %d steps, %v; unseen-episode mean %v", len(res.History)-1, res.Steps, res.Elapsed, mean)
}

func TestTrainStopsOnCancel(t *testing.T) {
	ctx := startRuntime(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := Train(cctx, smallConfig(), io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Train on a cancelled context: %v, want context.Canceled", err)
	}
}

func TestBench(t *testing.T) {
	ctx := startRuntime(t)
	cfg := smallConfig()
	one, err := Bench(ctx, cfg, balancing, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Bench(ctx, cfg, balancing, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	base, err := Baseline(ctx, cfg, balancing, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// All three ran requests 0..3: the same steps, however they were spread,
	// and whether through goray or not.
	if one.Steps != two.Steps || base.Steps != two.Steps {
		t.Fatalf("4 calls on 1 actor took %d steps, 2 calls each on 2 actors %d, on 2 goroutines %d", one.Steps, two.Steps, base.Steps)
	}
	// Each call plays 4*EnvsPerWorker episodes; the balancing policy and
	// small perturbations of it keep most poles up far longer than 50 steps.
	if min := int64(4 * 4 * cfg.EnvsPerWorker * 50); one.Steps < min {
		t.Fatalf("%d steps, want at least %d", one.Steps, min)
	}
	for _, b := range []BenchResult{one, two, base} {
		if b.StepsPerSecond() <= 0 || b.Busy <= 0 || b.Elapsed <= 0 {
			t.Fatalf("bench %+v: want positive rate, busy and elapsed times", b)
		}
	}
	t.Logf("1 actor %.0f steps/s, 2 actors %.0f steps/s, 2 goroutines %.0f steps/s", one.StepsPerSecond(), two.StepsPerSecond(), base.StepsPerSecond())

	if _, err := Bench(ctx, cfg, balancing[:3], 1, 1); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Bench with 3 parameters: %v, want ErrInvalidConfig", err)
	}
	if _, err := Baseline(ctx, cfg, balancing, 0, 1); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Baseline on 0 goroutines: %v, want ErrInvalidConfig", err)
	}
}

func TestWorkerRejectsBadRequests(t *testing.T) {
	ctx := startRuntime(t)
	if _, err := envWorker.New(ctx, WorkerSpec{NoiseSeed: 1, NoiseSize: 1 << 12, NumEnvs: 0}); err == nil {
		t.Fatal("an actor with 0 environments was created")
	}
	if _, err := envWorker.New(ctx, WorkerSpec{NoiseSeed: 1, NoiseSize: maxNoiseSize + 1, NumEnvs: 4}); err == nil {
		t.Fatal("an actor with an oversized noise table was created")
	}
	w, err := envWorker.New(ctx, WorkerSpec{NoiseSeed: 1, NoiseSize: 1 << 12, NumEnvs: 4})
	if err != nil {
		t.Fatal(err)
	}
	good := EvalRequest{Offsets: []int{0, 100}, Sigma: 0.1, Episodes: 1, Seed: 1}
	tests := []struct {
		name   string
		params []float32
		req    EvalRequest
		ok     bool
	}{
		{"valid", balancing, good, true},
		{"short params", balancing[:9], good, false},
		{"offset outside table", balancing, EvalRequest{Offsets: []int{1 << 12}, Sigma: 0.1, Episodes: 1}, false},
		{"negative offset", balancing, EvalRequest{Offsets: []int{-1}, Sigma: 0.1, Episodes: 1}, false},
		{"no offsets", balancing, EvalRequest{Sigma: 0.1, Episodes: 1}, false},
		{"no episodes", balancing, EvalRequest{Offsets: []int{0}, Sigma: 0.1}, false},
		{"too many episodes", balancing, EvalRequest{Offsets: []int{0, 1}, Sigma: 0.1, Episodes: maxJobsPerCall}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := goray.Get(ctx, evaluate.Remote(ctx, w, tt.params, tt.req))
			if tt.ok {
				if err != nil || len(r.Results) != len(tt.req.Offsets) || r.Steps <= 0 {
					t.Fatalf("reply %+v, error %v; want %d results", r, err, len(tt.req.Offsets))
				}
				return
			}
			if !errors.Is(err, goray.ErrTaskFailed) {
				t.Fatalf("error %v, want a failed call", err)
			}
		})
	}
	// The actor survives bad requests.
	if _, err := goray.Get(ctx, evaluate.Remote(ctx, w, balancing, good)); err != nil {
		t.Fatalf("after bad requests: %v", err)
	}
	if _, err := goray.Get(ctx, evaluatePolicy.Remote(ctx, w, balancing, nil)); !errors.Is(err, goray.ErrTaskFailed) {
		t.Fatalf("policy evaluation of no blocks: %v, want a failed call", err)
	}
}

func TestPolicyBlocks(t *testing.T) {
	tests := []struct {
		episodes, size int
		want           []int
	}{
		{10, 32, []int{10}},
		{100, 32, []int{32, 32, 32, 4}},
		{64, 32, []int{32, 32}},
		{3, 1, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		blocks := policyBlocks(tt.episodes, tt.size, 7)
		var sizes []int
		seeds := map[int64]bool{}
		for _, b := range blocks {
			sizes = append(sizes, b.Episodes)
			seeds[b.Seed] = true
		}
		if !slices.Equal(sizes, tt.want) || len(seeds) != len(blocks) {
			t.Errorf("policyBlocks(%d, %d): sizes %v, %d distinct seeds; want sizes %v, all seeds distinct",
				tt.episodes, tt.size, sizes, len(seeds), tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	custom := DefaultConfig()
	custom.Workers, custom.EnvsPerWorker, custom.Pairs = 4, 8, 10
	custom.Sigma, custom.LearningRate, custom.Seed, custom.MaxGenerations = 0.05, 0.02, 7, 3
	tests := []struct {
		name    string
		args    []string
		want    Config
		bench   bool
		wantErr error
	}{
		{"defaults", nil, DefaultConfig(), true, nil},
		{"all set", []string{"-workers", "4", "-envs", "8", "-pop", "10", "-sigma", "0.05", "-lr", "0.02",
			"-seed", "7", "-max-gens", "3", "-bench=false"}, custom, false, nil},
		{"no workers", []string{"-workers", "0"}, Config{}, false, ErrInvalidConfig},
		{"negative sigma", []string{"-sigma", "-1"}, Config{}, false, ErrInvalidConfig},
		{"no population", []string{"-pop", "0"}, Config{}, false, ErrInvalidConfig},
		{"no bench calls", []string{"-bench-calls", "0"}, Config{}, false, ErrInvalidConfig},
		{"stray argument", []string{"now"}, Config{}, false, ErrInvalidConfig},
		{"help", []string{"-h"}, Config{}, false, flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg != tt.want || o.bench != tt.bench {
				t.Fatalf("got %+v bench=%v err=%v; want %+v bench=%v", cfg, o.bench, err, tt.want, tt.bench)
			}
		})
	}
	if _, _, err := parseFlags([]string{"-no-such-flag"}, io.Discard); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
}

// TestRun runs the command end to end, with its own runtime.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-max-gens", "2", "-noise", "65536", "-envs", "8", "-pop", "8", "-bench-calls", "1"}
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"gen   0  mean", "gen   2  mean      -", "1 actor(s):", "2 actor(s):", "4 actor(s):", "steps/s"} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
}
