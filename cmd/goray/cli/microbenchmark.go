package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
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
	var asJSON bool
	var seconds float64
	var cpuProfile string
	cmd := &cobra.Command{
		Use:   "microbenchmark",
		Short: "Measure per-call overheads in one process (names follow ray microbenchmark)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := time.Duration(seconds * float64(time.Second))
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			results, err := Microbenchmark(cmd.Context(), d, func(r Result) {
				if !asJSON {
					fmt.Fprintf(cmd.OutOrStdout(), "%s %.2f %s\n", r.Name, r.Value, r.Unit)
				}
			})
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
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	cmd.Flags().Float64Var(&seconds, "seconds", 1.5, "how long each benchmark runs")
	return cmd
}

func writeJSON(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rs)
}

// Microbenchmark runs every benchmark for about d each, reporting each
// result as it is measured.
func Microbenchmark(ctx context.Context, d time.Duration, report func(Result)) ([]Result, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, err := goray.Init(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = goray.Shutdown(ctx) }()

	var results []Result
	add := func(name string, value float64, unit string) {
		r := Result{Name: name, Value: value, Unit: unit}
		results = append(results, r)
		if report != nil {
			report(r)
		}
	}
	rate := func(name string, f func(ctx context.Context) (int, error)) (float64, error) {
		n, el, err := timed(ctx, d, f)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		v := float64(n) / el.Seconds()
		add(name, v, "calls/s")
		return v, nil
	}

	if _, err := rate("single_client_tasks_sync", func(ctx context.Context) (int, error) {
		_, err := goray.Get(ctx, benchNoop.Remote(ctx, 1))
		return 1, err
	}); err != nil {
		return results, err
	}
	if _, err := rate("single_client_tasks_async", func(ctx context.Context) (int, error) {
		return batch(ctx, 1000, func(i int) goray.Ref[int] { return benchNoop.Remote(ctx, i) })
	}); err != nil {
		return results, err
	}

	a, err := benchActor.New(ctx)
	if err != nil {
		return results, err
	}
	sync1, err := rate("1_1_actor_calls_sync", func(ctx context.Context) (int, error) {
		_, err := goray.Get(ctx, benchCall.Remote(ctx, a, 1))
		return 1, err
	})
	if err != nil {
		return results, err
	}
	if _, err := rate("1_1_actor_calls_async", func(ctx context.Context) (int, error) {
		return batch(ctx, 1000, func(i int) goray.Ref[int] { return benchCall.Remote(ctx, a, i) })
	}); err != nil {
		return results, err
	}
	if err := nnActorCalls(ctx, d, add); err != nil {
		return results, err
	}

	if _, err := rate("single_client_put_calls", func(ctx context.Context) (int, error) {
		_, err := goray.Put(ctx, 0)
		return 1, err
	}); err != nil {
		return results, err
	}
	small, err := goray.Put(ctx, 0)
	if err != nil {
		return results, err
	}
	if _, err := rate("single_client_get_calls", func(ctx context.Context) (int, error) {
		_, err := goray.Get(ctx, small)
		return 1, err
	}); err != nil {
		return results, err
	}
	if err := putGigabytes(ctx, d, add); err != nil {
		return results, err
	}
	if err := actorsCreated(ctx, d, add); err != nil {
		return results, err
	}
	base, err := requestFutureBaseline(d)
	if err != nil {
		return results, err
	}
	add("protoactor_request_future_round_trip", base, "calls/s")
	add("actor_call_overhead_ratio", sync1/base, "ratio")
	return results, nil
}

// timed runs f until d has passed and returns how many operations it did.
func timed(ctx context.Context, d time.Duration, f func(ctx context.Context) (int, error)) (int, time.Duration, error) {
	// A short warm-up outside the measurement.
	for range 100 {
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

func nnActorCalls(ctx context.Context, d time.Duration, add func(string, float64, string)) error {
	n := goruntime.NumCPU()
	handles := make([]goray.ActorRef[benchState], n)
	for i := range handles {
		h, err := benchActor.New(ctx)
		if err != nil {
			return err
		}
		handles[i] = h
	}
	var wg sync.WaitGroup
	counts := make([]int, n)
	errs := make([]error, n)
	start := time.Now()
	for i := range handles {
		wg.Go(func() {
			counts[i], _, errs[i] = timed(ctx, d, func(ctx context.Context) (int, error) {
				return batch(ctx, 1000, func(j int) goray.Ref[int] { return benchCall.Remote(ctx, handles[i], j) })
			})
		})
	}
	wg.Wait()
	el := time.Since(start)
	total := 0
	for i := range counts {
		if errs[i] != nil {
			return fmt.Errorf("n_n_actor_calls_async: %w", errs[i])
		}
		total += counts[i]
	}
	add("n_n_actor_calls_async", float64(total)/el.Seconds(), "calls/s")
	return nil
}

func putGigabytes(ctx context.Context, d time.Duration, add func(string, float64, string)) error {
	const elems = 10 << 20 // 80 MiB of float64
	data := make([]float64, elems)
	for i := range data {
		data[i] = float64(i)
	}
	bytes := 0
	n, el, err := timed(ctx, d, func(ctx context.Context) (int, error) {
		r, err := goray.Put(ctx, data)
		if err != nil {
			return 0, err
		}
		bytes += elems * 8
		return 1, goray.Free(ctx, r)
	})
	if err != nil {
		return fmt.Errorf("single_client_put_gigabytes: %w", err)
	}
	_ = n
	// The warm-up's bytes are not in el; count only the measured ones.
	measured := float64(bytes - 100*elems*8)
	add("single_client_put_gigabytes", measured/el.Seconds()/1e9, "GB/s")
	return nil
}

func actorsCreated(ctx context.Context, d time.Duration, add func(string, float64, string)) error {
	workers := 4 * goruntime.NumCPU()
	var wg sync.WaitGroup
	counts := make([]int, workers)
	errs := make([]error, workers)
	stop := time.Now().Add(d)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := benchActor.New(ctx); err != nil {
					errs[w] = err
					return
				}
				counts[w]++
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	total := 0
	for w := range counts {
		if errs[w] != nil {
			return fmt.Errorf("actors_created: %w", errs[w])
		}
		total += counts[w]
	}
	add("actors_created", float64(total)/el.Seconds(), "actors/s")
	return nil
}

// requestFutureBaseline measures a bare protoactor RequestFuture round trip
// to an actor that answers at once, in its own actor system.
func requestFutureBaseline(d time.Duration) (float64, error) {
	sys := actor.NewActorSystem()
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
