package es

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrInvalidConfig reports a Config that Train cannot run.
var ErrInvalidConfig = errors.New("es: invalid config")

// Config sets up a single-process training run with [Train].
type Config struct {
	Seed           int64   // seeds the noise table, the offsets and every episode
	NoiseSize      int     // values in the noise table
	Pairs          int     // mirrored perturbations per generation (population 2*Pairs)
	Sigma          float32 // standard deviation of the perturbations
	LearningRate   float32 // Adam's step size
	L2             float32 // weight-decay coefficient
	Episodes       int     // episodes per perturbation and sign
	NumEnvs        int     // environments stepped together by the Evaluator
	MaxGenerations int     // give up after this many updates
	EvalEpisodes   int     // episodes of the unperturbed policy measured every generation
	SolveEpisodes  int     // consecutive episodes of the solved check
	SolveThreshold float32 // mean return over SolveEpisodes that counts as solved
}

// DefaultConfig returns a configuration that solves CartPole-v1 in well under
// a second of computation: 16 mirrored pairs per generation, sigma 0.1,
// Adam at 0.1, and CartPole-v1's solved bar of a mean return of at least 475
// over 100 consecutive episodes. Other environments need their own
// SolveThreshold and usually their own MaxGenerations.
func DefaultConfig() Config {
	return Config{
		Seed:           1,
		NoiseSize:      DefaultNoiseSize,
		Pairs:          16,
		Sigma:          0.1,
		LearningRate:   0.1,
		L2:             0.005,
		Episodes:       1,
		NumEnvs:        32,
		MaxGenerations: 200,
		EvalEpisodes:   10,
		SolveEpisodes:  100,
		SolveThreshold: 475,
	}
}

// Validate reports the first setting Train cannot run with, wrapping
// [ErrInvalidConfig].
func (c Config) Validate() error {
	checks := []struct {
		ok   bool
		what string
	}{
		{c.NoiseSize >= 1, fmt.Sprintf("NoiseSize %d", c.NoiseSize)},
		{c.Pairs >= 1, fmt.Sprintf("Pairs %d", c.Pairs)},
		{c.Sigma > 0, fmt.Sprintf("Sigma %v", c.Sigma)},
		{c.LearningRate > 0, fmt.Sprintf("LearningRate %v", c.LearningRate)},
		{c.L2 >= 0, fmt.Sprintf("L2 %v", c.L2)},
		{c.Episodes >= 1 && c.Episodes <= MaxEpisodes, fmt.Sprintf("Episodes %d", c.Episodes)},
		{c.NumEnvs >= 1, fmt.Sprintf("NumEnvs %d", c.NumEnvs)},
		{c.MaxGenerations >= 1, fmt.Sprintf("MaxGenerations %d", c.MaxGenerations)},
		{c.EvalEpisodes >= 1 && c.EvalEpisodes <= MaxEpisodes, fmt.Sprintf("EvalEpisodes %d", c.EvalEpisodes)},
		{c.SolveEpisodes >= 1 && c.SolveEpisodes <= MaxEpisodes, fmt.Sprintf("SolveEpisodes %d", c.SolveEpisodes)},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: %s", ErrInvalidConfig, ch.what)
		}
	}
	return nil
}

// Generation records one generation of training.
type Generation struct {
	Index      int           // 0 for the initial parameters
	EvalReturn float32       // mean return of the parameters at the start of the generation, over EvalEpisodes
	MeanReturn float32       // mean return over the generation's perturbed policies
	MaxReturn  float32       // best return among the perturbed policies
	Updated    bool          // whether the generation evaluated perturbations and updated the parameters (MeanReturn and MaxReturn are set)
	Steps      int64         // environment steps so far, evaluation included
	Elapsed    time.Duration // wall time since Train started
}

// TrainResult is the outcome of [Train].
type TrainResult struct {
	History     []Generation // one entry per generation run
	Params      []float32    // the final (or solving) parameters
	Solved      bool         // whether Params met the solved bar
	SolveReturn float32      // mean return of the last solved check, 0 if none ran
	Steps       int64        // environment steps in total
	Elapsed     time.Duration
}

// Train runs evolution strategies in the calling goroutine on environments
// made by newEnv, starting from the zero policy (it always takes action 0),
// until the parameters are solved or MaxGenerations updates have been made. Each
// generation it measures the current parameters over EvalEpisodes episodes;
// when that mean reaches SolveThreshold it runs the solved check, a fresh
// SolveEpisodes episodes, and stops if their mean reaches SolveThreshold too.
// Then it evaluates Pairs mirrored perturbations and updates the parameters.
//
// Everything except the wall times is a pure function of cfg. Train checks
// ctx between generations and returns its error, with the history so far,
// when it is done.
func Train(ctx context.Context, newEnv func() Env, cfg Config) (TrainResult, error) {
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return TrainResult{}, err
	}
	noise, err := NewNoiseTable(cfg.Seed, cfg.NoiseSize)
	if err != nil {
		return TrainResult{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	ev, err := NewEvaluator(cfg.NumEnvs, newEnv, noise)
	if err != nil {
		return TrainResult{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	dim := ev.Dim()
	if dim > noise.Len() {
		return TrainResult{}, fmt.Errorf("%w: NoiseSize %d below the %d parameters", ErrInvalidConfig, cfg.NoiseSize, dim)
	}
	opt := NewOptimizer(dim, cfg.LearningRate)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x243f6a8885a308d3))

	res := TrainResult{Params: make([]float32, dim)}
	offsets := make([]int, cfg.Pairs)
	var results []Result
	for gen := 0; ; gen++ {
		if err := ctx.Err(); err != nil {
			res.Elapsed = time.Since(start)
			return res, fmt.Errorf("es: training stopped at generation %d: %w", gen, err)
		}
		g := Generation{Index: gen}
		evalRet, n, err := ev.EvaluatePolicy(res.Params, cfg.EvalEpisodes, genSeed(cfg.Seed, gen, purposeEval))
		if err != nil {
			return res, err
		}
		g.EvalReturn = evalRet
		res.Steps += n
		if evalRet >= cfg.SolveThreshold {
			solveRet, n, err := ev.EvaluatePolicy(res.Params, cfg.SolveEpisodes, genSeed(cfg.Seed, gen, purposeSolve))
			if err != nil {
				return res, err
			}
			res.Steps += n
			res.SolveReturn = solveRet
			res.Solved = solveRet >= cfg.SolveThreshold
		}
		if res.Solved || gen == cfg.MaxGenerations {
			g.Steps, g.Elapsed = res.Steps, time.Since(start)
			res.History = append(res.History, g)
			break
		}

		for k := range offsets {
			offsets[k] = noise.Sample(rng, dim)
		}
		results, err = ev.Evaluate(res.Params, offsets, cfg.Sigma, cfg.Episodes, genSeed(cfg.Seed, gen, purposeTrain), results[:0])
		if err != nil {
			return res, err
		}
		for _, r := range results {
			res.Steps += r.Steps
		}
		g.MeanReturn, g.MaxReturn = Returns(results)
		if err := opt.Update(res.Params, results, noise, cfg.Sigma, cfg.L2); err != nil {
			return res, err
		}
		g.Updated = true
		g.Steps, g.Elapsed = res.Steps, time.Since(start)
		res.History = append(res.History, g)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// Purposes keep the episode seeds of a generation's three uses apart.
const (
	purposeTrain = iota
	purposeEval
	purposeSolve
)

func genSeed(seed int64, gen, purpose int) int64 {
	return int64(mix64(mix64(uint64(seed)) ^ (uint64(gen)<<2 | uint64(purpose))))
}
