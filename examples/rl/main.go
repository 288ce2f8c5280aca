// Command rl trains a CartPole-v1 policy with evolution strategies on goray
// environment actors, then measures how many environment steps per second the
// actors sustain.
//
// Each environment actor holds an es.Evaluator over many CartPoles and its own
// copy of the noise table, built from a seed. Every generation the driver
// stores the policy's parameters once with goray.Put, samples noise offsets,
// and hands every actor one batch of offsets together with that Ref. The
// actors answer with offsets and returns only, the driver applies Adam, and
// another batch of calls measures the unperturbed policy. Nothing but plain
// numbers and Refs passes between driver and actors, so the program would run
// unchanged with the actors on other nodes.
//
// Training stops when the policy is solved in Gym's sense: a mean return of at
// least 475 over 100 consecutive episodes of the unperturbed policy.
//
//	go run ./examples/rl                 # train, then measure steps/s with 1, 2 and 4 actors
//	go run ./examples/rl -bench=false    # train only
//	go run ./examples/rl -workers 4 -pop 64 -cpuprofile cpu.out
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/rl/cartpole"
	"github.com/goray-dev/goray/examples/rl/es"
)

// ErrInvalidConfig reports a Config that Train or Bench cannot run.
var ErrInvalidConfig = errors.New("rl: invalid config")

// Bounds on what one actor accepts, so that a malformed request from another
// process cannot make it allocate without limit.
const (
	maxEnvsPerWorker = 1 << 14
	maxNoiseSize     = 1 << 26 // 256 MiB of float32
	maxJobsPerCall   = 1 << 20 // episodes of one evaluation call
)

// WorkerSpec is what an environment actor is built from. The actor builds its
// own noise table from NoiseSeed and NoiseSize: the table never travels.
type WorkerSpec struct {
	NoiseSeed int64
	NoiseSize int
	NumEnvs   int
}

// EnvWorker is the state of an environment actor: NumEnvs CartPoles stepped
// together by an es.Evaluator, and the shared noise table.
type EnvWorker struct {
	ev *es.Evaluator
}

// EvalRequest asks an actor to evaluate a batch of mirrored perturbations of
// the parameters passed with it.
type EvalRequest struct {
	Offsets  []int   // perturbations, as offsets into the noise table
	Sigma    float32 // noise scale
	Episodes int     // episodes per perturbation and sign
	Seed     int64   // seeds the episodes' start states
}

// EvalReply is an actor's answer to an EvalRequest.
type EvalReply struct {
	Results []es.Result   // one per offset, in request order
	Steps   int64         // environment steps taken
	Busy    time.Duration // time the actor spent computing
}

// PolicyBlock is a group of episodes of the unperturbed policy whose start
// states follow from Seed.
type PolicyBlock struct {
	Seed     int64
	Episodes int
}

// PolicyReply is an actor's answer to a list of PolicyBlocks.
type PolicyReply struct {
	Returns []float32     // mean return of each block, in request order
	Steps   int64         // environment steps taken
	Busy    time.Duration // time the actor spent computing
}

var (
	envWorker = goray.Actor("rl-env-worker", newEnvWorker)
	// evaluate takes the parameters as a Ref: the driver stores them once per
	// generation and every actor's call reads the same object.
	evaluate       = goray.Method2(envWorker, "evaluate", (*EnvWorker).Evaluate)
	evaluatePolicy = goray.Method2(envWorker, "evaluate-policy", (*EnvWorker).EvaluatePolicy)
)

func newEnvWorker(ctx context.Context, spec WorkerSpec) (*EnvWorker, error) {
	if spec.NumEnvs < 1 || spec.NumEnvs > maxEnvsPerWorker {
		return nil, fmt.Errorf("%w: %d environments, want 1 to %d", ErrInvalidConfig, spec.NumEnvs, maxEnvsPerWorker)
	}
	if spec.NoiseSize < policyDim() || spec.NoiseSize > maxNoiseSize {
		return nil, fmt.Errorf("%w: noise table of %d values, want %d to %d", ErrInvalidConfig, spec.NoiseSize, policyDim(), maxNoiseSize)
	}
	noise, err := es.NewNoiseTable(spec.NoiseSeed, spec.NoiseSize)
	if err != nil {
		return nil, fmt.Errorf("env worker: %w", err)
	}
	ev, err := es.NewEvaluator(spec.NumEnvs, noise)
	if err != nil {
		return nil, fmt.Errorf("env worker: %w", err)
	}
	return &EnvWorker{ev: ev}, nil
}

