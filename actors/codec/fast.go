package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strconv"
	"unsafe"

	"github.com/goray-dev/goray/internal/hugemem"
)

// tag is the first byte of every encoding. Values are part of the wire
// format: never renumber them.
type tag byte

const (
	tagInvalid tag = iota // never written
	tagCBOR
	tagProto
	tagString
	tagBytes
	tagInt8
	tagInt16
	tagUint16
	tagInt32
	tagUint32
	tagInt64
	tagUint64
	tagInt // Go int, always 8 bytes on the wire
	tagFloat32
	tagFloat64
	// Single scalars: fixed-width little-endian payloads.
	tagScalarBool
	tagScalarInt // Go int, always 8 bytes on the wire
	tagScalarInt8
	tagScalarInt16
	tagScalarInt32
	tagScalarInt64
	tagScalarUint // Go uint, always 8 bytes on the wire
	tagScalarUint8
	tagScalarUint16
	tagScalarUint32
	tagScalarUint64
	tagScalarFloat32
	tagScalarFloat64
)

// String returns the Go type the tag stands for, for error messages.
func (t tag) String() string {
	switch t {
	case tagCBOR:
		return "CBOR value"
	case tagProto:
		return "proto message"
	case tagString:
		return "string"
	case tagBytes:
		return "[]byte"
	case tagInt8:
		return "[]int8"
	case tagInt16:
		return "[]int16"
	case tagUint16:
		return "[]uint16"
	case tagInt32:
		return "[]int32"
	case tagUint32:
		return "[]uint32"
	case tagInt64:
		return "[]int64"
	case tagUint64:
		return "[]uint64"
	case tagInt:
		return "[]int"
	case tagFloat32:
		return "[]float32"
	case tagFloat64:
		return "[]float64"
	case tagScalarBool:
		return "bool"
	case tagScalarInt:
		return "int"
	case tagScalarInt8:
		return "int8"
	case tagScalarInt16:
		return "int16"
	case tagScalarInt32:
		return "int32"
	case tagScalarInt64:
		return "int64"
	case tagScalarUint:
		return "uint"
	case tagScalarUint8:
		return "uint8"
	case tagScalarUint16:
		return "uint16"
	case tagScalarUint32:
		return "uint32"
	case tagScalarUint64:
		return "uint64"
	case tagScalarFloat32:
		return "float32"
	case tagScalarFloat64:
		return "float64"
	}
	return "tag " + strconv.Itoa(int(t))
}

// number lists the element types of the fast paths.
type number interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64 | ~int | ~float32 | ~float64
}

// nativeLE reports whether the host stores integers little-endian, in which
// case wire payloads are plain memory copies.
var nativeLE = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// sliceTag returns the fast-path tag for a slice type whose element is a
// predeclared fast-path type (the slice type itself may be named), or
// tagInvalid.
func sliceTag(t reflect.Type) tag {
	e := t.Elem()
	if e.PkgPath() != "" {
		return tagInvalid // named element type
	}
	switch e.Kind() {
	case reflect.Uint8:
		return tagBytes
	case reflect.Int8:
		return tagInt8
	case reflect.Int16:
		return tagInt16
	case reflect.Uint16:
		return tagUint16
	case reflect.Int32:
		return tagInt32
	case reflect.Uint32:
		return tagUint32
	case reflect.Int64:
		return tagInt64
	case reflect.Uint64:
		return tagUint64
	case reflect.Int:
		return tagInt
	case reflect.Float32:
		return tagFloat32
	case reflect.Float64:
		return tagFloat64
	}
	return tagInvalid
}

// byteView returns the memory of s as bytes, without copying.
func byteView[E number](s []E) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(*new(E))))
}

func tooLarge(n, maxBytes int) error {
	return fmt.Errorf("%w: payload of %d bytes exceeds MaxBytes %d", ErrTooLarge, n, maxBytes)
}

func appendString(dst []byte, s string, maxBytes int) ([]byte, error) {
	if len(s) > maxBytes {
		return dst, tooLarge(len(s), maxBytes)
	}
	dst = append(dst, byte(tagString))
	return append(dst, s...), nil
}

