package es

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// DefaultNoiseSize is the number of values in a default noise table: 2^22
// float32s, 16 MiB, built in a few tens of milliseconds.
const DefaultNoiseSize = 1 << 22

// noiseStream is the second PCG seed word of the noise generator, fixed so
// that a table is named by its seed alone.
const noiseStream = 0x6a09e667f3bcc909

// NoiseTable is a block of standard normal float32 values generated
// deterministically from a seed. Workers and the driver each build the table
// from the same seed and size and then refer to perturbations by offset.
//
// A NoiseTable is read-only after construction and safe for concurrent use.
type NoiseTable struct {
	seed int64
	data []float32
}

// NewNoiseTable returns size standard normal values generated from seed with
// the Box-Muller transform over a PCG generator. The same seed and size give
// the same table in every process of the same build (see the package
// documentation on other architectures), and a shorter table is a prefix of
// a longer one.
func NewNoiseTable(seed int64, size int) (*NoiseTable, error) {
	if size < 1 {
		return nil, fmt.Errorf("%w: noise table size %d", ErrInvalidArgument, size)
	}
	src := rand.NewPCG(uint64(seed), noiseStream)
	data := make([]float32, size)
	for i := 0; i < size; i += 2 {
		// u1 in (0, 1] keeps the logarithm finite; u2 in [0, 1).
		u1 := (float64(src.Uint64()>>11) + 1) * 0x1p-53
		u2 := float64(src.Uint64()>>11) * 0x1p-53
		r := math.Sqrt(-2 * math.Log(u1))
		sin, cos := math.Sincos(2 * math.Pi * u2)
		data[i] = float32(r * cos)
		if i+1 < size {
			data[i+1] = float32(r * sin)
		}
	}
	return &NoiseTable{seed: seed, data: data}, nil
}

// Seed returns the seed the table was built from.
func (t *NoiseTable) Seed() int64 { return t.seed }

// Len returns the number of values in the table.
func (t *NoiseTable) Len() int { return len(t.data) }

// Sample returns a uniformly random offset at which a perturbation of dim
// values fits in the table. It panics if dim is not in [1, Len()].
func (t *NoiseTable) Sample(rng *rand.Rand, dim int) int {
	if dim < 1 || dim > len(t.data) {
		panic(fmt.Sprintf("es: perturbation of %d values from a noise table of %d", dim, len(t.data)))
	}
	return rng.IntN(len(t.data) - dim + 1)
}

// Valid reports whether Slice(offset, dim) lies inside the table. Use it on
// offsets that arrive from another process.
func (t *NoiseTable) Valid(offset, dim int) bool {
	return dim >= 1 && offset >= 0 && offset <= len(t.data)-dim
}

// Slice returns the dim values starting at offset. The slice aliases the
// table and must not be modified; its capacity is capped so that appending
// to it copies. It panics if !Valid(offset, dim).
func (t *NoiseTable) Slice(offset, dim int) []float32 {
	if !t.Valid(offset, dim) {
		panic(fmt.Sprintf("es: noise slice [%d, %d+%d) outside a table of %d", offset, offset, dim, len(t.data)))
	}
	return t.data[offset : offset+dim : offset+dim]
}
