package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// link nests one CBOR map per level.
type link struct{ Next *link }

func linkChain(levels int) *link {
	var l *link
	for range levels {
		l = &link{Next: l}
	}
	return l
}

// nestedSlices nests one CBOR array per level.
func nestedSlices(levels int) any {
	var v any = 0
	for range levels {
		v = []any{v}
	}
	return v
}

// nestedMaps nests one CBOR map per level.
func nestedMaps(levels int) map[string]any {
	m := map[string]any{}
	for range levels - 1 {
		m = map[string]any{"k": m}
	}
	return m
}

// tagChain nests levels+1 tags: a tag directly inside a tag adds a level.
func tagChain(levels int) any {
	var v any = 0
	for range levels + 1 {
		v = cbor.Tag{Number: 1000, Content: v}
	}
	return v
}

// structValue nests protobuf messages: the top-level message is at level 1.
func structValue(levels int) *structpb.Value {
	v := structpb.NewNullValue()
	if levels%2 == 0 {
		v = structpb.NewListValue(&structpb.ListValue{})
		levels--
	}
	for ; levels > 1; levels -= 2 {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	return v
}

// rawCBOR encodes v without any check of the codec.
func rawCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := encMode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{byte(tagCBOR)}, b...)
}

// rawProto encodes m without any check of the codec.
func rawProto(t *testing.T, m proto.Message) []byte {
	t.Helper()
	name := m.ProtoReflect().Descriptor().FullName()
	b := binary.AppendUvarint([]byte{byte(tagProto)}, uint64(len(name)))
	b, err := proto.MarshalOptions{}.MarshalAppend(append(b, name...), m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodeDepthMatchesDecode checks, on both sides of the default
// MaxDepth, that Encode refuses exactly the values the default decoder
// refuses for their depth: a value at the limit encodes and decodes, one
// level more fails at Encode, and its encoding (made without the check)
// fails Decode.
func TestEncodeDepthMatchesDecode(t *testing.T) {
	limit := DefaultLimits().MaxDepth
	tests := []struct {
		name   string
		value  func(levels int) any
		raw    func(t *testing.T, v any) []byte
		decode func([]byte) error
	}{
		{"struct pointers", func(n int) any { return linkChain(n) }, rawCBOR, func(b []byte) error { _, err := Decode[*link](b); return err }},
		{"slices", nestedSlices, rawCBOR, func(b []byte) error { _, err := Decode[any](b); return err }},
		{"maps", func(n int) any { return nestedMaps(n) }, rawCBOR, func(b []byte) error { _, err := Decode[map[string]any](b); return err }},
		{"tags", tagChain, rawCBOR, func(b []byte) error { _, err := Decode[any](b); return err }},
		{"proto messages", func(n int) any { return structValue(n) }, func(t *testing.T, v any) []byte { return rawProto(t, v.(proto.Message)) },
			func(b []byte) error { _, err := Decode[*structpb.Value](b); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.value(limit))
			if err != nil {
				t.Fatalf("Encode at depth %d: %v", limit, err)
			}
			if err := tt.decode(b); err != nil {
				t.Fatalf("Decode at depth %d: %v", limit, err)
			}
			deeper := tt.value(limit + 1)
			_, err = Encode(deeper)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Encode at depth %d: err = %v, want ErrTooLarge", limit+1, err)
			}
			if want := "more than 100 levels deep (MaxDepth)"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if err := tt.decode(tt.raw(t, deeper)); !errors.Is(err, ErrTooLarge) {
				t.Errorf("Decode at depth %d: err = %v, want ErrTooLarge", limit+1, err)
			}
		})
	}
}

