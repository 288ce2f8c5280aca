package codec

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

type point struct {
	X, Y float64
	Name string `cbor:"n"`
	Tags []string
	skip int
}

type nested struct {
	ID     int64
	Points []point
	Index  map[string]*point
	Inner  *nested
	When   time.Time
	Raw    []byte
	Weight []float32
}

type vec []float32
type label string

// roundTrip encodes v as a T, checks the leading tag, decodes and compares.
func roundTrip[T any](t *testing.T, v T, wantTag tag, want T) {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatalf("Encode(%#v): %v", v, err)
	}
	if tag(b[0]) != wantTag {
		t.Fatalf("Encode(%#v): tag %s, want %s", v, tag(b[0]), wantTag)
	}
	got, err := Decode[T](b)
	if err != nil {
		t.Fatalf("Decode(%x): %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: got %#v, want %#v", got, want)
	}
}

func TestFastPathRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"bytes", func(t *testing.T) { roundTrip(t, []byte{0, 1, 255}, tagBytes, []byte{0, 1, 255}) }},
		{"bytes empty", func(t *testing.T) { roundTrip(t, []byte{}, tagBytes, nil) }},
		{"bytes nil", func(t *testing.T) { roundTrip(t, []byte(nil), tagBytes, nil) }},
		{"string", func(t *testing.T) { roundTrip(t, "héllo", tagString, "héllo") }},
		{"string invalid utf8", func(t *testing.T) { roundTrip(t, "\xff\xfe", tagString, "\xff\xfe") }},
		{"string empty", func(t *testing.T) { roundTrip(t, "", tagString, "") }},
		{"float32", func(t *testing.T) {
			v := []float32{1.5, float32(math.Inf(-1)), math.SmallestNonzeroFloat32}
			roundTrip(t, v, tagFloat32, v)
		}},
		{"float32 nil", func(t *testing.T) { roundTrip(t, []float32(nil), tagFloat32, nil) }},
		{"float64", func(t *testing.T) {
			roundTrip(t, []float64{math.Pi, math.Copysign(0, -1), math.MaxFloat64}, tagFloat64, []float64{math.Pi, math.Copysign(0, -1), math.MaxFloat64})
		}},
		{"float64 empty", func(t *testing.T) { roundTrip(t, []float64{}, tagFloat64, nil) }},
		{"int64", func(t *testing.T) {
			roundTrip(t, []int64{math.MinInt64, 0, math.MaxInt64}, tagInt64, []int64{math.MinInt64, 0, math.MaxInt64})
		}},
		{"int32", func(t *testing.T) { roundTrip(t, []int32{math.MinInt32, 7}, tagInt32, []int32{math.MinInt32, 7}) }},
		{"int", func(t *testing.T) {
			roundTrip(t, []int{-1, math.MinInt, math.MaxInt}, tagInt, []int{-1, math.MinInt, math.MaxInt})
		}},
		{"int empty", func(t *testing.T) { roundTrip(t, []int{}, tagInt, nil) }},
		{"uint64", func(t *testing.T) { roundTrip(t, []uint64{math.MaxUint64, 3}, tagUint64, []uint64{math.MaxUint64, 3}) }},
		{"uint32", func(t *testing.T) { roundTrip(t, []uint32{math.MaxUint32}, tagUint32, []uint32{math.MaxUint32}) }},
		{"int16", func(t *testing.T) { roundTrip(t, []int16{math.MinInt16, 9}, tagInt16, []int16{math.MinInt16, 9}) }},
		{"uint16", func(t *testing.T) { roundTrip(t, []uint16{math.MaxUint16}, tagUint16, []uint16{math.MaxUint16}) }},
		{"int8", func(t *testing.T) { roundTrip(t, []int8{-128, 127}, tagInt8, []int8{-128, 127}) }},
		{"int8 nil", func(t *testing.T) { roundTrip(t, []int8(nil), tagInt8, nil) }},
		{"named slice", func(t *testing.T) { roundTrip(t, vec{1, 2}, tagFloat32, vec{1, 2}) }},
		{"named string", func(t *testing.T) { roundTrip(t, label("x"), tagString, label("x")) }},
		{"any holding float32s", func(t *testing.T) { roundTrip[any](t, []float32{4}, tagFloat32, []float32{4}) }},
		{"any holding string", func(t *testing.T) { roundTrip[any](t, "s", tagString, "s") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestFastPathWireImage(t *testing.T) {
	b, err := Encode([]uint32{0x01020304, 0xa0b0c0d0})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{byte(tagUint32), 4, 3, 2, 1, 0xd0, 0xc0, 0xb0, 0xa0}
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x, want %x (little-endian)", b, want)
	}
}

func TestSwapMatchesMemoryImage(t *testing.T) {
	// putLE/getLE serve big-endian hosts; on a little-endian host their
	// output must equal the memory image.
	if !nativeLE {
		t.Skip("memory image is big-endian here")
	}
	check := func(t *testing.T, name string, mem []byte, put func([]byte), get func([]byte) bool) {
		b := make([]byte, len(mem))
		put(b)
		if !bytes.Equal(b, mem) {
			t.Errorf("%s putLE = %x, want %x", name, b, mem)
		}
		if !get(mem) {
			t.Errorf("%s getLE did not restore the values", name)
		}
	}
	i16 := []int16{-2, 300}
	check(t, "int16", byteView(i16), func(b []byte) { putLE(b, i16) }, func(b []byte) bool {
		s := make([]int16, len(i16))
		getLE(s, b)
		return reflect.DeepEqual(s, i16)
	})
	f32 := []float32{1.25, -3}
	check(t, "float32", byteView(f32), func(b []byte) { putLE(b, f32) }, func(b []byte) bool {
		s := make([]float32, len(f32))
		getLE(s, b)
		return reflect.DeepEqual(s, f32)
	})
	u64 := []uint64{1 << 63, 5}
	check(t, "uint64", byteView(u64), func(b []byte) { putLE(b, u64) }, func(b []byte) bool {
		s := make([]uint64, len(u64))
		getLE(s, b)
		return reflect.DeepEqual(s, u64)
	})
	i8 := []int8{-1, 2}
	check(t, "int8", byteView(i8), func(b []byte) { putLE(b, i8) }, func(b []byte) bool {
		s := make([]int8, len(i8))
		getLE(s, b)
		return reflect.DeepEqual(s, i8)
	})
}

func TestDecodedSliceDoesNotAliasInput(t *testing.T) {
	b, err := Encode([]byte("abc"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode[[]byte](b)
	if err != nil {
		t.Fatal(err)
	}
	b[1] = 'z'
	if string(got) != "abc" {
		t.Fatalf("decoded slice changed with its input: %q", got)
	}
}

func TestCBORRoundTrip(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	leaf := &point{X: 1, Y: 2, Name: "p", Tags: []string{"a"}}
	full := nested{
		ID:     -42,
		Points: []point{{X: 1, Name: "\xffbad utf8"}, {Y: -1, Tags: []string{}}},
		Index:  map[string]*point{"a": leaf, "nil": nil},
		Inner:  &nested{ID: 2},
		When:   when.UTC(), // zone names do not travel, offsets do
		Raw:    []byte{9},
		Weight: []float32{0.5},
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"pointer to int", func(t *testing.T) {
			n := 123456789
			roundTrip(t, &n, tagCBOR, &n)
		}},
		{"uints", func(t *testing.T) {
			roundTrip(t, []uint{0, math.MaxUint}, tagCBOR, []uint{0, math.MaxUint})
		}},
		{"bools", func(t *testing.T) { roundTrip(t, []bool{true, false}, tagCBOR, []bool{true, false}) }},
		{"struct", func(t *testing.T) {
			// The unexported field is not encoded.
			roundTrip(t, point{X: 1, Y: 2, Name: "n", Tags: []string{"t"}, skip: 9}, tagCBOR, point{X: 1, Y: 2, Name: "n", Tags: []string{"t"}})
		}},
		{"pointer to struct", func(t *testing.T) { roundTrip(t, leaf, tagCBOR, leaf) }},
		{"nested", func(t *testing.T) { roundTrip(t, full, tagCBOR, full) }},
		{"map", func(t *testing.T) {
			roundTrip(t, map[string]int{"a": 1, "b": -2}, tagCBOR, map[string]int{"a": 1, "b": -2})
		}},
		{"map of slices", func(t *testing.T) {
			m := map[int][]string{1: {"x"}, 2: nil}
			roundTrip(t, m, tagCBOR, m)
		}},
		{"empty map", func(t *testing.T) { roundTrip(t, map[string]bool{}, tagCBOR, map[string]bool{}) }},
		{"strings", func(t *testing.T) { roundTrip(t, []string{"a", ""}, tagCBOR, []string{"a", ""}) }},
		{"nil strings", func(t *testing.T) { roundTrip(t, []string(nil), tagCBOR, nil) }},
		{"array", func(t *testing.T) { roundTrip(t, [3]int{1, 2, 3}, tagCBOR, [3]int{1, 2, 3}) }},
		{"named element slice", func(t *testing.T) { roundTrip(t, []label{"a"}, tagCBOR, []label{"a"}) }},
		{"time", func(t *testing.T) {
			b, err := Encode(when)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode[time.Time](b)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(when) || got.Nanosecond() != when.Nanosecond() {
				t.Fatalf("got %v, want %v", got, when)
			}
		}},
		{"any uints", func(t *testing.T) { roundTrip[any](t, []uint{5}, tagCBOR, []any{uint64(5)}) }},
		{"any slice", func(t *testing.T) { roundTrip[any](t, []any{"a", -1}, tagCBOR, []any{"a", int64(-1)}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestProtoRoundTrip(t *testing.T) {
	st, err := structpb.NewStruct(map[string]any{"a": 1.5, "b": []any{"x", true}, "c": map[string]any{"d": nil}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  proto.Message
		run  func(b []byte) (proto.Message, error)
	}{
		{"int64 value", wrapperspb.Int64(-7), func(b []byte) (proto.Message, error) { return Decode[*wrapperspb.Int64Value](b) }},
		{"empty string value", wrapperspb.String(""), func(b []byte) (proto.Message, error) { return Decode[*wrapperspb.StringValue](b) }},
		{"struct", st, func(b []byte) (proto.Message, error) { return Decode[*structpb.Struct](b) }},
		{"into proto.Message", st, func(b []byte) (proto.Message, error) { return Decode[proto.Message](b) }},
		{"into any", wrapperspb.Bool(true), func(b []byte) (proto.Message, error) {
			v, err := Decode[any](b)
			m, _ := v.(proto.Message)
			return m, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if tag(b[0]) != tagProto {
				t.Fatalf("tag %s, want %s", tag(b[0]), tagProto)
			}
			got, err := tt.run(b)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.msg) {
				t.Fatalf("got %v, want %v", got, tt.msg)
			}
		})
	}
}

// limitsWith returns DefaultLimits changed by set.
func limitsWith(set func(*Limits)) *Limits {
	l := DefaultLimits()
	set(&l)
	return &l
}

// mustEncode encodes v or fails the test.
func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTypeMismatch(t *testing.T) {
	enc := func(v any) []byte { return mustEncode(t, v) }
	tests := []struct {
		name  string
		data  []byte
		check func([]byte) error
		names []string // both type names must appear in the message
	}{
		{"float32 into float64", enc([]float32{1}), func(b []byte) error { _, err := Decode[[]float64](b); return err }, []string{"[]float32", "[]float64"}},
		{"int into int64 slice", enc([]int{1}), func(b []byte) error { _, err := Decode[[]int64](b); return err }, []string{"[]int", "[]int64"}},
		{"bytes into string", enc([]byte("a")), func(b []byte) error { _, err := Decode[string](b); return err }, []string{"[]byte", "string"}},
		{"string into bytes", enc("a"), func(b []byte) error { _, err := Decode[[]byte](b); return err }, []string{"string", "[]uint8"}},
		{"slice into struct", enc([]float32{1}), func(b []byte) error { _, err := Decode[point](b); return err }, []string{"[]float32", "codec.point"}},
		{"slice into named element slice", enc([]int8{1}), func(b []byte) error { _, err := Decode[[]label](b); return err }, []string{"[]int8", "[]codec.label"}},
		{"cbor uints into string", enc([]uint{7}), func(b []byte) error { _, err := Decode[string](b); return err }, []string{"string"}},
		{"cbor struct into int", enc(point{}), func(b []byte) error { _, err := Decode[int](b); return err }, []string{"int"}},
		{"cbor into proto", enc([]uint{3}), func(b []byte) error { _, err := Decode[*wrapperspb.Int64Value](b); return err }, []string{"CBOR value", "wrapperspb.Int64Value"}},
		{"proto into other proto", enc(wrapperspb.Int64(1)), func(b []byte) error { _, err := Decode[*wrapperspb.StringValue](b); return err }, []string{"google.protobuf.Int64Value", "wrapperspb.StringValue"}},
		{"proto into struct", enc(wrapperspb.Int64(1)), func(b []byte) error { _, err := Decode[point](b); return err }, []string{"google.protobuf.Int64Value", "codec.point"}},
		{"string into interface it does not satisfy", enc("a"), func(b []byte) error { _, err := Decode[error](b); return err }, []string{"string", "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.data)
			if !errors.Is(err, ErrTypeMismatch) {
				t.Fatalf("err = %v, want ErrTypeMismatch", err)
			}
			for _, n := range tt.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not name %q", err, n)
				}
			}
		})
	}
}

type withChan struct {
	C chan int
}

type selfRef struct {
	Name string
	Next *selfRef
}

type hidden struct {
	Name   string
	parent *hidden // not encoded, so its cycle is harmless
}

func TestEncodeErrors(t *testing.T) {
	var nilPoint *point
	var nilMap map[string]int
	var nilProto *wrapperspb.Int64Value
	cyclic := &selfRef{Name: "a"}
	cyclic.Next = cyclic
	cyclicMap := map[string]any{}
	cyclicMap["self"] = cyclicMap
	deep := &selfRef{}
	for range maxDepth + 1 {
		deep = &selfRef{Next: deep}
	}
	tests := []struct {
		name    string
		encode  func() ([]byte, error)
		want    error
		message string
	}{
		{"chan", func() ([]byte, error) { return Encode(make(chan int)) }, ErrUnencodable, "codec: cannot encode value of type chan int: "},
		{"func", func() ([]byte, error) { return Encode(func() {}) }, ErrUnencodable, "cannot encode value of type func()"},
		{"unsafe pointer", func() ([]byte, error) { return Encode(unsafe.Pointer(&t)) }, ErrUnencodable, "unsafe.Pointer"},
		{"complex", func() ([]byte, error) { return Encode(complex(1, 2)) }, ErrUnencodable, "complex128"},
		{"chan field", func() ([]byte, error) { return Encode(withChan{C: make(chan int)}) }, ErrUnencodable, "codec.withChan"},
		{"chan in any", func() ([]byte, error) { return Encode[any](make(chan string)) }, ErrUnencodable, "chan string"},
		{"cyclic pointer", func() ([]byte, error) { return Encode(cyclic) }, ErrUnencodable, "cyclic"},
		{"cyclic map", func() ([]byte, error) { return Encode(cyclicMap) }, ErrUnencodable, "cyclic"},
		{"too deep", func() ([]byte, error) { return Encode(deep) }, ErrUnencodable, "nested deeper"},
		{"nil pointer", func() ([]byte, error) { return Encode(nilPoint) }, ErrNilValue, "*codec.point"},
		{"nil map", func() ([]byte, error) { return Encode(nilMap) }, ErrNilValue, "map[string]int"},
		{"nil interface", func() ([]byte, error) { return Encode[any](nil) }, ErrNilValue, "nil"},
		{"nil proto", func() ([]byte, error) { return Encode(nilProto) }, ErrNilValue, "wrapperspb.Int64Value"},
		{"too large slice", func() ([]byte, error) { return appendNumbers(nil, tagFloat64, make([]float64, 3), 23) }, ErrTooLarge, "MaxBytes 23"},
		{"too large string", func() ([]byte, error) { return appendString(nil, "abcd", 3) }, ErrTooLarge, "MaxBytes 3"},
		{"too large cbor", func() ([]byte, error) {
			return appendCBOR(nil, []string{"abcd"}, reflect.TypeFor[[]string](), limitsWith(func(l *Limits) { l.MaxBytes = 4 }))
		}, ErrTooLarge, "MaxBytes 4"},
		{"too large proto", func() ([]byte, error) {
			return appendProto(nil, wrapperspb.String("abcdefgh"), limitsWith(func(l *Limits) { l.MaxBytes = 8 }))
		}, ErrTooLarge, "MaxBytes 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.encode()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
			if len(b) != 0 {
				t.Errorf("returned %d bytes with an error", len(b))
			}
		})
	}
}

func TestEncodeAcceptsHarmlessValues(t *testing.T) {
	h := &hidden{Name: "h"}
	h.parent = h
	if _, err := Encode(h); err != nil {
		t.Errorf("cycle through an unexported field: %v", err)
	}
	shared := &point{X: 1}
	if _, err := Encode([]*point{shared, shared}); err != nil {
		t.Errorf("shared (acyclic) pointers: %v", err)
	}
	list := &selfRef{}
	for range 50 {
		list = &selfRef{Next: list}
	}
	roundTrip(t, list, tagCBOR, list)
}

func TestAppendEncode(t *testing.T) {
	dst := make([]byte, 2, 64)
	dst[0], dst[1] = 'h', 'i'
	out, err := AppendEncode(dst, []int16{1})
	if err != nil {
		t.Fatal(err)
	}
	if &out[0] != &dst[0] {
		t.Error("AppendEncode reallocated although dst had room")
	}
	if got, want := out, []byte{'h', 'i', byte(tagInt16), 1, 0}; !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	v, err := Decode[[]int16](out[2:])
	if err != nil || !reflect.DeepEqual(v, []int16{1}) {
		t.Fatalf("Decode = %v, %v", v, err)
	}
	for _, x := range []any{point{X: 1}, wrapperspb.Int32(3)} {
		out, err = AppendEncode(dst, x)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[:2], []byte("hi")) {
			t.Fatalf("prefix overwritten: %x", out)
		}
		if _, err := Decode[any](out[2:]); err != nil {
			t.Fatalf("Decode appended %T: %v", x, err)
		}
	}
	out, err = AppendEncode(dst, make(chan int))
	if err == nil || len(out) != 2 {
		t.Fatalf("on error got len %d, err %v; want dst unchanged and an error", len(out), err)
	}
}

func TestDecodeErrors(t *testing.T) {
	cborInt := []byte{byte(tagCBOR), 0x19, 0x03, 0xe8} // 1000
	protoMsg := func() []byte {
		b, err := Encode(wrapperspb.String("hello"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	tests := []struct {
		name   string
		decode func() error
		want   error
	}{
		{"empty", func() error { _, err := Decode[int](nil); return err }, ErrMalformed},
		{"tag zero", func() error { _, err := Decode[int]([]byte{0}); return err }, ErrMalformed},
		{"unknown tag", func() error { _, err := Decode[any]([]byte{200, 1}); return err }, ErrMalformed},
		{"float32 length", func() error { _, err := Decode[[]float32]([]byte{byte(tagFloat32), 1, 2, 3, 4, 5}); return err }, ErrMalformed},
		{"int length", func() error { _, err := Decode[[]int]([]byte{byte(tagInt), 1, 2, 3, 4}); return err }, ErrMalformed},
		{"empty cbor", func() error { _, err := Decode[int]([]byte{byte(tagCBOR)}); return err }, ErrMalformed},
		{"truncated cbor", func() error { _, err := Decode[int](cborInt[:len(cborInt)-1]); return err }, ErrMalformed},
		{"trailing cbor", func() error { _, err := Decode[int](append(cborInt[:len(cborInt):len(cborInt)], 0)); return err }, ErrMalformed},
		{"truncated proto", func() error { _, err := Decode[*wrapperspb.StringValue](protoMsg[:len(protoMsg)-1]); return err }, ErrMalformed},
		{"proto name header", func() error { _, err := Decode[*wrapperspb.StringValue]([]byte{byte(tagProto), 0xff}); return err }, ErrMalformed},
		{"proto empty name", func() error { _, err := Decode[*wrapperspb.StringValue]([]byte{byte(tagProto), 0}); return err }, ErrMalformed},
		{"proto invalid name", func() error { _, err := Decode[proto.Message]([]byte{byte(tagProto), 2, '.', '.'}); return err }, ErrMalformed},
		{"proto unknown name", func() error { _, err := Decode[proto.Message]([]byte{byte(tagProto), 3, 'a', '.', 'b'}); return err }, ErrTypeMismatch},
		{"too large", func() error {
			_, err := DecodeWithLimits[[]byte](make([]byte, 101), Limits{MaxBytes: 99})
			return err
		}, ErrTooLarge},
		{"invalid depth", func() error { _, err := DecodeWithLimits[int](cborInt, Limits{MaxDepth: 2}); return err }, ErrInvalidLimits},
		{"invalid elements", func() error { _, err := DecodeWithLimits[int](cborInt, Limits{MaxElements: -1}); return err }, ErrInvalidLimits},
		{"invalid bytes", func() error { _, err := NewDecoder(Limits{MaxBytes: -1}); return err }, ErrInvalidLimits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// nestedArrays returns a CBOR payload of n nested one-element arrays.
func nestedArrays(n int) []byte {
	b := []byte{byte(tagCBOR)}
	b = append(b, bytes.Repeat([]byte{0x81}, n)...)
	return append(b, 0x00)
}

func TestDecodeLimits(t *testing.T) {
	d, err := NewDecoder(Limits{MaxDepth: 8, MaxElements: 16})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Limits(); got.MaxBytes != DefaultLimits().MaxBytes || got.MaxDepth != 8 {
		t.Fatalf("Limits() = %+v, want defaults filled in", got)
	}
	ints := func(n int) []byte {
		b, err := Encode(make([]uint, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		err  func() error
		want error // nil: must succeed
	}{
		{"depth within", func() error { _, err := DecodeWith[any](d, nestedArrays(7)); return err }, nil},
		{"depth beyond", func() error { _, err := DecodeWith[any](d, nestedArrays(9)); return err }, ErrTooLarge},
		{"default depth beyond", func() error { _, err := Decode[any](nestedArrays(DefaultLimits().MaxDepth + 1)); return err }, ErrTooLarge},
		{"very deep", func() error { _, err := Decode[any](nestedArrays(100000)); return err }, ErrTooLarge},
		{"elements within", func() error { _, err := DecodeWith[[]uint](d, ints(16)); return err }, nil},
		{"elements beyond", func() error { _, err := DecodeWith[[]uint](d, ints(17)); return err }, ErrTooLarge},
		{"map pairs beyond", func() error {
			m := map[int]int{}
			for i := range 17 {
				m[i] = i
			}
			b, err := Encode(m)
			if err != nil {
				return err
			}
			_, err = DecodeWithLimits[map[int]int](b, Limits{MaxElements: 16})
			return err
		}, ErrTooLarge},
		{"proto recursion beyond", func() error {
			v := structpb.NewNullValue()
			for range 10 {
				v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
			}
			b, err := Encode(v)
			if err != nil {
				return err
			}
			if _, err := Decode[*structpb.Value](b); err != nil {
				return err // must pass under the defaults
			}
			_, err = DecodeWith[*structpb.Value](d, b)
			return err
		}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if tt.want == nil && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestHostileHeadersDoNotAllocate feeds short inputs whose headers claim
// huge containers and checks that decoding fails without allocating for
// the claimed size.
func TestHostileHeadersDoNotAllocate(t *testing.T) {
	const claim31 = "\x80\x00\x00\x00"
	const claim25 = "\x02\x00\x00\x00"
	tests := []struct {
		name   string
		data   []byte
		decode func([]byte) error
	}{
		{"array 2^31 into []int", []byte("\x01\x9a" + claim31 + "\x01\x02\x03"), func(b []byte) error { _, err := Decode[[]int64](append([]byte{}, b...)); return err }},
		{"array 2^31 8-byte header into []uint", []byte("\x01\x9b\x00\x00\x00\x00" + claim31), func(b []byte) error { _, err := Decode[[]uint](b); return err }},
		{"array 2^31 into any", []byte("\x01\x9a" + claim31 + "\x00"), func(b []byte) error { _, err := Decode[any](b); return err }},
		{"array 2^25 into []uint", []byte("\x01\x9a" + claim25 + "\x00\x00"), func(b []byte) error { _, err := Decode[[]uint](b); return err }},
		{"array 2^25 into any", []byte("\x01\x9a" + claim25 + "\x00\x00"), func(b []byte) error { _, err := Decode[any](b); return err }},
		{"map 2^31 into map", []byte("\x01\xba" + claim31 + "\x00\x00"), func(b []byte) error { _, err := Decode[map[int]int](b); return err }},
		{"map 2^25 into map", []byte("\x01\xba" + claim25 + "\x00\x00"), func(b []byte) error { _, err := Decode[map[int]int](b); return err }},
		{"byte string 2^31", []byte("\x01\x5a" + claim31 + "ab"), func(b []byte) error { _, err := Decode[[]byte](b); return err }},
		{"text string 2^31", []byte("\x01\x7a" + claim31 + "ab"), func(b []byte) error { _, err := Decode[string](b); return err }},
		{"struct field array 2^31", []byte("\x01\xa1\x64Tags\x9a" + claim31), func(b []byte) error { _, err := Decode[point](b); return err }},
		{"proto repeated 2^31", []byte("\x02\x19google.protobuf.ListValue\x0a\xff\xff\xff\xff\x07"), func(b []byte) error { _, err := Decode[*structpb.ListValue](b); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := tt.decode(tt.data)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("hostile input decoded without error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Errorf("err = %v, want ErrMalformed or ErrTooLarge", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("allocated %d bytes for a %d-byte input", n, len(tt.data))
			}
		})
	}
}
