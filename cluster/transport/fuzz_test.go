package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/goray-dev/goray/proto"
)

// Fuzzing the inbound path. FuzzSanitize and FuzzEnvelope run the guard on
// arbitrary input and then, on whatever it lets through, exactly the steps
// protoactor's endpoint reader takes (remoteReader below, with protoactor's
// own Deserialize): any panic or decoding error there is a hole in the
// guard. FuzzInbound sends arbitrary bytes to the local node as a gRPC
// message and checks that the node recovered no panic and still delivers.

const fuzzSelf = "127.0.0.1:9"

func fuzzGuard() *guard {
	return &guard{accept: DefaultAcceptType, self: fuzzSelf, logger: slog.New(slog.DiscardHandler)}
}

// remoteReader does with rm what protoactor's endpoint reader does before it
// delivers (endpoint_reader.go, onMessageBatch), and fails the test where
// protoactor would panic, end the stream or deliver where it should not.
func remoteReader(t *testing.T, rm *remote.RemoteMessage) {
	t.Helper()
	switch m := rm.MessageType.(type) {
	case *remote.RemoteMessage_ConnectRequest:
		if m.ConnectRequest.GetServerConnection() == nil {
			t.Fatalf("passed a connect request without a server connection")
		}
		_ = m.ConnectRequest.GetServerConnection().SystemId
		return
	case *remote.RemoteMessage_MessageBatch:
	default:
		t.Fatalf("passed a %T", m)
	}
	b := rm.GetMessageBatch()
	if len(b.Envelopes) == 0 {
		t.Fatalf("passed an empty batch")
	}
	for _, env := range b.Envelopes {
		typeName := b.TypeNames[env.TypeId]
		target := b.Targets[env.Target]
		if target.Address != fuzzSelf || target.Id == "" {
			t.Fatalf("passed target %v", target)
		}
		if env.Sender > 0 {
			sender := b.Senders[env.Sender-1]
			if sender.Address == nonhost || sender.Address == "" {
				t.Fatalf("passed sender %v", sender)
			}
		}
		msg, err := remote.Deserialize(env.MessageData, typeName, env.SerializerId)
		if err != nil {
			t.Fatalf("passed a payload protoactor cannot decode: %v", err)
		}
		if _, ok := msg.(remote.RootSerialized); ok {
			t.Fatalf("passed a %T, which protoactor deserializes again", msg)
		}
		switch m := msg.(type) {
		case *actor.Terminated:
			if a := m.Who.Address; a == nonhost || a == fuzzSelf || a == "" {
				t.Fatalf("passed Terminated of %v", m.Who)
			}
		case *actor.Watch:
			if a := m.Watcher.Address; a == nonhost || a == fuzzSelf || a == "" {
				t.Fatalf("passed Watch by %v", m.Watcher)
			}
		case *actor.Unwatch:
			if a := m.Watcher.Address; a == nonhost || a == fuzzSelf || a == "" {
				t.Fatalf("passed Unwatch by %v", m.Watcher)
			}
		}
		if !DefaultAcceptType(proto.MessageName(msg.(proto.Message))) {
			t.Fatalf("passed type %s", typeName)
		}
	}
}

func seedBatches() []*remote.RemoteMessage {
	self := actor.NewPID(fuzzSelf, "sink")
	put := mustMarshal(&pb.PutObject{ObjectId: []byte("x"), Data: []byte("y"), Owner: &pb.Pid{Address: "a", Id: "b"}})
	return []*remote.RemoteMessage{
		connectRequest(),
		batchMessage(goodBatch(self, "seed")),
		batchMessage(&remote.MessageBatch{
			TypeNames: []string{"goray.PutObject", "actor.Watch", "actor.Terminated", "goray.NoSuch"},
			Targets:   []*actor.PID{self, actor.NewPID(nonhost, "x")},
			Senders:   []*actor.PID{actor.NewPID("127.0.0.1:8", "future$1")},
			Envelopes: []*remote.MessageEnvelope{
				{TypeId: 0, Target: 0, Sender: 1, MessageData: put, SenderRequestId: 7,
					MessageHeader: &remote.MessageHeader{HeaderData: map[string]string{"k": "v"}}},
				{TypeId: 1, Target: 0, MessageData: mustMarshal(&actor.Watch{Watcher: actor.NewPID("127.0.0.1:8", "w")})},
				{TypeId: 2, Target: 0, MessageData: mustMarshal(&actor.Terminated{Who: actor.NewPID("127.0.0.1:8", "w")})},
				{TypeId: 3, Target: 1, Sender: 2, SerializerId: 1},
			},
		}),
	}
}

