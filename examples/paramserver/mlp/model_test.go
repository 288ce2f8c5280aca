package mlp

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// lossRef is an independent float64 forward pass: mean softmax cross-entropy.
func lossRef(m Model, p []float64, x []float32, y []uint8, n int) float64 {
	var total float64
	off := 0
	for r := range n {
		a := make([]float64, m.Sizes[0])
		for i := range a {
			a[i] = float64(x[r*m.Sizes[0]+i])
		}
		off = 0
		for l := range len(m.Sizes) - 1 {
			ni, no := m.Sizes[l], m.Sizes[l+1]
			z := make([]float64, no)
			for j := range no {
				s := p[off+ni*no+j]
				for i := range ni {
					s += a[i] * p[off+i*no+j]
				}
				if l < len(m.Sizes)-2 {
					s = math.Max(s, 0)
				}
				z[j] = s
			}
			off += (ni + 1) * no
			a = z
		}
		var sum float64
		for _, v := range a {
			sum += math.Exp(v)
		}
		total += math.Log(sum) - a[y[r]]
	}
	return total / float64(n)
}

func randBatch(rng *rand.Rand, n, in, classes int) ([]float32, []uint8) {
	x := randSlice(rng, n*in)
	y := make([]uint8, n)
	for i := range y {
		y[i] = uint8(rng.IntN(classes))
	}
	return x, y
}

func TestGradientFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		sizes []int
		n     int
	}{
		{[]int{5, 4, 3}, 6},
		{[]int{5, 3}, 4},
		{[]int{6, 7, 5, 4}, 9},
		// Wide enough for the vector kernel on every product.
		{[]int{20, 32, 16}, 8},
	} {
		t.Run(fmt.Sprint(tc.sizes), func(t *testing.T) {
			m := Model{Sizes: tc.sizes}
			rng := rand.New(rand.NewPCG(7, uint64(len(tc.sizes))))
			params := m.Init(3)
			for i := range params {
				params[i] += (rng.Float32()*2 - 1) * 0.1 // nonzero biases
			}
			x, y := randBatch(rng, tc.n, tc.sizes[0], tc.sizes[len(tc.sizes)-1])
			grad := make([]float32, len(params))
			loss := m.Gradient(params, x, y, tc.n, grad, nil)

			p := make([]float64, len(params))
			for i, v := range params {
				p[i] = float64(v)
			}
			if want := lossRef(m, p, x, y, tc.n); math.Abs(float64(loss)-want) > 1e-5*(1+want) {
				t.Fatalf("loss = %v, reference %v", loss, want)
			}
			const h = 1e-6
			for i := range p {
				save := p[i]
				p[i] = save + h
				up := lossRef(m, p, x, y, tc.n)
				p[i] = save - h
				down := lossRef(m, p, x, y, tc.n)
				p[i] = save
				num := (up - down) / (2 * h)
				if d := math.Abs(float64(grad[i]) - num); d > 1e-4+1e-3*math.Abs(num) {
					t.Fatalf("grad[%d] = %v, finite difference %v", i, grad[i], num)
				}
			}
		})
	}
}

// blobs makes a 3-class problem that no linear model separates: the class of
// a point is its ring (by radius) in the first two coordinates.
func blobs(rng *rand.Rand, n, in int) ([]float32, []uint8) {
	x := make([]float32, n*in)
	y := make([]uint8, n)
	for r := range n {
		c := rng.IntN(3)
		rad := 0.5 + float64(c) + 0.3*rng.Float64()
		ang := rng.Float64() * 2 * math.Pi
		x[r*in] = float32(rad * math.Cos(ang))
		x[r*in+1] = float32(rad * math.Sin(ang))
		for i := 2; i < in; i++ {
			x[r*in+i] = float32(rng.NormFloat64() * 0.1)
		}
		y[r] = uint8(c)
	}
	return x, y
}

func TestLossFalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Optimizer
	}{
		{"adam", NewAdam(0.01)},
		{"sgd momentum", &SGD{LR: 0.05, Momentum: 0.9}},
		{"sgd", &SGD{LR: 0.2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Model{Sizes: []int{8, 32, 16, 3}}
			rng := rand.New(rand.NewPCG(11, 12))
			x, y := blobs(rng, 600, 8)
			params := m.Init(5)
			grad := make([]float32, len(params))
			var ws Workspace
			const batch = 32
			first := m.Gradient(params, x, y, 600, grad, &ws)
			for step := range 400 {
				lo := (step * batch) % (600 - batch)
				m.Gradient(params, x[lo*8:], y[lo:], batch, grad, &ws)
				tc.opt.Apply(params, grad)
			}
			last := m.Gradient(params, x, y, 600, grad, &ws)
			acc := m.Accuracy(params, x, y)
			if last > first/4 || acc < 0.95 {
				t.Fatalf("loss %v -> %v, accuracy %v; want a fall below a quarter and accuracy ≥ 0.95", first, last, acc)
			}
		})
	}
}

// Shard edges fall inside the vector kernel's 8-lane groups, so this also
// checks that the kernel and the scalar loop round identically.
func TestShardedOptimizersMatch(t *testing.T) {
	const n = 1003
	for _, newOpt := range []struct {
		name string
		f    func() Optimizer
	}{
		{"adam", func() Optimizer { return NewAdam(0.01) }},
		{"sgd momentum", func() Optimizer { return &SGD{LR: 0.1, Momentum: 0.9} }},
	} {
		for _, k := range []int{1, 2, 3, 7} {
			t.Run(fmt.Sprintf("%s/k=%d", newOpt.name, k), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(21, uint64(k)))
				whole := randSlice(rng, n)
				sharded := append([]float32(nil), whole...)
				ranges := Shards(n, k)
				opts := make([]Optimizer, k)
				for i := range opts {
					opts[i] = newOpt.f()
				}
				full := newOpt.f()
				for range 5 {
					g := randSlice(rng, n)
					full.Apply(whole, g)
					for i, r := range ranges {
						opts[i].Apply(sharded[r[0]:r[1]], g[r[0]:r[1]])
					}
				}
				moved := false
				for i := range whole {
					if whole[i] != sharded[i] {
						t.Fatalf("param %d: unsharded %v, sharded %v", i, whole[i], sharded[i])
					}
					moved = moved || whole[i] != 0
				}
				if !moved {
					t.Fatal("parameters are all zero")
				}
			})
		}
	}
}

func TestAdamAgainstReference(t *testing.T) {
	// 21 elements: the vector kernel takes the first 16, the loop the rest.
	const n, steps = 21, 4
	rng := rand.New(rand.NewPCG(51, 52))
	p := randSlice(rng, n)
	ref := make([]float64, n)
	for i, v := range p {
		ref[i] = float64(v)
	}
	m, v := make([]float64, n), make([]float64, n)
	o := &Adam{LR: 0.05, B1: 0.8, B2: 0.99, Eps: 1e-3}
	for s := 1; s <= steps; s++ {
		g := randSlice(rng, n)
		o.Apply(p, g)
		for i := range ref {
			gi := float64(g[i])
			m[i] = 0.8*m[i] + 0.2*gi
			v[i] = 0.99*v[i] + 0.01*gi*gi
			mh := m[i] / (1 - math.Pow(0.8, float64(s)))
			vh := v[i] / (1 - math.Pow(0.99, float64(s)))
			ref[i] -= 0.05 * mh / (math.Sqrt(vh) + 1e-3)
		}
	}
	for i := range p {
		if math.Abs(float64(p[i])-ref[i]) > 1e-5 {
			t.Fatalf("p[%d] = %v, reference %v", i, p[i], ref[i])
		}
	}
	if o.Steps() != steps {
		t.Fatalf("Steps() = %d, want %d", o.Steps(), steps)
	}
}

