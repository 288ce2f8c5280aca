package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/paramserver/fashion"
	"github.com/goray-dev/goray/examples/paramserver/mlp"
)

// Training modes.
const (
	ModeSync    = "sync"
	ModeAsync   = "async"
	ModeSharded = "sharded"
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("paramserver: invalid configuration")

// Config describes one training run.
type Config struct {
	Mode    string
	Workers int
	// Shards is the number of parameter servers in sharded mode.
	Shards int
	Epochs int
	// Batch is the number of samples per update: split across the workers
	// in sync and sharded mode, each worker's own batch in async mode.
	Batch int
	LR    float64
	// Decay multiplies the learning rate after every epoch.
	Decay float64
	Dir   string
	// Hidden are the sizes of the hidden layers (none: a linear
	// classifier); DefaultHidden is the recommended model.
	Hidden []int
	// EvalEvery is the number of updates between test evaluations (0: one
	// epoch). The initial and the final weights are always evaluated.
	EvalEvery int
	Seed      int64
	// TrainSamples and TestSamples keep only the first samples of each set
	// (0: all).
	TrainSamples int
	TestSamples  int
	// WorkerCPUs is each worker's CPU request.
	WorkerCPUs float64
	// Out receives one line per evaluation (nil: discarded).
	Out io.Writer
}

// DefaultHidden returns the hidden layers of the recommended model.
func DefaultHidden() []int { return []int{256, 128} }

// sizes returns the layer sizes of the model.
func (c *Config) sizes() []int {
	return slices.Concat([]int{fashion.Pixels}, c.Hidden, []int{fashion.NumClasses})
}

func (c *Config) validate() error {
	m := mlp.Model{Sizes: c.sizes()}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: hidden layers %v: %w", ErrConfig, c.Hidden, err)
	}
	switch {
	case c.Mode != ModeSync && c.Mode != ModeAsync && c.Mode != ModeSharded:
		return fmt.Errorf("%w: mode %q (want %s, %s or %s)", ErrConfig, c.Mode, ModeSync, ModeAsync, ModeSharded)
	case c.Workers < 1:
		return fmt.Errorf("%w: %d workers", ErrConfig, c.Workers)
	case c.Mode == ModeSharded && (c.Shards < 1 || c.Shards > m.NumParams()):
		return fmt.Errorf("%w: %d shards", ErrConfig, c.Shards)
	case c.Epochs < 1:
		return fmt.Errorf("%w: %d epochs", ErrConfig, c.Epochs)
	case c.Batch < 1 || c.Mode != ModeAsync && c.Batch < c.Workers:
		return fmt.Errorf("%w: batch %d for %d workers", ErrConfig, c.Batch, c.Workers)
	case !(c.LR > 0) || !(c.Decay > 0):
		return fmt.Errorf("%w: learning rate %g, decay %g", ErrConfig, c.LR, c.Decay)
	case c.EvalEvery < 0 || c.TrainSamples < 0 || c.TestSamples < 0 || c.WorkerCPUs < 0:
		return fmt.Errorf("%w: negative eval interval, sample count or CPU request", ErrConfig)
	}
	return nil
}

// Eval is one measurement of the test accuracy.
type Eval struct {
	// Update is the number of updates the weights had.
	Update int
	// Elapsed is the training time when those weights were requested.
	Elapsed time.Duration
	// Accuracy is the test accuracy.
	Accuracy float64
	// TrainLoss is the mean loss of the training batches the workers
	// computed since the previous evaluation (NaN when they computed none).
	TrainLoss float64
}

// Staleness is, in async mode, the distribution of the number of updates
// the server made between the weights a gradient was computed on and its
// application. Its mean says nothing: with W workers it is W-1 less a
// boundary term, by construction (every update ages the W-1 gradients in
// flight elsewhere by one). Its spread says how unevenly the workers went.
type Staleness struct {
	// Hist[s] counts the gradients applied with staleness s.
	Hist []int
}

// Count returns the number of gradients applied.
func (s Staleness) Count() int {
	n := 0
	for _, c := range s.Hist {
		n += c
	}
	return n
}

// Max returns the largest staleness of an applied gradient.
func (s Staleness) Max() int { return max(len(s.Hist)-1, 0) }

