package codec

import (
	"encoding/binary"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// maxProtoName bounds the message name read from the wire.
const maxProtoName = 1024

// appendProto writes tagProto, the message's full name as a uvarint length
// and bytes, then the protobuf encoding of m.
func appendProto(dst []byte, m proto.Message, maxBytes int) (out []byte, err error) {
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
	name := pm.Descriptor().FullName()
	out = append(dst, byte(tagProto))
	out = binary.AppendUvarint(out, uint64(len(name)))
	out = append(out, name...)
	out, err = proto.MarshalOptions{}.MarshalAppend(out, m)
	if err != nil {
		return dst[:start], unencodable(reflect.TypeOf(m), err)
	}
	if n := len(out) - start - 1; n > maxBytes {
		return dst[:start], tooLarge(n, maxBytes)
	}
	return out, nil
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
		return zero, fmt.Errorf("%w: proto message %s: %w", ErrMalformed, name, err)
	}
	v, ok := msg.(T)
	if !ok {
		return zero, typeMismatch("proto message "+string(name), t)
	}
	return v, nil
}
