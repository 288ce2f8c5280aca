package mlp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// ErrBadFile reports input that is not a parameter file Save could have
// written.
var ErrBadFile = errors.New("mlp: bad parameter file")

// The parameter file format, every integer a little-endian uint32:
//
//	offset        size   field
//	0             8      magic "MLPPARAM"
//	8             4      format version, 1
//	12            4      L, the number of layer sizes (2 to 64)
//	16            4L     the layer sizes, Sizes[0] to Sizes[L-1], each at least 1
//	16+4L         4      n, the number of parameters, Model{Sizes}.NumParams()
//	20+4L         4n     the parameters, little-endian IEEE 754 float32, in the layout of Model
//	20+4L+4n      4      CRC-32 (IEEE) of all the bytes before it
//
// The file is exactly that long. A model has at most 2^28 parameters (1 GiB).
const (
	fileMagic   = "MLPPARAM"
	fileVersion = 1
	maxLayers   = 64
	maxParams   = 1 << 28
)

// Save writes the parameters params of m to w in the parameter file format.
func Save(w io.Writer, m Model, params []float32) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if len(m.Sizes) > maxLayers || m.NumParams() > maxParams {
		return fmt.Errorf("%w: %v is too large for the file format", ErrBadSizes, m.Sizes)
	}
	if len(params) != m.NumParams() {
		return fmt.Errorf("mlp: %d parameters for a model of %d", len(params), m.NumParams())
	}
	b := bytes.NewBuffer(make([]byte, 0, 24+4*len(m.Sizes)+4*len(params)))
	put := func(v uint32) { b.Write(binary.LittleEndian.AppendUint32(nil, v)) }
	b.WriteString(fileMagic)
	put(fileVersion)
	put(uint32(len(m.Sizes)))
	for _, s := range m.Sizes {
		put(uint32(s))
	}
	put(uint32(len(params)))
	for _, v := range params {
		put(math.Float32bits(v))
	}
	put(crc32.ChecksumIEEE(b.Bytes()))
	_, err := w.Write(b.Bytes())
	return err
}

// Load reads a model and its parameters written by Save; r must hold the
// file and nothing after it. Input that is truncated, corrupted, oversized
// or not a parameter file yields an error wrapping ErrBadFile. Load reads
// the header first and allocates only what a valid header announces.
func Load(r io.Reader) (Model, []float32, error) {
	crc := crc32.NewIEEE()
	in := io.TeeReader(r, crc)
	buf := make([]byte, 4*maxLayers)
	read := func(n int, what string) ([]byte, error) {
		if _, err := io.ReadFull(in, buf[:n]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadFile, what, err)
		}
		return buf[:n], nil
	}
	u32 := func(what string) (int, error) {
		b, err := read(4, what)
		if err != nil {
			return 0, err
		}
		return int(binary.LittleEndian.Uint32(b)), nil
	}

	magic, err := read(8, "header")
	if err != nil {
		return Model{}, nil, err
	}
	if string(magic) != fileMagic {
		return Model{}, nil, fmt.Errorf("%w: not a parameter file", ErrBadFile)
	}
	if v, err := u32("version"); err != nil {
		return Model{}, nil, err
	} else if v != fileVersion {
		return Model{}, nil, fmt.Errorf("%w: format version %d, want %d", ErrBadFile, v, fileVersion)
	}
	layers, err := u32("layer count")
	if err != nil {
		return Model{}, nil, err
	}
	if layers < 2 || layers > maxLayers {
		return Model{}, nil, fmt.Errorf("%w: %d layer sizes", ErrBadFile, layers)
	}
	m := Model{Sizes: make([]int, layers)}
	total := 0
	for i := range m.Sizes {
		if m.Sizes[i], err = u32("layer sizes"); err != nil {
			return Model{}, nil, err
		}
		if m.Sizes[i] < 1 || m.Sizes[i] > maxParams {
			return Model{}, nil, fmt.Errorf("%w: a layer of %d units", ErrBadFile, m.Sizes[i])
		}
		if i > 0 {
			total += (m.Sizes[i-1] + 1) * m.Sizes[i]
			if total > maxParams {
				return Model{}, nil, fmt.Errorf("%w: a model of more than %d parameters", ErrBadFile, maxParams)
			}
		}
	}
	n, err := u32("parameter count")
	if err != nil {
		return Model{}, nil, err
	}
	if n != m.NumParams() {
		return Model{}, nil, fmt.Errorf("%w: %d parameters for a model %v of %d", ErrBadFile, n, m.Sizes, m.NumParams())
	}
	data := make([]byte, 4*n)
	if _, err := io.ReadFull(in, data); err != nil {
		return Model{}, nil, fmt.Errorf("%w: parameters: %w", ErrBadFile, err)
	}
	want := crc.Sum32()
	sum, err := read(4, "checksum")
	if err != nil {
		return Model{}, nil, err
	}
	if binary.LittleEndian.Uint32(sum) != want {
		return Model{}, nil, fmt.Errorf("%w: checksum mismatch", ErrBadFile)
	}
	if k, err := r.Read(buf[:1]); k > 0 || err != io.EOF {
		return Model{}, nil, fmt.Errorf("%w: data after the checksum", ErrBadFile)
	}
	params := make([]float32, n)
	for i := range params {
		params[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return m, params, nil
}
