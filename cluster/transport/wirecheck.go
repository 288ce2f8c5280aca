package transport

import (
	"errors"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The guard must pass on only payloads that protoactor's proto.Unmarshal
// accepts, since a payload it refuses ends the stream. Decoding every
// payload twice, once to check it and once in protoactor, cost the head of
// a cross-node actor benchmark an eighth of its CPU, and an object chunk a
// second copy of its megabytes. So the guard checks a payload by walking
// its wire format against the message descriptor, allocating nothing, by
// the rules proto.Unmarshal applies to a proto3 message:
//
//   - a tag is a valid varint whose field number is within 1..2^29-1, and
//     its wire type is not an end-group;
//   - a field of a known number and the wire type of its kind must hold a
//     valid value of that kind: a complete varint, 4 or 8 bytes, a
//     length-delimited value within the payload; a string valid UTF-8; a
//     message (or map entry) valid by the same rules; a repeated scalar
//     also packed, every element complete;
//   - any other field (unknown number, or a wire type other than its
//     kind's) must be skippable: protowire.ConsumeFieldValue, as the
//     decoder uses for unknown fields;
//   - messages nest at most protowire.DefaultRecursionLimit deep, map
//     entries not counting, as in the decoder.
//
// A type with anything those rules do not cover (proto2 or editions
// syntax, groups, extensions) is decoded instead. FuzzWireCheck compares
// the walk with proto.Unmarshal on arbitrary input.

// errWire is the walk's verdict on a payload proto.Unmarshal refuses.
var errWire = errors.New("malformed wire format")

// fieldKind is the check a field's value gets when its wire type matches.
type fieldKind uint8

const (
	kindVarint fieldKind = iota + 1
	kindFixed32
	kindFixed64
	kindBytes
	kindString
	kindMessage
	kindMapEntry
)

// fieldCheck is how a field of a known number is checked.
type fieldCheck struct {
	kind     fieldKind
	repeated bool       // a repeated scalar: packed too
	msg      *wireShape // kindMessage, kindMapEntry
	wire     protowire.Type
}

// wireShape is what the walk needs of one message type.
type wireShape struct {
	// exact: the walk mirrors the decoder for this type and every type it
	// holds. Otherwise the payload is decoded.
	exact  bool
	fields map[protowire.Number]fieldCheck
}

// shapes builds and caches the wireShape of each message type by name. A
// cache belongs to one guard; its size is bounded by the types the
// process registers.
type shapes struct {
	mu sync.Mutex
	m  map[protoreflect.FullName]*wireShape
}

// of returns the shape of md, built on first use.
func (s *shapes) of(md protoreflect.MessageDescriptor) *wireShape {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh, ok := s.m[md.FullName()]; ok {
		return sh
	}
	if s.m == nil {
		s.m = make(map[protoreflect.FullName]*wireShape)
	}
	sh := build(md, map[protoreflect.FullName]*wireShape{})
	s.m[md.FullName()] = sh
	return sh
}

// build returns md's shape and, through its fields, the shapes of the types
// it holds. built maps the types already built in this call, so that a
// recursive type refers to its own shape.
func build(md protoreflect.MessageDescriptor, built map[protoreflect.FullName]*wireShape) *wireShape {
	if sh, ok := built[md.FullName()]; ok {
		return sh
	}
	sh := &wireShape{exact: exactType(md, map[protoreflect.FullName]bool{}), fields: make(map[protowire.Number]fieldCheck)}
	built[md.FullName()] = sh
	fds := md.Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		fc, ok := checkOf(fd)
		if !ok {
			continue // the type is not exact
		}
		if fd.Message() != nil {
			fc.msg = build(fd.Message(), built)
		}
		sh.fields[fd.Number()] = fc
	}
	return sh
}

