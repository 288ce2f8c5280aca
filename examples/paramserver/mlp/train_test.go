package mlp

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/examples/paramserver/fashion"
)

// Recommended hyper-parameters for Fashion-MNIST (see the package doc).
var recommended = TrainConfig{
	Sizes:   []int{fashion.Pixels, 256, 128, fashion.NumClasses},
	Batch:   128,
	LR:      2e-3,
	Decay:   0.75,
	Epochs:  12,
	Seed:    1,
	Workers: 2,
}

// TrainConfig is a single-process training recipe.
type TrainConfig struct {
	Sizes   []int
	Batch   int
	LR      float32
	Decay   float32 // LR multiplier per epoch
	Epochs  int
	Seed    int64
	Workers int // goroutines computing gradients on parts of each batch
}

type trainResult struct {
	acc     []float32 // test accuracy after each epoch
	elapsed time.Duration
	updates int
}

// train runs synchronous data-parallel minibatch training the way a parameter
// server with cfg.Workers data workers does: each worker computes the mean
// gradient of its part of the batch, the parts are averaged by size, and one
// Adam step is applied.
func train(cfg TrainConfig, trainSet, test *fashion.Set) trainResult {
	m := Model{Sizes: cfg.Sizes}
	params := m.Init(cfg.Seed)
	opt := NewAdam(cfg.LR)
	w := max(cfg.Workers, 1)
	grads := make([][]float32, w)
	wss := make([]Workspace, w)
	for i := range grads {
		grads[i] = make([]float32, len(params))
	}
	b := fashion.NewBatcher(trainSet, cfg.Batch, uint64(cfg.Seed))
	var res trainResult
	start := time.Now()
	for epoch := range cfg.Epochs {
		for b.Epoch() == epoch {
			x, y, n := b.Next()
			if w == 1 {
				m.Gradient(params, x, y, n, grads[0], &wss[0])
			} else {
				var wg sync.WaitGroup
				for i := range w {
					lo, hi := i*n/w, (i+1)*n/w
					wg.Go(func() {
						m.Gradient(params, x[lo*fashion.Pixels:hi*fashion.Pixels], y[lo:hi], hi-lo, grads[i], &wss[i])
					})
				}
				wg.Wait()
				// Size-weighted mean of the parts' mean gradients.
				g := grads[0]
				w0 := float32(n/w) / float32(n)
				for i := range g {
					g[i] *= w0
				}
				for k := 1; k < w; k++ {
					wk := float32((k+1)*n/w-k*n/w) / float32(n)
					for i, v := range grads[k] {
						g[i] += wk * v
					}
				}
			}
			opt.Apply(params, grads[0])
			res.updates++
		}
		opt.LR *= cfg.Decay
		res.acc = append(res.acc, m.Accuracy(params, test.Images, test.Labels))
	}
	res.elapsed = time.Since(start)
	return res
}

func loadOrSkip(t *testing.T) (train, test *fashion.Set) {
	t.Helper()
	train, test, err := fashion.Load(fashion.DefaultDir)
	if errors.Is(err, fashion.ErrNotFound) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return train, test
}

// TestTrainFashion trains with the recommended recipe in one process, two
// goroutines splitting every batch as two data workers of a parameter server
// would, and checks the test accuracy it reaches.
func TestTrainFashion(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("trains for tens of seconds; skipped with -short and -race")
	}
	trainSet, test := loadOrSkip(t)
	r := train(recommended, trainSet, test)
	final := r.acc[len(r.acc)-1]
	t.Logf("%d workers, GOMAXPROCS=%d: test accuracy by epoch %v; %d updates in %v (%.0f updates/s)",
		recommended.Workers, runtime.GOMAXPROCS(0), r.acc, r.updates, r.elapsed.Round(time.Millisecond),
		float64(r.updates)/r.elapsed.Seconds())
	if final < 0.885 {
		t.Errorf("test accuracy %v, want ≥ 0.885", final)
	}
}

func BenchmarkGradient(b *testing.B) {
	m := Model{Sizes: recommended.Sizes}
	params := m.Init(1)
	grad := make([]float32, len(params))
	n := recommended.Batch
	x := make([]float32, n*fashion.Pixels)
	for i := range x {
		x[i] = float32(i%255) / 255
	}
	y := make([]uint8, n)
	for i := range y {
		y[i] = uint8(i % fashion.NumClasses)
	}
	var ws Workspace
	for b.Loop() {
		m.Gradient(params, x, y, n, grad, &ws)
	}
}

func BenchmarkAdam(b *testing.B) {
	m := Model{Sizes: recommended.Sizes}
	params := m.Init(1)
	grad := m.Init(2)
	opt := NewAdam(1e-9)
	for b.Loop() {
		opt.Apply(params, grad)
	}
}