// Evaluate evaluates every perturbation of req around params in one pass over
// the actor's environments.
func (w *EnvWorker) Evaluate(ctx context.Context, params []float32, req EvalRequest) (EvalReply, error) {
	if len(req.Offsets) == 0 || req.Episodes < 1 || len(req.Offsets)*req.Episodes > maxJobsPerCall {
		return EvalReply{}, fmt.Errorf("%w: %d offsets of %d episodes, want 1 to %d episodes in all",
			es.ErrInvalidArgument, len(req.Offsets), req.Episodes, maxJobsPerCall)
	}
	start := time.Now()
	res, err := w.ev.Evaluate(params, req.Offsets, req.Sigma, req.Episodes, req.Seed, make([]es.Result, 0, len(req.Offsets)))
	if err != nil {
		return EvalReply{}, err
	}
	reply := EvalReply{Results: res, Busy: time.Since(start)}
	for _, r := range res {
		reply.Steps += r.Steps
	}
	return reply, nil
}

// EvaluatePolicy plays every block of episodes of the unperturbed params.
func (w *EnvWorker) EvaluatePolicy(ctx context.Context, params []float32, blocks []PolicyBlock) (PolicyReply, error) {
	if len(blocks) == 0 || len(blocks) > maxJobsPerCall {
		return PolicyReply{}, fmt.Errorf("%w: %d blocks of episodes", es.ErrInvalidArgument, len(blocks))
	}
	start := time.Now()
	reply := PolicyReply{Returns: make([]float32, len(blocks))}
	for i, b := range blocks {
		if err := ctx.Err(); err != nil {
			return PolicyReply{}, err
		}
		mean, steps, err := w.ev.EvaluatePolicy(params, b.Episodes, b.Seed)
		if err != nil {
			return PolicyReply{}, err
		}
		reply.Returns[i] = mean
		reply.Steps += steps
	}
	reply.Busy = time.Since(start)
	return reply, nil
}

// policyDim is the number of parameters of a linear CartPole policy.
func policyDim() int {
	env := cartpole.New()
	return es.NumParams(env.ObsSize(), env.NumActions())
}

// Config sets up a training run.
type Config struct {
	Workers        int     // environment actors
	EnvsPerWorker  int     // CartPoles each actor steps together
	Pairs          int     // mirrored perturbations per generation (population 2*Pairs)
	Sigma          float32 // standard deviation of the perturbations
	LearningRate   float32 // Adam's step size
	L2             float32 // weight decay
	Episodes       int     // episodes per perturbation and sign
	Seed           int64   // seeds the noise table, the offsets and every episode
	NoiseSize      int     // values in the noise table
	MaxGenerations int     // give up after this many updates
	EvalEpisodes   int     // episodes of the unperturbed policy every generation
	SolveEpisodes  int     // consecutive episodes of the solved check
	SolveThreshold float32 // mean return over SolveEpisodes that counts as solved
}

// DefaultConfig returns the settings the command runs with: two actors of 32
// CartPoles each sharing 32 mirrored pairs per generation, and Gym's solved
// bar for CartPole-v1. The noise table holds 2^20 values (4 MiB): a
// perturbation of the 10-parameter policy reads 10 of them, so it offers a
// million distinct perturbations and every actor builds it in milliseconds.
func DefaultConfig() Config {
	return Config{
		Workers:        2,
		EnvsPerWorker:  32,
		Pairs:          32,
		Sigma:          0.1,
		LearningRate:   0.1,
		L2:             0.005,
		Episodes:       1,
		Seed:           1,
		NoiseSize:      1 << 20,
		MaxGenerations: 200,
		EvalEpisodes:   10,
		SolveEpisodes:  100,
		SolveThreshold: 475,
	}
}

