package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/goray-dev/goray/proto"
)

// dialRaw opens a gRPC connection that speaks protoactor's wire protocol
// directly, presenting token (none when empty), over TLS when tlsCfg is
// set.
func dialRaw(t testing.TB, addr, token string, tlsCfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(1 << 30)),
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCredentials{value: credential(token), secure: tlsCfg != nil}))
	}
	cc, err := grpc.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// openStream opens protoactor's Receive stream and introduces itself as a
// server connection, as protoactor's endpoint writer does.
func openStream(t testing.TB, ctx context.Context, cc *grpc.ClientConn) (remote.Remoting_ReceiveClient, error) {
	t.Helper()
	stream, err := remote.NewRemotingClient(cc).Receive(ctx)
	if err != nil {
		return nil, err
	}
	// A refused call may end before the request is written: Send then
	// returns io.EOF and Recv the status.
	if err := stream.Send(connectRequest()); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if _, err := stream.Recv(); err != nil {
		return nil, err
	}
	return stream, nil
}

func connectRequest() *remote.RemoteMessage {
	return &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "raw", Address: "127.0.0.1:1"}},
	}}}
}

func batchMessage(b *remote.MessageBatch) *remote.RemoteMessage {
	return &remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}}
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// goodBatch delivers a PutObject with id to pid.
func goodBatch(pid *actor.PID, id string) *remote.MessageBatch {
	return &remote.MessageBatch{
		TypeNames: []string{"goray.PutObject"},
		Targets:   []*actor.PID{pid},
		Envelopes: []*remote.MessageEnvelope{{MessageData: mustMarshal(&pb.PutObject{ObjectId: []byte(id)})}},
	}
}

// withBad returns a batch whose first envelope is bad and whose second
// delivers id to pid. bad may add type names, targets and senders; the
// good envelope uses the first type and target, which are goray.PutObject
// and pid.
func withBad(pid *actor.PID, id string, bad func(b *remote.MessageBatch) *remote.MessageEnvelope) *remote.MessageBatch {
	b := goodBatch(pid, id)
	good := b.Envelopes[0]
	b.Envelopes = []*remote.MessageEnvelope{bad(b), good}
	return b
}

// addType adds a type name to b and returns its index.
func addType(b *remote.MessageBatch, name string) int32 {
	b.TypeNames = append(b.TypeNames, name)
	return int32(len(b.TypeNames) - 1)
}

// addTarget adds a target to b and returns its index.
func addTarget(b *remote.MessageBatch, pid *actor.PID) int32 {
	b.Targets = append(b.Targets, pid)
	return int32(len(b.Targets) - 1)
}

// addSender adds a sender to b and returns its envelope index (1-based).
func addSender(b *remote.MessageBatch, pid *actor.PID) int32 {
	b.Senders = append(b.Senders, pid)
	return int32(len(b.Senders))
}

// TestMalformedEnvelopes sends batches that each hold one bad envelope and
// one good one over a single authenticated stream. The node must drop
// exactly the bad envelope, never deliver it, deliver the good one, and keep
// the stream open. Without the guard, the bad envelopes crash the process
// (index out of range, nil type, nil watcher), end the stream (payloads that
// do not decode), or deliver what they should not (PIDs with nonhost).
func TestMalformedEnvelopes(t *testing.T) {
	s, pid := localSink(t)
	self := local.tr.Address()
	badPut := mustMarshal(&pb.PutObject{ObjectId: []byte("bad")})
	tests := []struct {
		name string
		bad  func(b *remote.MessageBatch) *remote.MessageEnvelope
	}{
		{"unknown type name", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: addType(b, "goray.NoSuchMessage"), MessageData: badPut}
		}},
		{"invalid type name", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: addType(b, "%% not a name"), MessageData: badPut}
		}},
		{"empty type name", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: addType(b, ""), MessageData: badPut}
		}},
		{"registered type not accepted", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: addType(b, "remote.ActorPidRequest"), MessageData: mustMarshal(&remote.ActorPidRequest{Kind: "x"})}
		}},
		{"garbage payload", func(*remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{MessageData: []byte{0xff, 0xff, 0xff, 0xff}}
		}},
		{"truncated payload", func(*remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{MessageData: []byte{0x0a, 0x05, 0x61}}
		}},
		{"invalid UTF-8 in a string field", func(*remote.MessageBatch) *remote.MessageEnvelope {
			// PutObject.owner (field 3) with Pid.address (field 1) = "\xff".
			return &remote.MessageEnvelope{MessageData: []byte{0x1a, 0x03, 0x0a, 0x01, 0xff}}
		}},
		{"type index out of range", func(*remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: 7, MessageData: badPut}
		}},
		{"negative type index", func(*remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: -1, MessageData: badPut}
		}},
		{"target index out of range", func(*remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{Target: 9, MessageData: badPut}
		}},
		{"sender index out of range", func(*remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{Sender: 3, MessageData: badPut}
		}},
		{"json serializer", func(*remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{SerializerId: 1, MessageData: []byte(`{"objectId":"YmFk"}`)}
		}},
		{"serializer out of range", func(*remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{SerializerId: 9, MessageData: badPut}
		}},
		{"target nonhost", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{Target: addTarget(b, actor.NewPID(nonhost, pid.Id)), MessageData: badPut}
		}},
		{"target on another node", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{Target: addTarget(b, actor.NewPID("127.0.0.1:1", pid.Id)), MessageData: badPut}
		}},
		{"target without id", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{Target: addTarget(b, actor.NewPID(self, "")), MessageData: badPut}
		}},
		{"sender nonhost", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{Sender: addSender(b, actor.NewPID(nonhost, "x")), MessageData: badPut}
		}},
		{"watch without watcher", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: addType(b, "actor.Watch"), MessageData: mustMarshal(&actor.Watch{})}
		}},
		{"watch by a local PID", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: addType(b, "actor.Watch"), MessageData: mustMarshal(&actor.Watch{Watcher: actor.NewPID(self, "x")})}
		}},
		{"unwatch by nonhost", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: addType(b, "actor.Unwatch"), MessageData: mustMarshal(&actor.Unwatch{Watcher: actor.NewPID(nonhost, "x")})}
		}},
		{"terminated without who", func(b *remote.MessageBatch) *remote.MessageEnvelope {
			return &remote.MessageEnvelope{TypeId: addType(b, "actor.Terminated"), MessageData: mustMarshal(&actor.Terminated{})}
		}},
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := openStream(t, ctx, dialRaw(t, self, testToken, nil))
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := local.tr.Stats()
			id := fmt.Sprintf("good-%d", i)
			if err := stream.Send(batchMessage(withBad(pid, id, tt.bad))); err != nil {
				t.Fatalf("send: %v", err)
			}
			if err := s.waitForID(ctx, id); err != nil {
				t.Fatal(err)
			}
			if d := statsDelta(before); d != (Stats{DroppedEnvelopes: 1}) {
				t.Fatalf("stats grew by %+v, want one dropped envelope", d)
			}
		})
	}
	for _, id := range s.received() {
		if id == "bad" {
			t.Fatalf("a bad envelope was delivered")
		}
	}
	if n := local.logs.count("dropped inbound input"); n != 1 {
		t.Fatalf("rejections logged %d times, want once for the one peer address", n)
	}
}