// TestEncodeRefusesWhatDecodeRefuses checks the other limits Encode
// applies to what it produces.
func TestEncodeRefusesWhatDecodeRefuses(t *testing.T) {
	tests := []struct {
		name   string
		limits func(*Limits)
		value  any
		typ    reflect.Type
		want   string
	}{
		{"elements", func(l *Limits) { l.MaxElements = 16 }, make([]uint, 17), reflect.TypeFor[[]uint](), "MaxElements 16"},
		{"pairs", func(l *Limits) { l.MaxElements = 16 }, map[uint]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true,
			10: true, 11: true, 12: true, 13: true, 14: true, 15: true, 16: true, 17: true}, reflect.TypeFor[map[uint]bool](), "MaxElements 16"},
		{"CBOR bytes", func(l *Limits) { l.MaxCBORBytes = 8 }, []string{"123456789"}, reflect.TypeFor[[]string](), "MaxCBORBytes 8"},
		{"allocation", func(l *Limits) { l.MaxAlloc = 8 << 10 }, make([]wide, 2), reflect.TypeFor[[]wide](), "MaxAlloc 8192"},
		{"allocation as any", func(l *Limits) { l.MaxAlloc = 8 << 10 }, make([]uint, 1000), reflect.TypeFor[any](), "MaxAlloc 8192"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := limitsWith(tt.limits)
			b, err := appendCBOR(nil, tt.value, tt.typ, l)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrTooLarge naming %q", err, tt.want)
			}
			if len(b) != 0 {
				t.Errorf("returned %d bytes with an error", len(b))
			}
			d, err := NewDecoder(*l)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeWith[any](d, rawCBOR(t, tt.value)); !errors.Is(err, ErrTooLarge) {
				t.Errorf("a decoder with these limits accepts the value: err = %v", err)
			}
		})
	}
}

// errClass maps an error onto the sentinel it wraps, nil for none.
func errClass(err error) error {
	for _, s := range []error{ErrTooLarge, ErrMalformed, ErrTypeMismatch} {
		if errors.Is(err, s) {
			return s
		}
	}
	if err != nil {
		return errors.New("unclassified: " + err.Error())
	}
	return nil
}

// sameStructure checks that the walk's structural checks classify payload
// (without its tag) as the CBOR library does under the limits of d.
func sameStructure(t *testing.T, payload []byte, d *Decoder) {
	t.Helper()
	l := d.Limits()
	got := errClass(checkStructure(payload, &l))
	var want error
	if err := d.dm.Wellformed(payload); err != nil {
		want = errClass(cborError(err))
	}
	if got != want {
		t.Fatalf("walk says %v, the CBOR library %v, for %x", got, want, payload)
	}
}

// tags returns n tag heads (number 6) around content.
func tags(n int, content ...byte) []byte {
	return append(bytes.Repeat([]byte{0xc6}, n), content...)
}

func TestStructureMatchesCBORLibrary(t *testing.T) {
	small := Limits{MaxDepth: 4, MaxElements: 16}
	arrays := func(n int) []byte { return nestedArrays(n)[1:] }
	tests := []struct {
		name    string
		payload []byte
		limits  Limits
	}{
		{"arrays at the limit", arrays(100), Limits{}},
		{"arrays beyond the limit", arrays(101), Limits{}},
		{"tags at the limit", tags(101, 0x00), Limits{}},
		{"tags beyond the limit", tags(102, 0x00), Limits{}},
		{"array of tags at the limit", append([]byte{0x81}, tags(4, 0x00)...), small},
		{"array of tags beyond the limit", append([]byte{0x81}, tags(5, 0x00)...), small},
		{"tag of arrays", tags(1, 0x81, 0x81, 0x81, 0x81, 0x00), small},
		{"tags of arrays beyond", tags(2, 0x81, 0x81, 0x81, 0x81, 0x00), small},
		{"elements at the limit", append([]byte{0x90}, make([]byte, 16)...), small},
		{"elements beyond the limit", append([]byte{0x91}, make([]byte, 17)...), small},
		{"pairs beyond the limit", append([]byte{0xb1}, make([]byte, 34)...), small},
		{"elements beyond, truncated", []byte{0x91, 0x00}, small},
		{"length that overflows", []byte{0x9b, 0x80, 0, 0, 0, 0, 0, 0, 0}, Limits{}},
		{"truncated array", []byte{0x83, 0x00, 0x00}, Limits{}},
		{"truncated before a deep item", append([]byte{0x83}, arrays(101)...), Limits{}},
		{"truncated string", []byte{0x63, 'a'}, Limits{}},
		{"truncated head", []byte{0x19, 0x01}, Limits{}},
		{"tag without content", []byte{0xc6}, Limits{}},
		{"indefinite array", []byte{0x9f, 0x00, 0xff}, Limits{}},
		{"indefinite array beyond the depth limit", []byte{0x85, 0x85, 0x85, 0x85, 0x9f}, small},
		{"indefinite map beyond the depth limit", []byte{0x81, 0x81, 0x81, 0x81, 0xbf, 0xff}, small},
		{"indefinite string beyond the depth limit", []byte{0x81, 0x81, 0x81, 0x81, 0x5f, 0xff}, small},
		{"indefinite string", []byte{0x7f, 0x61, 'a', 0xff}, Limits{}},
		{"break", []byte{0xff}, Limits{}},
		{"reserved additional information", []byte{0x1c}, Limits{}},
		{"indefinite integer", []byte{0x1f}, Limits{}},
		{"two-byte simple value below 32", []byte{0xf8, 0x10}, Limits{}},
		{"two-byte simple value", []byte{0xf8, 0x20}, Limits{}},
		{"trailing bytes", []byte{0x00, 0x00}, Limits{}},
		{"empty", nil, Limits{}},
		{"floats", []byte{0x83, 0xf9, 0x7c, 0x00, 0xfa, 0x7f, 0xc0, 0, 0, 0xfb, 0, 0, 0, 0, 0, 0, 0, 1}, Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(tt.limits)
			if err != nil {
				t.Fatal(err)
			}
			sameStructure(t, tt.payload, d)
		})
	}
}

