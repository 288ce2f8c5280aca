package transport

import (
	"context"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// splitter caps the size of every batch this node sends (see the limits in
// config.go).
type splitter struct {
	maxBatch int
	maxSend  int
	system   *actor.ActorSystem
	logger   *slog.Logger
	stats    *counters
}

// streamInterceptor wraps every outbound stream so that SendMsg splits
// batches.
func (s *splitter) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &splitStream{ClientStream: cs, s: s}, nil
}

type splitStream struct {
	grpc.ClientStream
	s *splitter
}

// Per-item bounds on the encoded size of a batch, beyond the bytes of the
// strings and payloads themselves (field tags, length prefixes, and varints
// of up to 10 bytes for a negative int32).
const (
	envelopeOverhead    = 96 // 4 int32 + 2 uint32 fields, payload and header framing, framing in the batch
	headerEntryOverhead = 18 // map entry framing, key and value framing
	typeNameOverhead    = 6
	pidOverhead         = 24
)

// SendMsg sends m; a batch whose encoded size could exceed maxBatch goes as
// several consecutive batches of at most maxBatch bytes, each with the
// batch's tables (the envelopes index them) and a share of its envelopes in
// order. An envelope that cannot fit under maxSend even alone is dropped.
func (cs *splitStream) SendMsg(m any) error {
	rm, ok := m.(*remote.RemoteMessage)
	b := rm.GetMessageBatch()
	if !ok || b == nil {
		return cs.ClientStream.SendMsg(m)
	}
	base := batchOverhead + tablesBound(b)
	total := base
	for _, env := range b.Envelopes {
		total += envelopeBound(env)
	}
	if total <= cs.s.maxBatch {
		return cs.ClientStream.SendMsg(m)
	}
	cs.s.stats.splitBatches.Add(1)

	part := make([]*remote.MessageEnvelope, 0, len(b.Envelopes))
	size := base
	flush := func() error {
		if len(part) == 0 {
			return nil
		}
		err := cs.ClientStream.SendMsg(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{
			MessageBatch: &remote.MessageBatch{TypeNames: b.TypeNames, Targets: b.Targets, Senders: b.Senders, Envelopes: part},
		}})
		part = part[len(part):]
		size = base
		return err
	}
	for _, env := range b.Envelopes {
		es := envelopeBound(env)
		if base+es > cs.s.maxSend && cs.s.tooLarge(b, env) {
			continue
		}
		if len(part) > 0 && size+es > cs.s.maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		part = append(part, env)
		size += es
	}
	return flush()
}

// tooLarge reports whether env, sent alone with b's tables, exceeds maxSend
// (computed exactly; the bounds only said it might). Such an envelope would
// make gRPC fail the stream, so it is dropped: it is logged, and a sender
// awaiting a reply gets a DeadLetterResponse, as protoactor answers a
// message it cannot deliver.
func (s *splitter) tooLarge(b *remote.MessageBatch, env *remote.MessageEnvelope) bool {
	alone := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{
		MessageBatch: &remote.MessageBatch{TypeNames: b.TypeNames, Targets: b.Targets, Senders: b.Senders, Envelopes: []*remote.MessageEnvelope{env}},
	}}
	size := proto.Size(alone)
	if size <= s.maxSend {
		return false
	}
	s.stats.oversized.Add(1)
	var typeName string
	if env.TypeId >= 0 && int(env.TypeId) < len(b.TypeNames) {
		typeName = b.TypeNames[env.TypeId]
	}
	var target *actor.PID
	if env.Target >= 0 && int(env.Target) < len(b.Targets) {
		target = proto.Clone(b.Targets[env.Target]).(*actor.PID)
		target.RequestId = env.TargetRequestId
	}
	s.logger.Error("transport: dropped an outbound message larger than the send limit",
		slog.String("type", typeName), slog.Int("bytes", size), slog.Int("limit", s.maxSend),
		slog.String("target", target.GetAddress()+"/"+target.GetId()))
	if env.Sender > 0 && int(env.Sender) <= len(b.Senders) {
		sender := proto.Clone(b.Senders[env.Sender-1]).(*actor.PID)
		sender.RequestId = env.SenderRequestId
		s.system.Root.Send(sender, &actor.DeadLetterResponse{Target: target})
	}
	return true
}

// tablesBound bounds the encoded size of a batch's tables.
func tablesBound(b *remote.MessageBatch) int {
	n := 0
	for _, name := range b.TypeNames {
		n += typeNameOverhead + len(name)
	}
	for _, pids := range [][]*actor.PID{b.Targets, b.Senders} {
		for _, pid := range pids {
			n += pidOverhead + len(pid.GetAddress()) + len(pid.GetId())
		}
	}
	return n
}

// envelopeBound bounds the encoded size of an envelope within a batch.
func envelopeBound(env *remote.MessageEnvelope) int {
	n := envelopeOverhead + len(env.GetMessageData())
	for k, v := range env.GetMessageHeader().GetHeaderData() {
		n += headerEntryOverhead + len(k) + len(v)
	}
	return n
}
