package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unsafe"
)

// appendScalar encodes x when its dynamic type is a predeclared bool,
// integer or float type, and reports whether it did. It does not retain x,
// so converting a scalar to any for it does not allocate.
func appendScalar(dst []byte, x any) ([]byte, bool) {
	switch x := x.(type) {
	case int:
		return appendFixed(dst, tagScalarInt, uint64(x), 8), true
	case float64:
		return appendFixed(dst, tagScalarFloat64, math.Float64bits(x), 8), true
	case bool:
		return appendFixed(dst, tagScalarBool, boolBits(x), 1), true
	case int64:
		return appendFixed(dst, tagScalarInt64, uint64(x), 8), true
	case uint64:
		return appendFixed(dst, tagScalarUint64, x, 8), true
	case int32:
		return appendFixed(dst, tagScalarInt32, uint64(x), 4), true
	case uint32:
		return appendFixed(dst, tagScalarUint32, uint64(x), 4), true
	case float32:
		return appendFixed(dst, tagScalarFloat32, uint64(math.Float32bits(x)), 4), true
	case uint:
		return appendFixed(dst, tagScalarUint, uint64(x), 8), true
	case uint8:
		return appendFixed(dst, tagScalarUint8, uint64(x), 1), true
	case int8:
		return appendFixed(dst, tagScalarInt8, uint64(x), 1), true
	case int16:
		return appendFixed(dst, tagScalarInt16, uint64(x), 2), true
	case uint16:
		return appendFixed(dst, tagScalarUint16, uint64(x), 2), true
	}
	return dst, false
}

// appendNamedScalar encodes rv, whose type is a named type with a scalar
// kind, and reports whether it did. Types that encode themselves through a
// CBOR or binary marshaling method are left to CBOR.
func appendNamedScalar(dst []byte, rv reflect.Value) ([]byte, bool) {
	var (
		tg   tag
		bits uint64
		size int
	)
	switch rv.Kind() {
	case reflect.Bool:
		tg, bits, size = tagScalarBool, boolBits(rv.Bool()), 1
	case reflect.Int:
		tg, bits, size = tagScalarInt, uint64(rv.Int()), 8
	case reflect.Int8:
		tg, bits, size = tagScalarInt8, uint64(rv.Int()), 1
	case reflect.Int16:
		tg, bits, size = tagScalarInt16, uint64(rv.Int()), 2
	case reflect.Int32:
		tg, bits, size = tagScalarInt32, uint64(rv.Int()), 4
	case reflect.Int64:
		tg, bits, size = tagScalarInt64, uint64(rv.Int()), 8
	case reflect.Uint:
		tg, bits, size = tagScalarUint, rv.Uint(), 8
	case reflect.Uint8:
		tg, bits, size = tagScalarUint8, rv.Uint(), 1
	case reflect.Uint16:
		tg, bits, size = tagScalarUint16, rv.Uint(), 2
	case reflect.Uint32:
		tg, bits, size = tagScalarUint32, rv.Uint(), 4
	case reflect.Uint64:
		tg, bits, size = tagScalarUint64, rv.Uint(), 8
	case reflect.Float32:
		// reflect widens to float64; narrowing back is exact except that a
		// signalling NaN comes back quiet.
		tg, bits, size = tagScalarFloat32, uint64(math.Float32bits(float32(rv.Float()))), 4
	case reflect.Float64:
		tg, bits, size = tagScalarFloat64, math.Float64bits(rv.Float()), 8
	default:
		return dst, false
	}
	if infoOf(rv.Type()).selfEncoding {
		return dst, false
	}
	return appendFixed(dst, tg, bits, size), true
}

