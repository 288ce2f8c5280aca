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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "paramserver:", err)
		}
		os.Exit(1)
	}
}

// parseFlags turns the command line into a Config.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("paramserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
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
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected arguments %q", ErrConfig, fs.Args())
	}
	for f := range strings.SplitSeq(*hidden, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return Config{}, fmt.Errorf("%w: -hidden %q: %w", ErrConfig, *hidden, err)
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
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg.Out = stdout
	if err := cfg.validate(); err != nil {
		return err
	}
	ctx, err = goray.Init(ctx)
	if err != nil {
		return err
	}
	// Shutdown must run even after an interrupt cancelled ctx.
	defer func() { _ = goray.Shutdown(context.WithoutCancel(ctx)) }()

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
		var hist []string
		for s, n := range res.Staleness.Hist {
			if n > 0 {
				hist = append(hist, fmt.Sprintf("%d:%d", s, n))
			}
		}
		fmt.Fprintf(stdout, "staleness (updates between a gradient's weights and its application): mean %.2f, max %d; count by staleness %s\n",
			res.Staleness.Mean, res.Staleness.Max, strings.Join(hist, " "))
	}
	return nil
}
