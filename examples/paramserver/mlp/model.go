package mlp

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// ErrBadSizes reports a Model whose layer sizes cannot describe a network.
var ErrBadSizes = errors.New("mlp: bad layer sizes")

// Model is a fully connected classifier: Sizes[0] inputs, ReLU hidden layers
// of Sizes[1:len-1] units and Sizes[len-1] classes scored by softmax
// cross-entropy. It holds no weights: they live in a flat parameter vector
// laid out layer after layer, each as its Sizes[l]×Sizes[l+1] row-major
// weight matrix followed by its Sizes[l+1] biases.
type Model struct {
	Sizes []int
}

// Validate reports whether m has at least an input and an output layer and
// every size is positive.
func (m Model) Validate() error {
	if len(m.Sizes) < 2 {
		return fmt.Errorf("%w: %v has fewer than 2 layers", ErrBadSizes, m.Sizes)
	}
	for _, s := range m.Sizes {
		if s < 1 {
			return fmt.Errorf("%w: %v has a layer of %d units", ErrBadSizes, m.Sizes, s)
		}
	}
	return nil
}

func (m Model) mustValidate() {
	if err := m.Validate(); err != nil {
		panic(err)
	}
}

// NumParams is the length of m's parameter vector.
func (m Model) NumParams() int {
	n := 0
	for l := range len(m.Sizes) - 1 {
		n += (m.Sizes[l] + 1) * m.Sizes[l+1]
	}
	return n
}

// layer returns the weights (in×out) and biases (out) of layer l within p.
func (m Model) layer(p []float32, l int) (w, b []float32) {
	off := 0
	for i := range l {
		off += (m.Sizes[i] + 1) * m.Sizes[i+1]
	}
	in, out := m.Sizes[l], m.Sizes[l+1]
	return p[off : off+in*out], p[off+in*out : off+in*out+out]
}

// Init returns a new parameter vector with He-initialised weights (normal,
// variance 2/fan-in) and zero biases, drawn deterministically from seed.
func (m Model) Init(seed int64) []float32 {
	m.mustValidate()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5851f42d4c957f2d))
	p := make([]float32, m.NumParams())
	for l := range len(m.Sizes) - 1 {
		w, _ := m.layer(p, l)
		std := math.Sqrt(2 / float64(m.Sizes[l]))
		for i := range w {
			w[i] = float32(rng.NormFloat64() * std)
		}
	}
	return p
}

// Workspace holds the per-batch buffers of Gradient and Predict so that
// steady-state calls do not allocate. Its zero value is ready to use; it grows
// to the largest batch it has seen. A Workspace must not be used by two
// goroutines at once.
type Workspace struct {
	batch int
	sizes []int
	act   [][]float32 // act[l]: n×Sizes[l+1] output of layer l (logits for the last)
	delta [2][]float32
	wt    []float32 // a transposed weight matrix
}

