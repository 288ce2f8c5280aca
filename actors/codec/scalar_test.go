package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
	"google.golang.org/protobuf/proto"
)

type level int8
type celsius float64
type flag bool

// selfCoded is a named scalar with its own CBOR encoding, which must win
// over the fast path.
type selfCoded uint16

func (s selfCoded) MarshalCBOR() ([]byte, error) {
	return cbor.Marshal(fmt.Sprintf("code-%d", uint16(s)))
}

func (s *selfCoded) UnmarshalCBOR(b []byte) error {
	var str string
	if err := cbor.Unmarshal(b, &str); err != nil {
		return err
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(str, "code-"), 10, 16)
	*s = selfCoded(n)
	return err
}

// sameBits reports whether a and b have identical memory images, which
// tells NaN payloads and the sign of zero apart.
func sameBits[T any](a, b T) bool {
	n := unsafe.Sizeof(a)
	return bytes.Equal(unsafe.Slice((*byte)(unsafe.Pointer(&a)), n), unsafe.Slice((*byte)(unsafe.Pointer(&b)), n))
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scalarRoundTrip checks the exact wire image of v (a predeclared scalar
// type), and that it decodes bit-exactly both as T and as any.
func scalarRoundTrip[T any](t *testing.T, v T, wantTag tag, payloadHex string) {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatalf("Encode(%v): %v", v, err)
	}
	if want := append([]byte{byte(wantTag)}, unhex(t, payloadHex)...); !bytes.Equal(b, want) {
		t.Fatalf("Encode(%v) = %x, want %x", v, b, want)
	}
	got, err := Decode[T](b)
	if err != nil {
		t.Fatalf("Decode[%T](%x): %v", v, b, err)
	}
	if !sameBits(got, v) {
		t.Fatalf("Decode[%T] = %v, want %v (bit-exact)", v, got, v)
	}
	a, err := Decode[any](b)
	if err != nil {
		t.Fatalf("Decode[any](%x): %v", b, err)
	}
	if x, ok := a.(T); !ok || !sameBits(x, v) {
		t.Fatalf("Decode[any] = %T %v, want %T %v", a, a, v, v)
	}
}

func TestScalarRoundTrip(t *testing.T) {
	negZero32 := float32(math.Copysign(0, -1))
	negZero64 := math.Copysign(0, -1)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"bool true", func(t *testing.T) { scalarRoundTrip(t, true, tagScalarBool, "01") }},
		{"bool false", func(t *testing.T) { scalarRoundTrip(t, false, tagScalarBool, "00") }},
		{"int zero", func(t *testing.T) { scalarRoundTrip(t, 0, tagScalarInt, "0000000000000000") }},
		{"int", func(t *testing.T) { scalarRoundTrip(t, 123456, tagScalarInt, "40e2010000000000") }},
		{"int -1", func(t *testing.T) { scalarRoundTrip(t, -1, tagScalarInt, "ffffffffffffffff") }},
		{"int min", func(t *testing.T) {
			if strconv.IntSize == 64 {
				scalarRoundTrip(t, math.MinInt, tagScalarInt, "0000000000000080")
			} else {
				scalarRoundTrip(t, math.MinInt, tagScalarInt, "00000080ffffffff")
			}
		}},
		{"int max", func(t *testing.T) {
			if strconv.IntSize == 64 {
				scalarRoundTrip(t, math.MaxInt, tagScalarInt, "ffffffffffffff7f")
			} else {
				scalarRoundTrip(t, math.MaxInt, tagScalarInt, "ffffff7f00000000")
			}
		}},
		{"int8 min", func(t *testing.T) { scalarRoundTrip(t, int8(math.MinInt8), tagScalarInt8, "80") }},
		{"int8 max", func(t *testing.T) { scalarRoundTrip(t, int8(math.MaxInt8), tagScalarInt8, "7f") }},
		{"int16 min", func(t *testing.T) { scalarRoundTrip(t, int16(math.MinInt16), tagScalarInt16, "0080") }},
		{"int16 max", func(t *testing.T) { scalarRoundTrip(t, int16(math.MaxInt16), tagScalarInt16, "ff7f") }},
		{"int32 min", func(t *testing.T) { scalarRoundTrip(t, int32(math.MinInt32), tagScalarInt32, "00000080") }},
		{"int32 max", func(t *testing.T) { scalarRoundTrip(t, int32(math.MaxInt32), tagScalarInt32, "ffffff7f") }},
		{"int64 min", func(t *testing.T) {
			scalarRoundTrip(t, int64(math.MinInt64), tagScalarInt64, "0000000000000080")
		}},
		{"int64 max", func(t *testing.T) {
			scalarRoundTrip(t, int64(math.MaxInt64), tagScalarInt64, "ffffffffffffff7f")
		}},
		{"uint zero", func(t *testing.T) { scalarRoundTrip(t, uint(0), tagScalarUint, "0000000000000000") }},
		{"uint max", func(t *testing.T) {
			if strconv.IntSize == 64 {
				scalarRoundTrip(t, uint(math.MaxUint), tagScalarUint, "ffffffffffffffff")
			} else {
				scalarRoundTrip(t, uint(math.MaxUint), tagScalarUint, "ffffffff00000000")
			}
		}},
		{"uint8 zero", func(t *testing.T) { scalarRoundTrip(t, uint8(0), tagScalarUint8, "00") }},
		{"uint8 max", func(t *testing.T) { scalarRoundTrip(t, uint8(math.MaxUint8), tagScalarUint8, "ff") }},
		{"uint16 max", func(t *testing.T) { scalarRoundTrip(t, uint16(math.MaxUint16), tagScalarUint16, "ffff") }},
		{"uint32 max", func(t *testing.T) {
			scalarRoundTrip(t, uint32(math.MaxUint32), tagScalarUint32, "ffffffff")
		}},
		{"uint64 max", func(t *testing.T) {
			scalarRoundTrip(t, uint64(math.MaxUint64), tagScalarUint64, "ffffffffffffffff")
		}},
		{"uint64", func(t *testing.T) {
			scalarRoundTrip(t, uint64(0x0102030405060708), tagScalarUint64, "0807060504030201")
		}},
		{"float32", func(t *testing.T) { scalarRoundTrip(t, float32(1.5), tagScalarFloat32, "0000c03f") }},
		{"float32 -0", func(t *testing.T) { scalarRoundTrip(t, negZero32, tagScalarFloat32, "00000080") }},
		{"float32 max", func(t *testing.T) {
			scalarRoundTrip(t, float32(math.MaxFloat32), tagScalarFloat32, "ffff7f7f")
		}},
		{"float32 smallest", func(t *testing.T) {
			scalarRoundTrip(t, float32(math.SmallestNonzeroFloat32), tagScalarFloat32, "01000000")
		}},
		{"float32 -inf", func(t *testing.T) {
			scalarRoundTrip(t, float32(math.Inf(-1)), tagScalarFloat32, "000080ff")
		}},
		{"float32 quiet NaN with payload", func(t *testing.T) {
			scalarRoundTrip(t, math.Float32frombits(0x7fc00123), tagScalarFloat32, "2301c07f")
		}},
		{"float32 signalling NaN", func(t *testing.T) {
			scalarRoundTrip(t, math.Float32frombits(0xff800001), tagScalarFloat32, "010080ff")
		}},
		{"float64", func(t *testing.T) { scalarRoundTrip(t, 0.1, tagScalarFloat64, "9a9999999999b93f") }},
		{"float64 -0", func(t *testing.T) { scalarRoundTrip(t, negZero64, tagScalarFloat64, "0000000000000080") }},
		{"float64 max", func(t *testing.T) {
			scalarRoundTrip(t, math.MaxFloat64, tagScalarFloat64, "ffffffffffffef7f")
		}},
		{"float64 smallest", func(t *testing.T) {
			scalarRoundTrip(t, math.SmallestNonzeroFloat64, tagScalarFloat64, "0100000000000000")
		}},
		{"float64 +inf", func(t *testing.T) { scalarRoundTrip(t, math.Inf(1), tagScalarFloat64, "000000000000f07f") }},
		{"float64 quiet NaN with payload", func(t *testing.T) {
			scalarRoundTrip(t, math.Float64frombits(0x7ff8000000000123), tagScalarFloat64, "230100000000f87f")
		}},
		{"float64 signalling NaN", func(t *testing.T) {
			scalarRoundTrip(t, math.Float64frombits(0x7ff0000000000001), tagScalarFloat64, "010000000000f07f")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// TestScalarNegativeZero guards sameBits itself: a decoded -0 must keep
// its sign, which == cannot see.
func TestScalarNegativeZero(t *testing.T) {
	b, err := Encode(math.Copysign(0, -1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode[float64](b)
	if err != nil {
		t.Fatal(err)
	}
	if !math.Signbit(got) {
		t.Fatalf("decoded %v without its sign bit", got)
	}
	if sameBits(got, 0.0) {
		t.Fatal("sameBits does not tell -0 from +0")
	}
}

func TestNamedScalars(t *testing.T) {
	tests := []struct {
		name    string
		run     func() (any, error) // encodes, decodes as the named type
		wantTag tag
		natural any // what Decode[any] yields
	}{
		{"named int8", func() (any, error) { return named(t, level(-3)) }, tagScalarInt8, int8(-3)},
		{"named float64", func() (any, error) { return named(t, celsius(-40.5)) }, tagScalarFloat64, -40.5},
		{"named bool", func() (any, error) { return named(t, flag(true)) }, tagScalarBool, true},
		{"duration", func() (any, error) { return named(t, 90*time.Second) }, tagScalarInt64, int64(90 * time.Second)},
		{"self-encoding", func() (any, error) { return named(t, selfCoded(7)) }, tagCBOR, "code-7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.run()
			if err != nil {
				t.Fatal(err)
			}
			data := b.([]byte)
			if tag(data[0]) != tt.wantTag {
				t.Fatalf("tag %s, want %s", tag(data[0]), tt.wantTag)
			}
			a, err := Decode[any](data)
			if err != nil {
				t.Fatal(err)
			}
			if a != tt.natural {
				t.Fatalf("Decode[any] = %T %v, want %T %v", a, a, tt.natural, tt.natural)
			}
		})
	}
	// An unnamed encoding decodes into a named type of the same kind.
	b, err := Encode(-40.5)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Decode[celsius](b); err != nil || c != -40.5 {
		t.Fatalf("Decode[celsius] = %v, %v; want -40.5", c, err)
	}
}

// named round-trips v through its own type and returns the encoding.
func named[T comparable](t *testing.T, v T) (any, error) {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		return nil, err
	}
	got, err := Decode[T](b)
	if err != nil {
		return nil, err
	}
	if got != v {
		t.Fatalf("round trip of %T: got %v, want %v", v, got, v)
	}
	return b, nil
}

func TestScalarTypeMismatch(t *testing.T) {
	enc := func(v any) []byte { return mustEncode(t, v) }
	tests := []struct {
		name   string
		data   []byte
		decode func([]byte) error
		names  []string // both type names must appear in the message
	}{
		{"int into int64", enc(1), func(b []byte) error { _, err := Decode[int64](b); return err }, []string{"int into int64"}},
		{"int64 into int", enc(int64(1)), func(b []byte) error { _, err := Decode[int](b); return err }, []string{"int64 into int"}},
		{"int32 into uint32", enc(int32(1)), func(b []byte) error { _, err := Decode[uint32](b); return err }, []string{"int32 into uint32"}},
		{"uint8 into int8", enc(uint8(1)), func(b []byte) error { _, err := Decode[int8](b); return err }, []string{"uint8 into int8"}},
		{"uint into uint64", enc(uint(1)), func(b []byte) error { _, err := Decode[uint64](b); return err }, []string{"uint into uint64"}},
		{"float32 into float64", enc(float32(1)), func(b []byte) error { _, err := Decode[float64](b); return err }, []string{"float32 into float64"}},
		{"float64 into float32", enc(1.0), func(b []byte) error { _, err := Decode[float32](b); return err }, []string{"float64 into float32"}},
		{"float64 into int", enc(1.0), func(b []byte) error { _, err := Decode[int](b); return err }, []string{"float64 into int"}},
		{"bool into int", enc(true), func(b []byte) error { _, err := Decode[int](b); return err }, []string{"bool into int"}},
		{"int into bool", enc(1), func(b []byte) error { _, err := Decode[bool](b); return err }, []string{"int into bool"}},
		{"int into string", enc(1), func(b []byte) error { _, err := Decode[string](b); return err }, []string{"int into string"}},
		{"int into pointer", enc(1), func(b []byte) error { _, err := Decode[*int](b); return err }, []string{"int into *int"}},
		{"int into slice", enc(1), func(b []byte) error { _, err := Decode[[]int](b); return err }, []string{"int into []int"}},
		{"int into struct", enc(1), func(b []byte) error { _, err := Decode[point](b); return err }, []string{"int into codec.point"}},
		{"float64 into named int8", enc(1.0), func(b []byte) error { _, err := Decode[level](b); return err }, []string{"float64 into codec.level"}},
		{"int into unsatisfied interface", enc(1), func(b []byte) error { _, err := Decode[fmt.Stringer](b); return err }, []string{"int into fmt.Stringer"}},
		{"int into proto.Message", enc(1), func(b []byte) error { _, err := Decode[proto.Message](b); return err }, []string{"int into protoreflect.ProtoMessage"}},
		{"slice into scalar", enc([]int{1}), func(b []byte) error { _, err := Decode[int](b); return err }, []string{"[]int into int"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(tt.data)
			if !errors.Is(err, ErrTypeMismatch) {
				t.Fatalf("err = %v, want ErrTypeMismatch", err)
			}
			for _, n := range tt.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not contain %q", err, n)
				}
			}
		})
	}
}

func TestScalarMalformed(t *testing.T) {
	sizes := []struct {
		tg     tag
		size   int
		decode func([]byte) error // into the tag's own type
	}{
		{tagScalarBool, 1, func(b []byte) error { _, err := Decode[bool](b); return err }},
		{tagScalarInt, 8, func(b []byte) error { _, err := Decode[int](b); return err }},
		{tagScalarInt8, 1, func(b []byte) error { _, err := Decode[int8](b); return err }},
		{tagScalarInt16, 2, func(b []byte) error { _, err := Decode[int16](b); return err }},
		{tagScalarInt32, 4, func(b []byte) error { _, err := Decode[int32](b); return err }},
		{tagScalarInt64, 8, func(b []byte) error { _, err := Decode[int64](b); return err }},
		{tagScalarUint, 8, func(b []byte) error { _, err := Decode[uint](b); return err }},
		{tagScalarUint8, 1, func(b []byte) error { _, err := Decode[uint8](b); return err }},
		{tagScalarUint16, 2, func(b []byte) error { _, err := Decode[uint16](b); return err }},
		{tagScalarUint32, 4, func(b []byte) error { _, err := Decode[uint32](b); return err }},
		{tagScalarUint64, 8, func(b []byte) error { _, err := Decode[uint64](b); return err }},
		{tagScalarFloat32, 4, func(b []byte) error { _, err := Decode[float32](b); return err }},
		{tagScalarFloat64, 8, func(b []byte) error { _, err := Decode[float64](b); return err }},
	}
	for _, s := range sizes {
		for _, n := range []int{0, s.size - 1, s.size + 1} {
			if n < 0 || n == s.size {
				continue
			}
			data := append([]byte{byte(s.tg)}, make([]byte, n)...)
			t.Run(fmt.Sprintf("%s %d bytes", s.tg, n), func(t *testing.T) {
				if err := s.decode(data); !errors.Is(err, ErrMalformed) {
					t.Errorf("Decode[%s] = %v, want ErrMalformed", s.tg, err)
				}
				if _, err := Decode[any](data); !errors.Is(err, ErrMalformed) {
					t.Errorf("Decode[any] = %v, want ErrMalformed", err)
				}
				// A wrong length is malformed whatever the target.
				if _, err := Decode[string](data); !errors.Is(err, ErrMalformed) {
					t.Errorf("Decode[string] = %v, want ErrMalformed", err)
				}
			})
		}
	}
	t.Run("bool 2", func(t *testing.T) {
		if _, err := Decode[bool]([]byte{byte(tagScalarBool), 2}); !errors.Is(err, ErrMalformed) {
			t.Errorf("err = %v, want ErrMalformed", err)
		}
	})
	t.Run("payload beyond MaxBytes", func(t *testing.T) {
		_, err := DecodeWithLimits[int](append([]byte{byte(tagScalarInt)}, make([]byte, 8)...), Limits{MaxBytes: 4})
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("int beyond 32 bits", func(t *testing.T) {
		data := []byte{byte(tagScalarInt), 0, 0, 0, 0, 1, 0, 0, 0}
		v, err := Decode[int](data)
		if strconv.IntSize == 32 {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed on a 32-bit host", err)
			}
			return
		}
		if err != nil || uint64(v) != 1<<32 {
			t.Errorf("Decode = %d, %v; want 1<<32", v, err)
		}
	})
	t.Run("uint beyond 32 bits", func(t *testing.T) {
		data := []byte{byte(tagScalarUint), 0, 0, 0, 0, 1, 0, 0, 0}
		v, err := Decode[uint](data)
		if strconv.IntSize == 32 {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed on a 32-bit host", err)
			}
			return
		}
		if err != nil || uint64(v) != 1<<32 {
			t.Errorf("Decode = %d, %v; want 1<<32", v, err)
		}
	})
}

func TestScalarAllocs(t *testing.T) {
	intData, err := Encode(123456)
	if err != nil {
		t.Fatal(err)
	}
	floatData, err := Encode(-2.5)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 16)
	var failure error
	check := func(err error, ok bool) {
		if failure == nil && (err != nil || !ok) {
			failure = fmt.Errorf("wrong result, err %v", err)
		}
	}
	tests := []struct {
		name string
		run  func()
	}{
		{"Decode[int]", func() { v, err := Decode[int](intData); check(err, v == 123456) }},
		{"Decode[float64]", func() { v, err := Decode[float64](floatData); check(err, v == -2.5) }},
		{"Decode[celsius]", func() { v, err := Decode[celsius](floatData); check(err, v == -2.5) }},
		{"AppendEncode int", func() {
			out, err := AppendEncode(buf[:0], 123456)
			check(err, bytes.Equal(out, intData))
		}},
		{"AppendEncode float64", func() {
			out, err := AppendEncode(buf[:0], -2.5)
			check(err, bytes.Equal(out, floatData))
		}},
		{"AppendEncode uint16", func() { out, err := AppendEncode(buf[:0], uint16(513)); check(err, len(out) == 3) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failure = nil
			if n := testing.AllocsPerRun(100, tt.run); n != 0 {
				t.Errorf("%v allocations per run, want 0", n)
			}
			if failure != nil {
				t.Error(failure)
			}
		})
	}
}
