// Command rl trains a linear policy with evolution strategies on goray
// environment actors, saves it if asked, and measures how many environment
// steps per second the actors sustain. It trains on CartPole-v1 by default
// and on Acrobot-v1 with -env acrobot; any simulator that implements es.Env
// can be added to the registry in envs.go.
//
// Each environment actor holds an es.Evaluator over many environments and
// its own copy of the noise table, built from a seed. Every generation the
// driver stores the policy's parameters once with goray.Put, samples noise
// offsets, and hands every actor one batch of offsets together with that
// Ref. The actors answer with offsets and returns only, the driver applies
// Adam, and another batch of calls measures the unperturbed policy. Nothing
// but plain numbers and Refs passes between driver and actors, so the
// program would run unchanged with the actors on other nodes.
//
// Training stops when the policy is solved in Gym's sense: a mean return of
// at least the task's reward threshold (475 for CartPole-v1, -100 for
// Acrobot-v1) over 100 consecutive episodes of the unperturbed policy. The
// trained policy is then measured on 100 further episodes.
//
//	go run ./examples/rl                          # train CartPole, then measure steps/s with 1, 2 and 4 actors
//	go run ./examples/rl -env acrobot -bench=false
//	go run ./examples/rl -save policy.bin -curve curve.csv
//	go run ./examples/rl -load policy.bin         # evaluate a saved policy, no training
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/goray-dev/goray"
)

// options are the command's settings beyond Config.
type options struct {
	bench      bool
	benchCalls int
	cpuProfile string
	save       string // write the trained policy here
	load       string // evaluate the policy in this file instead of training
	curve      string // write the learning curve here, as CSV
	envSet     bool   // whether -env was given
}

// parseFlags reads the command line into a Config and the other options.
func parseFlags(args []string, errOut io.Writer) (Config, options, error) {
	cfg := DefaultConfig()
	var o options
	fs := flag.NewFlagSet("rl", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.Env, "env", cfg.Env, "environment: "+envNames())
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "number of environment actors")
	fs.IntVar(&cfg.EnvsPerWorker, "envs", cfg.EnvsPerWorker, "environments per environment actor")
	fs.IntVar(&cfg.Pairs, "pop", cfg.Pairs, "mirrored perturbation pairs per generation (population is twice this)")
	fs.Var((*float32Value)(&cfg.Sigma), "sigma", "standard `deviation` of the perturbations")
	fs.Var((*float32Value)(&cfg.LearningRate), "lr", "Adam learning `rate`")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the noise table, the offsets and the episodes")
	fs.IntVar(&cfg.MaxGenerations, "max-gens", cfg.MaxGenerations, "give up after this many generations")
	fs.IntVar(&cfg.NoiseSize, "noise", cfg.NoiseSize, "values in the shared noise table")
	fs.BoolVar(&o.bench, "bench", true, "after training, measure environment steps/s with 1, 2 and 4 actors")
	fs.IntVar(&o.benchCalls, "bench-calls", 100, "evaluation calls per actor in each measurement")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this `file`")
	fs.StringVar(&o.save, "save", "", "write the trained policy to this `file`")
	fs.StringVar(&o.load, "load", "", "evaluate the policy in this `file` (written by -save): no training, no throughput measurement")
	fs.StringVar(&o.curve, "curve", "", "write the learning curve to this `file` as CSV, one row per generation")
	if err := fs.Parse(args); err != nil {
		return cfg, o, err
	}
	if fs.NArg() > 0 {
		return cfg, o, fmt.Errorf("%w: unexpected arguments %q", ErrInvalidConfig, fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { o.envSet = o.envSet || f.Name == "env" })
	env, err := lookupEnv(cfg.Env)
	if err != nil {
		return cfg, o, err
	}
	cfg.SolveThreshold = env.Solve
	if err := cfg.Validate(); err != nil {
		return cfg, o, err
	}
	if o.benchCalls < 1 {
		return cfg, o, fmt.Errorf("%w: %d bench calls", ErrInvalidConfig, o.benchCalls)
	}
	if o.load != "" && (o.save != "" || o.curve != "") {
		return cfg, o, fmt.Errorf("%w: -load evaluates a saved policy; -save and -curve need a training run", ErrInvalidConfig)
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
	var loaded []float32
	if o.load != "" {
		env, params, err := loadPolicy(o.load)
		if err != nil {
			return err
		}
		if o.envSet && env.Name != cfg.Env {
			return fmt.Errorf("%w: %s holds a policy for %s, not %s", ErrInvalidConfig, o.load, env.Name, cfg.Env)
		}
		cfg.Env, cfg.SolveThreshold, loaded = env.Name, env.Solve, params
	}
	ctx, err = goray.Init(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, goray.Shutdown(context.WithoutCancel(ctx))) }()

	if loaded != nil {
		env, _ := lookupEnv(cfg.Env)
		fmt.Fprintf(out, "%s: policy of %d parameters from %s\n", env.Title, len(loaded), o.load)
		e, err := Evaluate(ctx, cfg, loaded)
		if err != nil {
			return err
		}
		printEvaluation(out, "loaded policy", cfg, e)
		return nil
	}

	res, err := Train(ctx, cfg, out)
	if o.curve != "" && len(res.History) > 0 {
		// Also after an interrupted run: the curve so far is worth keeping.
		err = errors.Join(err, writeCurve(o.curve, res.History))
	}
	if err != nil {
		return err
	}
	if o.save != "" {
		env, _ := lookupEnv(cfg.Env)
		if err := savePolicy(o.save, env, res.Params); err != nil {
			return err
		}
		fmt.Fprintf(out, "saved the policy to %s\n", o.save)
	}
	if !o.bench {
		return nil
	}
	fmt.Fprintf(out, "\nthroughput: %d calls per actor, %d perturbation pairs per call, %d environments per actor, the trained policy\n",
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
		msg := err.Error()
		if !strings.HasPrefix(msg, "rl: ") {
			msg = "rl: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}
