package pb_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/goray-dev/goray/proto"
)

func fetchObject() *pb.FetchObject {
	return &pb.FetchObject{ObjectId: id1, Sources: []*pb.Pid{pid(), pid()}, Directory: pid(), Size: proto.Int64(100), TimeoutMs: 5000}
}

func objectChunk() *pb.ObjectChunk {
	return &pb.ObjectChunk{ObjectId: id1, Offset: 4, TotalSize: 10, Data: []byte("abcdef")}
}

// transferCases has, for every message type of transfer.proto, valid
// examples and examples that each break one rule.
func transferCases() map[protoreflect.FullName]messageCase {
	return map[protoreflect.FullName]messageCase{
		"goray.FetchObject": {
			valid: []pb.Validator{
				fetchObject(),
				&pb.FetchObject{ObjectId: id1},
				with(fetchObject, func(m *pb.FetchObject) { m.Size = proto.Int64(0) }),
				with(fetchObject, func(m *pb.FetchObject) { m.Size = proto.Int64(pb.MaxObjectSize) }),
			},
			bad: []badCase{
				bad("FetchObject.object_id", fetchObject, func(m *pb.FetchObject) { m.ObjectId = id1[:15] }),
				bad("FetchObject.sources[1]: missing", fetchObject, func(m *pb.FetchObject) { m.Sources[1] = nil }),
				bad("FetchObject.sources[0].id", fetchObject, func(m *pb.FetchObject) { m.Sources[0].Id = "" }),
				bad("FetchObject.sources", fetchObject, func(m *pb.FetchObject) { m.Sources = make([]*pb.Pid, pb.MaxSources+1) }),
				bad("FetchObject.directory.address", fetchObject, func(m *pb.FetchObject) { m.Directory.Address = "" }),
				bad("FetchObject.size", fetchObject, func(m *pb.FetchObject) { m.Size = proto.Int64(-1) }),
				bad("FetchObject.size", fetchObject, func(m *pb.FetchObject) { m.Size = proto.Int64(pb.MaxObjectSize + 1) }),
				bad("FetchObject.timeout_ms", fetchObject, func(m *pb.FetchObject) { m.TimeoutMs = -1 }),
			},
		},
		"goray.CancelFetch": {
			valid: []pb.Validator{&pb.CancelFetch{ObjectId: id1, Requester: pid()}},
			bad: []badCase{
				{"CancelFetch.object_id", &pb.CancelFetch{Requester: pid()}},
				{"CancelFetch.requester: missing", &pb.CancelFetch{ObjectId: id1}},
				{"CancelFetch.requester.id", &pb.CancelFetch{ObjectId: id1, Requester: &pb.Pid{Address: "a"}}},
			},
		},
		"goray.ReadChunk": {
			valid: []pb.Validator{
				&pb.ReadChunk{ObjectId: id1, Length: 1},
				&pb.ReadChunk{ObjectId: id1, Offset: pb.MaxObjectSize, Length: pb.MaxChunkLen},
			},
			bad: []badCase{
				{"ReadChunk.object_id", &pb.ReadChunk{ObjectId: nil, Length: 1}},
				{"ReadChunk.offset: -1 is negative", &pb.ReadChunk{ObjectId: id1, Offset: -1, Length: 1}},
				{"ReadChunk.offset", &pb.ReadChunk{ObjectId: id1, Offset: pb.MaxObjectSize + 1, Length: 1}},
				{"ReadChunk.length: zero", &pb.ReadChunk{ObjectId: id1}},
				{"ReadChunk.length", &pb.ReadChunk{ObjectId: id1, Length: -5}},
				{"ReadChunk.length", &pb.ReadChunk{ObjectId: id1, Length: pb.MaxChunkLen + 1}},
			},
		},
		"goray.ObjectChunk": {
			valid: []pb.Validator{
				objectChunk(),
				&pb.ObjectChunk{ObjectId: id1},
				&pb.ObjectChunk{ObjectId: id1, TotalSize: pb.MaxObjectSize, Offset: pb.MaxObjectSize},
				&pb.ObjectChunk{ObjectId: id1, Offset: 7, Error: perr()},
			},
			bad: []badCase{
				bad("ObjectChunk.object_id", objectChunk, func(m *pb.ObjectChunk) { m.ObjectId = nil }),
				bad("ObjectChunk.offset", objectChunk, func(m *pb.ObjectChunk) { m.Offset = -4 }),
				bad("ObjectChunk.total_size", objectChunk, func(m *pb.ObjectChunk) { m.TotalSize = -1 }),
				bad("ObjectChunk.total_size", objectChunk, func(m *pb.ObjectChunk) { m.TotalSize = pb.MaxObjectSize + 1 }),
				bad("ObjectChunk.data: 6 bytes at offset 5 end past total_size 10", objectChunk, func(m *pb.ObjectChunk) { m.Offset = 5 }),
				bad("ObjectChunk.data", objectChunk, func(m *pb.ObjectChunk) {
					m.TotalSize, m.Data = pb.MaxObjectSize, make([]byte, pb.MaxChunkLen+1)
				}),
				bad("ObjectChunk.data: 6 bytes beside an error", objectChunk, func(m *pb.ObjectChunk) { m.Error = perr() }),
				bad("ObjectChunk.error.kind", objectChunk, func(m *pb.ObjectChunk) {
					m.Data, m.Error = nil, &pb.Error{Kind: 99}
				}),
			},
		},
		"goray.AddLocation": {
			valid: []pb.Validator{&pb.AddLocation{ObjectId: id1, NodeId: node, Store: pid()}},
			bad: []badCase{
				{"AddLocation.object_id", &pb.AddLocation{ObjectId: id1[:3], NodeId: node, Store: pid()}},
				{"AddLocation.node_id", &pb.AddLocation{ObjectId: id1, NodeId: "node", Store: pid()}},
				{"AddLocation.store: missing", &pb.AddLocation{ObjectId: id1, NodeId: node}},
				{"AddLocation.store.address", &pb.AddLocation{ObjectId: id1, NodeId: node, Store: &pb.Pid{Id: "store"}}},
			},
		},
		"goray.RemoveNode": {
			valid: []pb.Validator{&pb.RemoveNode{NodeId: node}},
			bad:   []badCase{{"RemoveNode.node_id", &pb.RemoveNode{NodeId: strings.ToUpper(node)}}},
		},
		"goray.ObjectsLost": {
			valid: []pb.Validator{
				&pb.ObjectsLost{NodeId: node, Final: true},
				&pb.ObjectsLost{NodeId: node, ObjectIds: ids(pb.MaxIDs)},
			},
			bad: []badCase{
				{"ObjectsLost.node_id", &pb.ObjectsLost{}},
				{"ObjectsLost.object_ids[1]", &pb.ObjectsLost{NodeId: node, ObjectIds: [][]byte{id1, nil}}},
				{"ObjectsLost.object_ids", &pb.ObjectsLost{NodeId: node, ObjectIds: ids(pb.MaxIDs + 1)}},
			},
		},
	}
}