func FuzzSanitize(f *testing.F) {
	for _, m := range seedBatches() {
		f.Add(mustMarshal(m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var rm remote.RemoteMessage
		if proto.Unmarshal(data, &rm) != nil {
			return // gRPC refuses it before the guard
		}
		keep, _ := fuzzGuard().sanitize(&rm, &scratch{})
		if keep {
			remoteReader(t, &rm)
		}
	})
}

func FuzzEnvelope(f *testing.F) {
	put := mustMarshal(&pb.PutObject{ObjectId: []byte("x")})
	f.Add("goray.PutObject", put, int32(0), int32(0), int32(0), int32(0), fuzzSelf, "sink", "127.0.0.1:8", "f")
	f.Add("actor.Watch", mustMarshal(&actor.Watch{Watcher: actor.NewPID("127.0.0.1:8", "w")}), int32(0), int32(0), int32(1), int32(0), fuzzSelf, "sink", "127.0.0.1:8", "f")
	f.Add("actor.Terminated", []byte{}, int32(0), int32(0), int32(0), int32(0), fuzzSelf, "sink", nonhost, "f")
	f.Add("goray.TaskSpec", []byte{0xff}, int32(1), int32(-1), int32(2), int32(1), nonhost, "", "", "")
	f.Fuzz(func(t *testing.T, typeName string, payload []byte, typeID, target, sender, serializer int32, targetAddr, targetID, senderAddr, senderID string) {
		b := &remote.MessageBatch{
			TypeNames: []string{typeName},
			Targets:   []*actor.PID{actor.NewPID(targetAddr, targetID)},
			Senders:   []*actor.PID{actor.NewPID(senderAddr, senderID)},
			Envelopes: []*remote.MessageEnvelope{{
				TypeId: typeID, Target: target, Sender: sender, SerializerId: serializer, MessageData: payload,
			}},
		}
		rm := batchMessage(b)
		keep, err := fuzzGuard().sanitize(rm, &scratch{})
		if keep {
			remoteReader(t, rm)
		} else if !errors.Is(err, ErrRejected) {
			t.Fatalf("dropped with error %v, want ErrRejected", err)
		}
	})
}

// fuzzCount numbers FuzzInbound's deliveries.
var fuzzCount atomic.Int64

// FuzzInbound sends data as one gRPC message on protoactor's stream to the
// local node, then a good batch on the same stream, and checks that the
// good batch arrives (or, if data ended the stream, arrives on a new one)
// and that no panic was recovered. Input that could make the node dial an
// address other than its own (senders elsewhere, protoactor's watch and
// stop messages) is skipped: the test talks to 127.0.0.1 only.
func FuzzInbound(f *testing.F) {
	for _, m := range seedBatches() {
		f.Add(mustMarshal(m))
	}
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	s, pid := spawnSink(f, local.sys, "FuzzInbound")
	cc := dialRaw(f, local.tr.Address(), testToken, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		var rm remote.RemoteMessage
		if proto.Unmarshal(data, &rm) == nil && mayDial(&rm) {
			t.Skip("input may make the node dial another address")
		}
		data = retarget(data, &rm)
		before := local.tr.Stats().RecoveredPanics

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
		cs, err := cc.NewStream(ctx, desc, "/remote.Remoting/Receive", grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("fuzz-good-%d", fuzzCount.Add(1))
		good := mustMarshal(batchMessage(goodBatch(pid, id)))
		ended := make(chan error, 1)
		go func() {
			var reply []byte
			for {
				if err := cs.RecvMsg(&reply); err != nil {
					ended <- err
					return
				}
			}
		}()
		_ = cs.SendMsg(&data)
		_ = cs.SendMsg(&good)
		arrived := make(chan error, 1)
		go func() { arrived <- s.waitForID(ctx, id) }()
		select {
		case err := <-arrived:
			if err != nil {
				t.Fatal(err)
			}
		case <-ended:
			// data ended the stream: the node must still serve a new one.
			stream, err := openStream(t, ctx, cc)
			if err != nil {
				t.Fatalf("new stream after %x: %v", data, err)
			}
			if err := stream.Send(batchMessage(goodBatch(pid, id))); err != nil {
				t.Fatal(err)
			}
			if err := <-arrived; err != nil {
				t.Fatal(err)
			}
		}
		if after := local.tr.Stats().RecoveredPanics; after != before {
			t.Fatalf("input %x made a handler panic", data)
		}
	})
}

// mayDial reports whether rm could make the node connect to an address:
// a sender (replies go there) or a protoactor message (Watch and
// Terminated connect to the PID they carry, Stop and PoisonPill would stop
// the sink).
func mayDial(rm *remote.RemoteMessage) bool {
	b := rm.GetMessageBatch()
	if b == nil {
		return false
	}
	if len(b.Senders) > 0 {
		return true
	}
	for _, name := range b.TypeNames {
		if strings.HasPrefix(name, "actor.") {
			return true
		}
	}
	return false
}

// retarget points a decodable batch's targets at the local node, whose
// address the fuzzer cannot know, keeping their ids; other input is left
// as it is.
func retarget(data []byte, rm *remote.RemoteMessage) []byte {
	b := rm.GetMessageBatch()
	if b == nil {
		return data
	}
	for _, pid := range b.Targets {
		if pid.GetAddress() == fuzzSelf {
			pid.Address = local.tr.Address()
		}
	}
	out, err := proto.Marshal(rm)
	if err != nil {
		return data
	}
	return out
}