// appendNumbers writes tg and the little-endian image of s.
func appendNumbers[E number](dst []byte, tg tag, s []E, maxBytes int) ([]byte, error) {
	size := int(unsafe.Sizeof(*new(E)))
	if len(s) > maxBytes/size {
		return dst, fmt.Errorf("%w: %d elements of %d bytes exceed MaxBytes %d", ErrTooLarge, len(s), size, maxBytes)
	}
	dst = append(dst, byte(tg))
	if nativeLE || size == 1 {
		return appendLarge(dst, byteView(s)), nil
	}
	return appendSwapped(dst, s), nil
}

// copyStep bounds one memmove of copyLarge. memmove cannot be preempted,
// and the garbage collector waits for every goroutine to stop in turn: one
// copy of a hundred megabytes into fresh pages held it, and with it every
// other goroutine of a 2-core process, for over a second (long enough for
// gossip to declare the node dead). A megabyte takes about a millisecond
// at worst.
const copyStep = 1 << 20

// copyLarge is copy in steps of copyStep, yielding between steps: the
// loop has no other point where the scheduler or the collector could stop
// the goroutine.
func copyLarge(dst, src []byte) int {
	n := 0
	for n < len(src) && n < len(dst) {
		if n > 0 {
			runtime.Gosched()
		}
		n += copy(dst[n:], src[n:min(len(src), n+copyStep)])
	}
	return n
}

// appendLarge is append(dst, src...) with the copy in steps of copyStep.
func appendLarge(dst, src []byte) []byte {
	if len(src) <= copyStep {
		return append(dst, src...)
	}
	n := len(dst) + len(src)
	if cap(dst) < n {
		// make clears a large allocation in preemptible steps; append
		// would clear it in one.
		grown := hugemem.Bytes(n)[:len(dst)]
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:n]
	copyLarge(dst[n-len(src):], src)
	return dst
}

// appendSwapped is the big-endian-host path of appendNumbers.
func appendSwapped[E number](dst []byte, s []E) []byte {
	size := int(unsafe.Sizeof(*new(E)))
	start := len(dst)
	dst = append(dst, make([]byte, len(s)*size)...)
	putLE(dst[start:], s)
	return dst
}

