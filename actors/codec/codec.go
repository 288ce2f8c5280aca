package codec

import (
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/fxamacker/cbor/v2"
	"google.golang.org/protobuf/proto"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can classify failures with errors.Is.
var (
	// ErrUnencodable reports a value whose type has no encoding (chan, func,
	// unsafe.Pointer, complex numbers, or a proto message that fails to marshal).
	ErrUnencodable = errors.New("codec: unencodable value")
	// ErrNilValue reports a nil pointer, nil interface or nil map at top level.
	ErrNilValue = errors.New("codec: nil value")
	// ErrMalformed reports input that is not a valid encoding.
	ErrMalformed = errors.New("codec: malformed input")
	// ErrTypeMismatch reports input that encodes a value of another type than
	// the one requested.
	ErrTypeMismatch = errors.New("codec: type mismatch")
	// ErrTooLarge reports a value or input exceeding a Limits bound.
	ErrTooLarge = errors.New("codec: value exceeds limits")
	// ErrInvalidLimits reports a Limits value outside the supported ranges.
	ErrInvalidLimits = errors.New("codec: invalid limits")
)

// Limits bound what a decoder accepts. A zero field takes its value from
// DefaultLimits.
type Limits struct {
	// MaxBytes is the largest payload (input minus its tag byte) accepted
	// on any path. It is the only bound of the fast paths (strings, []byte,
	// numeric slices, scalars), which allocate about their payload size.
	// Encode applies the default value to the payloads it produces.
	MaxBytes int
	// MaxCBORBytes is the largest CBOR payload (tag 1) accepted, in
	// addition to MaxBytes. Encode applies the default value to the CBOR
	// payloads it produces.
	MaxCBORBytes int
	// MaxDepth is the deepest nesting of CBOR (each array and map adds a
	// level, and so does each tag whose content is another tag; a scalar
	// at top level is at depth 0), and the protobuf recursion limit (each
	// message, and each map entry, adds a level; the top-level message is
	// at depth 1). Encode applies the default value. Range [4, 65535].
	MaxDepth int
	// MaxElements is the largest element count of one CBOR array or pair
	// count of one CBOR map. Encode applies the default value. Range [16,
	// math.MaxInt32].
	MaxElements int
	// MaxAlloc is the budget, in bytes, for what decoding one CBOR payload
	// allocates: before decoding, what decoding the payload into the
	// target type would allocate is added up, and a payload over budget is
	// refused (see the package documentation). Encode applies the default
	// value, decoding as the type it was given. It does not apply to the
	// fast paths.
	MaxAlloc int
}

// Bounds imposed by the CBOR decoder on its options.
const (
	minDepth    = 4
	maxDepth    = 65535
	minElements = 16
	maxElements = math.MaxInt32
)

// Default limits; the package documentation explains the choices.
const (
	defaultMaxBytes     = math.MaxInt32
	defaultMaxCBORBytes = 64 << 20
	defaultMaxDepth     = 100
	defaultMaxElements  = 1 << 24
	defaultMaxAlloc     = 256 << 20
)

// DefaultLimits returns the limits used by Decode and Encode.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:     defaultMaxBytes,
		MaxCBORBytes: defaultMaxCBORBytes,
		MaxDepth:     defaultMaxDepth,
		MaxElements:  defaultMaxElements,
		MaxAlloc:     defaultMaxAlloc,
	}
}

// withDefaults fills zero fields and validates the rest.
func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.MaxBytes, &d.MaxBytes},
		{&l.MaxCBORBytes, &d.MaxCBORBytes},
		{&l.MaxDepth, &d.MaxDepth},
		{&l.MaxElements, &d.MaxElements},
		{&l.MaxAlloc, &d.MaxAlloc},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	switch {
	case l.MaxBytes < 0:
		return l, fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidLimits, l.MaxBytes)
	case l.MaxCBORBytes < 0:
		return l, fmt.Errorf("%w: MaxCBORBytes %d is negative", ErrInvalidLimits, l.MaxCBORBytes)
	case l.MaxDepth < minDepth || l.MaxDepth > maxDepth:
		return l, fmt.Errorf("%w: MaxDepth %d outside [%d, %d]", ErrInvalidLimits, l.MaxDepth, minDepth, maxDepth)
	case l.MaxElements < minElements || l.MaxElements > maxElements:
		return l, fmt.Errorf("%w: MaxElements %d outside [%d, %d]", ErrInvalidLimits, l.MaxElements, minElements, maxElements)
	case l.MaxAlloc < 0:
		return l, fmt.Errorf("%w: MaxAlloc %d is negative", ErrInvalidLimits, l.MaxAlloc)
	}
	return l, nil
}