// Validate reports the first setting that cannot run, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	checks := []struct {
		ok   bool
		what string
	}{
		{c.Workers >= 1, fmt.Sprintf("%d workers", c.Workers)},
		{c.EnvsPerWorker >= 1 && c.EnvsPerWorker <= maxEnvsPerWorker, fmt.Sprintf("%d environments per worker", c.EnvsPerWorker)},
		{c.Pairs >= 1, fmt.Sprintf("%d pairs", c.Pairs)},
		{c.Sigma > 0, fmt.Sprintf("sigma %v", c.Sigma)},
		{c.LearningRate > 0, fmt.Sprintf("learning rate %v", c.LearningRate)},
		{c.L2 >= 0, fmt.Sprintf("L2 %v", c.L2)},
		{c.Episodes >= 1 && c.Episodes <= es.MaxEpisodes, fmt.Sprintf("%d episodes per perturbation", c.Episodes)},
		{c.NoiseSize >= policyDim() && c.NoiseSize <= maxNoiseSize, fmt.Sprintf("noise table of %d values", c.NoiseSize)},
		{c.MaxGenerations >= 0, fmt.Sprintf("%d generations", c.MaxGenerations)},
		{c.EvalEpisodes >= 1, fmt.Sprintf("%d evaluation episodes", c.EvalEpisodes)},
		{c.SolveEpisodes >= 1, fmt.Sprintf("%d solve episodes", c.SolveEpisodes)},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrInvalidConfig, ch.what)
		}
	}
	return nil
}

// Result is the outcome of Train.
type Result struct {
	History     []es.Generation // one entry per generation run
	Params      []float32       // the final (or solving) parameters
	Solved      bool            // whether Params met the solved bar
	SolveReturn float32         // mean return of the last solved check, 0 if none ran
	Steps       int64           // environment steps in total
	Setup       time.Duration   // creating the actors, noise tables included
	Elapsed     time.Duration   // wall time of Train, Setup included
}

// Seeds of the three uses of a generation, kept apart.
const (
	purposeTrain = iota
	purposeEval
	purposeSolve
)

// seedFor derives a seed for one use in one generation from the run's seed.
func seedFor(seed int64, gen, purpose int) int64 {
	return int64(mix(mix(uint64(seed)) ^ uint64(gen)<<2 ^ uint64(purpose)))
}

// mix is a SplitMix64 step: consecutive inputs give unrelated outputs.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Train runs evolution strategies on cfg.Workers environment actors from the
// zero policy until the policy is solved or cfg.MaxGenerations updates have
// been made, writing one line per generation to out. Everything but the wall
// times is a pure function of cfg, whatever the number of workers: the
// perturbations are split over the actors in order and the unperturbed
// episodes are grouped into blocks that do not depend on it.
func Train(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("rl: training not started: %w", err)
	}
	dim := policyDim()
	noise, err := es.NewNoiseTable(cfg.Seed, cfg.NoiseSize)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	workers, err := startWorkers(ctx, cfg, cfg.Workers)
	if err != nil {
		return Result{}, err
	}
	defer killWorkers(ctx, workers)
	res := Result{Params: make([]float32, dim), Setup: time.Since(start)}
	fmt.Fprintf(out, "%d env actors x %d CartPoles, %d pairs per generation, sigma %g, lr %g; actors ready in %v\n",
		cfg.Workers, cfg.EnvsPerWorker, cfg.Pairs, cfg.Sigma, cfg.LearningRate, res.Setup.Round(time.Millisecond))

	opt := es.NewOptimizer(dim, cfg.LearningRate)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7f4a7c159e3779b9))
	offsets := make([]int, cfg.Pairs)
	for gen := 0; ; gen++ {
		if err := ctx.Err(); err != nil {
			res.Elapsed = time.Since(start)
			return res, fmt.Errorf("rl: training stopped at generation %d: %w", gen, err)
		}
		genStart, stepsBefore := time.Now(), res.Steps
		g := es.Generation{Index: gen}
		// The parameters cross to the actors once per generation: every call
		// below takes this Ref rather than a copy from the driver.
		params, err := goray.Put(ctx, res.Params)
		if err != nil {
			return res, err
		}
		evalCalls := submitPolicy(ctx, workers, params, policyBlocks(cfg.EvalEpisodes, cfg.EnvsPerWorker, seedFor(cfg.Seed, gen, purposeEval)))
		last := gen == cfg.MaxGenerations
		var trainCalls []goray.Ref[EvalReply]
		if !last {
			for k := range offsets {
				offsets[k] = noise.Sample(rng, dim)
			}
			trainCalls = submitEval(ctx, workers, params, offsets, cfg.Sigma, cfg.Episodes, seedFor(cfg.Seed, gen, purposeTrain))
		}

		evalRet, steps, err := gatherPolicy(ctx, evalCalls, cfg.EvalEpisodes, cfg.EnvsPerWorker)
		if err != nil {
			return res, err
		}
		g.EvalReturn = evalRet
		res.Steps += steps
		if evalRet >= cfg.SolveThreshold {
			solveCalls := submitPolicy(ctx, workers, params, policyBlocks(cfg.SolveEpisodes, cfg.EnvsPerWorker, seedFor(cfg.Seed, gen, purposeSolve)))
			solveRet, steps, err := gatherPolicy(ctx, solveCalls, cfg.SolveEpisodes, cfg.EnvsPerWorker)
			if err != nil {
				return res, err
			}
			res.Steps += steps
			res.SolveReturn = solveRet
			res.Solved = solveRet >= cfg.SolveThreshold
			fmt.Fprintf(out, "gen %3d  solved check: mean return %.1f over %d episodes (bar %g)\n",
				gen, solveRet, cfg.SolveEpisodes, cfg.SolveThreshold)
		}
		if res.Solved || last {
			g.Steps, g.Elapsed = res.Steps, time.Since(start)
			res.History = append(res.History, g)
			printGeneration(out, g, false, res.Steps-stepsBefore, time.Since(genStart))
			break
		}

		results, steps, err := gatherEval(ctx, trainCalls)
		if err != nil {
			return res, err
		}
		res.Steps += steps
		var sum float64
		for _, r := range results {
			sum += float64(r.RetPos) + float64(r.RetNeg)
			g.MaxReturn = max(g.MaxReturn, r.RetPos, r.RetNeg)
		}
		g.MeanReturn = float32(sum / float64(2*len(results)))
		if err := opt.Update(res.Params, results, noise, cfg.Sigma, cfg.L2); err != nil {
			return res, err
		}
		g.Steps, g.Elapsed = res.Steps, time.Since(start)
		res.History = append(res.History, g)
		printGeneration(out, g, true, res.Steps-stepsBefore, time.Since(genStart))
	}
	res.Elapsed = time.Since(start)
	if res.Solved {
		fmt.Fprintf(out, "solved in %d generations, %s environment steps, wall time %v (actor setup %v)\n",
			len(res.History)-1, count(float64(res.Steps)), res.Elapsed.Round(time.Millisecond), res.Setup.Round(time.Millisecond))
	} else {
		fmt.Fprintf(out, "not solved after %d generations (best solved check %.1f), wall time %v\n",
			cfg.MaxGenerations, res.SolveReturn, res.Elapsed.Round(time.Millisecond))
	}
	return res, nil
}

