package pb_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/goray-dev/goray/proto"
)

// FuzzValidate decodes random bytes as each message type, as a system
// actor's ingress would, and checks that Validate never panics, that its
// errors are *FieldErrors of that type, and that what it accepts keeps the
// wire invariants checked here independently of the hand-written rules.
func FuzzValidate(f *testing.F) {
	fuzzValidate(f, messageTypes(f), messageCases(), nil)
}

// fuzzValidate is the body of the Validate fuzz targets: types are the
// message types to decode, seeded with their cases; accepted, when set,
// checks more of what Validate accepts.
func fuzzValidate(f *testing.F, types []protoreflect.MessageType, cases map[protoreflect.FullName]messageCase, accepted func(t *testing.T, m proto.Message)) {
	for i, mt := range types {
		c := cases[mt.Descriptor().FullName()]
		f.Add(uint8(i), []byte{})
		for _, m := range c.valid {
			addSeed(f, uint8(i), m)
		}
		for _, b := range c.bad {
			addSeed(f, uint8(i), b.msg)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		mt := types[int(which)%len(types)]
		m := mt.New().Interface()
		if err := proto.Unmarshal(data, m); err != nil {
			return
		}
		err := m.(pb.Validator).Validate()
		if err != nil {
			var fe *pb.FieldError
			if !errors.Is(err, pb.ErrInvalid) || !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError wrapping ErrInvalid", err)
			}
			if name := mt.Descriptor().FullName(); protoreflect.FullName("goray."+fe.Type) != name {
				t.Fatalf("Validate() on a %s = %v", name, err)
			}
			return
		}
		checkInvariants(t, m.ProtoReflect())
		if accepted != nil {
			accepted(t, m)
		}
		// What is valid stays valid through the wire.
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again := mt.New().Interface()
		if err := proto.Unmarshal(b, again); err != nil {
			t.Fatalf("Unmarshal: %v", err)
		}
		if err := again.(pb.Validator).Validate(); err != nil {
			t.Fatalf("valid message invalid after a round trip: %v", err)
		}
	})
}

// addSeed adds m's encoding unless it is large (it slows the fuzzer down)
// or cannot be encoded (a nil oneof wrapper or list element).
func addSeed(f *testing.F, which uint8, m pb.Validator) {
	defer func() { _ = recover() }()
	b, err := proto.Marshal(m.(proto.Message))
	if err == nil && len(b) <= 4<<10 {
		f.Add(which, b)
	}
}

// checkInvariants checks, by reflection over every field of a message that
// Validate accepted, the rules that follow from field names alone: IDs have
// their length, node and job IDs their form, enums a defined value,
// resource amounts are not negative. A field added without its check in
// Validate fails here.
func checkInvariants(t *testing.T, m protoreflect.Message) {
	t.Helper()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		where := string(m.Descriptor().Name()) + "." + name
		switch {
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if k.String() == "" {
					t.Errorf("%s has an empty key", where)
				}
				if fd.MapValue().Kind() == protoreflect.Int64Kind && mv.Int() < 0 {
					t.Errorf("%s[%q] = %d", where, k.String(), mv.Int())
				}
				return true
			})
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				checkValue(t, where, fd, l.Get(i))
			}
		default:
			checkValue(t, where, fd, v)
		}
		return true
	})
}

func checkValue(t *testing.T, where string, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	t.Helper()
	name := string(fd.Name())
	switch fd.Kind() {
	case protoreflect.MessageKind:
		checkInvariants(t, v.Message())
	case protoreflect.EnumKind:
		if fd.Enum().Values().ByNumber(v.Enum()) == nil {
			t.Errorf("%s = %d, not a defined value", where, v.Enum())
		}
	case protoreflect.BytesKind:
		isID := strings.HasSuffix(name, "_id") || strings.HasSuffix(name, "_ids") || name == "incr" || name == "decr"
		if n := len(v.Bytes()); isID && n != 0 && n != pb.IDLen {
			t.Errorf("%s has %d bytes", where, n)
		}
	case protoreflect.StringKind:
		isNode := name == "node_id" || name == "job_id" || strings.HasSuffix(name, "_node") || name == "locations"
		if s := v.String(); isNode && s != "" && !isHex(s) {
			t.Errorf("%s = %q, not a node or job ID", where, s)
		}
	}
}

func isHex(s string) bool {
	return len(s) == pb.NodeIDLen && strings.Trim(s, "0123456789abcdef") == ""
}