// Decoder decodes with fixed Limits. It is immutable and safe for
// concurrent use; building one costs a CBOR mode, so reuse it.
type Decoder struct {
	limits Limits
	dm     cbor.DecMode
}

// NewDecoder returns a Decoder enforcing l (zero fields take defaults).
func NewDecoder(l Limits) (*Decoder, error) {
	l, err := l.withDefaults()
	if err != nil {
		return nil, err
	}
	dm, err := newDecMode(l)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLimits, err)
	}
	return &Decoder{limits: l, dm: dm}, nil
}

// Limits returns the limits d enforces, with defaults filled in.
func (d *Decoder) Limits() Limits { return d.limits }

// defaultDecoder backs Decode; it is built once and never modified.
var defaultDecoder = func() *Decoder {
	d, err := NewDecoder(DefaultLimits())
	if err != nil {
		panic(err)
	}
	return d
}()

// Encode serialises v. The result is one tag byte followed by the payload.
func Encode[T any](v T) ([]byte, error) {
	return AppendEncode(nil, v)
}

// AppendEncode appends the encoding of v to dst and returns the extended
// slice. On error it returns dst with its original length.
func AppendEncode[T any](dst []byte, v T) ([]byte, error) {
	if out, ok := appendScalar(dst, any(v)); ok {
		return out, nil
	}
	return appendValue(dst, any(v), reflect.TypeFor[T], &defaultDecoder.limits)
}

// Decode deserialises data, as produced by Encode, into a T under
// DefaultLimits. It never panics; see the package documentation for what
// it allocates.
func Decode[T any](data []byte) (T, error) {
	return decode[T](defaultDecoder, data)
}

// DecodeWithLimits is Decode under l (zero fields take defaults). Limits
// other than the defaults build a CBOR mode per call when the payload is
// CBOR; use NewDecoder and DecodeWith to amortise that.
func DecodeWithLimits[T any](data []byte, l Limits) (T, error) {
	l, err := l.withDefaults()
	if err != nil {
		var zero T
		return zero, err
	}
	if l == defaultDecoder.limits {
		return decode[T](defaultDecoder, data)
	}
	if len(data) > 0 && tag(data[0]) != tagCBOR {
		// Only the CBOR path needs the decoding mode.
		return decode[T](&Decoder{limits: l}, data)
	}
	d, err := NewDecoder(l)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode[T](d, data)
}

// DecodeWith is Decode under the limits of d.
func DecodeWith[T any](d *Decoder, data []byte) (T, error) {
	return decode[T](d, data)
}

func decode[T any](d *Decoder, data []byte) (T, error) {
	var zero T
	if len(data) == 0 {
		return zero, fmt.Errorf("%w: empty input", ErrMalformed)
	}
	tg, payload := tag(data[0]), data[1:]
	if len(payload) > d.limits.MaxBytes {
		return zero, fmt.Errorf("%w: payload of %d bytes exceeds MaxBytes %d", ErrTooLarge, len(payload), d.limits.MaxBytes)
	}
	switch tg {
	case tagCBOR:
		return decodeCBOR[T](d, payload)
	case tagProto:
		return decodeProto[T](d, payload)
	case tagString:
		return decodeString[T](payload)
	case tagBytes:
		return decodeNumbers[T, byte](tg, payload)
	case tagInt8:
		return decodeNumbers[T, int8](tg, payload)
	case tagInt16:
		return decodeNumbers[T, int16](tg, payload)
	case tagUint16:
		return decodeNumbers[T, uint16](tg, payload)
	case tagInt32:
		return decodeNumbers[T, int32](tg, payload)
	case tagUint32:
		return decodeNumbers[T, uint32](tg, payload)
	case tagInt64:
		return decodeNumbers[T, int64](tg, payload)
	case tagUint64:
		return decodeNumbers[T, uint64](tg, payload)
	case tagInt:
		return decodeInts[T](payload)
	case tagFloat32:
		return decodeNumbers[T, float32](tg, payload)
	case tagFloat64:
		return decodeNumbers[T, float64](tg, payload)
	case tagScalarBool:
		return decodeScalarBool[T](payload)
	case tagScalarInt:
		return decodeScalarInt[T](payload)
	case tagScalarInt8:
		return decodeScalar[T, int8](tg, payload)
	case tagScalarInt16:
		return decodeScalar[T, int16](tg, payload)
	case tagScalarInt32:
		return decodeScalar[T, int32](tg, payload)
	case tagScalarInt64:
		return decodeScalar[T, int64](tg, payload)
	case tagScalarUint:
		return decodeScalarUint[T](payload)
	case tagScalarUint8:
		return decodeScalar[T, uint8](tg, payload)
	case tagScalarUint16:
		return decodeScalar[T, uint16](tg, payload)
	case tagScalarUint32:
		return decodeScalar[T, uint32](tg, payload)
	case tagScalarUint64:
		return decodeScalar[T, uint64](tg, payload)
	case tagScalarFloat32:
		return decodeScalar[T, float32](tg, payload)
	case tagScalarFloat64:
		return decodeScalar[T, float64](tg, payload)
	}
	return zero, fmt.Errorf("%w: unknown tag %d", ErrMalformed, tg)
}