func printGeneration(out io.Writer, g es.Generation, trained bool, steps int64, took time.Duration) {
	mean := "     -"
	if trained {
		mean = fmt.Sprintf("%6.1f", g.MeanReturn)
	}
	fmt.Fprintf(out, "gen %3d  mean %s  eval %6.1f  steps %7s  steps/s %7s  elapsed %v\n",
		g.Index, mean, g.EvalReturn, count(float64(g.Steps)), count(float64(steps)/took.Seconds()), g.Elapsed.Round(time.Millisecond))
}

// count formats n with a k, M or G suffix.
func count(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

// startWorkers creates n environment actors at once (each builds its noise
// table in its constructor) and waits until all are alive.
func startWorkers(ctx context.Context, cfg Config, n int) ([]goray.ActorRef[EnvWorker], error) {
	spec := WorkerSpec{NoiseSeed: cfg.Seed, NoiseSize: cfg.NoiseSize, NumEnvs: cfg.EnvsPerWorker}
	workers := make([]goray.ActorRef[EnvWorker], n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Go(func() { workers[k], errs[k] = envWorker.New(ctx, spec) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		var started []goray.ActorRef[EnvWorker]
		for k, w := range workers {
			if errs[k] == nil {
				started = append(started, w)
			}
		}
		killWorkers(ctx, started)
		return nil, fmt.Errorf("rl: starting env actors: %w", err)
	}
	return workers, nil
}

// killWorkers stops the actors, also when ctx has been cancelled.
func killWorkers(ctx context.Context, workers []goray.ActorRef[EnvWorker]) {
	ctx = context.WithoutCancel(ctx)
	for _, w := range workers {
		// A worker that is already gone needs no killing; there is nothing
		// else to do about a failure here.
		_ = goray.Kill(ctx, w)
	}
}

// submitEval splits offsets over the workers in order, one call per worker.
func submitEval(ctx context.Context, workers []goray.ActorRef[EnvWorker], params goray.Ref[[]float32],
	offsets []int, sigma float32, episodes int, seed int64) []goray.Ref[EvalReply] {
	var calls []goray.Ref[EvalReply]
	n := len(workers)
	for k, w := range workers {
		part := offsets[k*len(offsets)/n : (k+1)*len(offsets)/n]
		if len(part) == 0 {
			continue
		}
		req := EvalRequest{Offsets: part, Sigma: sigma, Episodes: episodes, Seed: seed}
		calls = append(calls, evaluate.Submit(ctx, w, params, goray.Val(req)))
	}
	return calls
}

// gatherEval returns the calls' results concatenated in order.
func gatherEval(ctx context.Context, calls []goray.Ref[EvalReply]) ([]es.Result, int64, error) {
	var results []es.Result
	var steps int64
	for _, c := range calls {
		r, err := goray.Get(ctx, c)
		if err != nil {
			return nil, 0, fmt.Errorf("rl: evaluating perturbations: %w", err)
		}
		results = append(results, r.Results...)
		steps += r.Steps
	}
	return results, steps, nil
}

// policyBlocks splits episodes into blocks of at most size episodes, block b
// seeded from seed and b. The blocks depend on neither the number of workers
// nor the order they run in.
func policyBlocks(episodes, size int, seed int64) []PolicyBlock {
	var blocks []PolicyBlock
	for b, first := 0, 0; first < episodes; b, first = b+1, first+size {
		blocks = append(blocks, PolicyBlock{Seed: int64(mix(uint64(seed) ^ uint64(b))), Episodes: min(size, episodes-first)})
	}
	return blocks
}

// policyCall is one worker's share of the blocks: those numbered
// first, first+stride, first+2*stride, …
type policyCall struct {
	ref           goray.Ref[PolicyReply]
	first, stride int
}

// submitPolicy deals the blocks to the workers round-robin, one call each.
func submitPolicy(ctx context.Context, workers []goray.ActorRef[EnvWorker], params goray.Ref[[]float32], blocks []PolicyBlock) []policyCall {
	var calls []policyCall
	for k, w := range workers {
		var mine []PolicyBlock
		for b := k; b < len(blocks); b += len(workers) {
			mine = append(mine, blocks[b])
		}
		if len(mine) == 0 {
			break
		}
		calls = append(calls, policyCall{ref: evaluatePolicy.Submit(ctx, w, params, goray.Val(mine)), first: k, stride: len(workers)})
	}
	return calls
}

// gatherPolicy returns the mean return over all episodes, summing the blocks
// in their own order so the mean does not depend on how they were dealt.
func gatherPolicy(ctx context.Context, calls []policyCall, episodes, size int) (float32, int64, error) {
	nblocks := (episodes + size - 1) / size
	rets := make([]float32, nblocks)
	var steps int64
	for _, c := range calls {
		r, err := goray.Get(ctx, c.ref)
		if err != nil {
			return 0, 0, fmt.Errorf("rl: evaluating the policy: %w", err)
		}
		for i, ret := range r.Returns {
			b := c.first + i*c.stride
			if b >= nblocks {
				return 0, 0, fmt.Errorf("rl: evaluating the policy: %d returns for %d blocks", len(r.Returns), nblocks)
			}
			rets[b] = ret
		}
		steps += r.Steps
	}
	var sum float64
	for b, ret := range rets {
		sum += float64(ret) * float64(min(size, episodes-b*size))
	}
	return float32(sum / float64(episodes)), steps, nil
}

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
	noise, err := benchSetup(cfg, params, actors, calls)
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
		warm[k] = evaluate.Submit(ctx, w, pref, goray.Val(benchRequest(cfg, noise, -1-k)))
	}
	if _, err := goray.GetAll(ctx, warm); err != nil {
		return BenchResult{}, fmt.Errorf("rl: bench warm-up: %w", err)
	}
	reqs := make([]EvalRequest, calls*actors)
	for i := range reqs {
		reqs[i] = benchRequest(cfg, noise, i)
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
	noise, err := benchSetup(cfg, params, goroutines, calls)
	if err != nil {
		return BenchResult{}, err
	}
	spec := WorkerSpec{NoiseSeed: cfg.Seed, NoiseSize: cfg.NoiseSize, NumEnvs: cfg.EnvsPerWorker}
	workers := make([]*EnvWorker, goroutines)
	for k := range workers {
		if workers[k], err = newEnvWorker(ctx, spec); err != nil {
			return BenchResult{}, err
		}
		if _, err := workers[k].Evaluate(ctx, params, benchRequest(cfg, noise, -1-k)); err != nil {
			return BenchResult{}, err
		}
	}
	reqs := make([]EvalRequest, calls*goroutines)
	for i := range reqs {
		reqs[i] = benchRequest(cfg, noise, i)
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
// the noise table, from which the requests' offsets are drawn.
func benchSetup(cfg Config, params []float32, n, calls int) (*es.NoiseTable, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n < 1 || calls < 1 || len(params) != policyDim() {
		return nil, fmt.Errorf("%w: %d actors, %d calls, %d parameters", ErrInvalidConfig, n, calls, len(params))
	}
	noise, err := es.NewNoiseTable(cfg.Seed, cfg.NoiseSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return noise, nil
}

// benchRequest returns request i of a measurement: 2*cfg.EnvsPerWorker
// perturbations, a function of the seed and i alone, so that the same calls
// spread over more actors take the same steps in all.
func benchRequest(cfg Config, noise *es.NoiseTable, i int) EvalRequest {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)))
	offsets := make([]int, 2*cfg.EnvsPerWorker)
	for k := range offsets {
		offsets[k] = noise.Sample(rng, policyDim())
	}
	return EvalRequest{Offsets: offsets, Sigma: cfg.Sigma, Episodes: 1, Seed: seedFor(cfg.Seed, i, purposeTrain)}
}

// options are the command's settings beyond Config.
type options struct {
	bench      bool
	benchCalls int
	cpuProfile string
}

// parseFlags reads the command line into a Config and the other options.
func parseFlags(args []string, errOut io.Writer) (Config, options, error) {
	cfg := DefaultConfig()
	var o options
	fs := flag.NewFlagSet("rl", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "number of environment actors")
	fs.IntVar(&cfg.EnvsPerWorker, "envs", cfg.EnvsPerWorker, "CartPoles per environment actor")
	fs.IntVar(&cfg.Pairs, "pop", cfg.Pairs, "mirrored perturbation pairs per generation (population is twice this)")
	sigma := fs.Float64("sigma", float64(cfg.Sigma), "standard deviation of the perturbations")
	lr := fs.Float64("lr", float64(cfg.LearningRate), "Adam learning rate")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the noise table, the offsets and the episodes")
	fs.IntVar(&cfg.MaxGenerations, "max-gens", cfg.MaxGenerations, "give up after this many generations")
	fs.IntVar(&cfg.NoiseSize, "noise", cfg.NoiseSize, "values in the shared noise table")
	fs.BoolVar(&o.bench, "bench", true, "after training, measure environment steps/s with 1, 2 and 4 actors")
	fs.IntVar(&o.benchCalls, "bench-calls", 100, "evaluation calls per actor in each measurement")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return cfg, o, err
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("%w: unexpected arguments %q", ErrInvalidConfig, fs.Args())
	}
	cfg.Sigma, cfg.LearningRate = float32(*sigma), float32(*lr)
	if err := cfg.Validate(); err != nil {
		return cfg, o, err
	}
	if o.benchCalls < 1 {
		return cfg, o, fmt.Errorf("%w: %d bench calls", ErrInvalidConfig, o.benchCalls)
	}
	return cfg, o, nil
}

func run(ctx context.Context, args []string, out, errOut io.Writer) (err error) {
	cfg, o, err := parseFlags(args, errOut)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.Close()) }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, err = goray.Init(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, goray.Shutdown(context.WithoutCancel(ctx))) }()

	res, err := Train(ctx, cfg, out)
	if err != nil {
		return err
	}
	if !o.bench {
		return nil
	}
	fmt.Fprintf(out, "\nthroughput: %d calls per actor, %d perturbation pairs per call, %d CartPoles per actor, the trained policy\n",
		o.benchCalls, 2*cfg.EnvsPerWorker, cfg.EnvsPerWorker)
	for _, n := range []int{1, 2, 4} {
		b, err := Bench(ctx, cfg, res.Params, n, o.benchCalls)
		if err != nil {
			return err
		}
		base, err := Baseline(ctx, cfg, res.Params, n, o.benchCalls)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d actor(s): %7s steps/s  (%s steps in %v, actors inside calls %.0f%% of the time); same calls on %d plain goroutine(s): %7s steps/s\n",
			n, count(b.StepsPerSecond()), count(float64(b.Steps)), b.Elapsed.Round(time.Millisecond),
			100*b.Busy.Seconds()/(b.Elapsed.Seconds()*float64(n)), n, count(base.StepsPerSecond()))
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rl:", err)
		os.Exit(1)
	}
}