// Quantile returns the smallest staleness that at least a fraction q of
// the applied gradients do not exceed (the median for q = 0.5), 0 when none
// were applied.
func (s Staleness) Quantile(q float64) int {
	need := q * float64(s.Count())
	seen := 0
	for st, c := range s.Hist {
		seen += c
		if c > 0 && float64(seen) >= need {
			return st
		}
	}
	return 0
}

// String returns the quantiles and the histogram of the distribution.
func (s Staleness) String() string {
	var hist []string
	for st, c := range s.Hist {
		if c > 0 {
			hist = append(hist, fmt.Sprintf("%d:%d", st, c))
		}
	}
	return fmt.Sprintf("median %d, 90th percentile %d, 99th percentile %d, max %d; gradients by staleness %s",
		s.Quantile(0.5), s.Quantile(0.9), s.Quantile(0.99), s.Max(), strings.Join(hist, " "))
}

// Result is the outcome of a run.
type Result struct {
	Updates int
	// StepsPerEpoch is the number of updates that make an epoch.
	StepsPerEpoch int
	TrainSamples  int
	// Setup is the time to create the actors (they load the data).
	Setup time.Duration
	// Training is the time from the first update submitted to the last
	// weights computed.
	Training  time.Duration
	Evals     []Eval
	Staleness Staleness
	// Weights are the final parameters, fetched once training is over.
	Weights []float32
}

// UpdatesPerSecond is the rate of parameter-server updates during training.
func (r *Result) UpdatesPerSecond() float64 { return float64(r.Updates) / r.Training.Seconds() }

// Final returns the last evaluation.
func (r *Result) Final() Eval { return r.Evals[len(r.Evals)-1] }

// trainer is the driver's state during a run. It holds actor handles and
// Refs; weights and gradients are never fetched into it.
type trainer struct {
	cfg     Config
	workers []goray.ActorRef[Worker]
	servers []goray.ActorRef[ParamServer]
	eval    goray.ActorRef[Evaluator]
	res     *Result
	start   time.Time
	pending []pendingEval
	final   []goray.Ref[[]float32] // the last weights, one Ref per server
}

type pendingEval struct {
	update  int
	elapsed time.Duration
	acc     goray.Ref[float64]
	losses  []goray.Ref[[]float64]
}

// Train runs one training session on the runtime that ctx carries.
func Train(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Mode != ModeSharded {
		cfg.Shards = 1
	}
	t := &trainer{cfg: cfg, res: &Result{}}
	defer t.kill(context.WithoutCancel(ctx))
	begin := time.Now()
	if err := t.setup(ctx); err != nil {
		return nil, err
	}
	t.res.Setup = time.Since(begin)
	if cfg.Out != nil {
		fmt.Fprintf(cfg.Out, "%d training samples over %d workers, %d updates per epoch; actors ready in %.1fs\n",
			t.res.TrainSamples, cfg.Workers, t.res.StepsPerEpoch, t.res.Setup.Seconds())
	}
	total := cfg.Epochs * t.res.StepsPerEpoch
	if t.cfg.EvalEvery == 0 {
		t.cfg.EvalEvery = t.res.StepsPerEpoch
	}
	t.start = time.Now()
	var err error
	switch cfg.Mode {
	case ModeAsync:
		err = t.async(ctx, total)
	default:
		err = t.sync(ctx, total)
	}
	if err != nil {
		return nil, err
	}
	if err := t.report(ctx, true); err != nil {
		return nil, err
	}
	// The one time the driver fetches weights: the shards of the result,
	// in order.
	shards, err := goray.GetAll(ctx, t.final)
	if err != nil {
		return nil, fmt.Errorf("fetching the final weights: %w", err)
	}
	t.res.Weights = slices.Concat(shards...)
	return t.res, nil
}