// appendValue dispatches on the dynamic type of x. Predeclared scalar
// types are appendScalar's, which AppendEncode tries first. static returns
// the type x was given as, which a decoder will decode it into; the
// payloads produced must pass a decoder with limits l.
func appendValue(dst []byte, x any, static func() reflect.Type, l *Limits) ([]byte, error) {
	maxBytes := l.MaxBytes
	switch x := x.(type) {
	case nil:
		return dst, fmt.Errorf("%w: nil interface", ErrNilValue)
	case []byte:
		return appendNumbers(dst, tagBytes, x, maxBytes)
	case string:
		return appendString(dst, x, maxBytes)
	case []float32:
		return appendNumbers(dst, tagFloat32, x, maxBytes)
	case []float64:
		return appendNumbers(dst, tagFloat64, x, maxBytes)
	case []int64:
		return appendNumbers(dst, tagInt64, x, maxBytes)
	case []int32:
		return appendNumbers(dst, tagInt32, x, maxBytes)
	case []int:
		return appendInts(dst, x, maxBytes)
	case []uint64:
		return appendNumbers(dst, tagUint64, x, maxBytes)
	case []uint32:
		return appendNumbers(dst, tagUint32, x, maxBytes)
	case []int16:
		return appendNumbers(dst, tagInt16, x, maxBytes)
	case []uint16:
		return appendNumbers(dst, tagUint16, x, maxBytes)
	case []int8:
		return appendNumbers(dst, tagInt8, x, maxBytes)
	case proto.Message:
		return appendProto(dst, x, l)
	}
	return appendReflect(dst, x, static, l)
}

// appendReflect handles named fast-path types, rejects what cannot be
// encoded and hands the rest to CBOR.
func appendReflect(dst []byte, x any, static func() reflect.Type, l *Limits) ([]byte, error) {
	maxBytes := l.MaxBytes
	rv := reflect.ValueOf(x)
	t := rv.Type()
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return dst, unencodable(t, fmt.Errorf("unsupported kind %s", t.Kind()))
	case reflect.Pointer, reflect.Map:
		if rv.IsNil() {
			return dst, fmt.Errorf("%w: nil %s", ErrNilValue, t)
		}
	case reflect.String:
		return appendString(dst, rv.String(), maxBytes)
	case reflect.Slice:
		if tg := sliceTag(t); tg != tagInvalid {
			return appendRawSlice(dst, tg, rv, maxBytes)
		}
	default:
		if out, ok := appendNamedScalar(dst, rv); ok {
			return out, nil
		}
	}
	return appendCBOR(dst, x, static(), l)
}

// unencodableError carries the Go type that could not be encoded; it
// matches ErrUnencodable and its cause under errors.Is.
type unencodableError struct {
	typ   reflect.Type
	cause error
}

func unencodable(t reflect.Type, cause error) error {
	return &unencodableError{typ: t, cause: cause}
}

func (e *unencodableError) Error() string {
	return "codec: cannot encode value of type " + e.typ.String() + ": " + e.cause.Error()
}

func (e *unencodableError) Unwrap() []error { return []error{ErrUnencodable, e.cause} }

// typeMismatch names the encoded and the requested type.
func typeMismatch(encoded string, want reflect.Type) error {
	return fmt.Errorf("%w: cannot decode %s into %s", ErrTypeMismatch, encoded, want)
}
