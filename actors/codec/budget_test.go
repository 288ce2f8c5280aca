package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// wide is a small encoding that decodes into a large value: its zero
// value, or null, is one CBOR byte.
type wide struct{ A [4096]byte }

// allocated returns the bytes f allocates. f runs once before the
// measurement so that type caches are built.
func allocated(f func()) uint64 {
	f()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// allocSlack covers what a decode allocates besides what the walk charges:
// the decoder's own state, the error value it returns, and allocations of
// other goroutines during the measurement.
const allocSlack = 64 << 10

// cborArray returns a tagged CBOR payload: an array of n copies of item.
func cborArray(n int, item ...byte) []byte {
	b := []byte{byte(tagCBOR), 0x9a}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for range n {
		b = append(b, item...)
	}
	return b
}

// cborMap returns a tagged CBOR payload: a map of n pairs, the keys 0 to
// n-1 and each value item.
func cborMap(n int, item ...byte) []byte {
	b := []byte{byte(tagCBOR), 0xba}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i := range n {
		b = append(b, 0x1a)
		b = binary.BigEndian.AppendUint32(b, uint32(i))
		b = append(b, item...)
	}
	return b
}

// TestHostileCBORAllocationIsBounded feeds inputs that are small but
// decode into large values, and checks that decoding refuses them before
// allocating for them.
func TestHostileCBORAllocationIsBounded(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		decode func([]byte) error
	}{
		{"100 KB of nulls into []struct{A [4096]byte}", cborArray(100_000, 0xf6), func(b []byte) error {
			_, err := Decode[[]wide](b)
			return err
		}},
		{"100 KB of empty maps into [][4096]byte", cborArray(100_000, 0xa0), func(b []byte) error {
			_, err := Decode[[][4096]byte](b)
			return err
		}},
		{"empty maps into []*struct{A [4096]byte}", cborArray(100_000, 0xa0), func(b []byte) error {
			_, err := Decode[[]*wide](b)
			return err
		}},
		{"nulls as map values into map[uint32]struct{A [4096]byte}", cborMap(100_000, 0xf6), func(b []byte) error {
			_, err := Decode[map[uint32]wide](b)
			return err
		}},
		{"nulls in a struct field", append([]byte{byte(tagCBOR), 0xa1, 0x61, 'A'}, cborArray(100_000, 0xf6)[1:]...), func(b []byte) error {
			_, err := Decode[struct{ A []wide }](b)
			return err
		}},
		{"nested empty arrays into [][]struct{A [4096]byte}", cborArray(100_000, 0x81, 0xf6), func(b []byte) error {
			_, err := Decode[[][]wide](b)
			return err
		}},
		{"empty maps into []any", cborArray(200_000, 0xa0), func(b []byte) error {
			_, err := DecodeWithLimits[[]any](b, Limits{MaxAlloc: 8 << 20})
			return err
		}},
		{"type errors into []int8", cborArray(50_000, 0x19, 0x01, 0x00), func(b []byte) error {
			_, err := DecodeWithLimits[[]int8](b, Limits{MaxAlloc: 8 << 20})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			n := allocated(func() { err = tt.decode(tt.data) })
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("err = %v, want ErrTooLarge", err)
			}
			if n > allocSlack {
				t.Errorf("allocated %d bytes for a %d-byte input", n, len(tt.data))
			}
		})
	}
}