// TestMalformedMessages sends gRPC messages that are not a batch or a
// server connection request: they are dropped whole and the stream goes on.
func TestMalformedMessages(t *testing.T) {
	s, pid := localSink(t)
	tests := []struct {
		name string
		msg  *remote.RemoteMessage
	}{
		{"empty", &remote.RemoteMessage{}},
		{"disconnect request", &remote.RemoteMessage{MessageType: &remote.RemoteMessage_DisconnectRequest{DisconnectRequest: &remote.DisconnectRequest{}}}},
		{"connect response", &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectResponse{ConnectResponse: &remote.ConnectResponse{}}}},
		{"client connection", &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
			ConnectionType: &remote.ConnectRequest_ClientConnection{ClientConnection: &remote.ClientConnection{}}}}}},
		{"connect request without type", &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{}}}},
		{"batch of bad envelopes only", batchMessage(&remote.MessageBatch{Envelopes: []*remote.MessageEnvelope{{TypeId: 3}}})},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := openStream(t, ctx, dialRaw(t, local.tr.Address(), testToken, nil))
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := local.tr.Stats()
			if err := stream.Send(tt.msg); err != nil {
				t.Fatalf("send: %v", err)
			}
			id := fmt.Sprintf("good-%d", i)
			if err := stream.Send(batchMessage(goodBatch(pid, id))); err != nil {
				t.Fatalf("send: %v", err)
			}
			if err := s.waitForID(ctx, id); err != nil {
				t.Fatal(err)
			}
			if d := statsDelta(before); d.DroppedMessages != 1 {
				t.Fatalf("stats grew by %+v, want one dropped message", d)
			}
		})
	}
}

// rawCodec sends bytes as they are, whatever protoactor expects.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestStreamEndingInput sends input that gRPC itself refuses or that ends
// the call: a message that is not a RemoteMessage at all, a message over the
// receive limit, and protoactor's unimplemented unary methods (which panic).
// Each ends its own call with an error, and the node goes on serving.
func TestStreamEndingInput(t *testing.T) {
	s, pid := localSink(t)
	self := local.tr.Address()
	cc := dialRaw(t, self, testToken, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sendRaw := func(t *testing.T, data []byte) error {
		desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
		cs, err := cc.NewStream(ctx, desc, "/remote.Remoting/Receive", grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		// The server may end the call before it has read the message:
		// SendMsg then returns io.EOF and RecvMsg the status.
		if err := cs.SendMsg(&data); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		var reply []byte
		return cs.RecvMsg(&reply)
	}
	tests := []struct {
		name string
		run  func(t *testing.T) error
		code codes.Code
	}{
		{"not a RemoteMessage", func(t *testing.T) error { return sendRaw(t, []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}) }, codes.Internal},
		{"over the receive limit", func(t *testing.T) error {
			big := batchMessage(goodBatch(pid, "too-big"))
			big.GetMessageBatch().Envelopes[0].MessageData = mustMarshal(&pb.PutObject{Data: make([]byte, 5<<20)})
			return sendRaw(t, mustMarshal(big))
		}, codes.ResourceExhausted},
		{"ListProcesses", func(*testing.T) error {
			_, err := remote.NewRemotingClient(cc).ListProcesses(ctx, &remote.ListProcessesRequest{})
			return err
		}, codes.Internal},
		{"GetProcessDiagnostics", func(*testing.T) error {
			_, err := remote.NewRemotingClient(cc).GetProcessDiagnostics(ctx, &remote.GetProcessDiagnosticsRequest{Pid: pid})
			return err
		}, codes.Internal},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(t); status.Code(err) != tt.code {
				t.Fatalf("error %v, want code %v", err, tt.code)
			}
			stream, err := openStream(t, ctx, cc)
			if err != nil {
				t.Fatalf("open a new stream: %v", err)
			}
			id := fmt.Sprintf("good-%d", i)
			if err := stream.Send(batchMessage(goodBatch(pid, id))); err != nil {
				t.Fatalf("send: %v", err)
			}
			if err := s.waitForID(ctx, id); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, id := range s.received() {
		if id == "too-big" {
			t.Fatalf("the message over the limit was delivered")
		}
	}
}