// Evaluate measures the test accuracy of params, the parameters of a model
// of layer sizes sizes, on an evaluator actor that loads the test set from
// cfg.Dir (the first cfg.TestSamples samples, 0: all). It is what Train's
// evaluations compute, so weights saved after training and loaded again
// score exactly what Train reported for them.
func Evaluate(ctx context.Context, cfg Config, sizes []int, params []float32) (float64, error) {
	m := mlp.Model{Sizes: sizes}
	if err := m.Validate(); err != nil {
		return 0, err
	}
	if len(params) != m.NumParams() {
		return 0, fmt.Errorf("%w: %d parameters for a model %v of %d", ErrConfig, len(params), sizes, m.NumParams())
	}
	ev, err := evaluator.New(ctx, EvalConfig{Dir: cfg.Dir, Samples: cfg.TestSamples, Sizes: sizes, Shards: 1})
	if err != nil {
		return 0, err
	}
	defer killAll(context.WithoutCancel(ctx), []goray.ActorRef[Evaluator]{ev})
	return goray.Get(ctx, accuracy.Remote(ctx, ev, params))
}

// setup creates the actors. The workers and the evaluator load the data
// set in their constructors, concurrently.
func (t *trainer) setup(ctx context.Context) error {
	cfg := t.cfg
	t.workers = make([]goray.ActorRef[Worker], cfg.Workers)
	errs := make([]error, cfg.Workers+1)
	var wg sync.WaitGroup
	for i := range t.workers {
		batch := cfg.Batch
		if cfg.Mode != ModeAsync {
			batch = (i+1)*cfg.Batch/cfg.Workers - i*cfg.Batch/cfg.Workers
		}
		wc := WorkerConfig{Dir: cfg.Dir, Samples: cfg.TrainSamples, Index: i, Count: cfg.Workers,
			Sizes: cfg.sizes(), Batch: batch, Seed: uint64(cfg.Seed) + uint64(i), Shards: cfg.Shards}
		wg.Go(func() {
			t.workers[i], errs[i] = worker.New(ctx, wc, goray.CPUs(cfg.WorkerCPUs))
		})
	}
	wg.Go(func() {
		ec := EvalConfig{Dir: cfg.Dir, Samples: cfg.TestSamples, Sizes: cfg.sizes(), Shards: cfg.Shards}
		t.eval, errs[cfg.Workers] = evaluator.New(ctx, ec)
	})
	wg.Wait()
	if err := joinDistinct(errs); err != nil {
		return err
	}

	counts := make([]goray.Ref[int], cfg.Workers)
	for i, w := range t.workers {
		counts[i] = numSamples.Remote(ctx, w)
	}
	ns, err := goray.GetAll(ctx, counts)
	if err != nil {
		return err
	}
	for _, n := range ns {
		t.res.TrainSamples += n
	}
	t.res.StepsPerEpoch = (t.res.TrainSamples + cfg.Batch - 1) / cfg.Batch

	m := mlp.Model{Sizes: cfg.sizes()}
	for _, r := range mlp.Shards(m.NumParams(), cfg.Shards) {
		ps, err := paramServer.New(ctx, PSConfig{Sizes: cfg.sizes(), Seed: cfg.Seed, Lo: r[0], Hi: r[1],
			LR: float32(cfg.LR), Decay: float32(cfg.Decay), StepsPerEpoch: t.res.StepsPerEpoch})
		if err != nil {
			return err
		}
		t.servers = append(t.servers, ps)
	}
	return nil
}

// kill stops the actors the run created, so that their data sets do not
// outlive it. Calls still queued fail; no one waits for them any more.
func (t *trainer) kill(ctx context.Context) {
	killAll(ctx, t.workers)
	killAll(ctx, t.servers)
	killAll(ctx, []goray.ActorRef[Evaluator]{t.eval})
}

// killAll kills the actors of refs that were created. An actor that died
// already makes Kill fail, which changes nothing here.
func killAll[S any](ctx context.Context, refs []goray.ActorRef[S]) {
	for _, r := range refs {
		if r.ID() != "" {
			_ = goray.Kill(ctx, r)
		}
	}
}