// TestLegitimateValuesFitTheBudget checks that values of the kinds the
// CBOR path carries decode when the walk runs, and that it does not charge
// them much more than they cost. A budget of 8 MiB makes the walk run on
// values of a few hundred KB; the last value is walked under the defaults.
func TestLegitimateValuesFitTheBudget(t *testing.T) {
	small, err := NewDecoder(Limits{MaxAlloc: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	strs := make([]string, 20_000)
	for i := range strs {
		strs[i] = fmt.Sprint("key-", i)
	}
	points := make([]point, 10_000)
	for i := range points {
		points[i] = point{X: float64(i), Name: "p", Tags: []string{"a"}}
	}
	index := make(map[string]int, 10_000)
	for i := range 10_000 {
		index[strs[i]] = i
	}
	type weights struct{ W []float32 }
	tests := []struct {
		name   string
		value  any
		d      *Decoder
		decode func(*Decoder, []byte) error
	}{
		{"20k strings", strs, small, func(d *Decoder, b []byte) error { _, err := DecodeWith[[]string](d, b); return err }},
		{"10k structs", points, small, func(d *Decoder, b []byte) error { _, err := DecodeWith[[]point](d, b); return err }},
		{"map of 10k entries", index, small, func(d *Decoder, b []byte) error { _, err := DecodeWith[map[string]int](d, b); return err }},
		{"wide values", make([]wide, 200), small, func(d *Decoder, b []byte) error { _, err := DecodeWith[[]wide](d, b); return err }},
		{"weights in a struct, default limits", weights{make([]float32, 100_000)}, defaultDecoder, func(d *Decoder, b []byte) error {
			_, err := DecodeWith[weights](d, b)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustEncode(t, tt.value)
			l := tt.d.Limits()
			typ := reflect.TypeOf(tt.value)
			if allocBound(typ, targetOf(typ), len(b)-1) <= int64(l.MaxAlloc) {
				t.Fatalf("a %d-byte payload is not walked", len(b))
			}
			var err error
			n := allocated(func() { err = tt.decode(tt.d, b) })
			if err != nil {
				t.Fatalf("decoding %d bytes: %v", len(b), err)
			}
			cost, err := checkCBOR(b[1:], typ, &l)
			if err != nil {
				t.Fatal(err)
			}
			if cost > 2*int64(n)+allocSlack {
				t.Errorf("charged %d bytes for a decode that allocates %d", cost, n)
			}
		})
	}
}

// costCase decodes one payload into one type, as a table entry.
type costCase struct {
	name    string
	payload []byte // with its tag
	typ     reflect.Type
	decode  func([]byte) error
}

func newCostCase[T any](name string, payload []byte) costCase {
	return costCase{name, payload, reflect.TypeFor[T](), func(b []byte) error { _, err := Decode[T](b); return err }}
}

func encodedCase[T any](t *testing.T, name string, v any) costCase {
	return newCostCase[T](name, mustEncode(t, v))
}

// TestWalkBoundsDecode checks, for values and inputs of many shapes, that
// what the walk charges bounds what decoding allocates, and that the
// per-byte bound of the type bounds what the walk charges.
func TestWalkBoundsDecode(t *testing.T) {
	type tagged struct {
		A int    `cbor:"a"`
		B string `json:"b"`
		C *wide  `cbor:"c,omitempty"`
	}
	type embedded struct {
		*tagged
		D []int
	}
	type hiddenEmbed struct {
		*tagged
		E int
	}
	type withKeys struct {
		X int `cbor:"1,keyasint"`
		Y int `cbor:"-2,keyasint"`
	}
	type asArray struct {
		_ struct{} `cbor:",toarray"`
		A *wide
		B []string
	}
	times := make([]time.Time, 1000)
	for i := range times {
		times[i] = time.Unix(int64(i)*1e6, 7).In(time.FixedZone("", 19800))
	}
	bigs := []*big.Int{new(big.Int).Lsh(big.NewInt(3), 300), big.NewInt(-5), new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 70))}
	generic := map[string]any{"a": []any{1, -1, 1.5, "s", []byte("b"), true, nil}, "m": map[string]any{"k": map[string]any{}}}
	ints := make([]uint, 1000) // []int would take a fast path
	for i := range ints {
		ints[i] = uint(i) * 1000
	}
	cases := []costCase{
		encodedCase[[]uint](t, "ints", ints),
		encodedCase[[]int8](t, "ints into int8 (type errors)", ints),
		encodedCase[[]*int](t, "ints into pointers", ints),
		encodedCase[[]string](t, "ints into strings (type errors)", ints),
		encodedCase[[]any](t, "ints into any", ints),
		encodedCase[nested](t, "nested", nested{ID: 1, Points: []point{{Tags: []string{"x"}}}, Index: map[string]*point{"a": {}}, Inner: &nested{}, When: times[1], Raw: []byte{1}, Weight: []float32{1}}),
		encodedCase[any](t, "nested into any", nested{ID: 1, Points: []point{{Tags: []string{"x"}}}, Inner: &nested{}, When: times[1]}),
		encodedCase[map[string]any](t, "generic values", generic),
		encodedCase[any](t, "generic values into any", generic),
		encodedCase[map[any]any](t, "generic values into map[any]any", generic),
		encodedCase[[]time.Time](t, "times with an offset", times),
		encodedCase[[]any](t, "times into any", times),
		encodedCase[[]time.Time](t, "strings into times", []string{strings.Repeat("x", 60), "2024-02-30T00:00:00Z", strings.Repeat("\xff", 500)}),
		encodedCase[[]*big.Int](t, "bignums", bigs),
		encodedCase[[]any](t, "bignums into any", bigs),
		encodedCase[[]int64](t, "bignums into int64", bigs),
		encodedCase[[]tagged](t, "tagged fields", []tagged{{A: 1, B: "b", C: &wide{}}, {}}),
		encodedCase[embedded](t, "embedded pointer", embedded{tagged: &tagged{A: 1}, D: []int{1}}),
		encodedCase[withKeys](t, "integer keys", withKeys{X: 1, Y: 2}),
		newCostCase[[]hiddenEmbed]("unexported embedded pointer", cborArray(100, 0xa1, 0x61, 'a', 0x01)),
		encodedCase[asArray](t, "toarray struct", asArray{A: &wide{}, B: []string{"x"}}),
		encodedCase[[]selfCoded](t, "own UnmarshalCBOR", []selfCoded{1, 2, 3}),
		encodedCase[map[int]wide](t, "map of wide values", map[int]wide{1: {}, 2: {}}),
		encodedCase[[]map[string]int](t, "empty maps", make([]map[string]int, 100)),
		newCostCase[map[any]int]("unhashable keys", []byte{byte(tagCBOR), 0xa3, 0x80, 0x01, 0xa0, 0x02, 0x41, 0x00, 0x03}),
		newCostCase[map[any]any]("byte string keys", []byte{byte(tagCBOR), 0xa2, 0x42, 'a', 'b', 0x01, 0xc6, 0x41, 'c', 0x02}),
		newCostCase[point]("unknown and odd keys", []byte{byte(tagCBOR), 0xa4, 0x63, 'x', 'y', 'z', 0x01, 0x05, 0x02, 0x41, 'X', 0x03, 0x80, 0x04}),
		newCostCase[any]("nested tags", []byte{byte(tagCBOR), 0xc6, 0xc7, 0xd9, 0xd9, 0xf7, 0xc2, 0x41, 0x01}),
		newCostCase[[]time.Time]("tagged times", []byte{byte(tagCBOR), 0x83, 0xc1, 0x1a, 0x00, 0x01, 0x00, 0x00, 0xc1, 0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0, 0xc0, 0x61, 'x'}),
		newCostCase[[]*int]("tags around values", []byte{byte(tagCBOR), 0x82, 0xc6, 0xf6, 0xc0, 0x01}),
		newCostCase[[]byte]("byte array as CBOR", []byte{byte(tagCBOR), 0x42, 1, 2}),
	}
	l := DefaultLimits()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cost, err := checkCBOR(c.payload[1:], c.typ, &l)
			if err != nil {
				t.Fatalf("walk: %v", err)
			}
			if bound := allocBound(c.typ, targetOf(c.typ), len(c.payload)-1); cost > bound {
				t.Errorf("walk charged %d bytes, above the per-byte bound %d", cost, bound)
			}
			n := allocated(func() { _ = c.decode(c.payload) })
			if int64(n) > cost+allocSlack {
				t.Errorf("decoding allocated %d bytes, the walk charged %d", n, cost)
			}
		})
	}
}
