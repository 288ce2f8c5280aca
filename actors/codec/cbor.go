package codec

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
	"google.golang.org/protobuf/proto"
)

// encMode is built once and never modified.
var encMode = func() cbor.UserBufferEncMode {
	em, err := cbor.EncOptions{
		// Keep nanoseconds and the zone offset of time.Time values.
		Time: cbor.TimeRFC3339Nano,
	}.UserBufferEncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// newDecMode returns the CBOR decoding mode enforcing l.
func newDecMode(l Limits) (cbor.DecMode, error) {
	return cbor.DecOptions{
		MaxNestedLevels:  l.MaxDepth,
		MaxArrayElements: l.MaxElements,
		MaxMapPairs:      l.MaxElements,
		// The encoder writes definite lengths only; the allocation walk
		// (budget.go) refuses anything else before the decoder runs.
		IndefLength: cbor.IndefLengthForbidden,
		// Go strings may hold any bytes; the encoder does not validate them,
		// so the decoder must not either or such values would not round-trip.
		UTF8:              cbor.UTF8DecodeInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}.DecMode()
}

// appendCBOR writes tagCBOR and the CBOR encoding of x, which must decode
// into a value of type t under l: Encode refuses what the default decoder
// would refuse (size, depth, container sizes, allocation), so that the
// error appears where the value is encoded.
func appendCBOR(dst []byte, x any, t reflect.Type, l *Limits) (out []byte, err error) {
	start := len(dst)
	defer func() {
		// Marshaler methods of user types may panic; report, don't crash.
		if r := recover(); r != nil {
			out, err = dst[:start], unencodable(reflect.TypeOf(x), fmt.Errorf("panic while encoding: %v", r))
		}
	}()
	ti := infoOf(reflect.TypeOf(x))
	if err := checkNesting(x, ti); err != nil {
		return dst, err
	}
	buf := bytes.NewBuffer(dst)
	buf.WriteByte(byte(tagCBOR))
	if err := encMode.MarshalToBuffer(x, buf); err != nil {
		return dst[:start], unencodable(reflect.TypeOf(x), err)
	}
	out = buf.Bytes()
	payload := out[start+1:]
	if n := len(payload); n > l.MaxBytes {
		return dst[:start], tooLarge(n, l.MaxBytes)
	}
	if n := len(payload); n > l.MaxCBORBytes {
		return dst[:start], fmt.Errorf("%w: CBOR payload of %d bytes exceeds MaxCBORBytes %d", ErrTooLarge, n, l.MaxCBORBytes)
	}
	// The walk is skipped when the type bounds the nesting, no container
	// can exceed MaxElements in so few bytes, and the size bounds what
	// decoding allocates.
	if ti.cborDepth <= l.MaxDepth && len(payload) <= l.MaxElements && allocBound(t, targetOf(t), len(payload)) <= int64(l.MaxAlloc) {
		return out, nil
	}
	if _, err := checkCBOR(payload, t, l); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return dst[:start], fmt.Errorf("%w; a decoder with the default limits refuses this %s", err, t)
		}
		// Only a MarshalCBOR method can produce CBOR the walk refuses.
		return dst[:start], unencodable(reflect.TypeOf(x), fmt.Errorf("encodes to CBOR the decoder refuses: %v", err))
	}
	return out, nil
}

// decodeCBOR decodes a CBOR payload into a T.
func decodeCBOR[T any](d *Decoder, payload []byte) (v T, err error) {
	var zero T
	if _, ok := any(zero).(proto.Message); ok {
		// Proto messages always travel as tagProto.
		return zero, typeMismatch(tagCBOR.String(), reflect.TypeFor[T]())
	}
	if len(payload) > d.limits.MaxCBORBytes {
		return zero, fmt.Errorf("%w: CBOR payload of %d bytes exceeds MaxCBORBytes %d", ErrTooLarge, len(payload), d.limits.MaxCBORBytes)
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = zero, fmt.Errorf("%w: CBOR decoder panicked: %v", ErrMalformed, r)
		}
	}()
	// A payload too small to reach MaxAlloc is not walked: the CBOR
	// library checks the rest by the same rules.
	if t := reflect.TypeFor[T](); allocBound(t, targetOf(t), len(payload)) > int64(d.limits.MaxAlloc) {
		if _, err := checkCBOR(payload, t, &d.limits); err != nil {
			return zero, err
		}
	}
	if err := d.dm.Unmarshal(payload, &v); err != nil {
		return zero, cborError(err)
	}
	return v, nil
}

// cborError maps a CBOR decoding error onto the package sentinels.
func cborError(err error) error {
	var (
		typeErr   *cbor.UnmarshalTypeError
		keyErr    *cbor.InvalidMapKeyTypeError
		unmarsErr *cbor.InvalidUnmarshalError
		depthErr  *cbor.MaxNestedLevelError
		arrayErr  *cbor.MaxArrayElementsError
		mapErr    *cbor.MaxMapPairsError
	)
	switch {
	case errors.As(err, &typeErr), errors.As(err, &keyErr), errors.As(err, &unmarsErr):
		return fmt.Errorf("%w: %w", ErrTypeMismatch, err)
	case errors.As(err, &depthErr), errors.As(err, &arrayErr), errors.As(err, &mapErr):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}
