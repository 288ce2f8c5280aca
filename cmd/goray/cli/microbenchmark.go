package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	goruntime "runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spf13/cobra"

	"github.com/goray-dev/goray"
)

// The benchmark's tasks and actors, registered like any user code.
var (
	benchNoop  = goray.Task("goray.bench.noop", func(ctx context.Context, x int) (int, error) { return x, nil })
	benchActor = goray.Actor0("goray.bench.actor", func(ctx context.Context) (*benchState, error) {
		return &benchState{}, nil
	})
	benchCall = goray.Method(benchActor, "call", (*benchState).call)
)

type benchState struct{ n int }

// benchRefs is a value holding Refs, for refs_in_value_round_trip.
type benchRefs struct{ Refs []goray.Ref[int] }

// benchSumRefs fetches every Ref the value holds.
var benchSumRefs = goray.Task("goray.bench.sum-refs", func(ctx context.Context, v benchRefs) (int, error) {
	total := 0
	for _, r := range v.Refs {
		x, err := goray.Get(ctx, r)
		if err != nil {
			return 0, err
		}
		total += x
	}
	return total, nil
})

// benchGen yields n small values: generator_items_per_second; and
// benchActorGen, as an actor method: actor_generator_items_per_second.
var (
	benchGen      = goray.TaskGen("goray.bench.gen", yieldInts)
	benchActorGen = goray.MethodGen(benchActor, "gen", func(_ *benchState, ctx context.Context, n int, yield func(int) error) error {
		return yieldInts(ctx, n, yield)
	})
)

func yieldInts(_ context.Context, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
}

// genItemsPerRun is how many items one generator task of
// generator_items_per_second yields.
const genItemsPerRun = 1000

// generatorItems measures the items per second a consumer gets, and reads,
// from one generator task at a time.
func generatorItems(ctx context.Context, d time.Duration) (float64, error) {
	return rate(func(ctx context.Context) (int, error) {
		return consumeInts(ctx, benchGen.Remote(ctx, genItemsPerRun))
	})(ctx, d)
}

// actorGeneratorItems is generatorItems for a generator method of one actor.
func actorGeneratorItems(ctx context.Context, d time.Duration) (float64, error) {
	return withActor(func(ctx context.Context, a goray.ActorRef[benchState]) (int, error) {
		return consumeInts(ctx, benchActorGen.Remote(ctx, a, genItemsPerRun))
	})(ctx, d)
}

// consumeInts ranges over a stream of genItemsPerRun items and reads each.
func consumeInts(ctx context.Context, s *goray.Stream[int]) (int, error) {
	n := 0
	for r, err := range s.All(ctx) {
		if err != nil {
			return n, err
		}
		if _, err := goray.Get(ctx, r); err != nil {
			return n, err
		}
		n++
	}
	if n != genItemsPerRun {
		return n, fmt.Errorf("generator yielded %d items, want %d", n, genItemsPerRun)
	}
	return n, nil
}

// refsPerValue is how many Refs refs_in_value_round_trip passes in one value.
const refsPerValue = 100

// putInts stores n small values and returns their Refs.
func putInts(ctx context.Context, n int) ([]goray.Ref[int], error) {
	refs := make([]goray.Ref[int], n)
	for i := range refs {
		r, err := goray.Put(ctx, i)
		if err != nil {
			return nil, err
		}
		refs[i] = r
	}
	return refs, nil
}

// refsInValue measures Refs per second through a task that receives a
// struct of refsPerValue Refs and fetches each.
func refsInValue(ctx context.Context, d time.Duration) (float64, error) {
	refs, err := putInts(ctx, refsPerValue)
	if err != nil {
		return 0, err
	}
	return rate(func(ctx context.Context) (int, error) {
		_, err := goray.Get(ctx, benchSumRefs.Remote(ctx, benchRefs{Refs: refs}))
		return refsPerValue, err
	})(ctx, d)
}

// refsAsArgs is refsInValue's baseline: the same Refs passed as the Ref
// argument of refsPerValue calls, which the runtime resolves.
func refsAsArgs(ctx context.Context, d time.Duration) (float64, error) {
	refs, err := putInts(ctx, refsPerValue)
	if err != nil {
		return 0, err
	}
	return rate(func(ctx context.Context) (int, error) {
		return batch(ctx, refsPerValue, func(i int) goray.Ref[int] { return benchNoop.Submit(ctx, refs[i]) })
	})(ctx, d)
}

func (s *benchState) call(ctx context.Context, x int) (int, error) {
	s.n++
	return x, nil
}

// Result is one benchmark's measurement.
type Result struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

