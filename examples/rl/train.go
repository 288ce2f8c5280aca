package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/rl/es"
)

// ErrInvalidConfig reports a Config that Train, Evaluate or Bench cannot run.
var ErrInvalidConfig = errors.New("rl: invalid config")

// Config sets up a training run.
type Config struct {
	Env            string  // environment, a name from the registry in envs.go
	Workers        int     // environment actors
	EnvsPerWorker  int     // environments each actor steps together
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
	FinalEpisodes  int     // episodes of the evaluation of the trained (or loaded) policy
}

// DefaultConfig returns the settings the command runs with: CartPole-v1,
// two actors of 32 environments each sharing 32 mirrored pairs per
// generation, and Gym's solved bar for CartPole-v1. The noise table holds
// 2^20 values (4 MiB): a perturbation of a linear policy reads a few dozen
// of them, so it offers a million distinct perturbations and every actor
// builds it in milliseconds. For another environment, set Env and take its
// SolveThreshold from the registry (ConfigFor does both).
func DefaultConfig() Config {
	return Config{
		Env:            "cartpole",
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
		FinalEpisodes:  100,
	}
}

// ConfigFor returns DefaultConfig for the environment called env, with its
// solved bar.
func ConfigFor(env string) (Config, error) {
	e, err := lookupEnv(env)
	if err != nil {
		return Config{}, err
	}
	cfg := DefaultConfig()
	cfg.Env, cfg.SolveThreshold = e.Name, e.Solve
	return cfg, nil
}

// Validate reports the first setting that cannot run, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	env, err := lookupEnv(c.Env)
	if err != nil {
		return err
	}
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
		{c.NoiseSize >= env.Dim() && c.NoiseSize <= maxNoiseSize, fmt.Sprintf("noise table of %d values", c.NoiseSize)},
		{c.MaxGenerations >= 0, fmt.Sprintf("%d generations", c.MaxGenerations)},
		{c.EvalEpisodes >= 1, fmt.Sprintf("%d evaluation episodes", c.EvalEpisodes)},
		{c.SolveEpisodes >= 1, fmt.Sprintf("%d solve episodes", c.SolveEpisodes)},
		{c.FinalEpisodes >= 1, fmt.Sprintf("%d final evaluation episodes", c.FinalEpisodes)},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrInvalidConfig, ch.what)
		}
	}
	return nil
}

// Evaluation is the mean return of a policy over fresh episodes.
type Evaluation struct {
	MeanReturn float32
	Episodes   int
	Steps      int64
}

// Result is the outcome of Train.
type Result struct {
	History     []es.Generation // one entry per generation run
	Params      []float32       // the final (or solving) parameters
	Solved      bool            // whether Params met the solved bar
	SolveReturn float32         // mean return of the last solved check, 0 if none ran
	Final       Evaluation      // Evaluate's measurement of Params, on the training actors
	Steps       int64           // environment steps in total, the final evaluation's included
	Setup       time.Duration   // creating the actors, noise tables included
	Elapsed     time.Duration   // wall time of Train, Setup included
}

