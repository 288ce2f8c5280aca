package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// maxProtoName bounds the message name read from the wire.
const maxProtoName = 1024

// appendProto writes tagProto, the message's full name as a uvarint length
// and bytes, then the protobuf encoding of m. Like appendCBOR it refuses a
// message that a decoder with limits l would refuse for its size or depth.
func appendProto(dst []byte, m proto.Message, l *Limits) (out []byte, err error) {
	start := len(dst)
	defer func() {
		if r := recover(); r != nil {
			out, err = dst[:start], unencodable(reflect.TypeOf(m), fmt.Errorf("panic while encoding: %v", r))
		}
	}()
	pm := m.ProtoReflect()
	if !pm.IsValid() {
		return dst, fmt.Errorf("%w: nil %T", ErrNilValue, m)
	}
	if !protoWithin(pm, l.MaxDepth) {
		return dst, fmt.Errorf("%w: proto message %s nests more than %d levels deep (MaxDepth); a decoder with the default limits refuses it",
			ErrTooLarge, pm.Descriptor().FullName(), l.MaxDepth)
	}
	name := pm.Descriptor().FullName()
	out = append(dst, byte(tagProto))
	out = binary.AppendUvarint(out, uint64(len(name)))
	out = append(out, name...)
	out, err = proto.MarshalOptions{}.MarshalAppend(out, m)
	if err != nil {
		return dst[:start], unencodable(reflect.TypeOf(m), err)
	}
	if n := len(out) - start - 1; n > l.MaxBytes {
		return dst[:start], tooLarge(n, l.MaxBytes)
	}
	return out, nil
}

// protoWithin reports whether decoding m stays within the recursion limit
// levels. The protobuf decoder counts a level for every message, the
// top-level one included, and one for every map entry; only populated
// fields are encoded. Message types whose nesting is bounded by their
// definition are not walked.
func protoWithin(m protoreflect.Message, levels int) bool {
	if protoTypeDepth(m.Descriptor()) <= levels {
		return true
	}
	return protoValueWithin(m, levels-1)
}

// protoValueWithin reports whether the messages nested in m use at most
// left more levels.
func protoValueWithin(m protoreflect.Message, left int) bool {
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			mp := v.Map()
			if mp.Len() == 0 {
				return true
			}
			if left < 1 {
				ok = false
			} else if fd.MapValue().Message() != nil {
				mp.Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					ok = left >= 2 && protoValueWithin(mv.Message(), left-2)
					return ok
				})
			}
		case fd.Message() == nil:
		case fd.IsList():
			list := v.List()
			for i := 0; ok && i < list.Len(); i++ {
				ok = left >= 1 && protoValueWithin(list.Get(i).Message(), left-1)
			}
		default:
			ok = left >= 1 && protoValueWithin(v.Message(), left-1)
		}
		return ok
	})
	return ok
}

// protoTypeDepths memoises protoTypeDepth, a function of the descriptor.
var protoTypeDepths sync.Map // protoreflect.MessageDescriptor -> int

// protoTypeDepth returns the most levels a message of type md can take,
// or math.MaxInt when its definition is recursive.
func protoTypeDepth(md protoreflect.MessageDescriptor) int {
	if d, ok := protoTypeDepths.Load(md); ok {
		return d.(int)
	}
	d := typeDepth(md, nil)
	protoTypeDepths.Store(md, d)
	return d
}

func typeDepth(md protoreflect.MessageDescriptor, path []protoreflect.FullName) int {
	if slices.Contains(path, md.FullName()) || len(path) > maxDepth {
		return math.MaxInt
	}
	path = append(path, md.FullName())
	deepest := 1
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		d := 0
		switch {
		case fd.IsMap():
			d = 1
			if vm := fd.MapValue().Message(); vm != nil {
				d = addLevels(1, typeDepth(vm, path))
			}
		case fd.Message() != nil:
			d = typeDepth(fd.Message(), path)
		}
		deepest = max(deepest, addLevels(1, d))
	}
	return deepest
}

// addLevels adds depths, keeping math.MaxInt for unbounded ones.
func addLevels(a, b int) int {
	if a == math.MaxInt || b == math.MaxInt {
		return math.MaxInt
	}
	return a + b
}

// decodeProto decodes a tagProto payload. T is either a generated message
// pointer type, whose name must match the wire name, or an interface type;
// then the message type is looked up in the global registry.
func decodeProto[T any](d *Decoder, payload []byte) (v T, err error) {
	var zero T
	t := reflect.TypeFor[T]()
	defer func() {
		// Foreign proto.Message implementations may panic on a nil receiver.
		if r := recover(); r != nil {
			v, err = zero, fmt.Errorf("%w: decoding proto message into %s panicked: %v", ErrMalformed, t, r)
		}
	}()
	n, k := binary.Uvarint(payload)
	if k <= 0 || n == 0 || n > maxProtoName || n > uint64(len(payload)-k) {
		return zero, fmt.Errorf("%w: bad proto message name header", ErrMalformed)
	}
	name := protoreflect.FullName(payload[k : k+int(n)])
	body := payload[k+int(n):]
	if !name.IsValid() {
		return zero, fmt.Errorf("%w: invalid proto message name %q", ErrMalformed, name)
	}
	var mt protoreflect.MessageType
	if m, ok := any(zero).(proto.Message); ok {
		mt = m.ProtoReflect().Type()
		if got := mt.Descriptor().FullName(); got != name {
			return zero, typeMismatch("proto message "+string(name), t)
		}
	} else if t.Kind() == reflect.Interface {
		if mt, err = protoregistry.GlobalTypes.FindMessageByName(name); err != nil {
			return zero, fmt.Errorf("%w: proto message %s is not linked into this program: %w", ErrTypeMismatch, name, err)
		}
	} else {
		return zero, typeMismatch("proto message "+string(name), t)
	}
	msg := mt.New().Interface()
	opts := proto.UnmarshalOptions{RecursionLimit: d.limits.MaxDepth}
	if err := opts.Unmarshal(body, msg); err != nil {
		if isRecursionLimit(err) {
			return zero, fmt.Errorf("%w: proto message %s nests more than %d levels deep (MaxDepth): %w", ErrTooLarge, name, d.limits.MaxDepth, err)
		}
		return zero, fmt.Errorf("%w: proto message %s: %w", ErrMalformed, name, err)
	}
	v, ok := msg.(T)
	if !ok {
		return zero, typeMismatch("proto message "+string(name), t)
	}
	return v, nil
}

// isRecursionLimit reports whether a protobuf decoding error is the
// recursion limit, which the protobuf module reports with an unexported
// error of this text.
func isRecursionLimit(err error) bool {
	return strings.Contains(err.Error(), "exceeded maximum recursion depth")
}
