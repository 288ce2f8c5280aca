package codec

import (
	"bytes"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

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
		// Shapes the allocation walk models: times, bignums, tags, odd
		// map keys, embedded pointers.
		[]byte("\x01\x83\x78\x232024-05-06T07:08:09.123456789+05:30\xc1\x1a\x00\x01\x00\x00\xc0\x61x"),
		[]byte("\x01\x83\xc2\x49\x01\x00\x00\x00\x00\x00\x00\x00\x00\x3b\xff\xff\xff\xff\xff\xff\xff\xff\xc3\x41\x05"),
		[]byte("\x01\xc6\xc7\xd9\xd9\xf7\x82\xc2\x41\x01\xa1\x41\x00\x80"),
		[]byte("\x01\xa4\x61X\x01\x05\x02\x41X\x03\x80\x04"),
		[]byte("\x01\xa2\x80\x01\xc6\x42ab\x02"),
		cborArray(2000, 0xf6), cborArray(500, 0xa0), cborMap(300, 0xf6),
		cborArray(100, 0x19, 0x01, 0x00), cborArray(50, 0xc0, 0x61, 'x'),
		append([]byte{byte(tagCBOR), 0xa1, 0x61, 'A'}, cborArray(1000, 0xf6)[1:]...),
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

// fuzzLimits has a small MaxAlloc, so that inputs of a few hundred bytes
// reach it and are walked.
var fuzzLimits = Limits{MaxAlloc: 1 << 20}

// perDecodeSlack bounds what one CBOR decode allocates besides what the
// walk charges: the decoder's state and the error value it returns.
const perDecodeSlack = 16 << 10

// boundedDecode is one decode whose allocations the fuzz target bounds.
type boundedDecode struct {
	typ    reflect.Type
	decode func(d *Decoder, data []byte)
}

func bounded[T any]() boundedDecode {
	return boundedDecode{reflect.TypeFor[T](), func(d *Decoder, data []byte) { _, _ = DecodeWith[T](d, data) }}
}

// boundedDecodes covers the shapes the walk models: amplifying elements,
// generic values, structs, pointers, maps, times. Types with their own
// decoding methods are left out: what those allocate is up to them.
var boundedDecodes = []boundedDecode{
	bounded[[]wide](), bounded[map[uint32]wide](), bounded[[]*wide](),
	bounded[any](), bounded[[]any](), bounded[map[string]any](), bounded[map[any]int](),
	bounded[point](), bounded[nested](), bounded[*link](), bounded[[]time.Time](),
	bounded[[]int8](), bounded[[]uint](), bounded[[]string](), bounded[struct{ A []wide }](),
}

// checkAllocations decodes a CBOR input into every type of
// boundedDecodes and checks that together they allocate no more than the
// walk charges (or nothing but the error where it refuses), that the walk
// charges no more than the per-byte bound of the type, which decides when
// the walk is skipped, and that following the type does not change the
// walk's structural verdict.
func checkAllocations(t *testing.T, d *Decoder, data []byte) {
	if len(data) == 0 || tag(data[0]) != tagCBOR {
		return
	}
	payload := data[1:]
	l := d.Limits()
	unlimited := l
	unlimited.MaxAlloc = math.MaxInt
	structure := errClass(checkStructure(payload, &l))
	var bound int64
	for _, b := range boundedDecodes {
		cost, err := checkCBOR(payload, b.typ, &l)
		if err == nil {
			bound += cost
		}
		total, err := checkCBOR(payload, b.typ, &unlimited)
		if got := errClass(err); got != structure {
			t.Fatalf("%s: walk says %v, the structural walk %v, for %x", b.typ, got, structure, data[:min(len(data), 64)])
		}
		if err == nil {
			if amp := allocBound(b.typ, targetOf(b.typ), len(payload)); total > amp {
				t.Fatalf("%s: walk charged %d bytes, above the per-byte bound %d, for %x", b.typ, total, amp, data[:min(len(data), 64)])
			}
		}
	}
	bound += int64(len(boundedDecodes)) * perDecodeSlack
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, b := range boundedDecodes {
		b.decode(d, data)
	}
	runtime.ReadMemStats(&after)
	if n := int64(after.TotalAlloc - before.TotalAlloc); n > bound {
		t.Fatalf("decoding allocated %d bytes, more than the bound %d, for %x", n, bound, data[:min(len(data), 64)])
	}
}

func FuzzDecode(f *testing.F) {
	seeds := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	fuzzDecoder, err := NewDecoder(fuzzLimits)
	if err != nil {
		f.Fatal(err)
	}
	smallDecoder, err := NewDecoder(Limits{MaxDepth: 4, MaxElements: 16})
	if err != nil {
		f.Fatal(err)
	}
	// Build the decoders' type caches, which are allocated once per type.
	warm := []any{
		nested{ID: 1, Points: []point{{Tags: []string{"t"}}}, Index: map[string]*point{"p": {}}, Inner: &nested{}},
		[]wide{{}}, map[uint32]wide{1: {}}, []*wide{{}}, linkChain(2), []time.Time{{}}, struct{ A []wide }{},
	}
	for _, v := range warm {
		b, err := Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, s := range seeds {
		for _, b := range boundedDecodes {
			b.decode(fuzzDecoder, s)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAllocations(t, fuzzDecoder, data)
		if len(data) > 0 && tag(data[0]) == tagCBOR {
			sameStructure(t, data[1:], defaultDecoder)
			sameStructure(t, data[1:], smallDecoder)
		}
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