// exactType reports whether the walk mirrors the decoder for md and every
// type it holds; seen holds the types already looked at.
func exactType(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return true
	}
	seen[md.FullName()] = true
	if md.Syntax() != protoreflect.Proto3 || md.ExtensionRanges().Len() > 0 {
		return false
	}
	fds := md.Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if _, ok := checkOf(fd); !ok {
			return false
		}
		if fd.Message() != nil && !exactType(fd.Message(), seen) {
			return false
		}
	}
	return true
}

// checkOf returns how a field is checked; ok is false for a field the walk
// does not mirror.
func checkOf(fd protoreflect.FieldDescriptor) (fieldCheck, bool) {
	if fd.IsMap() {
		return fieldCheck{kind: kindMapEntry, wire: protowire.BytesType}, true
	}
	var fc fieldCheck
	switch fd.Kind() {
	case protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		fc = fieldCheck{kind: kindVarint, wire: protowire.VarintType}
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		fc = fieldCheck{kind: kindFixed32, wire: protowire.Fixed32Type}
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		fc = fieldCheck{kind: kindFixed64, wire: protowire.Fixed64Type}
	case protoreflect.StringKind:
		return fieldCheck{kind: kindString, wire: protowire.BytesType}, true
	case protoreflect.BytesKind:
		return fieldCheck{kind: kindBytes, wire: protowire.BytesType}, true
	case protoreflect.MessageKind:
		return fieldCheck{kind: kindMessage, wire: protowire.BytesType}, true
	default: // groups
		return fieldCheck{}, false
	}
	fc.repeated = fd.IsList()
	return fc, true
}

// checkWire reports whether proto.Unmarshal accepts b as a message of
// shape sh, which must be exact.
func checkWire(b []byte, sh *wireShape) error {
	return walkMessage(b, sh, protowire.DefaultRecursionLimit)
}

// walkMessage checks b as a message; depth is what is left of the nesting
// limit, counting this message.
func walkMessage(b []byte, sh *wireShape, depth int) error {
	if depth--; depth < 0 {
		return errWire
	}
	return walkFields(b, sh, depth)
}

// walkFields checks the fields of a message or map entry.
func walkFields(b []byte, sh *wireShape, depth int) error {
	for len(b) > 0 {
		tag, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return errWire
		}
		b = b[n:]
		num, wtyp := tag>>3, protowire.Type(tag&7)
		if num < uint64(protowire.MinValidNumber) || num > uint64(protowire.MaxValidNumber) || wtyp == protowire.EndGroupType {
			return errWire
		}
		fc, known := sh.fields[protowire.Number(num)]
		switch {
		case known && wtyp == fc.wire:
			n = walkValue(b, fc, depth)
		case known && fc.repeated && wtyp == protowire.BytesType:
			n = walkPacked(b, fc)
		default:
			n = protowire.ConsumeFieldValue(protowire.Number(num), wtyp, b)
		}
		if n < 0 {
			return errWire
		}
		b = b[n:]
	}
	return nil
}

// walkValue checks one value of fc's kind at the start of b and returns its
// length, or -1.
func walkValue(b []byte, fc fieldCheck, depth int) int {
	switch fc.kind {
	case kindVarint:
		_, n := protowire.ConsumeVarint(b)
		return n
	case kindFixed32:
		_, n := protowire.ConsumeFixed32(b)
		return n
	case kindFixed64:
		_, n := protowire.ConsumeFixed64(b)
		return n
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n
	}
	switch fc.kind {
	case kindString:
		if !utf8.Valid(v) {
			return -1
		}
	case kindMessage:
		if walkMessage(v, fc.msg, depth) != nil {
			return -1
		}
	case kindMapEntry:
		if walkFields(v, fc.msg, depth) != nil {
			return -1
		}
	}
	return n
}

// walkPacked checks a packed repeated scalar: every element complete.
func walkPacked(b []byte, fc fieldCheck) int {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n
	}
	for len(v) > 0 {
		m := walkValue(v, fc, 0)
		if m < 0 {
			return -1
		}
		v = v[m:]
	}
	return n
}