// joinDistinct joins errs, keeping one of those that failed for the same
// reason (every actor reports a missing data set, say).
func joinDistinct(errs []error) error {
	seen := map[string]bool{}
	var out []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		reason := err.Error()
		if te, ok := errors.AsType[*goray.TaskError](err); ok {
			reason = te.Message
		}
		if !seen[reason] {
			seen[reason] = true
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}

// sync runs synchronous updates: every worker's gradient at the same
// weights, averaged into one step per server. The driver submits update u
// before update u-1 has finished, so its calls are queued when the weights
// arrive, then waits for update u-1 before submitting u+1.
func (t *trainer) sync(ctx context.Context, total int) error {
	weights := make([]goray.Ref[[]float32], len(t.servers))
	for k, ps := range t.servers {
		weights[k] = getWeights.Remote(ctx, ps)
	}
	t.evaluate(ctx, 0, weights)
	var receipts []goray.Ref[int]
	for u := 1; u <= total; u++ {
		// Update u, on the weights of update u-1, which may not exist yet.
		next, rs := t.syncStep(ctx, weights)
		if u > 1 {
			if err := t.settled(ctx, u-1, weights, receipts); err != nil {
				return err
			}
		}
		weights, receipts = next, rs
		t.res.Updates = u
		if u%t.cfg.EvalEvery == 0 || u == total {
			t.evaluate(ctx, u, weights)
		}
		if err := t.report(ctx, false); err != nil {
			return err
		}
	}
	if err := t.settled(ctx, total, weights, receipts); err != nil {
		return err
	}
	t.res.Training = time.Since(t.start)
	t.final = weights
	return nil
}

// settled waits for the weights of update u. Its receipts, the results of
// the accumulate_gradients calls, are small and settled by then; fetching
// them reports a failed gradient at once instead of at the next evaluation.
func (t *trainer) settled(ctx context.Context, u int, weights []goray.Ref[[]float32], receipts []goray.Ref[int]) error {
	if err := waitAll(ctx, weights); err != nil {
		return err
	}
	if _, err := goray.GetAll(ctx, receipts); err != nil {
		return fmt.Errorf("update %d: %w", u, err)
	}
	return nil
}

// syncStep submits one synchronous update. It returns the Refs of the new
// weights, one per server, and of the accumulate_gradients calls.
func (t *trainer) syncStep(ctx context.Context, weights []goray.Ref[[]float32]) ([]goray.Ref[[]float32], []goray.Ref[int]) {
	var receipts []goray.Ref[int]
	want := len(t.workers)
	if t.cfg.Mode == ModeSync {
		ps := t.servers[0]
		for _, w := range t.workers {
			g := computeGradients.Submit(ctx, w, weights[0])
			receipts = append(receipts, accumulateGradients.Submit(ctx, ps, g))
		}
		return []goray.Ref[[]float32]{applyAccumulated.Remote(ctx, ps, want)}, receipts
	}
	for _, w := range t.workers {
		for k, wk := range weights {
			workerSetShard.Submit(ctx, w, goray.Val(k), wk)
		}
		grads := computeShards.Remote(ctx, w, len(t.servers), len(t.servers))
		for k, ps := range t.servers {
			receipts = append(receipts, accumulateGradients.Submit(ctx, ps, grads[k]))
		}
	}
	next := make([]goray.Ref[[]float32], len(t.servers))
	for k, ps := range t.servers {
		next[k] = applyAccumulated.Remote(ctx, ps, want)
	}
	return next, receipts
}

// async applies each gradient as soon as it arrives and sends its worker
// the weights that update produces.
func (t *trainer) async(ctx context.Context, total int) error {
	ps := t.servers[0]
	w0 := getWeights.Remote(ctx, ps)
	t.evaluate(ctx, 0, []goray.Ref[[]float32]{w0})
	grads := make([]goray.Ref[[]float32], len(t.workers))
	// version[i] is the number of updates in the weights worker i works on.
	version := make([]int, len(t.workers))
	for i, w := range t.workers {
		grads[i] = computeGradients.Submit(ctx, w, w0)
	}
	refs := make([]goray.AnyRef, len(grads))
	var last goray.Ref[[]float32]
	for u := 0; u < total; {
		for i, g := range grads {
			refs[i] = g
		}
		ready, err := waitOne(ctx, refs)
		if err != nil {
			return err
		}
		i := indexOf(refs, ready)
		// The server has made u updates; this gradient saw version[i].
		s := u - version[i]
		if s >= len(t.res.Staleness.Hist) {
			t.res.Staleness.Hist = append(t.res.Staleness.Hist, make([]int, s+1-len(t.res.Staleness.Hist))...)
		}
		t.res.Staleness.Hist[s]++

		last = applyGradients.Submit(ctx, ps, grads[i])
		u++
		t.res.Updates = u
		if u < total {
			grads[i] = computeGradients.Submit(ctx, t.workers[i], last)
			version[i] = u
		}
		if u%t.cfg.EvalEvery == 0 || u == total {
			t.evaluate(ctx, u, []goray.Ref[[]float32]{last})
		}
		if err := t.report(ctx, false); err != nil {
			return err
		}
	}
	if err := waitAll(ctx, []goray.Ref[[]float32]{last}); err != nil {
		return err
	}
	t.res.Training = time.Since(t.start)
	t.final = []goray.Ref[[]float32]{last}
	return nil
}

// evaluate submits a test evaluation of weights and a query of the
// workers' training loss; report collects them.
func (t *trainer) evaluate(ctx context.Context, update int, weights []goray.Ref[[]float32]) {
	e := pendingEval{update: update, elapsed: time.Since(t.start)}
	if t.cfg.Mode == ModeSharded {
		for k, w := range weights {
			evalSetShard.Submit(ctx, t.eval, goray.Val(k), w)
		}
		e.acc = accuracyAssembled.Remote(ctx, t.eval)
	} else {
		e.acc = accuracy.Submit(ctx, t.eval, weights[0])
	}
	for _, w := range t.workers {
		e.losses = append(e.losses, trainLoss.Remote(ctx, w))
	}
	if update == 0 {
		e.elapsed = 0
	}
	t.pending = append(t.pending, e)
}

// report records and prints the evaluations that are done, in order; with
// wait it waits for all of them.
func (t *trainer) report(ctx context.Context, wait bool) error {
	for len(t.pending) > 0 {
		e := t.pending[0]
		if !wait && !e.ready() {
			return nil
		}
		acc, err := goray.Get(ctx, e.acc)
		if err != nil {
			return fmt.Errorf("evaluating the weights of update %d: %w", e.update, err)
		}
		losses, err := goray.GetAll(ctx, e.losses)
		if err != nil {
			return fmt.Errorf("training loss at update %d: %w", e.update, err)
		}
		var sum, n float64
		for _, l := range losses {
			sum, n = sum+l[0], n+l[1]
		}
		ev := Eval{Update: e.update, Elapsed: e.elapsed, Accuracy: acc, TrainLoss: math.NaN()}
		if n > 0 {
			ev.TrainLoss = sum / n
		}
		t.res.Evals = append(t.res.Evals, ev)
		t.pending = t.pending[1:]
		if t.cfg.Out != nil {
			loss := "     -"
			if n > 0 {
				loss = fmt.Sprintf("%6.4f", ev.TrainLoss)
			}
			fmt.Fprintf(t.cfg.Out, "update %6d  epoch %5.2f  t %6.1fs  test accuracy %.4f  train loss %s\n",
				ev.Update, float64(ev.Update)/float64(t.res.StepsPerEpoch), ev.Elapsed.Seconds(), ev.Accuracy, loss)
		}
	}
	return nil
}

func (e *pendingEval) ready() bool {
	if !e.acc.Ready() {
		return false
	}
	for _, l := range e.losses {
		if !l.Ready() {
			return false
		}
	}
	return true
}

// waitAll waits until every Ref is ready (holding a value or an error).
func waitAll[T any](ctx context.Context, refs []goray.Ref[T]) error {
	rs := make([]goray.AnyRef, len(refs))
	for i, r := range refs {
		rs[i] = r
	}
	_, _, err := goray.Wait(ctx, rs, len(rs), -1)
	return err
}

// waitOne returns the first of refs that is ready.
func waitOne(ctx context.Context, refs []goray.AnyRef) (goray.AnyRef, error) {
	ready, _, err := goray.Wait(ctx, refs, 1, -1)
	if err != nil {
		return nil, err
	}
	return ready[0], nil
}

func indexOf(refs []goray.AnyRef, r goray.AnyRef) int {
	for i, x := range refs {
		if x.ID() == r.ID() {
			return i
		}
	}
	panic("paramserver: Wait returned a Ref it was not given")
}