// transferTypes returns every message type transfer.proto defines.
func transferTypes(t testing.TB) []protoreflect.MessageType {
	t.Helper()
	var out []protoreflect.MessageType
	ms := pb.File_transfer_proto.Messages()
	for i := range ms.Len() {
		md := ms.Get(i)
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
		if err != nil {
			t.Fatalf("%s: %v", md.FullName(), err)
		}
		out = append(out, mt)
		if md.Messages().Len() > 0 {
			t.Fatalf("%s has nested messages, which transferTypes does not walk", md.FullName())
		}
	}
	return out
}

// TestEveryTransferMessageValidates fails for a message type added to
// transfer.proto without a Validate method or without cases in
// transferCases.
func TestEveryTransferMessageValidates(t *testing.T) {
	types := transferTypes(t)
	if len(types) < 7 {
		t.Fatalf("found %d message types in transfer.proto, want at least 7", len(types))
	}
	cases := transferCases()
	for _, mt := range types {
		name := mt.Descriptor().FullName()
		t.Run(string(name), func(t *testing.T) {
			zero := mt.Zero().Interface()
			v, ok := zero.(pb.Validator)
			if !ok {
				t.Fatalf("%T does not implement pb.Validator", zero)
			}
			if err := v.Validate(); !errors.Is(err, pb.ErrInvalid) {
				t.Errorf("Validate on a nil %T = %v, want an error wrapping ErrInvalid", zero, err)
			}
			_ = mt.New().Interface().(pb.Validator).Validate() // must not panic
			c, ok := cases[name]
			if !ok || len(c.valid) == 0 {
				t.Fatalf("transferCases has no valid %s", name)
			}
			if len(c.bad) == 0 {
				t.Errorf("transferCases breaks no rule of %s", name)
			}
		})
	}
	if len(cases) != len(types) {
		t.Errorf("transferCases covers %d message types, transfer.proto defines %d", len(cases), len(types))
	}
}

func TestTransferValidate(t *testing.T) {
	for name, c := range transferCases() {
		t.Run(string(name), func(t *testing.T) {
			for i, m := range c.valid {
				if got := proto.MessageName(m.(proto.Message)); got != name {
					t.Fatalf("valid[%d] is a %s", i, got)
				}
				if err := m.Validate(); err != nil {
					t.Errorf("valid[%d]: %v", i, err)
				}
				if n := testing.AllocsPerRun(20, func() { _ = m.Validate() }); n != 0 {
					t.Errorf("valid[%d]: Validate allocates %v times", i, n)
				}
			}
			for _, b := range c.bad {
				t.Run(b.want, func(t *testing.T) {
					if got := proto.MessageName(b.msg.(proto.Message)); got != name {
						t.Fatalf("case is a %s", got)
					}
					err := b.msg.Validate()
					if !errors.Is(err, pb.ErrInvalid) {
						t.Fatalf("Validate() = %v, want an error wrapping ErrInvalid", err)
					}
					if !strings.Contains(err.Error(), b.want) {
						t.Errorf("Validate() = %q, want it to name %s", err, b.want)
					}
					var fe *pb.FieldError
					if !errors.As(err, &fe) || protoreflect.FullName("goray."+fe.Type) != name {
						t.Errorf("Validate() = %#v, want a *FieldError of type %s", err, name.Name())
					}
				})
			}
		})
	}
}

// FuzzTransferValidate decodes random bytes as each message type of
// transfer.proto and checks that Validate never panics, reports
// *FieldErrors of that type, and that what it accepts keeps the wire
// invariants and stays valid through a round trip.
func FuzzTransferValidate(f *testing.F) {
	fuzzValidate(f, transferTypes(f), transferCases(), func(t *testing.T, m proto.Message) {
		if c, ok := m.(*pb.ObjectChunk); ok {
			if n := int64(len(c.Data)); n > pb.MaxChunkLen || (c.Error == nil && c.Offset+n > c.TotalSize) {
				t.Fatalf("accepted a chunk of %d bytes at %d of %d", n, c.Offset, c.TotalSize)
			}
		}
	})
}