func newMicrobenchmark() *cobra.Command {
	var asJSON, cross bool
	var seconds float64
	var manyNodes int
	var cpuProfile, only string
	cmd := &cobra.Command{
		Use:   "microbenchmark",
		Short: "Measure per-call overheads in one process, or across processes with --cluster (names follow ray microbenchmark)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := time.Duration(seconds * float64(time.Second))
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			if manyNodes < 0 {
				return fmt.Errorf("--many-nodes %d: want 0 or more", manyNodes)
			}
			var filter *regexp.Regexp
			if only != "" {
				var err error
				if filter, err = regexp.Compile(only); err != nil {
					return fmt.Errorf("--only: %w", err)
				}
			}
			report := func(r Result) {
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "%s %.2f %s\n", r.Name, r.Value, r.Unit)
				}
			}
			var results []Result
			var err error
			if cross {
				results, err = ClusterMicrobenchmark(cmd.Context(), d, filter, manyNodes, report)
			} else {
				results, err = Microbenchmark(cmd.Context(), d, filter, report)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), results)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON array of {name, value, unit}")
	cmd.Flags().StringVar(&only, "only", "", "run only the benchmarks whose names match this regular expression")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	cmd.Flags().Float64Var(&seconds, "seconds", 1.5, "how long each benchmark runs")
	cmd.Flags().BoolVar(&cross, "cluster", false, "run the cross-node benchmarks instead: this process and node processes it starts from its own binary on 127.0.0.1")
	cmd.Flags().IntVar(&manyNodes, "many-nodes", 16, "with --cluster: how many one-CPU node processes many_nodes starts (0 skips it)")
	return cmd
}

// startCPUProfile writes a CPU profile to path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// bench is one benchmark: it measures for about d and returns its value.
type bench struct {
	name string
	unit string
	run  func(ctx context.Context, d time.Duration) (float64, error)
}

// rate measures how many operations f does per second.
func rate(f func(ctx context.Context) (int, error)) func(context.Context, time.Duration) (float64, error) {
	return func(ctx context.Context, d time.Duration) (float64, error) {
		n, el, err := timed(ctx, d, f)
		if err != nil {
			return 0, err
		}
		return float64(n) / el.Seconds(), nil
	}
}

func benchmarks() []bench {
	return []bench{
		{"single_client_tasks_sync", "calls/s", rate(func(ctx context.Context) (int, error) {
			_, err := goray.Get(ctx, benchNoop.Remote(ctx, 1))
			return 1, err
		})},
		{"single_client_tasks_async", "calls/s", rate(func(ctx context.Context) (int, error) {
			return batch(ctx, 1000, func(i int) goray.Ref[int] { return benchNoop.Remote(ctx, i) })
		})},
		{"1_1_actor_calls_sync", "calls/s", withActor(func(ctx context.Context, a goray.ActorRef[benchState]) (int, error) {
			_, err := goray.Get(ctx, benchCall.Remote(ctx, a, 1))
			return 1, err
		})},
		{"1_1_actor_calls_async", "calls/s", withActor(func(ctx context.Context, a goray.ActorRef[benchState]) (int, error) {
			return batch(ctx, 1000, func(i int) goray.Ref[int] { return benchCall.Remote(ctx, a, i) })
		})},
		{"n_n_actor_calls_async", "calls/s", nnActorCalls},
		{"single_client_put_calls", "calls/s", rate(func(ctx context.Context) (int, error) {
			_, err := goray.Put(ctx, 0)
			return 1, err
		})},
		{"single_client_get_calls", "calls/s", func(ctx context.Context, d time.Duration) (float64, error) {
			small, err := goray.Put(ctx, 0)
			if err != nil {
				return 0, err
			}
			return rate(func(ctx context.Context) (int, error) {
				_, err := goray.Get(ctx, small)
				return 1, err
			})(ctx, d)
		}},
		{"single_client_put_gigabytes", "GB/s", putGigabytes},
		{"generator_items_per_second", "items/s", generatorItems},
		{"actor_generator_items_per_second", "items/s", actorGeneratorItems},
		{"refs_in_value_round_trip", "refs/s", refsInValue},
		{"refs_as_args_round_trip", "refs/s", refsAsArgs},
		{"actors_created", "actors/s", actorsCreated},
		{"protoactor_request_future_round_trip", "calls/s", func(_ context.Context, d time.Duration) (float64, error) {
			return requestFutureBaseline(d)
		}},
	}
}

func withActor(f func(ctx context.Context, a goray.ActorRef[benchState]) (int, error)) func(context.Context, time.Duration) (float64, error) {
	return func(ctx context.Context, d time.Duration) (float64, error) {
		a, err := benchActor.New(ctx)
		if err != nil {
			return 0, err
		}
		return rate(func(ctx context.Context) (int, error) { return f(ctx, a) })(ctx, d)
	}
}

// Microbenchmark runs every benchmark whose name matches filter (all when
// nil) for about d each, reporting each result as it is measured. When both
// 1_1_actor_calls_sync and the protoactor baseline ran, it adds their ratio.
func Microbenchmark(ctx context.Context, d time.Duration, filter *regexp.Regexp, report func(Result)) ([]Result, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, err := goray.Init(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = goray.Shutdown(ctx) }()

	c := collector{report: report}
	for _, b := range append(benchmarks(), placementBenchmarks()...) {
		if filter != nil && !filter.MatchString(b.name) {
			continue
		}
		v, err := b.run(ctx, d)
		if err != nil {
			return c.results, fmt.Errorf("%s: %w", b.name, err)
		}
		c.add(Result{Name: b.name, Value: v, Unit: b.unit})
	}
	c.ratio("actor_call_overhead_ratio", "1_1_actor_calls_sync", "protoactor_request_future_round_trip")
	return c.results, nil
}

