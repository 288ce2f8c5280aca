package codec

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// The CBOR encoder follows pointers without cycle detection, so a cyclic
// value would recurse until the goroutine stack overflows, which is fatal.
// Before handing a value whose type could form a cycle to CBOR, checkNesting
// walks it and rejects nesting deeper than any decoder accepts (maxDepth);
// a cycle is infinitely deep. Types that cannot form cycles skip the walk.

var (
	typeCBORMarshaler   = reflect.TypeFor[cbor.Marshaler]()
	typeBinaryMarshaler = reflect.TypeFor[encoding.BinaryMarshaler]()
)

// errTooDeep is the cause reported for values nested beyond maxDepth.
var errTooDeep = fmt.Errorf("nested deeper than %d levels (cyclic values cannot be encoded)", maxDepth)

// checkNesting reports whether x, whose type has info ti, nests deeper
// than maxDepth.
func checkNesting(x any, ti *typeInfo) error {
	rv := reflect.ValueOf(x)
	if scalar(rv.Kind()) || !ti.mayCycle {
		return nil
	}
	if !withinDepth(rv, 0) {
		return unencodable(rv.Type(), errTooDeep)
	}
	return nil
}

// typeInfo is what encoding needs to know about a type.
type typeInfo struct {
	mayCycle     bool  // a value of the type can be cyclic
	selfEncoding bool  // CBOR encodes it through its own method
	cycleFields  []int // struct: encoded fields whose values can be cyclic
	// cborDepth bounds how deep the CBOR encoding of a value of the type
	// nests (math.MaxInt: no bound), counted as the decoder counts.
	cborDepth int
}

// typeInfos memoises infoOf, a pure function of the type; like the type
// caches of the CBOR and protobuf libraries it holds no program state.
var typeInfos sync.Map // reflect.Type -> *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{selfEncoding: selfEncoding(t), mayCycle: mayCycle(t, nil), cborDepth: cborDepth(t, nil)}
	if t.Kind() == reflect.Struct && ti.mayCycle && !ti.selfEncoding {
		for i := range t.NumField() {
			if f := t.Field(i); encodedField(f) && mayCycle(f.Type, nil) {
				ti.cycleFields = append(ti.cycleFields, i)
			}
		}
	}
	v, _ := typeInfos.LoadOrStore(t, ti)
	return v.(*typeInfo)
}

// selfEncoding reports whether CBOR encodes t through its own method, so
// its fields are never visited.
func selfEncoding(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(typeCBORMarshaler) || p.Implements(typeBinaryMarshaler)
}

// encodedField reports whether CBOR visits struct field f.
func encodedField(f reflect.StructField) bool {
	if f.Tag.Get("cbor") == "-" || (f.Tag.Get("cbor") == "" && f.Tag.Get("json") == "-") {
		return false
	}
	return f.IsExported() || f.Anonymous
}

// mayCycle reports whether a value of type t can be cyclic: its type graph
// holds an interface or leads back to a type on path.
func mayCycle(t reflect.Type, path []reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
	default:
		return false
	}
	if slices.Contains(path, t) {
		return true
	}
	if selfEncoding(t) {
		return false
	}
	path = append(path, t)
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayCycle(t.Elem(), path)
	case reflect.Map:
		return mayCycle(t.Key(), path) || mayCycle(t.Elem(), path)
	}
	for i := range t.NumField() {
		if f := t.Field(i); encodedField(f) && mayCycle(f.Type, path) {
			return true
		}
	}
	return false
}

// cborDepth bounds the nesting of the CBOR encoding of a value of type t:
// arrays and maps add a level; byte strings, times, bignums (a tag of a
// byte string) and values with a MarshalBinary method add none. Values
// with a MarshalCBOR method, interfaces and recursive types have no bound.
func cborDepth(t reflect.Type, path []reflect.Type) int {
	if slices.Contains(path, t) || len(path) > maxDepth || reflect.PointerTo(t).Implements(typeCBORMarshaler) {
		return math.MaxInt
	}
	if t == typeTime || t == typeBigInt || reflect.PointerTo(t).Implements(typeBinaryMarshaler) {
		return 0
	}
	path = append(path, t)
	switch t.Kind() {
	case reflect.Interface:
		return math.MaxInt
	case reflect.Pointer:
		return cborDepth(t.Elem(), path)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return 0
		}
		return addLevels(1, cborDepth(t.Elem(), path))
	case reflect.Map:
		return addLevels(1, max(cborDepth(t.Key(), path), cborDepth(t.Elem(), path)))
	case reflect.Struct:
		// Embedded structs are flattened into their parent's map; counting
		// them as nested maps only overestimates.
		d := 0
		for i := range t.NumField() {
			if f := t.Field(i); encodedField(f) {
				d = max(d, cborDepth(f.Type, path))
			}
		}
		return addLevels(1, d)
	}
	return 0
}

// scalar reports kinds that contain nothing to walk.
func scalar(k reflect.Kind) bool {
	return k <= reflect.Complex128 || k == reflect.String
}

// withinDepth reports whether v nests at most maxDepth levels below depth.
// Only values whose type may be cyclic are followed: any other value nests
// no deeper than its finite type graph.
func withinDepth(v reflect.Value, depth int) bool {
	if depth > maxDepth {
		return false
	}
	if scalar(v.Kind()) {
		return true
	}
	if v.Kind() == reflect.Interface {
		return v.IsNil() || withinDepth(v.Elem(), depth+1)
	}
	ti := infoOf(v.Type())
	if !ti.mayCycle || ti.selfEncoding {
		return true
	}
	switch v.Kind() {
	case reflect.Pointer:
		return v.IsNil() || withinDepth(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if !withinDepth(v.Index(i), depth+1) {
				return false
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if !withinDepth(it.Key(), depth+1) || !withinDepth(it.Value(), depth+1) {
				return false
			}
		}
	case reflect.Struct:
		for _, i := range ti.cycleFields {
			if !withinDepth(v.Field(i), depth+1) {
				return false
			}
		}
	}
	return true
}
