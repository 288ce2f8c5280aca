// Package codec serialises the user values that goray passes between tasks
// and actors: every argument and result of a remote call goes through it,
// in process too, so a program behaves the same on one node as on many.
//
// # Wire format
//
// An encoding is one tag byte followed by a payload:
//
//	tag  Go type        payload
//	1    other          CBOR (RFC 8949) encoding of the value
//	2    proto.Message  uvarint name length, message full name, protobuf bytes
//	3    string         the string's bytes
//	4    []byte         the bytes ([]uint8 is the same type)
//	5    []int8         1 byte per element
//	6    []int16        2 bytes per element, little-endian
//	7    []uint16       2 bytes per element, little-endian
//	8    []int32        4 bytes per element, little-endian
//	9    []uint32       4 bytes per element, little-endian
//	10   []int64        8 bytes per element, little-endian
//	11   []uint64       8 bytes per element, little-endian
//	12   []int          8 bytes per element, little-endian, on every platform
//	13   []float32      IEEE 754 bits, 4 bytes per element, little-endian
//	14   []float64      IEEE 754 bits, 8 bytes per element, little-endian
//	15   bool           1 byte, 0 or 1
//	16   int            8 bytes, little-endian, on every platform
//	17   int8           1 byte
//	18   int16          2 bytes, little-endian
//	19   int32          4 bytes, little-endian
//	20   int64          8 bytes, little-endian
//	21   uint           8 bytes, little-endian, on every platform
//	22   uint8          1 byte
//	23   uint16         2 bytes, little-endian
//	24   uint32         4 bytes, little-endian
//	25   uint64         8 bytes, little-endian
//	26   float32        IEEE 754 bits, 4 bytes, little-endian
//	27   float64        IEEE 754 bits, 8 bytes, little-endian
//
// Tags 3 to 27 are the fast paths: on little-endian hosts encoding and
// decoding a slice are one memory copy each, and a single scalar encodes
// into a buffer with room and decodes into its own type without allocating.
// Floats keep their exact bits (NaN payloads, the sign of zero), except
// that a signalling NaN of a named float32 type arrives quiet.
//
// The fast paths also serve named types whose underlying type is one of
// these (type Vec []float32, type Celsius float64); the name is not on the
// wire. Slices of named element types ([]MyFloat) go through CBOR, and so
// do named scalar types with a MarshalCBOR or MarshalBinary method. A
// fast-path payload decodes only into its own type (or a named type with
// that underlying type, or an interface such as any that the type
// satisfies; any receives the unnamed type): anything else, another
// numeric type included, is ErrTypeMismatch. The wire does not tell nil
// from empty: a zero-length slice always decodes as nil.
//
// A proto.Message travels as protobuf. Decoding into a generated message
// pointer type checks the message name on the wire against the type; decoding
// into an interface type (any, proto.Message) finds the message type in the
// global protobuf registry.
//
// Everything else is CBOR: structs by their exported fields (named by a
// `cbor` or `json` tag, else the field name), maps, slices, arrays,
// pointers, time.Time (RFC 3339 with nanoseconds; the zone offset survives, the zone
// name does not). Decoding CBOR into an interface type yields CBOR's
// generic shapes: uint64 or int64 for integers, []any, map[any]any.
//
// Chan, func, unsafe.Pointer and complex values cannot be encoded
// (ErrUnencodable), nor can cyclic values: a value whose type can form a
// cycle is checked to nest no deeper than 65535 levels before it is encoded.
// A nil pointer, nil map or nil interface at top level is ErrNilValue; nil
// slices are fine.
//
// # Limits
//
// Decoding is safe against hostile input: it never panics and allocates in
// proportion to the input. Limits bounds it (DefaultLimits in brackets):
//
//   - MaxBytes [math.MaxInt32]: the largest payload. Encode refuses to
//     produce bigger payloads with ErrTooLarge.
//   - MaxDepth [100]: nesting of CBOR arrays, maps and tags, and the
//     protobuf recursion limit.
//   - MaxElements [1<<26]: elements of one CBOR array or pairs of one map.
//     CBOR input is checked to be well formed, and to actually hold every
//     claimed element, before anything is allocated, so a short input that
//     claims a huge container fails without allocating for it.
//
// Exceeding a limit is ErrTooLarge. Empty input, an unknown tag, a truncated
// payload, a fast-path slice payload whose length is not a multiple of the
// element size, a scalar payload of the wrong length, a bool byte other
// than 0 or 1, or an int or uint beyond the range of this platform's int or
// uint is ErrMalformed. Decode uses DefaultLimits; DecodeWithLimits
// and DecodeWith (with a Decoder from NewDecoder) apply others.
package codec
