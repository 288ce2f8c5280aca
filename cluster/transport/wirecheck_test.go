package transport

import (
	"fmt"
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/goray-dev/goray/proto"
)

// acceptedTypes lists every registered type DefaultAcceptType accepts, by
// name.
func acceptedTypes() []protoreflect.MessageType {
	var ts []protoreflect.MessageType
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if DefaultAcceptType(mt.Descriptor().FullName()) {
			ts = append(ts, mt)
		}
		return true
	})
	slices.SortFunc(ts, func(a, b protoreflect.MessageType) int {
		return compareNames(a.Descriptor().FullName(), b.Descriptor().FullName())
	})
	return ts
}

func compareNames(a, b protoreflect.FullName) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// filled returns a message of mt with every field set, nested messages to
// depth levels, so that its encoding exercises every field's check.
func filled(mt protoreflect.MessageType, depth int) proto.Message {
	m := mt.New()
	fill(m, depth)
	return m.Interface()
}

func fill(m protoreflect.Message, depth int) {
	fds := m.Descriptor().Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if fd.ContainingOneof() != nil && !fd.ContainingOneof().IsSynthetic() && m.WhichOneof(fd.ContainingOneof()) != nil {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			k := scalar(fd.MapKey())
			if fd.MapValue().Message() != nil {
				if depth > 0 {
					v := mp.NewValue()
					fill(v.Message(), depth-1)
					mp.Set(k.MapKey(), v)
				}
				continue
			}
			mp.Set(k.MapKey(), scalar(fd.MapValue()))
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 2 {
				if fd.Message() != nil {
					if depth == 0 {
						break
					}
					v := l.NewElement()
					fill(v.Message(), depth-1)
					l.Append(v)
					continue
				}
				l.Append(scalar(fd))
			}
		case fd.Message() != nil:
			if depth > 0 {
				fill(m.Mutable(fd).Message(), depth-1)
			}
		default:
			m.Set(fd, scalar(fd))
		}
	}
}

// scalar is a non-default value of fd's kind; strings hold a multi-byte
// character, so that a corruption can make them invalid UTF-8.
func scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(1)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(-300)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(300)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(-1 << 40)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(1 << 40)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(1.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(2.5)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("né")
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0xff, 0, 1})
	}
	panic(fmt.Sprintf("no scalar of kind %v", fd.Kind()))
}

// agree fails t when the walk and proto.Unmarshal disagree on b as a mt.
func agree(t *testing.T, g *guard, mt protoreflect.MessageType, b []byte) {
	t.Helper()
	at, err := g.lookupType(string(mt.Descriptor().FullName()))
	if err != nil {
		t.Fatalf("%s: %v", mt.Descriptor().FullName(), err)
	}
	if at.decode {
		return
	}
	walked := checkWire(b, at.shape)
	decoded := proto.Unmarshal(b, mt.New().Interface())
	if (walked == nil) != (decoded == nil) {
		t.Fatalf("%s: %x: the walk says %v, proto.Unmarshal %v", mt.Descriptor().FullName(), b, walked, decoded)
	}
}

// TestWireCheckAgrees compares the walk with proto.Unmarshal on every
// accepted type: a full message, every truncation of it, and every single
// byte of it replaced by values that change its meaning.
func TestWireCheckAgrees(t *testing.T) {
	g := fuzzGuard()
	walked := 0
	for _, mt := range acceptedTypes() {
		at, err := g.lookupType(string(mt.Descriptor().FullName()))
		if err != nil {
			t.Fatal(err)
		}
		if !at.decode {
			walked++
		}
		b, err := proto.Marshal(filled(mt, 2))
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(b) + 1 {
			agree(t, g, mt, b[:i])
		}
		for i := range b {
			for _, v := range []byte{0x00, 0x07, 0x0c, 0x80, 0xc3, 0xff, b[i] ^ 0x02} {
				c := slices.Clone(b)
				c[i] = v
				agree(t, g, mt, c)
			}
		}
	}
	if walked < 20 {
		t.Fatalf("only %d accepted types are checked by the walk", walked)
	}
}

// TestWireCheckCases pins the rules one by one, each both ways.
func TestWireCheckCases(t *testing.T) {
	// pid encodes a Pid by hand: proto.Marshal refuses invalid UTF-8.
	pid := func(addr string) []byte {
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		b = protowire.AppendString(b, addr)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendString(b, "x")
	}
	call := func(owner []byte) []byte {
		b := protowire.AppendTag(nil, 2, protowire.BytesType)
		b = protowire.AppendString(b, "method")
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		return protowire.AppendBytes(b, owner)
	}
	tag := func(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }
	cases := []struct {
		name string
		mt   proto.Message
		b    []byte
		ok   bool
	}{
		{"valid nested message", &pb.ActorCall{}, call(pid("127.0.0.1:1")), true},
		{"invalid UTF-8 in a nested string", &pb.ActorCall{}, call(pid("127.0.0.1:\xff")), false},
		{"invalid UTF-8 in a bytes field", &pb.ActorCall{}, append(tag(1, protowire.BytesType), 1, 0xff), true},
		{"field number zero", &pb.ActorCall{}, []byte{0x00, 0x00}, false},
		{"field number above the maximum", &pb.ActorCall{}, protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), false},
		{"end group without a start", &pb.ActorCall{}, tag(9, protowire.EndGroupType), false},
		{"unknown group, closed", &pb.ActorCall{}, append(tag(99, protowire.StartGroupType), tag(99, protowire.EndGroupType)...), true},
		{"unknown group, never closed", &pb.ActorCall{}, tag(99, protowire.StartGroupType), false},
		{"known field, other wire type, skippable", &pb.ActorCall{}, append(tag(2, protowire.VarintType), 5), true},
		{"truncated varint", &pb.ActorCall{}, append(tag(6, protowire.VarintType), 0x80), false},
		{"overlong varint", &pb.ActorCall{}, append(tag(6, protowire.VarintType), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), false},
		{"length past the end", &pb.ObjectChunk{}, append(tag(4, protowire.BytesType), 9, 1), false},
		{"garbage inside a nested message", &pb.ActorCall{}, call([]byte{0x0a, 0x05, 'a'}), false},
		{"watch decodes", &actor.Watch{}, mustMarshal(&actor.Watch{Watcher: &actor.PID{Address: "a", Id: "b"}}), true},
	}
	g := fuzzGuard()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mt := tc.mt.ProtoReflect().Type()
			decoded := proto.Unmarshal(tc.b, mt.New().Interface())
			if (decoded == nil) != tc.ok {
				t.Fatalf("proto.Unmarshal: %v, want ok=%v: the case is wrong", decoded, tc.ok)
			}
			agree(t, g, mt, tc.b)
		})
	}
}

// FuzzWireCheck compares the walk with proto.Unmarshal on arbitrary bytes
// as any accepted type.
func FuzzWireCheck(f *testing.F) {
	types := acceptedTypes()
	for i, mt := range types {
		b, err := proto.Marshal(filled(mt, 2))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(i), b)
	}
	g := fuzzGuard()
	f.Fuzz(func(t *testing.T, i uint16, b []byte) {
		agree(t, g, types[int(i)%len(types)], b)
	})
}
