package fashion

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// DefaultDir is where the Debian package dataset-fashion-mnist installs the data set.
const DefaultDir = "/usr/share/datasets/fashion-mnist"

const (
	// Rows and Cols are the image height and width in pixels.
	Rows, Cols = 28, 28
	// Pixels is the number of features per image.
	Pixels = Rows * Cols
	// NumClasses is the number of labels (T-shirt/top … Ankle boot).
	NumClasses = 10
	// MaxFileBytes bounds the decoded size of one IDX file (the largest real
	// one, the training images, decodes to about 47 MB).
	MaxFileBytes = 256 << 20
)

// File base names of the data set; each may also carry a ".gz" suffix.
const (
	TrainImages = "train-images-idx3-ubyte"
	TrainLabels = "train-labels-idx1-ubyte"
	TestImages  = "t10k-images-idx3-ubyte"
	TestLabels  = "t10k-labels-idx1-ubyte"
)

var (
	// ErrNotFound reports that a data set file is absent.
	ErrNotFound = errors.New("fashion: data set not found")
	// ErrMalformed reports a file that is not a valid Fashion-MNIST IDX file.
	ErrMalformed = errors.New("fashion: malformed IDX file")
)

// IDX element type code for unsigned bytes, the only one Fashion-MNIST uses.
const idxUbyte = 0x08

// Set is a labelled collection of images.
type Set struct {
	// Images holds N×Pixels values in [0,1], image after image, row-major.
	Images []float32
	// Labels holds N class indices in [0,NumClasses).
	Labels []uint8
	// N is the number of samples.
	N int
}

// Load reads the training and test sets from dir. Absent files yield an error
// wrapping ErrNotFound that says how to install them; invalid ones an error
// wrapping ErrMalformed.
func Load(dir string) (train, test *Set, err error) {
	train, err = loadPair(dir, TrainImages, TrainLabels)
	if err != nil {
		return nil, nil, err
	}
	test, err = loadPair(dir, TestImages, TestLabels)
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

func loadPair(dir, images, labels string) (*Set, error) {
	ip, err := locate(dir, images)
	if err != nil {
		return nil, err
	}
	lp, err := locate(dir, labels)
	if err != nil {
		return nil, err
	}
	return LoadFiles(ip, lp)
}

// locate finds base or base.gz in dir, preferring the compressed name.
func locate(dir, base string) (string, error) {
	for _, name := range []string{base + ".gz", base} {
		p := filepath.Join(dir, name)
		_, err := os.Stat(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("fashion: %w", err)
		}
	}
	return "", fmt.Errorf("%w: no %s or %s.gz in %s; install it with \"apt-get install dataset-fashion-mnist\" or pass -data DIR",
		ErrNotFound, base, base, dir)
}

// LoadFiles reads one set from an IDX image file and an IDX label file, each
// gzip-compressed or plain.
func LoadFiles(imagesPath, labelsPath string) (*Set, error) {
	raw, err := readFile(imagesPath)
	if err != nil {
		return nil, err
	}
	dims, pixels, err := parseIDX(raw, 3)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", imagesPath, err)
	}
	if dims[1] != Rows || dims[2] != Cols {
		return nil, fmt.Errorf("%w: %s: images are %d×%d, want %d×%d", ErrMalformed, imagesPath, dims[1], dims[2], Rows, Cols)
	}
	n := dims[0]

	raw, err = readFile(labelsPath)
	if err != nil {
		return nil, err
	}
	ldims, labels, err := parseIDX(raw, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", labelsPath, err)
	}
	if ldims[0] != n {
		return nil, fmt.Errorf("%w: %s has %d labels for %d images", ErrMalformed, labelsPath, ldims[0], n)
	}
	for i, l := range labels {
		if l >= NumClasses {
			return nil, fmt.Errorf("%w: %s: label %d of sample %d is out of range", ErrMalformed, labelsPath, l, i)
		}
	}

	images := make([]float32, len(pixels))
	for i, p := range pixels {
		images[i] = float32(p) * (1.0 / 255)
	}
	return &Set{Images: images, Labels: labels, N: n}, nil
}

// readFile returns the decoded content of path, gunzipping it when it starts
// with the gzip magic bytes. At most MaxFileBytes are accepted.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, fmt.Errorf("fashion: %w", err)
	}
	defer f.Close()

	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, path, err)
		}
		defer zr.Close()
		r = zr
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %s decodes to more than %d bytes", ErrMalformed, path, MaxFileBytes)
	}
	return data, nil
}