// sameVerdict checks that walking payload (without its tag) for type typ,
// with no allocation budget, reaches the verdict of the structural walk:
// following the target type must not change how nesting is counted.
func sameVerdict(t *testing.T, payload []byte, typ reflect.Type, l Limits) {
	t.Helper()
	l.MaxAlloc = math.MaxInt
	_, typed := checkCBOR(payload, typ, &l)
	if got, want := errClass(typed), errClass(checkStructure(payload, &l)); got != want {
		t.Fatalf("walk for %s says %v, the structural walk %v, for %x", typ, got, want, payload)
	}
}

func TestTypedWalkMatchesStructure(t *testing.T) {
	l, err := Limits{MaxDepth: 4, MaxElements: 16}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	types := []reflect.Type{
		reflect.TypeFor[[]time.Time](), reflect.TypeFor[[]*int](), reflect.TypeFor[[]any](), reflect.TypeFor[cbor.Tag](),
		reflect.TypeFor[[]cbor.Tag](), reflect.TypeFor[point](), reflect.TypeFor[map[any]any](), reflect.TypeFor[[]selfCoded](),
	}
	payloads := [][]byte{
		// A tag around null, then a chain of tags at the depth limit.
		{0x82, 0xc6, 0xf6, 0xc6, 0xc6, 0xc6, 0xc6, 0x00},
		{0x82, 0xc6, 0xf6, 0xc6, 0xc6, 0xc6, 0xc6, 0xc6, 0x00},
		{0x82, 0xd9, 0xd9, 0xf7, 0xf6, 0xc6, 0xc6, 0xc6, 0xc6, 0x00},
		{0x82, 0xc1, 0x00, 0xc6, 0xc6, 0xc6, 0xc6, 0x00},
		{0x83, 0xf6, 0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x81, 0x81, 0x81, 0x00},
		{0xa2, 0x61, 'X', 0xc6, 0xf6, 0x61, 'Y', 0xc6, 0xc6, 0xc6, 0xc6, 0x00},
		{0xc6, 0xc2, 0x41, 0x00},
		{0x82, 0xc0, 0x61, 'x', 0xc6, 0xc6, 0xc6, 0xc6, 0x00},
	}
	for _, typ := range types {
		for _, p := range payloads {
			sameVerdict(t, p, typ, l)
		}
	}
}

// Struct shapes whose field resolution the walk must get right.
type (
	fieldsInner struct {
		A int
		B int `cbor:"bee"`
		C int
	}
	// FieldsOther is exported so that the decoder can allocate it when
	// it is embedded as a pointer.
	FieldsOther struct {
		A int
		D int
	}
	fieldsCase struct {
		fieldsInner
		*FieldsOther
		C          int `json:"c2"`
		E          int `cbor:"-"`
		F          int `json:"-"`
		G          int `cbor:"7,keyasint"`
		H          int `cbor:"07,keyasint"`
		J          int `cbor:"-3,keyasint,omitempty"`
		I          int `cbor:"bee"`
		K          int `json:"k,omitempty" cbor:"kay"`
		unexported int
	}
	fieldsArray struct {
		_ struct{} `cbor:"x,toarray"`
		X int
		fieldsInner
		Y int
	}
)

