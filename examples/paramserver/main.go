package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/paramserver/fashion"
	"github.com/goray-dev/goray/examples/paramserver/mlp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // -h or -help: the usage was printed as asked
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "paramserver:", err)
		os.Exit(1)
	}
}

// options are the command's settings beyond Config.
type options struct {
	save  string // write the trained weights here
	load  string // evaluate the weights in this file instead of training
	curve string // write the learning curve here, as CSV
}

// parseFlags turns the command line into a Config and the other options.
func parseFlags(args []string, stderr io.Writer) (Config, options, error) {
	fs := flag.NewFlagSet("paramserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	var o options
	fs.StringVar(&c.Mode, "mode", ModeSync, "sync, async or sharded")
	fs.IntVar(&c.Workers, "workers", 2, "data workers")
	fs.IntVar(&c.Shards, "shards", 2, "parameter servers holding a part of the weights each (sharded mode)")
	fs.IntVar(&c.Epochs, "epochs", 0, "passes over the training set (0: 12, or 15 in async mode, whose stale gradients need more updates)")
	fs.IntVar(&c.Batch, "batch", 128, "samples per update: split across the workers in sync and sharded mode, per worker in async mode")
	fs.Float64Var(&c.LR, "lr", 2e-3, "Adam learning rate")
	fs.Float64Var(&c.Decay, "decay", 0.75, "learning-rate factor applied after every epoch")
	fs.StringVar(&c.Dir, "data", fashion.DefaultDir, "Fashion-MNIST directory, read by every worker on its own node")
	hidden := fs.String("hidden", "256,128", "sizes of the hidden layers, comma-separated")
	fs.IntVar(&c.EvalEvery, "eval-every", 0, "updates between test evaluations (0: one epoch)")
	fs.Int64Var(&c.Seed, "seed", 1, "seed of the initial weights and the batch order")
	fs.IntVar(&c.TrainSamples, "train-samples", 0, "use only the first N training samples (0: all)")
	fs.IntVar(&c.TestSamples, "test-samples", 0, "use only the first N test samples (0: all)")
	fs.Float64Var(&c.WorkerCPUs, "worker-cpus", -1, "CPUs each worker requests (-1: 1, or a fair share when the workers outnumber this machine's cores)")
	fs.StringVar(&o.save, "save", "", "write the trained weights to this `file`")
	fs.StringVar(&o.load, "load", "", "evaluate the weights in this `file` (written by -save) on the test set instead of training")
	fs.StringVar(&o.curve, "curve", "", "write the learning curve to this `file` as CSV, one row per test evaluation")
	if err := fs.Parse(args); err != nil {
		return Config{}, o, err
	}
	if fs.NArg() > 0 {
		return Config{}, o, fmt.Errorf("%w: unexpected arguments %q", ErrConfig, fs.Args())
	}
	if o.load != "" && (o.save != "" || o.curve != "") {
		return Config{}, o, fmt.Errorf("%w: -load evaluates saved weights; -save and -curve need a training run", ErrConfig)
	}
	for f := range strings.SplitSeq(*hidden, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return Config{}, o, fmt.Errorf("%w: -hidden %q: %w", ErrConfig, *hidden, err)
		}
		c.Hidden = append(c.Hidden, n)
	}
	if c.Epochs == 0 {
		c.Epochs = 12
		if c.Mode == ModeAsync {
			c.Epochs = 15
		}
	}
	if c.WorkerCPUs == -1 {
		c.WorkerCPUs = min(1, float64(goruntime.NumCPU())/float64(max(c.Workers, 1)))
	}
	return c, o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg.Out = stdout
	if err := cfg.validate(); err != nil {
		return err
	}
	var m mlp.Model
	var loaded []float32
	if o.load != "" {
		// Read the file before starting anything: a bad file fails fast.
		if m, loaded, err = loadWeights(o.load); err != nil {
			return err
		}
	}
	ctx, err = goray.Init(ctx)
	if err != nil {
		return err
	}
	// Shutdown must run even after an interrupt cancelled ctx.
	defer func() { _ = goray.Shutdown(context.WithoutCancel(ctx)) }()

	if loaded != nil {
		acc, err := Evaluate(ctx, cfg, m.Sizes, loaded)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "model %v from %s: test accuracy %.4f\n", m.Sizes, o.load, acc)
		return nil
	}

	switch cfg.Mode {
	case ModeSharded:
		fmt.Fprintf(stdout, "mode sharded: %d parameter servers, %d workers, model %v, batch %d, lr %g ×%g per epoch, %d epochs\n",
			cfg.Shards, cfg.Workers, cfg.sizes(), cfg.Batch, cfg.LR, cfg.Decay, cfg.Epochs)
	default:
		fmt.Fprintf(stdout, "mode %s: 1 parameter server, %d workers, model %v, batch %d, lr %g ×%g per epoch, %d epochs\n",
			cfg.Mode, cfg.Workers, cfg.sizes(), cfg.Batch, cfg.LR, cfg.Decay, cfg.Epochs)
	}
	res, err := Train(ctx, cfg)
	if err != nil {
		return err
	}
	final := res.Final()
	fmt.Fprintf(stdout, "%d updates in %.1fs: %.1f updates/s; final test accuracy %.4f\n",
		res.Updates, res.Training.Seconds(), res.UpdatesPerSecond(), final.Accuracy)
	if cfg.Mode == ModeAsync {
		fmt.Fprintf(stdout, "staleness (server updates between a gradient's weights and its application): %v\n", res.Staleness)
	}
	if o.curve != "" {
		if err := writeCurve(o.curve, res); err != nil {
			return err
		}
	}
	if o.save != "" {
		if err := saveWeights(o.save, mlp.Model{Sizes: cfg.sizes()}, res.Weights); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved the weights to %s\n", o.save)
	}
	return nil
}