// parseIDX checks an unsigned-byte IDX file of ndims dimensions and returns
// its dimensions and payload. The payload must hold exactly the product of the
// dimensions; the product is bounded by the data length before anything relies
// on it, so hostile headers cannot overflow or trigger large allocations.
func parseIDX(data []byte, ndims int) ([]int, []byte, error) {
	if len(data) < 4 {
		return nil, nil, fmt.Errorf("%w: %d bytes is too short for a header", ErrMalformed, len(data))
	}
	if data[0] != 0 || data[1] != 0 {
		return nil, nil, fmt.Errorf("%w: bad magic % x", ErrMalformed, data[:4])
	}
	if data[2] != idxUbyte {
		return nil, nil, fmt.Errorf("%w: element type 0x%02x, want 0x%02x (unsigned byte)", ErrMalformed, data[2], idxUbyte)
	}
	if int(data[3]) != ndims {
		return nil, nil, fmt.Errorf("%w: %d dimensions, want %d", ErrMalformed, data[3], ndims)
	}
	head := 4 + 4*ndims
	if len(data) < head {
		return nil, nil, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	payload := data[head:]
	dims := make([]int, ndims)
	total := 1
	for i := range dims {
		d := int(binary.BigEndian.Uint32(data[4+4*i:]))
		if d > len(payload) || (d > 0 && total > len(payload)/d) {
			return nil, nil, fmt.Errorf("%w: dimensions exceed the %d data bytes", ErrMalformed, len(payload))
		}
		dims[i] = d
		total *= d
	}
	if total != len(payload) {
		return nil, nil, fmt.Errorf("%w: dimensions %v need %d data bytes, file has %d", ErrMalformed, dims, total, len(payload))
	}
	return dims, payload, nil
}

// Slice returns samples [lo,hi) as a view sharing s's memory.
// It panics if the range is out of bounds, as slicing does.
func (s *Set) Slice(lo, hi int) *Set {
	if lo < 0 || hi < lo || hi > s.N {
		panic(fmt.Sprintf("fashion: Slice(%d, %d) of a set of %d", lo, hi, s.N))
	}
	return &Set{Images: s.Images[lo*Pixels : hi*Pixels], Labels: s.Labels[lo:hi], N: hi - lo}
}

// Shard returns the i-th of n contiguous, near-equal parts of s (sizes differ
// by at most one) as a view sharing s's memory. It panics unless 0 ≤ i < n.
func (s *Set) Shard(i, n int) *Set {
	if n < 1 || i < 0 || i >= n {
		panic(fmt.Sprintf("fashion: Shard(%d, %d)", i, n))
	}
	return s.Slice(i*s.N/n, (i+1)*s.N/n)
}

// Batch gathers the samples at idx into x (len(idx)×Pixels values) and y,
// reusing their capacity, and returns them. It panics if an index is out of range.
func (s *Set) Batch(idx []int, x []float32, y []uint8) ([]float32, []uint8) {
	x = grow(x, len(idx)*Pixels)
	y = grow(y, len(idx))
	for j, i := range idx {
		copy(x[j*Pixels:(j+1)*Pixels], s.Images[i*Pixels:(i+1)*Pixels])
		y[j] = s.Labels[i]
	}
	return x, y
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// Batcher yields shuffled minibatches of a set, epoch after epoch: each epoch
// visits every sample once in a fresh random order. A Batcher is not safe for
// concurrent use.
type Batcher struct {
	set   *Set
	size  int
	perm  []int
	pos   int
	epoch int
	rng   *rand.Rand
	x     []float32
	y     []uint8
}

// NewBatcher returns a Batcher over s with batches of size samples (at most
// s.N), shuffled by a generator seeded with seed. It panics if s is empty or
// size < 1.
func NewBatcher(s *Set, size int, seed uint64) *Batcher {
	if s.N == 0 || size < 1 {
		panic(fmt.Sprintf("fashion: NewBatcher over %d samples with batch size %d", s.N, size))
	}
	b := &Batcher{
		set:  s,
		size: min(size, s.N),
		perm: make([]int, s.N),
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		x:    make([]float32, min(size, s.N)*Pixels),
		y:    make([]uint8, min(size, s.N)),
	}
	for i := range b.perm {
		b.perm[i] = i
	}
	b.shuffle()
	return b
}

func (b *Batcher) shuffle() {
	b.rng.Shuffle(len(b.perm), func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
	b.pos = 0
}

// Next returns the next minibatch: n samples as x (n×Pixels values) and y.
// The last batch of an epoch may be smaller. The slices are reused by the
// following call.
func (b *Batcher) Next() (x []float32, y []uint8, n int) {
	if b.pos == len(b.perm) {
		b.epoch++
		b.shuffle()
	}
	end := min(b.pos+b.size, len(b.perm))
	x, y = b.set.Batch(b.perm[b.pos:end], b.x, b.y)
	n = end - b.pos
	b.pos = end
	return x, y, n
}

// Epoch reports how many full epochs have been completed.
func (b *Batcher) Epoch() int {
	if b.pos == len(b.perm) {
		return b.epoch + 1
	}
	return b.epoch
}