// intFields returns the index paths of the int fields of v (a struct),
// through embedded structs and non-nil pointers to them, that hold want.
func intFields(v reflect.Value, path []int, want int64) [][]int {
	var found [][]int
	for i := range v.NumField() {
		f := v.Field(i)
		p := append(append([]int(nil), path...), i)
		switch {
		case f.Kind() == reflect.Int && f.Int() == want:
			found = append(found, p)
		case f.Kind() == reflect.Struct:
			found = append(found, intFields(f, p, want)...)
		case f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.Struct:
			found = append(found, intFields(f.Elem(), p, want)...)
		}
	}
	return found
}

// TestFieldResolutionMatchesCBORLibrary decodes one-entry maps with every
// candidate key and checks that the field the CBOR library fills is the
// one the walk's model of the struct names.
func TestFieldResolutionMatchesCBORLibrary(t *testing.T) {
	typ := reflect.TypeFor[fieldsCase]()
	st := targetOf(typ).st
	fields, _, _ := cborFields(typ)
	keys := []any{"A", "B", "bee", "C", "c2", "D", "E", "F", "G", "7", "H", "I", "J", "K", "k", "kay", "unexported", "fieldsInner", "FieldsOther", uint64(7), int64(-3), uint64(3)}
	for _, key := range keys {
		payload, err := cbor.Marshal(map[any]int{key: 5})
		if err != nil {
			t.Fatal(err)
		}
		var v fieldsCase
		if err := defaultDecoder.dm.Unmarshal(payload, &v); err != nil {
			t.Fatalf("key %v: %v", key, err)
		}
		if v.unexported != 0 {
			t.Errorf("key %v: the library filled an unexported field", key)
		}
		got := intFields(reflect.ValueOf(v), nil, 5)
		var want [][]int
		var i int
		var ok bool
		switch k := key.(type) {
		case string:
			i, ok = st.byName[k]
		case uint64:
			i, ok = st.byInt[int64(k)]
		case int64:
			i, ok = st.byInt[k]
		}
		if ok {
			want = [][]int{fields[i].index}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("key %v: the library fills %v, the model names %v", key, got, want)
		}
	}

	arr := reflect.TypeFor[fieldsArray]()
	fields, toArray, _ := cborFields(arr)
	if !toArray || len(fields) != len(targetOf(arr).st.fields) {
		t.Fatalf("toarray: model has toArray %v and %d fields", toArray, len(fields))
	}
	payload := []byte{0x80 | byte(len(fields))}
	for i := range fields {
		payload = append(payload, byte(i+1))
	}
	var v fieldsArray
	if err := defaultDecoder.dm.Unmarshal(payload, &v); err != nil {
		t.Fatal(err)
	}
	for i, f := range fields {
		if got := reflect.ValueOf(v).FieldByIndex(f.index).Int(); got != int64(i+1) {
			t.Errorf("toarray field %d (%v) holds %d, want %d", i, f.index, got, i+1)
		}
	}
}

func TestLimitsDefaultsAndValidation(t *testing.T) {
	d := DefaultLimits()
	if d.MaxBytes != math.MaxInt32 || d.MaxCBORBytes != 64<<20 || d.MaxDepth != 100 || d.MaxElements != 1<<24 || d.MaxAlloc != 256<<20 {
		t.Fatalf("DefaultLimits() = %+v", d)
	}
	dec, err := NewDecoder(Limits{MaxAlloc: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := dec.Limits(); got.MaxAlloc != 1<<20 || got.MaxCBORBytes != d.MaxCBORBytes {
		t.Errorf("Limits() = %+v, want defaults filled in", got)
	}
	for _, l := range []Limits{{MaxAlloc: -1}, {MaxCBORBytes: -1}} {
		if _, err := NewDecoder(l); !errors.Is(err, ErrInvalidLimits) {
			t.Errorf("NewDecoder(%+v): err = %v, want ErrInvalidLimits", l, err)
		}
	}
	big := rawCBOR(t, []string{strings.Repeat("x", 100)})
	if _, err := DecodeWithLimits[[]string](big, Limits{MaxCBORBytes: 64}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("CBOR payload over MaxCBORBytes: err = %v, want ErrTooLarge", err)
	}
	if _, err := DecodeWithLimits[[]byte](append([]byte{byte(tagBytes)}, make([]byte, 100)...), Limits{MaxCBORBytes: 64}); err != nil {
		t.Errorf("MaxCBORBytes applied to a fast path: %v", err)
	}
}