func (ws *Workspace) ensure(sizes []int, n int) {
	if n <= ws.batch && equal(ws.sizes, sizes) {
		return
	}
	ws.batch = max(n, ws.batch)
	ws.sizes = append(ws.sizes[:0], sizes...)
	ws.act = make([][]float32, len(sizes)-1)
	widest, wt := 0, 0
	for l := range ws.act {
		ws.act[l] = make([]float32, ws.batch*sizes[l+1])
		widest = max(widest, sizes[l+1])
		wt = max(wt, sizes[l]*sizes[l+1])
	}
	ws.delta[0] = make([]float32, ws.batch*widest)
	ws.delta[1] = make([]float32, ws.batch*widest)
	ws.wt = make([]float32, wt)
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// forward runs n samples of x through the network and returns the logits
// (n×classes) held in ws.
func (m Model) forward(params, x []float32, n int, ws *Workspace) []float32 {
	ws.ensure(m.Sizes, n)
	in := x[:n*m.Sizes[0]]
	last := len(m.Sizes) - 2
	for l := range last + 1 {
		ni, no := m.Sizes[l], m.Sizes[l+1]
		w, b := m.layer(params, l)
		z := ws.act[l][:n*no]
		for r := range n {
			copy(z[r*no:(r+1)*no], b)
		}
		gemm(false, n, no, ni, in, ni, w, no, z, no)
		if l < last {
			for i, v := range z {
				z[i] = max(v, 0)
			}
		}
		in = z
	}
	return in
}

func (m Model) checkArgs(params, x []float32, n int) {
	m.mustValidate()
	if len(params) != m.NumParams() {
		panic(fmt.Sprintf("mlp: %d parameters for a model of %d", len(params), m.NumParams()))
	}
	if n < 0 || len(x) < n*m.Sizes[0] {
		panic(fmt.Sprintf("mlp: %d inputs for %d samples of %d features", len(x), n, m.Sizes[0]))
	}
}

// Gradient computes the mean softmax cross-entropy loss over the n samples
// x (n×Sizes[0] values, sample after sample) with labels y, and overwrites
// grad with its gradient with respect to params. ws may be nil, at the cost
// of allocating a workspace. It panics on mismatched lengths or a label
// outside [0, classes).
func (m Model) Gradient(params []float32, x []float32, y []uint8, n int, grad []float32, ws *Workspace) (loss float32) {
	m.checkArgs(params, x, n)
	if len(grad) != len(params) || len(y) < n {
		panic(fmt.Sprintf("mlp: gradient of %d for %d parameters, %d labels for %d samples", len(grad), len(params), len(y), n))
	}
	if n == 0 {
		clear(grad)
		return 0
	}
	if ws == nil {
		ws = new(Workspace)
	}
	logits := m.forward(params, x, n, ws)

	// Softmax cross-entropy; the delta of the logits is (softmax - onehot)/n.
	classes := m.Sizes[len(m.Sizes)-1]
	d := ws.delta[0][:n*classes]
	var total float64
	for r := range n {
		z, dr := logits[r*classes:(r+1)*classes], d[r*classes:(r+1)*classes]
		label := int(y[r])
		if label >= classes {
			panic(fmt.Sprintf("mlp: label %d of sample %d outside %d classes", label, r, classes))
		}
		top := z[0]
		for _, v := range z[1:] {
			top = max(top, v)
		}
		var sum float64
		for j, v := range z {
			e := math.Exp(float64(v - top))
			dr[j] = float32(e)
			sum += e
		}
		total += math.Log(sum) - float64(z[label]-top)
		scale := float32(1 / (sum * float64(n)))
		for j := range dr {
			dr[j] *= scale
		}
		dr[label] -= 1 / float32(n)
	}

	cur := 0
	for l := len(m.Sizes) - 2; l >= 0; l-- {
		ni, no := m.Sizes[l], m.Sizes[l+1]
		dz := ws.delta[cur][:n*no]
		var in []float32
		if l > 0 {
			in = ws.act[l-1][:n*ni]
		} else {
			in = x[:n*ni]
		}
		w, _ := m.layer(params, l)
		gw, gb := m.layer(grad, l)
		clear(gw)
		gemm(true, ni, no, n, in, ni, dz, no, gw, no)
		clear(gb)
		for r := range n {
			for j, v := range dz[r*no : (r+1)*no] {
				gb[j] += v
			}
		}
		if l == 0 {
			break
		}
		// Delta of the layer below: (dz·Wᵀ) masked by where its ReLU was active.
		wt := ws.wt[:ni*no]
		transpose(wt, w, ni, no)
		next := ws.delta[1-cur][:n*ni]
		clear(next)
		gemm(false, n, ni, no, dz, no, wt, ni, next, ni)
		for i, a := range in {
			if a <= 0 {
				next[i] = 0
			}
		}
		cur = 1 - cur
	}
	return float32(total / float64(n))
}

// predictChunk bounds the workspace Predict needs for a large set.
const predictChunk = 512

// Predict writes the most likely class of each sample of x (len(x)/Sizes[0]
// samples) into out, reusing its capacity, and returns it. ws may be nil.
func (m Model) Predict(params, x []float32, out []uint8, ws *Workspace) []uint8 {
	in := m.Sizes[0]
	n := len(x) / in
	m.checkArgs(params, x, n)
	if ws == nil {
		ws = new(Workspace)
	}
	if cap(out) < n {
		out = make([]uint8, n)
	}
	out = out[:n]
	classes := m.Sizes[len(m.Sizes)-1]
	for lo := 0; lo < n; lo += predictChunk {
		c := min(predictChunk, n-lo)
		logits := m.forward(params, x[lo*in:(lo+c)*in], c, ws)
		for r := range c {
			z := logits[r*classes : (r+1)*classes]
			best := 0
			for j, v := range z {
				if v > z[best] {
					best = j
				}
			}
			out[lo+r] = uint8(best)
		}
	}
	return out
}

// Accuracy is the fraction of the samples of x whose predicted class equals
// their label.
func (m Model) Accuracy(params, x []float32, labels []uint8) float32 {
	pred := m.Predict(params, x, nil, nil)
	if len(labels) < len(pred) {
		panic(fmt.Sprintf("mlp: %d labels for %d samples", len(labels), len(pred)))
	}
	if len(pred) == 0 {
		return 0
	}
	right := 0
	for i, p := range pred {
		if p == labels[i] {
			right++
		}
	}
	return float32(right) / float32(len(pred))
}