// Seeds of the four uses of a generation, kept apart.
const (
	purposeTrain = iota
	purposeEval
	purposeSolve
	purposeFinal
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
// been made, writing one line per generation to out, and then measures the
// policy it ends with as Evaluate does. Everything but the wall times is a
// pure function of cfg, whatever the number of workers: the perturbations
// are split over the actors in order and the unperturbed episodes are
// grouped into blocks that do not depend on it. When ctx ends, Train
// returns its error with the history so far.
func Train(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("rl: training not started: %w", err)
	}
	env, _ := lookupEnv(cfg.Env) // Validate found it
	dim := env.Dim()
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
	fmt.Fprintf(out, "%s: %d env actors x %d environments, %d pairs per generation, sigma %g, lr %g; actors ready in %v\n",
		env.Title, cfg.Workers, cfg.EnvsPerWorker, cfg.Pairs, cfg.Sigma, cfg.LearningRate, res.Setup.Round(time.Millisecond))

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
			printGeneration(out, g, res.Steps-stepsBefore, time.Since(genStart))
			break
		}

		results, steps, err := gatherEval(ctx, trainCalls)
		if err != nil {
			return res, err
		}
		res.Steps += steps
		g.MeanReturn, g.MaxReturn = es.Returns(results)
		if err := opt.Update(res.Params, results, noise, cfg.Sigma, cfg.L2); err != nil {
			return res, err
		}
		g.Updated = true
		g.Steps, g.Elapsed = res.Steps, time.Since(start)
		res.History = append(res.History, g)
		printGeneration(out, g, res.Steps-stepsBefore, time.Since(genStart))
	}
	res.Elapsed = time.Since(start)
	if res.Solved {
		fmt.Fprintf(out, "solved in %d generations, %s environment steps, wall time %v (actor setup %v)\n",
			len(res.History)-1, count(float64(res.Steps)), res.Elapsed.Round(time.Millisecond), res.Setup.Round(time.Millisecond))
	} else {
		fmt.Fprintf(out, "not solved after %d generations (last solved check %.1f), wall time %v\n",
			cfg.MaxGenerations, res.SolveReturn, res.Elapsed.Round(time.Millisecond))
	}
	res.Final, err = evaluateOn(ctx, workers, cfg, res.Params)
	if err != nil {
		return res, err
	}
	res.Steps += res.Final.Steps
	printEvaluation(out, "trained policy", cfg, res.Final)
	return res, nil
}

// Evaluate measures params on cfg.FinalEpisodes fresh episodes of cfg.Env
// on cfg.Workers new environment actors. The start states follow from
// cfg.Seed alone, and the episodes are grouped into blocks of a fixed
// size, so the result depends only on params, the environment and the
// seed: Train's final measurement of a policy and Evaluate's of the same
// parameters loaded from a file agree, whatever the actors.
func Evaluate(ctx context.Context, cfg Config, params []float32) (Evaluation, error) {
	if err := cfg.Validate(); err != nil {
		return Evaluation{}, err
	}
	if env, _ := lookupEnv(cfg.Env); len(params) != env.Dim() {
		return Evaluation{}, fmt.Errorf("%w: %d parameters for a %s policy of %d", ErrInvalidConfig, len(params), env.Title, env.Dim())
	}
	workers, err := startWorkers(ctx, cfg, cfg.Workers)
	if err != nil {
		return Evaluation{}, err
	}
	defer killWorkers(ctx, workers)
	return evaluateOn(ctx, workers, cfg, params)
}

// finalBlock is the number of episodes per block of the final evaluation,
// fixed so that its start states do not depend on -envs.
const finalBlock = 10

func evaluateOn(ctx context.Context, workers []goray.ActorRef[EnvWorker], cfg Config, params []float32) (Evaluation, error) {
	p, err := goray.Put(ctx, params)
	if err != nil {
		return Evaluation{}, err
	}
	blocks := policyBlocks(cfg.FinalEpisodes, finalBlock, seedFor(cfg.Seed, 0, purposeFinal))
	mean, steps, err := gatherPolicy(ctx, submitPolicy(ctx, workers, p, blocks), cfg.FinalEpisodes, finalBlock)
	if err != nil {
		return Evaluation{}, err
	}
	return Evaluation{MeanReturn: mean, Episodes: cfg.FinalEpisodes, Steps: steps}, nil
}

func printEvaluation(out io.Writer, what string, cfg Config, e Evaluation) {
	fmt.Fprintf(out, "evaluation of the %s: mean return %.2f over %d episodes (seed %d)\n", what, e.MeanReturn, e.Episodes, cfg.Seed)
}

func printGeneration(out io.Writer, g es.Generation, steps int64, took time.Duration) {
	mean := "     -"
	if g.Updated {
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
	spec := WorkerSpec{Env: cfg.Env, NoiseSeed: cfg.Seed, NoiseSize: cfg.NoiseSize, NumEnvs: cfg.EnvsPerWorker}
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
