package mlp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		m      Model
		params func(Model) []float32
	}{
		{"fashion model", Model{Sizes: []int{784, 256, 128, 10}}, func(m Model) []float32 { return m.Init(3) }},
		{"linear, special values", Model{Sizes: []int{2, 2}}, func(Model) []float32 {
			return []float32{float32(math.Copysign(0, -1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, math.MaxFloat32, 1, -1}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params(tt.m)
			var b bytes.Buffer
			if err := Save(&b, tt.m, p); err != nil {
				t.Fatal(err)
			}
			if want := 24 + 4*len(tt.m.Sizes) + 4*len(p); b.Len() != want {
				t.Fatalf("%d bytes, want %d", b.Len(), want)
			}
			m, q, err := Load(&b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Sizes, tt.m.Sizes) || len(q) != len(p) {
				t.Fatalf("loaded %v with %d parameters, saved %v with %d", m.Sizes, len(q), tt.m.Sizes, len(p))
			}
			for i := range p {
				if math.Float32bits(q[i]) != math.Float32bits(p[i]) {
					t.Fatalf("parameter %d: loaded %v, saved %v", i, q[i], p[i])
				}
			}
		})
	}
}

// TestSaveLoadPredicts checks that a loaded model classifies exactly as the
// saved one.
func TestSaveLoadPredicts(t *testing.T) {
	m := Model{Sizes: []int{5, 8, 3}}
	p := m.Init(4)
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := randBatch(rng, 200, 5, 3)
	var b bytes.Buffer
	if err := Save(&b, m, p); err != nil {
		t.Fatal(err)
	}
	m2, p2, err := Load(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m2.Accuracy(p2, x, y), m.Accuracy(p, x, y); got != want || !slices.Equal(m2.Predict(p2, x, nil, nil), m.Predict(p, x, nil, nil)) {
		t.Fatalf("loaded model: accuracy %v, saved model %v, or different predictions", got, want)
	}
}

// TestFileLayout checks the bytes against the documented format, written
// out by hand for a model of one input and one class.
func TestFileLayout(t *testing.T) {
	var b bytes.Buffer
	if err := Save(&b, Model{Sizes: []int{1, 1}}, []float32{1, -2}); err != nil {
		t.Fatal(err)
	}
	want := []byte("MLPPARAM")
	want = append(want, 1, 0, 0, 0)             // version
	want = append(want, 2, 0, 0, 0)             // two layer sizes
	want = append(want, 1, 0, 0, 0, 1, 0, 0, 0) // 1, 1
	want = append(want, 2, 0, 0, 0)             // (1+1)*1 parameters
	want = append(want, 0x00, 0x00, 0x80, 0x3f) // 1.0 = 0x3f800000
	want = append(want, 0x00, 0x00, 0x00, 0xc0) // -2.0 = 0xc0000000
	want = binary.LittleEndian.AppendUint32(want, crc32.ChecksumIEEE(want))
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("file\n% x\nwant\n% x", b.Bytes(), want)
	}
}

func TestLoadRejects(t *testing.T) {
	m := Model{Sizes: []int{3, 4, 2}}
	var b bytes.Buffer
	if err := Save(&b, m, m.Init(1)); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	// resum replaces the checksum, so that a case reaches the checks after it.
	resum := func(d []byte) []byte {
		body := d[:len(d)-4]
		return binary.LittleEndian.AppendUint32(slices.Clone(body), crc32.ChecksumIEEE(body))
	}
	edit := func(off int, v uint32) []byte {
		d := slices.Clone(good)
		binary.LittleEndian.PutUint32(d[off:], v)
		return resum(d)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic only", []byte("MLPPARAM")},
		{"truncated", good[:len(good)-1]},
		{"a flipped bit", func() []byte { d := slices.Clone(good); d[40] ^= 1; return d }()},
		{"trailing byte", append(slices.Clone(good), 0)},
		{"other magic", func() []byte { d := slices.Clone(good); d[7] = 'X'; return resum(d) }()},
		{"version 2", edit(8, 2)},
		{"one layer", edit(12, 1)},
		{"65 layers", edit(12, 65)},
		{"empty layer", edit(20, 0)},
		{"huge layer", edit(16, 1<<31)},
		{"layer past the parameter limit", edit(20, 1<<27)},
		{"count mismatch", edit(28, 25)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, p, err := Load(bytes.NewReader(tt.data)); !errors.Is(err, ErrBadFile) {
				t.Fatalf("loaded %v with %d parameters, error %v; want ErrBadFile", m.Sizes, len(p), err)
			}
		})
	}

	var w bytes.Buffer
	if err := Save(&w, m, m.Init(1)[1:]); err == nil || w.Len() != 0 {
		t.Fatalf("Save of too few parameters: %v after %d bytes", err, w.Len())
	}
	if err := Save(&w, Model{Sizes: []int{3}}, nil); !errors.Is(err, ErrBadSizes) || w.Len() != 0 {
		t.Fatalf("Save of a one-layer model: %v after %d bytes", err, w.Len())
	}
}