// putLE stores s into b (len(b) == len(s)*size) in little-endian order,
// element by element, whatever the host order.
func putLE[E number](b []byte, s []E) {
	p := unsafe.Pointer(unsafe.SliceData(s))
	switch unsafe.Sizeof(*new(E)) {
	case 1:
		copy(b, unsafe.Slice((*byte)(p), len(s)))
	case 2:
		for i, v := range unsafe.Slice((*uint16)(p), len(s)) {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
	case 4:
		for i, v := range unsafe.Slice((*uint32)(p), len(s)) {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
	case 8:
		for i, v := range unsafe.Slice((*uint64)(p), len(s)) {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
	}
}

// getLE is the inverse of putLE.
func getLE[E number](s []E, b []byte) {
	p := unsafe.Pointer(unsafe.SliceData(s))
	switch unsafe.Sizeof(*new(E)) {
	case 1:
		copy(unsafe.Slice((*byte)(p), len(s)), b)
	case 2:
		u := unsafe.Slice((*uint16)(p), len(s))
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	case 4:
		u := unsafe.Slice((*uint32)(p), len(s))
		for i := range u {
			u[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	case 8:
		u := unsafe.Slice((*uint64)(p), len(s))
		for i := range u {
			u[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	}
}

// appendRawSlice encodes a named slice type whose element is a predeclared
// fast-path type, viewing it as the unnamed slice.
func appendRawSlice(dst []byte, tg tag, rv reflect.Value, maxBytes int) ([]byte, error) {
	p, n := rv.UnsafePointer(), rv.Len()
	switch tg {
	case tagBytes:
		return appendNumbers(dst, tg, unsafe.Slice((*byte)(p), n), maxBytes)
	case tagInt8:
		return appendNumbers(dst, tg, unsafe.Slice((*int8)(p), n), maxBytes)
	case tagInt16:
		return appendNumbers(dst, tg, unsafe.Slice((*int16)(p), n), maxBytes)
	case tagUint16:
		return appendNumbers(dst, tg, unsafe.Slice((*uint16)(p), n), maxBytes)
	case tagInt32:
		return appendNumbers(dst, tg, unsafe.Slice((*int32)(p), n), maxBytes)
	case tagUint32:
		return appendNumbers(dst, tg, unsafe.Slice((*uint32)(p), n), maxBytes)
	case tagInt64:
		return appendNumbers(dst, tg, unsafe.Slice((*int64)(p), n), maxBytes)
	case tagUint64:
		return appendNumbers(dst, tg, unsafe.Slice((*uint64)(p), n), maxBytes)
	case tagInt:
		return appendInts(dst, unsafe.Slice((*int)(p), n), maxBytes)
	case tagFloat32:
		return appendNumbers(dst, tg, unsafe.Slice((*float32)(p), n), maxBytes)
	case tagFloat64:
		return appendNumbers(dst, tg, unsafe.Slice((*float64)(p), n), maxBytes)
	}
	return dst, fmt.Errorf("%w: no fast path for %s", ErrUnencodable, rv.Type())
}

// appendInts writes []int as 8-byte integers, so 32- and 64-bit hosts
// interoperate.
func appendInts(dst []byte, s []int, maxBytes int) ([]byte, error) {
	if strconv.IntSize == 64 {
		return appendNumbers(dst, tagInt, s, maxBytes)
	}
	w := make([]int64, len(s))
	for i, v := range s {
		w[i] = int64(v)
	}
	return appendNumbers(dst, tagInt, w, maxBytes)
}

// decodeSlice copies payload into a new []E. An empty payload yields nil.
func decodeSlice[E number](tg tag, payload []byte) ([]E, error) {
	size := int(unsafe.Sizeof(*new(E)))
	if len(payload)%size != 0 {
		return nil, fmt.Errorf("%w: %s payload of %d bytes is not a multiple of %d", ErrMalformed, tg, len(payload), size)
	}
	if len(payload) == 0 {
		return nil, nil
	}
	s := hugemem.Slice[E](len(payload) / size)
	if nativeLE || size == 1 {
		copyLarge(byteView(s), payload)
	} else {
		getLE(s, payload)
	}
	return s, nil
}

// decodeNumbers decodes a fast-path slice into T, which must be []E, a
// named type with underlying type []E, or an interface []E satisfies.
func decodeNumbers[T any, E number](tg tag, payload []byte) (T, error) {
	var zero T
	t := reflect.TypeFor[T]()
	switch {
	case t.Kind() == reflect.Slice && t.Elem() == reflect.TypeFor[E]():
		s, err := decodeSlice[E](tg, payload)
		if err != nil {
			return zero, err
		}
		// T and []E have the same underlying type, hence the same layout.
		return *(*T)(unsafe.Pointer(&s)), nil
	case t.Kind() == reflect.Interface:
		s, err := decodeSlice[E](tg, payload)
		if err != nil {
			return zero, err
		}
		if v, ok := any(s).(T); ok {
			return v, nil
		}
	}
	return zero, typeMismatch(tg.String(), t)
}

// decodeInts decodes tagInt, checking the range on 32-bit hosts.
func decodeInts[T any](payload []byte) (T, error) {
	if strconv.IntSize == 64 {
		return decodeNumbers[T, int](tagInt, payload)
	}
	var zero T
	t := reflect.TypeFor[T]()
	if !(t.Kind() == reflect.Slice && t.Elem() == reflect.TypeFor[int]()) && t.Kind() != reflect.Interface {
		return zero, typeMismatch(tagInt.String(), t)
	}
	w, err := decodeSlice[int64](tagInt, payload)
	if err != nil {
		return zero, err
	}
	var s []int
	if w != nil {
		s = make([]int, len(w))
	}
	for i, v := range w {
		if v < math.MinInt || v > math.MaxInt {
			return zero, fmt.Errorf("%w: element %d = %d overflows int", ErrMalformed, i, v)
		}
		s[i] = int(v)
	}
	if t.Kind() == reflect.Interface {
		if v, ok := any(s).(T); ok {
			return v, nil
		}
		return zero, typeMismatch(tagInt.String(), t)
	}
	return *(*T)(unsafe.Pointer(&s)), nil
}

// decodeString copies payload into a string of type T.
func decodeString[T any](payload []byte) (T, error) {
	var zero T
	t := reflect.TypeFor[T]()
	switch t.Kind() {
	case reflect.String:
		s := string(payload)
		return *(*T)(unsafe.Pointer(&s)), nil
	case reflect.Interface:
		if v, ok := any(string(payload)).(T); ok {
			return v, nil
		}
	}
	return zero, typeMismatch(tagString.String(), t)
}