func boolBits(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// appendFixed writes tg and the low size bytes of bits, little-endian.
func appendFixed(dst []byte, tg tag, bits uint64, size int) []byte {
	dst = append(slices.Grow(dst, 1+size), byte(tg))
	switch size {
	case 1:
		return append(dst, byte(bits))
	case 2:
		return binary.LittleEndian.AppendUint16(dst, uint16(bits))
	case 4:
		return binary.LittleEndian.AppendUint32(dst, uint32(bits))
	}
	return binary.LittleEndian.AppendUint64(dst, bits)
}

// fixedNumber lists the numeric types of single-scalar payloads.
type fixedNumber interface {
	number | ~uint
}

// scalarType lists the Go types of single-scalar payloads.
type scalarType interface {
	~bool | fixedNumber
}

// scalarLength checks that a tg payload has the size of its type.
func scalarLength(tg tag, payload []byte, size int) error {
	if len(payload) != size {
		return fmt.Errorf("%w: %s payload of %d bytes, want %d", ErrMalformed, tg, len(payload), size)
	}
	return nil
}

// decodeScalar decodes a fixed-width payload holding an S, whose size is
// the same on every platform.
func decodeScalar[T any, S fixedNumber](tg tag, payload []byte) (T, error) {
	var s S
	if err := scalarLength(tg, payload, int(unsafe.Sizeof(s))); err != nil {
		var zero T
		return zero, err
	}
	// Fill s through an unsigned integer of its size, so floats keep
	// their exact bits (NaN payloads, -0).
	p := unsafe.Pointer(&s)
	switch unsafe.Sizeof(s) {
	case 1:
		*(*uint8)(p) = payload[0]
	case 2:
		*(*uint16)(p) = binary.LittleEndian.Uint16(payload)
	case 4:
		*(*uint32)(p) = binary.LittleEndian.Uint32(payload)
	case 8:
		*(*uint64)(p) = binary.LittleEndian.Uint64(payload)
	}
	return scalarAs[T](tg, s)
}

// decodeScalarBool accepts only the payloads 0 and 1, so every accepted
// input re-encodes to itself.
func decodeScalarBool[T any](payload []byte) (T, error) {
	if err := scalarLength(tagScalarBool, payload, 1); err != nil {
		var zero T
		return zero, err
	}
	if payload[0] > 1 {
		var zero T
		return zero, fmt.Errorf("%w: bool payload %#x", ErrMalformed, payload[0])
	}
	return scalarAs[T](tagScalarBool, payload[0] == 1)
}

// decodeScalarInt decodes the 8-byte payload of a Go int, checking the
// range where int is narrower.
func decodeScalarInt[T any](payload []byte) (T, error) {
	if strconv.IntSize == 64 {
		return decodeScalar[T, int](tagScalarInt, payload)
	}
	var zero T
	if err := scalarLength(tagScalarInt, payload, 8); err != nil {
		return zero, err
	}
	v := int64(binary.LittleEndian.Uint64(payload))
	if v < math.MinInt || v > math.MaxInt {
		return zero, fmt.Errorf("%w: int %d overflows this platform's int", ErrMalformed, v)
	}
	return scalarAs[T](tagScalarInt, int(v))
}

// decodeScalarUint is decodeScalarInt for uint.
func decodeScalarUint[T any](payload []byte) (T, error) {
	if strconv.IntSize == 64 {
		return decodeScalar[T, uint](tagScalarUint, payload)
	}
	var zero T
	if err := scalarLength(tagScalarUint, payload, 8); err != nil {
		return zero, err
	}
	v := binary.LittleEndian.Uint64(payload)
	if v > math.MaxUint {
		return zero, fmt.Errorf("%w: uint %d overflows this platform's uint", ErrMalformed, v)
	}
	return scalarAs[T](tagScalarUint, uint(v))
}

// scalarAs returns s as a T. T must be S, a named type of S's kind, or an
// interface type S satisfies; anything else, other numeric types
// included, is ErrTypeMismatch.
func scalarAs[T any, S scalarType](tg tag, s S) (T, error) {
	t := reflect.TypeFor[T]()
	switch t.Kind() {
	case reflect.TypeFor[S]().Kind():
		// A scalar kind fixes the underlying type, hence the layout.
		return *(*T)(unsafe.Pointer(&s)), nil
	case reflect.Interface:
		if v, ok := any(s).(T); ok {
			return v, nil
		}
	}
	var zero T
	return zero, typeMismatch(tg.String(), t)
}
