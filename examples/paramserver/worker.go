package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/paramserver/fashion"
	"github.com/goray-dev/goray/examples/paramserver/mlp"
)

// WorkerConfig configures a data worker.
type WorkerConfig struct {
	// Dir is the data set directory, read on the worker's own node.
	Dir string
	// Samples keeps only the first Samples training images (0: all).
	Samples int
	// The worker holds part Index of Count of the training set.
	Index int
	Count int
	Sizes []int
	// Batch is the number of samples of one gradient.
	Batch int
	Seed  uint64
	// Shards is how many parameter servers hold the weights (sharded mode).
	Shards int
}

// Worker holds one shard of the training set and computes gradients on it.
type Worker struct {
	model   mlp.Model
	n       int
	batches *fashion.Batcher
	ws      mlp.Workspace
	grad    []float32
	// params is the weight vector assembled from shards (sharded mode).
	params *assembly
	// Training loss since the last TrainLoss call.
	lossSum float64
	lossN   int
}

func newWorker(_ context.Context, cfg WorkerConfig) (*Worker, error) {
	m := mlp.Model{Sizes: cfg.Sizes}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if cfg.Count < 1 || cfg.Index < 0 || cfg.Index >= cfg.Count || cfg.Batch < 1 {
		return nil, fmt.Errorf("paramserver: worker %d of %d with batch %d", cfg.Index, cfg.Count, cfg.Batch)
	}
	train, _, err := fashion.Load(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if cfg.Samples > 0 && cfg.Samples < train.N {
		train = train.Slice(0, cfg.Samples)
	}
	if train.N < cfg.Count {
		return nil, fmt.Errorf("paramserver: %d training samples for %d workers", train.N, cfg.Count)
	}
	view := train.Shard(cfg.Index, cfg.Count)
	// Copy the shard so that the rest of the set can be collected.
	own := &fashion.Set{Images: slices.Clone(view.Images), Labels: slices.Clone(view.Labels), N: view.N}
	params, err := newAssembly(m, cfg.Shards)
	if err != nil {
		return nil, err
	}
	return &Worker{
		model:   m,
		n:       own.N,
		batches: fashion.NewBatcher(own, min(cfg.Batch, own.N), cfg.Seed),
		grad:    make([]float32, m.NumParams()),
		params:  params,
	}, nil
}

// NumSamples returns the size of the worker's shard.
func (w *Worker) NumSamples(context.Context) (int, error) { return w.n, nil }

// ComputeGradients returns the gradient of the next batch at weights.
func (w *Worker) ComputeGradients(_ context.Context, weights []float32) ([]float32, error) {
	if len(weights) != len(w.grad) {
		return nil, fmt.Errorf("paramserver: %d weights for a model of %d parameters", len(weights), len(w.grad))
	}
	w.compute(weights)
	return w.grad, nil
}

// SetShard stores weight shard k for the next ComputeShards.
func (w *Worker) SetShard(_ context.Context, k int, shard []float32) (int, error) {
	return k, w.params.set(k, shard)
}

// ComputeShards computes the gradient of the next batch at the weights
// assembled from the shards set and returns it cut into the k ranges of
// the servers, one result each: the method is registered with MethodRN, so
// every range is an object of its own that goes to its server alone.
func (w *Worker) ComputeShards(_ context.Context, k int) ([][]float32, error) {
	if k != len(w.params.ranges) {
		return nil, fmt.Errorf("paramserver: %d gradient shards asked of a worker of %d", k, len(w.params.ranges))
	}
	if err := w.params.take(); err != nil {
		return nil, err
	}
	w.compute(w.params.params)
	out := make([][]float32, k)
	for i, r := range w.params.ranges {
		out[i] = w.grad[r[0]:r[1]]
	}
	return out, nil
}

// TrainLoss returns {sum, count} of the batch losses since the last call.
func (w *Worker) TrainLoss(context.Context) ([]float64, error) {
	out := []float64{w.lossSum, float64(w.lossN)}
	w.lossSum, w.lossN = 0, 0
	return out, nil
}

func (w *Worker) compute(weights []float32) float32 {
	x, y, n := w.batches.Next()
	loss := w.model.Gradient(weights, x, y, n, w.grad, &w.ws)
	w.lossSum += float64(loss)
	w.lossN++
	return loss
}

// EvalConfig configures the evaluator.
type EvalConfig struct {
	Dir string
	// Samples keeps only the first Samples test images (0: all).
	Samples int
	Sizes   []int
	Shards  int
}

// Evaluator holds the test set and measures the accuracy of weights.
type Evaluator struct {
	model  mlp.Model
	test   *fashion.Set
	params *assembly
}

func newEvaluator(_ context.Context, cfg EvalConfig) (*Evaluator, error) {
	m := mlp.Model{Sizes: cfg.Sizes}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	_, test, err := fashion.Load(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if cfg.Samples > 0 && cfg.Samples < test.N {
		test = test.Slice(0, cfg.Samples)
	}
	params, err := newAssembly(m, cfg.Shards)
	if err != nil {
		return nil, err
	}
	return &Evaluator{model: m, test: test, params: params}, nil
}

// Accuracy returns the test accuracy of weights.
func (e *Evaluator) Accuracy(_ context.Context, weights []float32) (float64, error) {
	if len(weights) != len(e.params.params) {
		return 0, fmt.Errorf("paramserver: %d weights for a model of %d parameters", len(weights), len(e.params.params))
	}
	return float64(e.model.Accuracy(weights, e.test.Images, e.test.Labels)), nil
}

// SetShard stores weight shard k for the next AccuracyAssembled.
func (e *Evaluator) SetShard(_ context.Context, k int, shard []float32) (int, error) {
	return k, e.params.set(k, shard)
}

// AccuracyAssembled returns the test accuracy of the weights assembled from
// the shards set.
func (e *Evaluator) AccuracyAssembled(context.Context) (float64, error) {
	if err := e.params.take(); err != nil {
		return 0, err
	}
	return float64(e.model.Accuracy(e.params.params, e.test.Images, e.test.Labels)), nil
}

// assembly is a weight vector put together from the K shards of the
// parameter servers.
type assembly struct {
	ranges [][2]int
	params []float32
	have   []bool
}

func newAssembly(m mlp.Model, shards int) (*assembly, error) {
	n := m.NumParams()
	if shards < 1 || shards > n {
		return nil, fmt.Errorf("paramserver: %d shards of %d parameters", shards, n)
	}
	return &assembly{ranges: mlp.Shards(n, shards), params: make([]float32, n), have: make([]bool, shards)}, nil
}

func (a *assembly) set(k int, shard []float32) error {
	if k < 0 || k >= len(a.ranges) {
		return fmt.Errorf("paramserver: shard %d of %d", k, len(a.ranges))
	}
	r := a.ranges[k]
	if len(shard) != r[1]-r[0] {
		return fmt.Errorf("paramserver: shard %d has %d values, want %d", k, len(shard), r[1]-r[0])
	}
	copy(a.params[r[0]:r[1]], shard)
	a.have[k] = true
	return nil
}

// take checks that every shard has been set since the last take, so that
// a shard whose set_shard call failed is never used stale, and starts over.
func (a *assembly) take() error {
	defer clear(a.have)
	for k, ok := range a.have {
		if !ok {
			return fmt.Errorf("paramserver: weight shard %d of %d not set since the last use", k, len(a.ranges))
		}
	}
	return nil
}

var (
	worker = goray.Actor("paramserver.worker", newWorker)

	numSamples       = goray.Method0(worker, "num_samples", (*Worker).NumSamples)
	computeGradients = goray.Method(worker, "compute_gradients", (*Worker).ComputeGradients)
	trainLoss        = goray.Method0(worker, "train_loss", (*Worker).TrainLoss)
	// Sharded mode: K set_shard calls, then one compute_shards call whose
	// K results (one Ref each) go to the K servers.
	workerSetShard = goray.Method2(worker, "set_shard", (*Worker).SetShard)
	computeShards  = goray.MethodRN(worker, "compute_shards", (*Worker).ComputeShards)

	evaluator = goray.Actor("paramserver.evaluator", newEvaluator)

	accuracy          = goray.Method(evaluator, "accuracy", (*Evaluator).Accuracy)
	evalSetShard      = goray.Method2(evaluator, "set_shard", (*Evaluator).SetShard)
	accuracyAssembled = goray.Method0(evaluator, "accuracy_assembled", (*Evaluator).AccuracyAssembled)
)
