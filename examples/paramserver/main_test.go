package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/paramserver/fashion"
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
				if a.State != "ACTOR_STATE_DEAD" {
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
				if st.Max != 0 || st.Hist != nil {
					t.Errorf("%s mode reported staleness %+v", mode, st)
				}
				return
			}
			n := 0
			for _, c := range st.Hist {
				n += c
			}
			// Two workers: a gradient is usually one update old, and the
			// very first is always fresh.
			if n != res.Updates || st.Hist[0] < 1 || len(st.Hist) != st.Max+1 || st.Mean < 0.2 || st.Mean > float64(st.Max) {
				t.Errorf("staleness %+v over %d updates", st, res.Updates)
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
		wantErr bool
		check   func(Config) bool
	}{
		{nil, false, func(c Config) bool {
			return c.Mode == ModeSync && c.Workers == 2 && c.Shards == 2 && c.Epochs == 12 && c.Batch == 128 &&
				c.LR == 2e-3 && c.Dir == fashion.DefaultDir && c.WorkerCPUs > 0 && c.WorkerCPUs <= 1 && slices.Equal(c.Hidden, DefaultHidden())
		}},
		{[]string{"-mode", "async", "-workers", "3", "-lr", "1e-3", "-eval-every", "50", "-worker-cpus", "0.5", "-hidden", "64"}, false, func(c Config) bool {
			return c.Mode == ModeAsync && c.Workers == 3 && c.LR == 1e-3 && c.EvalEvery == 50 && c.WorkerCPUs == 0.5 &&
				slices.Equal(c.Hidden, []int{64})
		}},
		{[]string{"-hidden", "64,x"}, true, nil},
		{[]string{"-workers", "x"}, true, nil},
		{[]string{"extra"}, true, nil},
	}
	for _, tt := range tests {
		c, err := parseFlags(tt.args, &bytes.Buffer{})
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q): %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if err == nil && !tt.check(c) {
			t.Errorf("parseFlags(%q) = %+v", tt.args, c)
		}
	}
}
