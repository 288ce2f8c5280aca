package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/rl/es"
)

// BenchResult is the throughput of a number of environment actors.
type BenchResult struct {
	Actors  int
	Calls   int           // evaluation calls per actor
	Steps   int64         // environment steps the actors reported
	Elapsed time.Duration // from the first call's submission to the last result
	Busy    time.Duration // compute time the actors reported, summed
}

// StepsPerSecond is the environment steps per second of wall time.
func (b BenchResult) StepsPerSecond() float64 { return float64(b.Steps) / b.Elapsed.Seconds() }

// Bench measures environment steps per second with actors environment
// actors, each given calls evaluation calls of 2*cfg.EnvsPerWorker mirrored
// perturbations around params. All calls are submitted at once, so the
// actors never wait for the driver; creating the actors is not timed.
func Bench(ctx context.Context, cfg Config, params []float32, actors, calls int) (BenchResult, error) {
	noise, dim, err := benchSetup(cfg, params, actors, calls)
	if err != nil {
		return BenchResult{}, err
	}
	workers, err := startWorkers(ctx, cfg, actors)
	if err != nil {
		return BenchResult{}, err
	}
	defer killWorkers(ctx, workers)
	pref, err := goray.Put(ctx, params)
	if err != nil {
		return BenchResult{}, err
	}
	// One untimed call each warms the actors up.
	warm := make([]goray.Ref[EvalReply], len(workers))
	for k, w := range workers {
		warm[k] = evaluate.Submit(ctx, w, pref, goray.Val(benchRequest(cfg, noise, dim, -1-k)))
	}
	if _, err := goray.GetAll(ctx, warm); err != nil {
		return BenchResult{}, fmt.Errorf("rl: bench warm-up: %w", err)
	}
	reqs := make([]EvalRequest, calls*actors)
	for i := range reqs {
		reqs[i] = benchRequest(cfg, noise, dim, i)
	}
	refs := make([]goray.Ref[EvalReply], 0, len(reqs))
	start := time.Now()
	for i, req := range reqs {
		refs = append(refs, evaluate.Submit(ctx, workers[i%actors], pref, goray.Val(req)))
	}
	replies, err := goray.GetAll(ctx, refs)
	elapsed := time.Since(start)
	if err != nil {
		return BenchResult{}, fmt.Errorf("rl: bench: %w", err)
	}
	res := BenchResult{Actors: actors, Calls: calls, Elapsed: elapsed}
	for _, r := range replies {
		res.Steps += r.Steps
		res.Busy += r.Busy
	}
	return res, nil
}

// Baseline makes the calls Bench makes with n actors on n goroutines of this
// process instead, each calling its own EnvWorker directly: the speed of the
// simulation without goray in between, for comparison on the same machine.
func Baseline(ctx context.Context, cfg Config, params []float32, goroutines, calls int) (BenchResult, error) {
	noise, dim, err := benchSetup(cfg, params, goroutines, calls)
	if err != nil {
		return BenchResult{}, err
	}
	spec := WorkerSpec{Env: cfg.Env, NoiseSeed: cfg.Seed, NoiseSize: cfg.NoiseSize, NumEnvs: cfg.EnvsPerWorker}
	workers := make([]*EnvWorker, goroutines)
	for k := range workers {
		if workers[k], err = newEnvWorker(ctx, spec); err != nil {
			return BenchResult{}, err
		}
		if _, err := workers[k].Evaluate(ctx, params, benchRequest(cfg, noise, dim, -1-k)); err != nil {
			return BenchResult{}, err
		}
	}
	reqs := make([]EvalRequest, calls*goroutines)
	for i := range reqs {
		reqs[i] = benchRequest(cfg, noise, dim, i)
	}
	replies := make([]EvalReply, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	start := time.Now()
	for k, w := range workers {
		wg.Go(func() {
			for i := k; i < len(reqs); i += goroutines {
				replies[i], errs[i] = w.Evaluate(ctx, params, reqs[i])
			}
		})
	}
	wg.Wait()
	res := BenchResult{Actors: goroutines, Calls: calls, Elapsed: time.Since(start)}
	if err := errors.Join(errs...); err != nil {
		return BenchResult{}, fmt.Errorf("rl: baseline: %w", err)
	}
	for _, r := range replies {
		res.Steps += r.Steps
		res.Busy += r.Busy
	}
	return res, nil
}

// benchSetup checks a measurement's settings and builds the driver's copy of
// the noise table, from which the requests' offsets are drawn. It returns
// the table and the number of parameters of the environment's policy.
func benchSetup(cfg Config, params []float32, n, calls int) (*es.NoiseTable, int, error) {
	if err := cfg.Validate(); err != nil {
		return nil, 0, err
	}
	env, _ := lookupEnv(cfg.Env) // Validate found it
	dim := env.Dim()
	if n < 1 || calls < 1 || len(params) != dim {
		return nil, 0, fmt.Errorf("%w: %d actors, %d calls, %d parameters", ErrInvalidConfig, n, calls, len(params))
	}
	noise, err := es.NewNoiseTable(cfg.Seed, cfg.NoiseSize)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return noise, dim, nil
}

// benchRequest returns request i of a measurement: 2*cfg.EnvsPerWorker
// perturbations, a function of the seed and i alone, so that the same calls
// spread over more actors take the same steps in all.
func benchRequest(cfg Config, noise *es.NoiseTable, dim, i int) EvalRequest {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))
	offsets := make([]int, 2*cfg.EnvsPerWorker)
	for k := range offsets {
		offsets[k] = noise.Sample(rng, dim)
	}
	return EvalRequest{Offsets: offsets, Sigma: cfg.Sigma, Episodes: 1, Seed: seedFor(cfg.Seed, i, purposeTrain)}
}
