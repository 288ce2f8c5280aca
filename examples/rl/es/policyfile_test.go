package es

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestPolicyFileRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
	}{
		{"cartpole", Policy{Env: "cartpole", ObsSize: 4, NumActions: 2, Params: goodParams}},
		{"acrobot", Policy{Env: "acrobot", ObsSize: 6, NumActions: 3, Params: seq(21)}},
		{"no name, special values", Policy{ObsSize: 1, NumActions: 2, Params: []float32{
			float32(math.Copysign(0, -1)), float32(math.Inf(1)), math.SmallestNonzeroFloat32, math.MaxFloat32}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WritePolicy(&b, tt.p); err != nil {
				t.Fatal(err)
			}
			if want := 24 + len(tt.p.Env) + 4*len(tt.p.Params) + 4; b.Len() != want {
				t.Fatalf("%d bytes, want %d", b.Len(), want)
			}
			got, err := ReadPolicy(&b)
			if err != nil {
				t.Fatal(err)
			}
			bits := func(p []float32) []uint32 {
				var out []uint32
				for _, v := range p {
					out = append(out, math.Float32bits(v))
				}
				return out
			}
			if got.Env != tt.p.Env || got.ObsSize != tt.p.ObsSize || got.NumActions != tt.p.NumActions ||
				!slices.Equal(bits(got.Params), bits(tt.p.Params)) {
				t.Fatalf("read %+v, wrote %+v", got, tt.p)
			}
		})
	}
}

// TestPolicyFileLayout checks the bytes against the documented format,
// written out by hand for a one-observation, one-action policy.
func TestPolicyFileLayout(t *testing.T) {
	var b bytes.Buffer
	if err := WritePolicy(&b, Policy{Env: "ab", ObsSize: 1, NumActions: 1, Params: []float32{1, -2}}); err != nil {
		t.Fatal(err)
	}
	want := []byte("ESPOLICY")
	want = append(want, 1, 0, 0, 0) // version
	want = append(want, 1, 0, 0, 0) // observations
	want = append(want, 1, 0, 0, 0) // actions
	want = append(want, 2, 0, 0, 0) // name length
	want = append(want, 'a', 'b')
	want = append(want, 0x00, 0x00, 0x80, 0x3f) // 1.0 = 0x3f800000
	want = append(want, 0x00, 0x00, 0x00, 0xc0) // -2.0 = 0xc0000000
	want = binary.LittleEndian.AppendUint32(want, crc32.ChecksumIEEE(want))
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("file\n% x\nwant\n% x", b.Bytes(), want)
	}
}

func TestPolicyFileRejects(t *testing.T) {
	var b bytes.Buffer
	if err := WritePolicy(&b, Policy{Env: "cartpole", ObsSize: 4, NumActions: 2, Params: goodParams}); err != nil {
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
		{"magic only", []byte("ESPOLICY")},
		{"truncated", good[:len(good)-1]},
		{"a flipped bit", func() []byte { d := slices.Clone(good); d[30] ^= 4; return d }()},
		{"trailing byte", append(slices.Clone(good), 0)},
		{"other magic", func() []byte { d := slices.Clone(good); d[0] = 'X'; return resum(d) }()},
		{"version 2", edit(8, 2)},
		{"no observations", edit(12, 0)},
		{"no actions", edit(16, 0)},
		{"more actions than parameters", edit(16, 3)},
		{"huge shape", edit(12, 1<<31)},
		{"name too long", edit(20, 65)},
		{"name past the end", edit(20, 60)},
		{"shape past the limit", edit(12, 1<<22)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := ReadPolicy(bytes.NewReader(tt.data)); !errors.Is(err, ErrBadPolicyFile) {
				t.Fatalf("read %+v, error %v; want ErrBadPolicyFile", p, err)
			}
		})
	}

	bad := []struct {
		name string
		p    Policy
	}{
		{"short params", Policy{ObsSize: 4, NumActions: 2, Params: goodParams[:9]}},
		{"no actions", Policy{ObsSize: 4, Params: nil}},
		{"long name", Policy{Env: strings.Repeat("x", 65), ObsSize: 4, NumActions: 2, Params: goodParams}},
	}
	for _, tt := range bad {
		t.Run("write "+tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WritePolicy(&b, tt.p); !errors.Is(err, ErrInvalidArgument) || b.Len() != 0 {
				t.Fatalf("error %v after writing %d bytes; want ErrInvalidArgument and nothing written", err, b.Len())
			}
		})
	}
}

// seq returns 0.5, 1.5, 2.5, … n values.
func seq(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(i) + 0.5
	}
	return out
}
