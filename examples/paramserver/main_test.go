package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/paramserver/fashion"
	"github.com/goray-dev/goray/examples/paramserver/mlp"
)

// subsetDir writes the first nTrain training and nTest test samples of the
// installed data set, as plain IDX files, into a temporary directory: a data
// set that loads in milliseconds even under the race detector. It skips the
// test when the data set is not installed.
func subsetDir(t *testing.T, nTrain, nTest int) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []struct {
		name string
		n    int
		dims int // dimensions after the count
	}{
		{fashion.TrainImages, nTrain, 2}, {fashion.TrainLabels, nTrain, 0},
		{fashion.TestImages, nTest, 2}, {fashion.TestLabels, nTest, 0},
	} {
		z := openIDX(t, f.name)
		// Header: magic, count, then the other dimensions, 4 bytes each.
		header := make([]byte, 8+4*f.dims)
		if _, err := io.ReadFull(z, header); err != nil {
			t.Fatal(err)
		}
		record := 1
		for d := range f.dims {
			record *= int(binary.BigEndian.Uint32(header[8+4*d:]))
		}
		binary.BigEndian.PutUint32(header[4:], uint32(f.n))
		body := make([]byte, f.n*record)
		if _, err := io.ReadFull(z, body); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), append(header, body...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// openIDX opens an installed data set file, compressed or not.
func openIDX(t *testing.T, name string) io.Reader {
	t.Helper()
	in, err := os.Open(filepath.Join(fashion.DefaultDir, name+".gz"))
	if errors.Is(err, fs.ErrNotExist) {
		in, err = os.Open(filepath.Join(fashion.DefaultDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			t.Skipf("Fashion-MNIST is not installed in %s (apt-get install dataset-fashion-mnist)", fashion.DefaultDir)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close() })
		return in
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	z, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func initRuntime(t *testing.T) context.Context {
	t.Helper()
	ctx, err := goray.Init(context.Background(), goray.WithCPUs(2))
	if err != nil {
		t.Fatal(err)
	}
	// A bound on the run, so that a stuck call fails the test.
	run, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel) // cleanups run last first: after Shutdown
	t.Cleanup(func() {
		if err := goray.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return run
}

// small is a short run of a small model on a subset of the data: two
// epochs of 47 updates.
func small(mode, dir string) Config {
	return Config{Mode: mode, Workers: 2, Shards: 3, Epochs: 2, Batch: 64, LR: 5e-3, Decay: 0.75,
		Dir: dir, Hidden: []int{32}, Seed: 1, TrainSamples: 3000, WorkerCPUs: 1}
}

func TestTrainLearns(t *testing.T) {
	dir := subsetDir(t, 4000, 1000)
	results := map[string]*Result{}
	for _, mode := range []string{ModeSync, ModeAsync, ModeSharded} {
		t.Run(mode, func(t *testing.T) {
			ctx := initRuntime(t)
			var out bytes.Buffer
			cfg := small(mode, dir)
			cfg.Out = &out
			res, err := Train(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d updates, %.0f updates/s\n%s", mode, res.Updates, res.UpdatesPerSecond(), out.String())
			results[mode] = res

			// Train stops the actors it created.
			infos, err := goray.ListActors(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := cfg.Workers + 2 + (cfg.Shards-1)*btoi(mode == ModeSharded); len(infos) != want {
				t.Errorf("%d actors, want %d", len(infos), want)
			}
			for _, a := range infos {
				if a.State != "DEAD" {
					t.Errorf("actor %s is %s after Train", a.TypeName, a.State)
				}
			}

			if res.StepsPerEpoch != 47 || res.Updates != 2*47 || res.TrainSamples != 3000 {
				t.Errorf("%d updates, %d per epoch, %d samples; want 94, 47, 3000", res.Updates, res.StepsPerEpoch, res.TrainSamples)
			}
			// Evaluations at updates 0, 47 and 94.
			if len(res.Evals) != 3 || res.Evals[0].Update != 0 || res.Final().Update != res.Updates {
				t.Fatalf("evaluations %+v", res.Evals)
			}
			first, final := res.Evals[0], res.Final()
			if final.Accuracy < 0.6 || final.Accuracy < first.Accuracy+0.4 {
				t.Errorf("test accuracy went from %.3f to %.3f; want at least 0.6 and a rise of 0.4", first.Accuracy, final.Accuracy)
			}
			if !math.IsNaN(first.TrainLoss) {
				t.Errorf("training loss before any update is %v, want NaN", first.TrainLoss)
			}
			if l1, l2 := res.Evals[1].TrainLoss, final.TrainLoss; !(l2 < l1) {
				t.Errorf("training loss went from %v in epoch 1 to %v in epoch 2; want it to fall", l1, l2)
			}
			if !strings.Contains(out.String(), "test accuracy") {
				t.Errorf("progress output %q lacks the accuracy lines", out.String())
			}

			st := res.Staleness
			if mode != ModeAsync {
				if st.Hist != nil {
					t.Errorf("%s mode reported staleness %v", mode, st)
				}
				return
			}
			// Every update ages the gradient in flight at the other worker
			// by one, so the staleness adds up to at most (W-1) per update;
			// the very first gradient is always fresh.
			sum := 0
			for s, c := range st.Hist {
				sum += s * c
			}
			if st.Count() != res.Updates || st.Hist[0] < 1 || st.Hist[st.Max()] == 0 || sum > (cfg.Workers-1)*res.Updates {
				t.Errorf("staleness %v over %d updates", st, res.Updates)
			}
		})
	}
	// K servers with their own Adam state over ranges of the vector compute
	// exactly what one server does.
	if s, k := results[ModeSync], results[ModeSharded]; s != nil && k != nil {
		for i := range s.Evals {
			if s.Evals[i].Accuracy != k.Evals[i].Accuracy || s.Evals[i].TrainLoss != k.Evals[i].TrainLoss &&
				!(math.IsNaN(s.Evals[i].TrainLoss) && math.IsNaN(k.Evals[i].TrainLoss)) {
				t.Errorf("evaluation %d: sync %+v, sharded %+v; want equal", i, s.Evals[i], k.Evals[i])
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestTrainMissingData(t *testing.T) {
	ctx := initRuntime(t)
	cfg := small(ModeSync, t.TempDir())
	_, err := Train(ctx, cfg)
	// Every actor fails for that reason; the error says it once.
	if !errors.Is(err, goray.ErrActorDied) || strings.Count(fmt.Sprint(err), "apt-get install dataset-fashion-mnist") != 1 {
		t.Fatalf("Train on an empty directory: %v; want the data set's install hint from the actors' constructors, once", err)
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"mode", func(c *Config) { c.Mode = "ring" }},
		{"no workers", func(c *Config) { c.Workers = 0 }},
		{"no shards", func(c *Config) { c.Mode, c.Shards = ModeSharded, 0 }},
		{"no epochs", func(c *Config) { c.Epochs = 0 }},
		{"batch below workers", func(c *Config) { c.Workers, c.Batch = 4, 3 }},
		{"learning rate", func(c *Config) { c.LR = 0 }},
		{"decay NaN", func(c *Config) { c.Decay = math.NaN() }},
		{"eval interval", func(c *Config) { c.EvalEvery = -1 }},
		{"CPUs", func(c *Config) { c.WorkerCPUs = -2 }},
		{"hidden layer", func(c *Config) { c.Hidden = []int{0} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := small(ModeSync, fashion.DefaultDir)
			tt.change(&cfg)
			// No runtime is needed: the configuration is checked first.
			if _, err := Train(context.Background(), cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("Train: %v, want ErrConfig", err)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr error
		check   func(Config, options) bool
	}{
		{nil, nil, func(c Config, o options) bool {
			return c.Mode == ModeSync && c.Workers == 2 && c.Shards == 2 && c.Epochs == 12 && c.Batch == 128 &&
				c.LR == 2e-3 && c.Dir == fashion.DefaultDir && c.WorkerCPUs > 0 && c.WorkerCPUs <= 1 &&
				slices.Equal(c.Hidden, DefaultHidden()) && o == options{}
		}},
		{[]string{"-mode", "async"}, nil, func(c Config, o options) bool { return c.Epochs == 15 }},
		{[]string{"-mode", "async", "-workers", "3", "-lr", "1e-3", "-eval-every", "50", "-worker-cpus", "0.5", "-hidden", "64",
			"-save", "w.bin", "--curve", "c.csv"}, nil, func(c Config, o options) bool {
			return c.Mode == ModeAsync && c.Workers == 3 && c.LR == 1e-3 && c.EvalEvery == 50 && c.WorkerCPUs == 0.5 &&
				slices.Equal(c.Hidden, []int{64}) && o == options{save: "w.bin", curve: "c.csv"}
		}},
		{[]string{"--load", "w.bin"}, nil, func(c Config, o options) bool { return o == options{load: "w.bin"} }},
		{[]string{"-load", "a", "-save", "b"}, ErrConfig, nil},
		{[]string{"-load", "a", "-curve", "b"}, ErrConfig, nil},
		{[]string{"-hidden", "64,x"}, ErrConfig, nil},
		{[]string{"extra"}, ErrConfig, nil},
		{[]string{"-help"}, flag.ErrHelp, nil},
		{[]string{"-h"}, flag.ErrHelp, nil},
	}
	for _, tt := range tests {
		c, o, err := parseFlags(tt.args, io.Discard)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("parseFlags(%q): %v, want %v", tt.args, err, tt.wantErr)
			continue
		}
		if err == nil && !tt.check(c, o) {
			t.Errorf("parseFlags(%q) = %+v, %+v", tt.args, c, o)
		}
	}
	if _, _, err := parseFlags([]string{"-workers", "x"}, io.Discard); err == nil {
		t.Error("-workers x was accepted")
	}
}

func TestStaleness(t *testing.T) {
	tests := []struct {
		name             string
		hist             []int
		count, max       int
		median, p90, p99 int
		text             string
	}{
		{"none", nil, 0, 0, 0, 0, 0, "median 0, 90th percentile 0, 99th percentile 0, max 0; gradients by staleness "},
		{"all fresh", []int{7}, 7, 0, 0, 0, 0, "median 0, 90th percentile 0, 99th percentile 0, max 0; gradients by staleness 0:7"},
		// 100 gradients: 5 fresh, 85 one update old, 9 two, 1 six.
		{"two workers", []int{5, 85, 9, 0, 0, 0, 1}, 100, 6, 1, 1, 2,
			"median 1, 90th percentile 1, 99th percentile 2, max 6; gradients by staleness 0:5 1:85 2:9 6:1"},
		// 10 gradients, the 9th and 10th far behind: p90 is the 9th.
		{"long tail", []int{0, 8, 0, 0, 1, 0, 0, 0, 0, 1}, 10, 9, 1, 4, 9,
			"median 1, 90th percentile 4, 99th percentile 9, max 9; gradients by staleness 1:8 4:1 9:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Staleness{Hist: tt.hist}
			if s.Count() != tt.count || s.Max() != tt.max || s.Quantile(0.5) != tt.median || s.Quantile(0.9) != tt.p90 || s.Quantile(0.99) != tt.p99 {
				t.Errorf("count %d max %d quantiles %d %d %d; want %d %d, %d %d %d", s.Count(), s.Max(),
					s.Quantile(0.5), s.Quantile(0.9), s.Quantile(0.99), tt.count, tt.max, tt.median, tt.p90, tt.p99)
			}
			if s.String() != tt.text {
				t.Errorf("String() = %q, want %q", s.String(), tt.text)
			}
		})
	}
}

// TestSaveLoad saves the weights of a short run, loads them back and checks
// that they are the trained weights, bit for bit, and score the accuracy
// the run reported for them.
func TestSaveLoad(t *testing.T) {
	dir := subsetDir(t, 4000, 1000)
	ctx := initRuntime(t)
	for _, mode := range []string{ModeAsync, ModeSharded} {
		t.Run(mode, func(t *testing.T) {
			cfg := small(mode, dir)
			cfg.Epochs = 1
			res, err := Train(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "weights.bin")
			if err := saveWeights(path, mlp.Model{Sizes: cfg.sizes()}, res.Weights); err != nil {
				t.Fatal(err)
			}
			m, w, err := loadWeights(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Sizes, cfg.sizes()) || !slices.Equal(w, res.Weights) {
				t.Fatalf("loaded %v, %d weights; saved %v, %d", m.Sizes, len(w), cfg.sizes(), len(res.Weights))
			}
			acc, err := Evaluate(ctx, cfg, m.Sizes, w)
			if err != nil {
				t.Fatal(err)
			}
			if acc != res.Final().Accuracy {
				t.Fatalf("loaded weights score %v, the run reported %v", acc, res.Final().Accuracy)
			}
			// Other weights score otherwise, so the comparison above can fail.
			init := m.Init(cfg.Seed)
			if acc0, err := Evaluate(ctx, cfg, m.Sizes, init); err != nil || acc0 == acc || acc0 != res.Evals[0].Accuracy {
				t.Fatalf("initial weights score %v (%v); want the run's first evaluation %v, not %v", acc0, err, res.Evals[0].Accuracy, acc)
			}
		})
	}
	if _, err := Evaluate(ctx, small(ModeSync, dir), []int{784, 10}, make([]float32, 10)); !errors.Is(err, ErrConfig) {
		t.Fatalf("Evaluate with too few weights: %v, want ErrConfig", err)
	}
}

func TestLoadWeightsRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, m mlp.Model) string {
		path := filepath.Join(dir, name)
		if err := saveWeights(path, m, m.Init(1)); err != nil {
			t.Fatal(err)
		}
		return path
	}
	text := filepath.Join(dir, "text")
	if err := os.WriteFile(text, []byte("these are not weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "none"), fs.ErrNotExist},
		{"not a parameter file", text, mlp.ErrBadFile},
		{"wrong input size", write("in", mlp.Model{Sizes: []int{100, 10}}), ErrConfig},
		{"wrong class count", write("out", mlp.Model{Sizes: []int{784, 8}}), ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := loadWeights(tt.path); !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRun runs the command end to end with its own runtime: a training run
// with -save and -curve, then -load, which must print the accuracy the run
// ended with.
func TestRun(t *testing.T) {
	data := subsetDir(t, 2000, 500)
	dir := t.TempDir()
	weights, curve := filepath.Join(dir, "w.bin"), filepath.Join(dir, "curve.csv")
	common := []string{"-data", data, "-hidden", "16", "-test-samples", "500"}
	var out bytes.Buffer
	args := append([]string{"-mode", "async", "-epochs", "2", "-batch", "100", "-save", weights, "-curve", curve}, common...)
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	final := regexp.MustCompile(`final test accuracy (\S+)\n`).FindStringSubmatch(text)
	if final == nil || !strings.Contains(text, "staleness (server updates between a gradient's weights and its application): median ") ||
		!strings.Contains(text, "saved the weights to "+weights) {
		t.Fatalf("output lacks the final accuracy, the staleness or the save:\n%s", text)
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
	// 2000 samples in batches of 100: 20 updates per epoch, evaluated
	// before the first and after each epoch.
	if len(rows) != 4 || !slices.Equal(rows[0], curveHeader) || !slices.Equal(rows[1][:2], []string{"0", "0.0000"}) ||
		rows[1][4] != "" || !slices.Equal(rows[3][:2], []string{"40", "2.0000"}) || rows[3][4] == "" {
		t.Fatalf("curve %q", rows)
	}
	if acc, err := strconv.ParseFloat(rows[3][3], 64); err != nil || fmt.Sprintf("%.4f", acc) != final[1] {
		t.Fatalf("curve ends at accuracy %q, the run at %s", rows[3][3], final[1])
	}

	out.Reset()
	if err := run(context.Background(), append([]string{"-load", weights}, common...), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("model [784 16 10] from %s: test accuracy %s\n", weights, final[1]); out.String() != want {
		t.Fatalf("-load printed %q, want %q", out.String(), want)
	}
}

// TestMainHelp runs the program's main with -help in a child process and
// checks that it prints the usage and exits with status 0.
func TestMainHelp(t *testing.T) {
	if os.Getenv("PARAMSERVER_TEST_MAIN") == "1" {
		os.Args = []string{"paramserver", "-help"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainHelp$")
	cmd.Env = append(os.Environ(), "PARAMSERVER_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("paramserver -help: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "Usage of paramserver") || !strings.Contains(stderr.String(), "-load file") {
		t.Fatalf("paramserver -help printed:\n%s", stderr.String())
	}
}
