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
// name does not). A CBOR payload is one data item of definite length, as
// Encode writes it; indefinite-length items are malformed. Decoding CBOR
// into an interface type yields CBOR's generic shapes: uint64 or int64 for
// integers, float64, bool, nil, string, []byte, []any, map[any]any, and
// time.Time, big.Int or cbor.Tag for tagged items.
//
// Chan, func, unsafe.Pointer and complex values cannot be encoded
// (ErrUnencodable), nor can cyclic values: a value whose type can form a
// cycle is checked to nest no deeper than 65535 levels before it is encoded.
// A nil pointer, nil map or nil interface at top level is ErrNilValue; nil
// slices are fine. Encode also refuses, with ErrTooLarge, whatever a decoder
// with DefaultLimits would refuse for its size when decoding it as the type
// it was encoded as: a payload beyond MaxBytes or MaxCBORBytes, nesting
// beyond MaxDepth, a CBOR array or map beyond MaxElements, a CBOR value
// whose decoding would allocate beyond MaxAlloc. The error then appears
// where the value is encoded rather than where it is decoded.
//
// # Limits
//
// Decoding never panics, whatever the input. Limits bound it; DefaultLimits
// are in brackets, and a zero field of a Limits takes the default:
//
//   - MaxBytes [math.MaxInt32, 2 GiB]: the largest payload on any path. It
//     is the only bound of the fast paths, which allocate about the size
//     of their payload (a string or slice) or nothing but an interface box
//     (a scalar); bulk data, such as a few hundred MB of []float32, belongs
//     there.
//   - MaxCBORBytes [64 MiB]: the largest CBOR payload. CBOR carries
//     structured values, which decode at tens to a hundred MB/s, so the
//     limit keeps one payload to about a second of decoding.
//   - MaxDepth [100]: the deepest nesting. In CBOR each array and map adds a
//     level, and so does each tag whose content is another tag: a
//     top-level scalar is at depth 0, [[1]] at depth 2. In protobuf (the
//     recursion limit) each message adds a level, the top-level one
//     included, and so does each map entry.
//   - MaxElements [1<<24]: the most entries in one CBOR array or map (pairs
//     for maps). A larger container is not a structured value but bulk
//     data; even with entries of a single byte it is 16 MiB of CBOR.
//   - MaxAlloc [256 MiB]: the budget for what decoding one CBOR payload
//     allocates. Decoded values can be far larger than their encoding (a
//     one-byte null becomes a whole element of a []T, whatever the size of
//     T; a one-byte 0 becomes a 16-byte element of a []any), so the default
//     is four times MaxCBORBytes, and a payload is checked against it
//     before anything is decoded, as described below.
//
// Before CBOR is decoded, a walk over the payload adds up what decoding it
// into the target type allocates (the walk itself allocates only to parse
// time strings, which it charges too): the value decoded into; each slice
// at its length times its element size; each map by its number of
// entries, key and element sizes; each pointer filled in; each string and
// byte string copied; each generic shape an interface receives; the error
// values the CBOR decoder creates for items that do not fit their type.
// Each figure is an upper bound. Past MaxAlloc the
// payload is refused with ErrTooLarge before it is decoded, so decoding
// allocates at most MaxAlloc plus a constant: the decoder's own state and
// the error value it returns, a few KiB (the package's fuzz test checks
// the bound with 16 KiB to spare per decode). Values whose type has its
// own UnmarshalCBOR or UnmarshalBinary method are charged twice the size
// of their input and 256 bytes each; what such a method allocates beyond
// that is up to it. A payload too short to reach MaxAlloc, whatever it
// holds, is not walked.
//
// Protobuf payloads are bounded by MaxBytes and MaxDepth only: the
// protobuf decoder allocates a message for each submessage on the wire,
// so n bytes can allocate up to about n/2 times the size of the largest
// message type the target can hold.
//
// Exceeding a limit is ErrTooLarge; a limit may be reported before a
// syntax error that follows it in the input. Empty input, an unknown tag, a
// truncated payload, CBOR that is not one well-formed item of definite
// length, a fast-path slice payload whose length is not a multiple of the
// element size, a scalar payload of the wrong length, a bool byte other
// than 0 or 1, or an int or uint beyond the range of this platform's int or
// uint is ErrMalformed. Decode uses DefaultLimits; DecodeWithLimits and
// DecodeWith (with a Decoder from NewDecoder) apply others.
package codec
