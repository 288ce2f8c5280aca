package main

import (
	"context"
	"fmt"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/rl/es"
)

// Bounds on what one actor accepts, so that a malformed request from another
// process cannot make it allocate without limit.
const (
	maxEnvsPerWorker = 1 << 14
	maxNoiseSize     = 1 << 26 // 256 MiB of float32
	maxJobsPerCall   = 1 << 20 // episodes of one evaluation call
)

// WorkerSpec is what an environment actor is built from. The actor builds its
// environments from the name Env and its own noise table from NoiseSeed and
// NoiseSize: neither the simulator nor the table travels.
type WorkerSpec struct {
	Env       string
	NoiseSeed int64
	NoiseSize int
	NumEnvs   int
}

// EnvWorker is the state of an environment actor: NumEnvs environments
// stepped together by an es.Evaluator, and the shared noise table.
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
	env, err := lookupEnv(spec.Env)
	if err != nil {
		return nil, err
	}
	if spec.NumEnvs < 1 || spec.NumEnvs > maxEnvsPerWorker {
		return nil, fmt.Errorf("%w: %d environments, want 1 to %d", ErrInvalidConfig, spec.NumEnvs, maxEnvsPerWorker)
	}
	if dim := env.Dim(); spec.NoiseSize < dim || spec.NoiseSize > maxNoiseSize {
		return nil, fmt.Errorf("%w: noise table of %d values, want %d to %d", ErrInvalidConfig, spec.NoiseSize, dim, maxNoiseSize)
	}
	noise, err := es.NewNoiseTable(spec.NoiseSeed, spec.NoiseSize)
	if err != nil {
		return nil, fmt.Errorf("env worker: %w", err)
	}
	ev, err := es.NewEvaluator(spec.NumEnvs, env.New, noise)
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
