package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/rl/es"
)

// startRuntime starts an embedded goray node with two CPUs for one test.
func startRuntime(t *testing.T) context.Context {
	t.Helper()
	ctx, err := goray.Init(context.Background(), goray.WithCPUs(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := goray.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ctx
}

// smallConfig learns quickly: a small noise table, few environments, and a
// solved bar it never reaches, so that exactly MaxGenerations updates run.
func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.EnvsPerWorker = 16
	cfg.Pairs = 16
	cfg.NoiseSize = 1 << 16
	cfg.MaxGenerations = 20
	cfg.SolveThreshold = 1e9
	return cfg
}

// balancing is a hand-set linear policy that keeps the pole up: it pushes
// towards the side the pole leans and falls to.
var balancing = []float32{0, 0, 0, 0, 0.1, 0.5, 1, 1, 0, 0}

func TestTrainLearns(t *testing.T) {
	ctx := startRuntime(t)
	tests := []struct {
		env         string
		generations int
		start, best float32 // the first eval return is below start; the best above best
	}{
		{"cartpole", 20, 50, 200},
		{"acrobot", 6, -499, -150},
	}
	for _, tt := range tests {
		for _, seed := range []int64{1, 2} {
			cfg := smallConfig()
			cfg.Env, cfg.Seed, cfg.MaxGenerations = tt.env, seed, tt.generations
			var out bytes.Buffer
			res, err := Train(ctx, cfg, &out)
			if err != nil {
				t.Fatalf("%s seed %d: %v", tt.env, seed, err)
			}
			h := res.History
			if len(h) != cfg.MaxGenerations+1 || res.Solved {
				t.Fatalf("%s seed %d: %d generations, solved=%v; want %d unsolved", tt.env, seed, len(h), res.Solved, cfg.MaxGenerations+1)
			}
			best := h[0].EvalReturn
			for _, g := range h {
				best = max(best, g.EvalReturn)
			}
			if h[0].EvalReturn >= tt.start || best <= tt.best {
				t.Fatalf("%s seed %d: eval return went from %v to at best %v; want from under %v to over %v",
					tt.env, seed, h[0].EvalReturn, best, tt.start, tt.best)
			}
			for i := 1; i < len(h); i++ {
				if h[i].Index != i || h[i].Steps <= h[i-1].Steps {
					t.Fatalf("%s seed %d: generation %d has index %d and %d steps after %d", tt.env, seed, i, h[i].Index, h[i].Steps, h[i-1].Steps)
				}
			}
			if last := h[len(h)-1]; res.Steps != last.Steps+res.Final.Steps || res.Final.Episodes != cfg.FinalEpisodes {
				t.Fatalf("%s seed %d: %d steps in all, last generation says %d, final evaluation %+v", tt.env, seed, res.Steps, last.Steps, res.Final)
			}
			text := out.String()
			if n := strings.Count(text, "\ngen "); n != len(h) {
				t.Fatalf("%s seed %d: %d progress lines for %d generations:\n%s", tt.env, seed, n, len(h), text)
			}
			if !strings.Contains(text, fmt.Sprintf("not solved after %d generations", tt.generations)) ||
				!strings.Contains(text, fmt.Sprintf("evaluation of the trained policy: mean return %.2f over 100 episodes", res.Final.MeanReturn)) {
				t.Fatalf("%s seed %d: output does not report the end of training and the final evaluation:\n%s", tt.env, seed, text)
			}
			t.Logf("%s seed %d: eval return %v -> best %v, final %v, %d steps in %v", tt.env, seed, h[0].EvalReturn, best, res.Final.MeanReturn, res.Steps, res.Elapsed)
		}
	}
}

// TestTrainSameForAnyWorkerCount checks that only seeds and offsets decide
// the run: splitting the work over more actors changes no number.
func TestTrainSameForAnyWorkerCount(t *testing.T) {
	ctx := startRuntime(t)
	run := func(workers int) Result {
		cfg := smallConfig()
		cfg.MaxGenerations = 6
		cfg.Workers = workers
		cfg.EvalEpisodes = 40 // three blocks of 16 episodes, dealt over the workers
		res, err := Train(ctx, cfg, io.Discard)
		if err != nil {
			t.Fatalf("%d workers: %v", workers, err)
		}
		for i := range res.History {
			res.History[i].Elapsed = 0
		}
		return res
	}
	want := run(1)
	for _, workers := range []int{2, 3, 5} {
		got := run(workers)
		if !reflect.DeepEqual(got.History, want.History) || !slices.Equal(got.Params, want.Params) {
			t.Fatalf("%d workers:\nhistory %+v\nparams %v\nwant (1 worker):\nhistory %+v\nparams %v",
				workers, got.History, got.Params, want.History, want.Params)
		}
	}
}

func TestTrainSolves(t *testing.T) {
	ctx := startRuntime(t)
	cfg := DefaultConfig()
	var out bytes.Buffer
	res, err := Train(ctx, cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Solved || res.SolveReturn < 475 {
		t.Fatalf("not solved after %d generations, solve return %v:\n%s", len(res.History)-1, res.SolveReturn, out.String())
	}
	if !strings.Contains(out.String(), "solved in ") {
		t.Fatalf("output does not report the solve:\n%s", out.String())
	}
	// A fresh actor confirms the policy on episodes training never saw.
	workers, err := startWorkers(ctx, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goray.Put(ctx, res.Params)
	if err != nil {
		t.Fatal(err)
	}
	mean, _, err := gatherPolicy(ctx, submitPolicy(ctx, workers, p, policyBlocks(100, cfg.EnvsPerWorker, 12345)), 100, cfg.EnvsPerWorker)
	if err != nil {
		t.Fatal(err)
	}
	if mean < 475 {
		t.Fatalf("solved policy averages %v over 100 unseen episodes", mean)
	}
	t.Logf("solved in %d generations, %d steps, %v; unseen-episode mean %v", len(res.History)-1, res.Steps, res.Elapsed, mean)
}

func TestTrainStopsOnCancel(t *testing.T) {
	ctx := startRuntime(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err := Train(cctx, smallConfig(), io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Train on a cancelled context: %v, want context.Canceled", err)
	}
}

func TestBench(t *testing.T) {
	ctx := startRuntime(t)
	cfg := smallConfig()
	one, err := Bench(ctx, cfg, balancing, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Bench(ctx, cfg, balancing, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	base, err := Baseline(ctx, cfg, balancing, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	// All three ran requests 0..3: the same steps, however they were spread,
	// and whether through goray or not.
	if one.Steps != two.Steps || base.Steps != two.Steps {
		t.Fatalf("4 calls on 1 actor took %d steps, 2 calls each on 2 actors %d, on 2 goroutines %d", one.Steps, two.Steps, base.Steps)
	}
	// Each call plays 4*EnvsPerWorker episodes; the balancing policy and
	// small perturbations of it keep most poles up far longer than 50 steps.
	if min := int64(4 * 4 * cfg.EnvsPerWorker * 50); one.Steps < min {
		t.Fatalf("%d steps, want at least %d", one.Steps, min)
	}
	for _, b := range []BenchResult{one, two, base} {
		if b.StepsPerSecond() <= 0 || b.Busy <= 0 || b.Elapsed <= 0 {
			t.Fatalf("bench %+v: want positive rate, busy and elapsed times", b)
		}
	}
	t.Logf("1 actor %.0f steps/s, 2 actors %.0f steps/s, 2 goroutines %.0f steps/s", one.StepsPerSecond(), two.StepsPerSecond(), base.StepsPerSecond())

	if _, err := Bench(ctx, cfg, balancing[:3], 1, 1); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Bench with 3 parameters: %v, want ErrInvalidConfig", err)
	}
	if _, err := Baseline(ctx, cfg, balancing, 0, 1); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Baseline on 0 goroutines: %v, want ErrInvalidConfig", err)
	}
}

func TestWorkerRejectsBadRequests(t *testing.T) {
	ctx := startRuntime(t)
	specs := []struct {
		name string
		spec WorkerSpec
	}{
		{"no environments", WorkerSpec{Env: "cartpole", NoiseSeed: 1, NoiseSize: 1 << 12, NumEnvs: 0}},
		{"oversized noise table", WorkerSpec{Env: "cartpole", NoiseSeed: 1, NoiseSize: maxNoiseSize + 1, NumEnvs: 4}},
		{"noise table smaller than the policy", WorkerSpec{Env: "acrobot", NoiseSeed: 1, NoiseSize: 20, NumEnvs: 4}},
		{"unknown environment", WorkerSpec{Env: "pong", NoiseSeed: 1, NoiseSize: 1 << 12, NumEnvs: 4}},
		{"no environment", WorkerSpec{NoiseSeed: 1, NoiseSize: 1 << 12, NumEnvs: 4}},
	}
	for _, tt := range specs {
		if _, err := envWorker.New(ctx, tt.spec); !errors.Is(err, goray.ErrActorDied) {
			t.Fatalf("%s: creating the actor: %v, want ErrActorDied", tt.name, err)
		}
	}
	w, err := envWorker.New(ctx, WorkerSpec{Env: "cartpole", NoiseSeed: 1, NoiseSize: 1 << 12, NumEnvs: 4})
	if err != nil {
		t.Fatal(err)
	}
	good := EvalRequest{Offsets: []int{0, 100}, Sigma: 0.1, Episodes: 1, Seed: 1}
	tests := []struct {
		name   string
		params []float32
		req    EvalRequest
		ok     bool
	}{
		{"valid", balancing, good, true},
		{"short params", balancing[:9], good, false},
		{"offset outside table", balancing, EvalRequest{Offsets: []int{1 << 12}, Sigma: 0.1, Episodes: 1}, false},
		{"negative offset", balancing, EvalRequest{Offsets: []int{-1}, Sigma: 0.1, Episodes: 1}, false},
		{"no offsets", balancing, EvalRequest{Sigma: 0.1, Episodes: 1}, false},
		{"no episodes", balancing, EvalRequest{Offsets: []int{0}, Sigma: 0.1}, false},
		{"too many episodes", balancing, EvalRequest{Offsets: []int{0, 1}, Sigma: 0.1, Episodes: maxJobsPerCall}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := goray.Get(ctx, evaluate.Remote(ctx, w, tt.params, tt.req))
			if tt.ok {
				if err != nil || len(r.Results) != len(tt.req.Offsets) || r.Steps <= 0 {
					t.Fatalf("reply %+v, error %v; want %d results", r, err, len(tt.req.Offsets))
				}
				return
			}
			if !errors.Is(err, goray.ErrTaskFailed) {
				t.Fatalf("error %v, want a failed call", err)
			}
		})
	}
	// The actor survives bad requests.
	if _, err := goray.Get(ctx, evaluate.Remote(ctx, w, balancing, good)); err != nil {
		t.Fatalf("after bad requests: %v", err)
	}
	if _, err := goray.Get(ctx, evaluatePolicy.Remote(ctx, w, balancing, nil)); !errors.Is(err, goray.ErrTaskFailed) {
		t.Fatalf("policy evaluation of no blocks: %v, want a failed call", err)
	}
}

func TestPolicyBlocks(t *testing.T) {
	tests := []struct {
		episodes, size int
		want           []int
	}{
		{10, 32, []int{10}},
		{100, 32, []int{32, 32, 32, 4}},
		{64, 32, []int{32, 32}},
		{3, 1, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		blocks := policyBlocks(tt.episodes, tt.size, 7)
		var sizes []int
		seeds := map[int64]bool{}
		for _, b := range blocks {
			sizes = append(sizes, b.Episodes)
			seeds[b.Seed] = true
		}
		if !slices.Equal(sizes, tt.want) || len(seeds) != len(blocks) {
			t.Errorf("policyBlocks(%d, %d): sizes %v, %d distinct seeds; want sizes %v, all seeds distinct",
				tt.episodes, tt.size, sizes, len(seeds), tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	custom := DefaultConfig()
	custom.Workers, custom.EnvsPerWorker, custom.Pairs = 4, 8, 10
	custom.Sigma, custom.LearningRate, custom.Seed, custom.MaxGenerations = 0.05, 0.02, 7, 3
	acro, err := ConfigFor("acrobot")
	if err != nil {
		t.Fatal(err)
	}
	if acro.Env != "acrobot" || acro.SolveThreshold != -100 {
		t.Fatalf("ConfigFor(acrobot) = %+v", acro)
	}
	tests := []struct {
		name    string
		args    []string
		want    Config
		opts    options
		wantErr error
	}{
		{"defaults", nil, DefaultConfig(), options{bench: true, benchCalls: 100}, nil},
		{"all set", []string{"-workers", "4", "-envs", "8", "-pop", "10", "-sigma", "0.05", "-lr", "0.02",
			"-seed", "7", "-max-gens", "3", "-bench=false", "-save", "p.bin", "-curve", "c.csv"}, custom,
			options{benchCalls: 100, save: "p.bin", curve: "c.csv"}, nil},
		{"acrobot", []string{"-env", "acrobot"}, acro, options{bench: true, benchCalls: 100, envSet: true}, nil},
		{"load", []string{"--load", "p.bin"}, DefaultConfig(), options{bench: true, benchCalls: 100, load: "p.bin"}, nil},
		{"unknown environment", []string{"-env", "pong"}, Config{}, options{}, ErrInvalidConfig},
		{"load and save", []string{"-load", "a", "-save", "b"}, Config{}, options{}, ErrInvalidConfig},
		{"load and curve", []string{"-load", "a", "-curve", "b"}, Config{}, options{}, ErrInvalidConfig},
		{"no workers", []string{"-workers", "0"}, Config{}, options{}, ErrInvalidConfig},
		{"negative sigma", []string{"-sigma", "-1"}, Config{}, options{}, ErrInvalidConfig},
		{"no population", []string{"-pop", "0"}, Config{}, options{}, ErrInvalidConfig},
		{"no bench calls", []string{"-bench-calls", "0"}, Config{}, options{}, ErrInvalidConfig},
		{"stray argument", []string{"now"}, Config{}, options{}, ErrInvalidConfig},
		{"help", []string{"-h"}, Config{}, options{}, flag.ErrHelp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || cfg != tt.want || o != tt.opts {
				t.Fatalf("got %+v %+v err=%v; want %+v %+v", cfg, o, err, tt.want, tt.opts)
			}
		})
	}
	bad := []string{"-no-such-flag", "-sigma=x", "-lr=1e99"}
	for _, arg := range bad {
		if _, _, err := parseFlags([]string{arg}, io.Discard); err == nil {
			t.Errorf("%s was accepted", arg)
		}
	}
}

// TestUsage checks that -h lists the flags with their defaults as written.
func TestUsage(t *testing.T) {
	var help bytes.Buffer
	if _, _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v, want flag.ErrHelp", err)
	}
	text := help.String()
	for _, want := range []string{"-sigma deviation", "-lr rate", "(default 0.1)", "-env string", "cartpole, acrobot",
		"-save file", "-load file", "-curve file"} {
		if !strings.Contains(text, want) {
			t.Errorf("usage lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "0.100000") {
		t.Errorf("usage prints a float32 default in float64 digits:\n%s", text)
	}
	// The main function exits 0 on flag.ErrHelp; run returns it as it is.
	if err := run(context.Background(), []string{"-help"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -help: %v, want flag.ErrHelp", err)
	}
}

// TestSaveLoad trains briefly, saves the policy, loads it back and checks
// that the loaded policy is the trained one, bit for bit, and evaluates to
// the same score on other actors, however many and however large.
func TestSaveLoad(t *testing.T) {
	ctx := startRuntime(t)
	for _, env := range []string{"cartpole", "acrobot"} {
		t.Run(env, func(t *testing.T) {
			cfg := smallConfig()
			cfg.Env, cfg.MaxGenerations = env, 3
			res, err := Train(ctx, cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "policy.bin")
			e, _ := lookupEnv(env)
			if err := savePolicy(path, e, res.Params); err != nil {
				t.Fatal(err)
			}
			got, params, err := loadPolicy(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != env || !slices.Equal(params, res.Params) {
				t.Fatalf("loaded %s %v, saved %s %v", got.Name, params, env, res.Params)
			}
			other := cfg
			other.Workers, other.EnvsPerWorker = 3, 5
			ev, err := Evaluate(ctx, other, params)
			if err != nil {
				t.Fatal(err)
			}
			if ev != res.Final {
				t.Fatalf("the loaded policy evaluates to %+v, the trained one to %+v", ev, res.Final)
			}
			if _, err := Evaluate(ctx, other, params[1:]); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Evaluate of %d parameters: %v, want ErrInvalidConfig", len(params)-1, err)
			}
			// A different policy scores differently, so the comparison above
			// can fail.
			params[len(params)-1] += 1
			if ev2, err := Evaluate(ctx, other, params); err != nil || ev2 == res.Final {
				t.Fatalf("a changed policy evaluates to %+v (%v), like the trained one", ev2, err)
			}
		})
	}
}

func TestLoadPolicyRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, p es.Policy) string {
		var b bytes.Buffer
		if err := es.WritePolicy(&b, p); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing file", filepath.Join(dir, "none"), fs.ErrNotExist},
		{"unknown environment", write("pong", es.Policy{Env: "pong", ObsSize: 4, NumActions: 2, Params: balancing}), ErrInvalidConfig},
		{"wrong shape", write("shape", es.Policy{Env: "acrobot", ObsSize: 4, NumActions: 2, Params: balancing}), ErrInvalidConfig},
		{"not a policy", func() string {
			p := filepath.Join(dir, "text")
			if err := os.WriteFile(p, []byte("hello, world, this is text"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}(), es.ErrBadPolicyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := loadPolicy(tt.path); !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRun runs the command end to end, with its own runtime: training with
// -save and -curve, then -load, which must print the same evaluation.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	policy, curve := filepath.Join(dir, "policy.bin"), filepath.Join(dir, "curve.csv")
	var out bytes.Buffer
	args := []string{"-env", "acrobot", "-max-gens", "2", "-noise", "65536", "-envs", "8", "-pop", "8", "-bench-calls", "1",
		"-save", policy, "-curve", curve}
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"Acrobot-v1: 2 env actors", "gen   0  mean", "gen   2  mean      -", "saved the policy to " + policy,
		"1 actor(s):", "2 actor(s):", "4 actor(s):", "steps/s"} {
		if !strings.Contains(text, want) {
			t.Fatalf("output lacks %q:\n%s", want, text)
		}
	}
	evalLine := regexp.MustCompile(`evaluation of the trained policy: (mean return \S+ over 100 episodes \(seed 1\))`).FindStringSubmatch(text)
	if evalLine == nil {
		t.Fatalf("output lacks the final evaluation:\n%s", text)
	}

	f, err := os.Open(curve)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || !slices.Equal(rows[0], curveHeader) || rows[1][0] != "0" || rows[3][0] != "2" ||
		rows[1][4] == "" || rows[3][4] != "" || rows[3][5] != "" {
		t.Fatalf("curve %q: want a header and generations 0 to 2, the last without perturbation returns", rows)
	}
	for _, r := range rows[1:] {
		if ret, err := strconv.ParseFloat(r[3], 32); err != nil || ret > 0 || ret < -500 {
			t.Fatalf("curve row %q: eval return %v (%v), want an Acrobot return in [-500, 0]", r, ret, err)
		}
	}

	out.Reset()
	if err := run(context.Background(), []string{"-load", policy}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "evaluation of the loaded policy: " + evalLine[1]; !strings.Contains(out.String(), want) {
		t.Fatalf("-load printed\n%s\nwant %q", out.String(), want)
	}
	if strings.Contains(out.String(), "gen ") || strings.Contains(out.String(), "actor(s)") {
		t.Fatalf("-load trained or measured throughput:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"-load", policy, "-env", "cartpole"}, io.Discard, io.Discard); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("-load of an Acrobot policy with -env cartpole: %v, want ErrInvalidConfig", err)
	}
}

// TestMainHelp runs the program's main with -help in a child process and
// checks that it prints the usage and exits with status 0.
func TestMainHelp(t *testing.T) {
	if os.Getenv("RL_TEST_MAIN") == "1" {
		os.Args = []string{"rl", "-help"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainHelp$")
	cmd.Env = append(os.Environ(), "RL_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rl -help: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Usage of rl") || !strings.Contains(stderr.String(), "(default 0.1)") {
		t.Fatalf("rl -help printed:\n%s", stderr.String())
	}
}