func TestShards(t *testing.T) {
	for _, tc := range []struct{ n, k int }{{10, 1}, {10, 3}, {235146, 4}, {2, 5}, {0, 2}} {
		r := Shards(tc.n, tc.k)
		if len(r) != tc.k || r[0][0] != 0 || r[tc.k-1][1] != tc.n {
			t.Fatalf("Shards(%d,%d) = %v", tc.n, tc.k, r)
		}
		for i := range r {
			size := r[i][1] - r[i][0]
			if size < tc.n/tc.k || size > tc.n/tc.k+1 || (i > 0 && r[i][0] != r[i-1][1]) {
				t.Fatalf("Shards(%d,%d) = %v: uneven or not contiguous", tc.n, tc.k, r)
			}
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	m := Model{Sizes: []int{50, 32, 20, 10}}
	rng := rand.New(rand.NewPCG(31, 32))
	params := m.Init(1)
	x, y := randBatch(rng, 40, 50, 10)
	grad := make([]float32, len(params))
	var ws Workspace
	m.Gradient(params, x, y, 40, grad, &ws)
	if a := testing.AllocsPerRun(20, func() { m.Gradient(params, x, y, 40, grad, &ws) }); a != 0 {
		t.Errorf("Gradient allocates %v times per call", a)
	}
	// A smaller batch reuses the larger workspace.
	if a := testing.AllocsPerRun(20, func() { m.Gradient(params, x, y, 17, grad, &ws) }); a != 0 {
		t.Errorf("Gradient on a smaller batch allocates %v times per call", a)
	}
	out := m.Predict(params, x, nil, &ws)
	if a := testing.AllocsPerRun(20, func() { m.Predict(params, x, out, &ws) }); a != 0 {
		t.Errorf("Predict allocates %v times per call", a)
	}
}

func TestGradientBatchSizesAgree(t *testing.T) {
	// A batch's mean gradient is the size-weighted mean of its halves'.
	m := Model{Sizes: []int{30, 20, 10}}
	rng := rand.New(rand.NewPCG(41, 42))
	params := m.Init(2)
	x, y := randBatch(rng, 24, 30, 10)
	whole, a, b := make([]float32, len(params)), make([]float32, len(params)), make([]float32, len(params))
	var ws Workspace
	lw := m.Gradient(params, x, y, 24, whole, &ws)
	la := m.Gradient(params, x, y, 10, a, &ws)
	lb := m.Gradient(params, x[10*30:], y[10:], 14, b, &ws)
	if d := math.Abs(float64(lw - (10*la+14*lb)/24)); d > 1e-5 {
		t.Fatalf("loss %v is not the weighted mean of %v and %v", lw, la, lb)
	}
	for i := range whole {
		if d := math.Abs(float64(whole[i] - (10*a[i]+14*b[i])/24)); d > 1e-6 {
			t.Fatalf("grad[%d] %v is not the weighted mean of %v and %v", i, whole[i], a[i], b[i])
		}
	}
}

func TestModelChecks(t *testing.T) {
	for _, sizes := range [][]int{nil, {3}, {3, 0, 2}, {-1, 2}} {
		if err := (Model{Sizes: sizes}).Validate(); !errors.Is(err, ErrBadSizes) {
			t.Errorf("Validate(%v) = %v, want ErrBadSizes", sizes, err)
		}
	}
	m := Model{Sizes: []int{784, 256, 128, 10}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := m.NumParams(), 784*256+256+256*128+128+128*10+10; got != want {
		t.Fatalf("NumParams = %d, want %d", got, want)
	}
	p := m.Init(9)
	if q := m.Init(9); q[12345] != p[12345] || m.Init(10)[12345] == p[12345] {
		t.Fatal("Init is not determined by its seed")
	}
	w, b := m.layer(p, 0)
	var ss float64
	for _, v := range w {
		ss += float64(v) * float64(v)
	}
	if std := math.Sqrt(ss / float64(len(w))); math.Abs(std-math.Sqrt(2.0/784)) > 0.002 {
		t.Fatalf("first-layer weight std %v, want He's %v", std, math.Sqrt(2.0/784))
	}
	for _, v := range b {
		if v != 0 {
			t.Fatal("bias not zero")
		}
	}
	for _, bad := range []func(){
		func() { m.Gradient(p[1:], nil, nil, 0, p, nil) },
		func() { m.Gradient(p, make([]float32, 784), []uint8{10}, 1, make([]float32, len(p)), nil) },
		func() { m.Gradient(p, make([]float32, 783), []uint8{1}, 1, make([]float32, len(p)), nil) },
		func() { (&SGD{LR: 1}).Apply(p, p[1:]) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("bad arguments did not panic")
				}
			}()
			bad()
		}()
	}
}