// collector gathers a run's results, reporting each as it comes.
type collector struct {
	results []Result
	report  func(Result)
}

func (c *collector) add(r Result) {
	c.results = append(c.results, r)
	if c.report != nil {
		c.report(r)
	}
}

// ratio adds name, the value of num over that of den, when both ran.
func (c *collector) ratio(name, num, den string) {
	var n, d float64
	for _, r := range c.results {
		switch r.Name {
		case num:
			n = r.Value
		case den:
			d = r.Value
		}
	}
	if n > 0 && d > 0 {
		c.add(Result{Name: name, Value: n / d, Unit: "ratio"})
	}
}

// timed runs f until d has passed and returns how many operations it did.
func timed(ctx context.Context, d time.Duration, f func(ctx context.Context) (int, error)) (int, time.Duration, error) {
	// A short warm-up outside the measurement: 100 operations, or a tenth
	// of d for slow ones.
	warm := time.Now()
	for i := 0; i < 100 && time.Since(warm) < d/10; i++ {
		if _, err := f(ctx); err != nil {
			return 0, 0, err
		}
	}
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		k, err := f(ctx)
		if err != nil {
			return 0, 0, err
		}
		n += k
	}
	return n, time.Since(start), nil
}

func batch(ctx context.Context, n int, submit func(i int) goray.Ref[int]) (int, error) {
	refs := make([]goray.Ref[int], n)
	for i := range refs {
		refs[i] = submit(i)
	}
	for _, r := range refs {
		if _, err := goray.Get(ctx, r); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// parallel runs n clients, client i doing f(ctx, i) repeatedly for about
// d, and returns their operations per second in total.
func parallel(ctx context.Context, d time.Duration, n int, f func(ctx context.Context, i int) (int, error)) (float64, error) {
	var wg sync.WaitGroup
	counts := make([]int, n)
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			counts[i], _, errs[i] = timed(ctx, d, func(ctx context.Context) (int, error) { return f(ctx, i) })
		})
	}
	wg.Wait()
	el := time.Since(start)
	total := 0
	for i := range counts {
		if errs[i] != nil {
			return 0, errs[i]
		}
		total += counts[i]
	}
	return float64(total) / el.Seconds(), nil
}

func nnActorCalls(ctx context.Context, d time.Duration) (float64, error) {
	handles := make([]goray.ActorRef[benchState], goruntime.NumCPU())
	for i := range handles {
		h, err := benchActor.New(ctx)
		if err != nil {
			return 0, err
		}
		handles[i] = h
	}
	return parallel(ctx, d, len(handles), func(ctx context.Context, i int) (int, error) {
		return batch(ctx, 1000, func(j int) goray.Ref[int] { return benchCall.Remote(ctx, handles[i], j) })
	})
}

func putGigabytes(ctx context.Context, d time.Duration) (float64, error) {
	const elems = 10 << 20 // 80 MiB of float64
	data := make([]float64, elems)
	for i := range data {
		data[i] = float64(i)
	}
	n, el, err := timed(ctx, d, func(ctx context.Context) (int, error) {
		r, err := goray.Put(ctx, data)
		if err != nil {
			return 0, err
		}
		return 1, goray.Free(ctx, r)
	})
	if err != nil {
		return 0, err
	}
	return float64(n) * elems * 8 / el.Seconds() / 1e9, nil
}

func actorsCreated(ctx context.Context, d time.Duration) (float64, error) {
	// Ray's benchmark submits all creations at once and then waits; here
	// this many creators keep creations in flight. As in Ray's, the handles
	// are held while it runs (an actor whose handles are all gone is
	// destroyed), and the actors are killed once it is measured.
	creators := 32 * goruntime.NumCPU()
	held := make([][]goray.ActorRef[benchState], creators)
	defer func() {
		var wg sync.WaitGroup
		for _, hs := range held {
			wg.Go(func() {
				for _, a := range hs {
					_ = goray.Kill(ctx, a)
				}
			})
		}
		wg.Wait()
	}()
	return parallel(ctx, d, creators, func(ctx context.Context, i int) (int, error) {
		a, err := benchActor.New(ctx)
		if err == nil {
			held[i] = append(held[i], a)
		}
		return 1, err
	})
}

// requestFutureBaseline measures a bare protoactor RequestFuture round trip
// to an actor that answers at once, in its own actor system.
func requestFutureBaseline(d time.Duration) (float64, error) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer sys.Shutdown()
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(int); ok {
			c.Respond(m)
		}
	}))
	call := func(context.Context) (int, error) {
		_, err := sys.Root.RequestFuture(pid, 1, 5*time.Second).Result()
		return 1, err
	}
	n, el, err := timed(context.Background(), d, call)
	if err != nil {
		return 0, fmt.Errorf("request future baseline: %w", err)
	}
	return float64(n) / el.Seconds(), nil
}

// writeAllocsProfile writes the process's allocation profile to path; a
// failure is reported on standard error, since the run it profiles is over.
func writeAllocsProfile(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "writing the allocation profile:", err)
	}
}
