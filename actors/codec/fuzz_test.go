package codec

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fuzzSeeds returns valid encodings of assorted values plus hostile inputs.
func fuzzSeeds(f *testing.F) [][]byte {
	st, err := structpb.NewStruct(map[string]any{"k": []any{1.0, "v"}})
	if err != nil {
		f.Fatal(err)
	}
	values := []any{
		[]byte("bytes"), "text", []float32{1, 2}, []float64{3}, []int{-1}, []int64{4},
		[]int32{5}, []uint64{6}, []uint32{7}, []int16{8}, []uint16{9}, []int8{10},
		42, -1, 3.5, true, point{X: 1, Name: "p", Tags: []string{"t"}},
		map[string]any{"a": []any{1, "b", map[string]any{}}},
		nested{ID: 1, Inner: &nested{ID: 2}, Points: []point{{}}},
		wrapperspb.String("w"), st,
		false, int8(-8), int16(-16), int32(-32), int64(-64), uint(1), uint8(8), uint16(16),
		uint32(32), uint64(64), float32(-0.5), math.Float64frombits(0x7ff8000000000123),
		math.Copysign(0, -1), level(3), celsius(1.5), selfCoded(9),
	}
	var seeds [][]byte
	for _, v := range values {
		b, err := Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return append(seeds,
		nil, []byte{0}, []byte{255},
		[]byte("\x01\x9a\x80\x00\x00\x00\x01"),
		[]byte("\x01\xbb\x00\x00\x00\x00\x80\x00\x00\x00"),
		nestedArrays(200),
		[]byte("\x02\x19google.protobuf.ListValue\x0a\xff\xff\xff\xff\x07"),
		[]byte{byte(tagScalarBool), 2},
		[]byte{byte(tagScalarInt), 1, 2, 3},
		[]byte{byte(tagScalarFloat32), 0, 0, 0, 0, 0},
	)
}

// fastPathStable checks that a fast-path payload re-encodes to the same
// bytes when it decoded as T.
func fastPathStable[T any](t *testing.T, data []byte, want tag) {
	v, err := Decode[T](data)
	if err != nil || len(data) == 0 || tag(data[0]) != want {
		return
	}
	b, err := Encode(v)
	if err != nil {
		t.Fatalf("re-encoding decoded %T: %v", v, err)
	}
	if !bytes.Equal(b, data) {
		t.Fatalf("re-encoding %T: got %x, want %x", v, b, data)
	}
}

// scalarStable checks that a single-scalar payload decodes into any as
// its natural type and re-encodes to the same bytes.
func scalarStable(t *testing.T, data []byte) {
	if len(data) == 0 || tag(data[0]) < tagScalarBool || tag(data[0]) > tagScalarFloat64 {
		return
	}
	v, err := Decode[any](data)
	if err != nil {
		return
	}
	if got := tag(data[0]).String(); reflect.TypeOf(v).String() != got {
		t.Fatalf("%x decoded as %T, want %s", data, v, got)
	}
	b, err := Encode(v)
	if err != nil {
		t.Fatalf("re-encoding decoded %T: %v", v, err)
	}
	if !bytes.Equal(b, data) {
		t.Fatalf("re-encoding %T: got %x, want %x", v, b, data)
	}
}

// reencodes checks that a value decoded as T encodes and decodes again.
func reencodes[T any](t *testing.T, data []byte) {
	v, err := Decode[T](data)
	if err != nil {
		return
	}
	b, err := Encode(v)
	if err != nil {
		return // a decoded nil map or pointer is legitimately not encodable
	}
	if _, err := Decode[T](b); err != nil {
		t.Fatalf("value %#v decoded from %x does not survive a round trip: %v", v, data, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fastPathStable[[]byte](t, data, tagBytes)
		fastPathStable[string](t, data, tagString)
		fastPathStable[[]float32](t, data, tagFloat32)
		fastPathStable[[]int](t, data, tagInt)
		fastPathStable[[]uint16](t, data, tagUint16)
		fastPathStable[int](t, data, tagScalarInt)
		fastPathStable[float32](t, data, tagScalarFloat32)
		fastPathStable[float64](t, data, tagScalarFloat64)
		fastPathStable[bool](t, data, tagScalarBool)
		fastPathStable[celsius](t, data, tagScalarFloat64)
		scalarStable(t, data)
		reencodes[level](t, data)
		reencodes[selfCoded](t, data)
		reencodes[int](t, data)
		reencodes[point](t, data)
		reencodes[nested](t, data)
		reencodes[map[string]any](t, data)
		reencodes[*wrapperspb.StringValue](t, data)
		reencodes[*structpb.Struct](t, data)
		_, _ = Decode[any](data)
		_, _ = Decode[[]any](data)
		_, _ = DecodeWithLimits[any](data, Limits{MaxDepth: 4, MaxElements: 16, MaxBytes: 64})
	})
}
