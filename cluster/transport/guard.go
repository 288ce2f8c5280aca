package transport

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "github.com/goray-dev/goray/proto"
)

// nonhost is the address protoactor gives a PID built before remote starts.
const nonhost = "nonhost"

// protoSerializerID is the index of protoactor's protobuf serializer, the
// only serializer its endpoint writer uses.
const protoSerializerID = 0

// DefaultAcceptType accepts goray's own messages and the few protoactor
// messages that cross between nodes: the system messages of remote
// watching and stopping (Watch, Unwatch, Terminated, Stop), PoisonPill,
// Touch and Touched, and DeadLetterResponse, which answers a request whose
// target is gone. protoactor's remote activation (ActorPidRequest) is not
// accepted: goray spawns through its own messages.
func DefaultAcceptType(name protoreflect.FullName) bool {
	if name.Parent() == "goray" {
		return true
	}
	switch name {
	case "actor.Watch", "actor.Unwatch", "actor.Terminated", "actor.Stop",
		"actor.PoisonPill", "actor.Touch", "actor.Touched", "actor.DeadLetterResponse":
		return true
	}
	return false
}

// guard holds what the server interceptors need: the credential digest,
// the node's own address, the accepted types, the per-peer logs and the
// counters. One guard belongs to one Transport; nothing is global.
type guard struct {
	credDigest [32]byte
	self       string
	accept     func(protoreflect.FullName) bool
	logger     *slog.Logger
	system     *actor.ActorSystem

	// types caches accepted, registered types by name. Only such types
	// are stored, so its size is bounded by the process's registry.
	types  sync.Map // string -> *acceptedType
	shapes shapes

	refusedPeers  peerLog
	rejectedPeers peerLog
	panicPeers    peerLog
	stats         counters
}

type counters struct {
	refused          atomic.Uint64
	panics           atomic.Uint64
	droppedEnvelopes atomic.Uint64
	droppedMessages  atomic.Uint64
	splitBatches     atomic.Uint64
	oversized        atomic.Uint64
}

// guardedStream wraps the server side of protoactor's Receive stream: every
// RemoteMessage it reads is checked before protoactor's endpoint reader sees
// it (see sanitize). A message with nothing left to deliver is dropped and
// the next one read, so that a bad message neither reaches protoactor nor
// ends the stream.
type guardedStream struct {
	grpc.ServerStream
	g    *guard
	from string
	sc   scratch
}

func (s *guardedStream) RecvMsg(m any) error {
	for {
		if err := s.ServerStream.RecvMsg(m); err != nil {
			return err
		}
		rm, ok := m.(*remote.RemoteMessage)
		if !ok {
			return nil
		}
		keep, err := s.g.sanitize(rm, &s.sc)
		if err != nil {
			s.g.reject(s.from, err)
		}
		if keep {
			return nil
		}
		s.g.stats.droppedMessages.Add(1)
	}
}

// reject logs the first rejected input of each peer.
func (g *guard) reject(from string, err error) {
	if g.rejectedPeers.first(from, g.logger, "transport: further peers sending rejected input are not logged one by one") {
		g.logger.Warn("transport: dropped inbound input; further rejections from this peer are not logged",
			slog.String("peer", from), slog.Any("error", err))
	}
}

// scratch is reused from one batch to the next of a stream.
type scratch struct {
	types   []typeCheck
	targets []error
	senders []error
}

type typeCheck struct {
	t   *acceptedType
	err error
}

// acceptedType is a type that may arrive from other nodes.
type acceptedType struct {
	mt protoreflect.MessageType
	// shape checks a payload without decoding it, when it is exact and
	// the guard needs nothing from the decoded message.
	shape *wireShape
	// decode: the payload is decoded to check it (see checkEnvelope).
	decode bool
}

// sanitize checks one inbound RemoteMessage. It reports whether the message
// goes on to protoactor and the first reason anything was dropped.
//
//   - A ConnectRequest goes on when it is a server connection; protoactor
//     implements nothing else (it logs an error for a client connection).
//   - A MessageBatch loses every envelope that protoactor could not deliver
//     safely (see checkEnvelope) and goes on when any envelope is left.
//   - Anything else (a response, a disconnect request, an empty message) is
//     dropped: a server only ever receives the two kinds above, and
//     protoactor would log a warning for each.
func (g *guard) sanitize(rm *remote.RemoteMessage, sc *scratch) (bool, error) {
	switch t := rm.GetMessageType().(type) {
	case *remote.RemoteMessage_ConnectRequest:
		if t.ConnectRequest.GetServerConnection() == nil {
			return false, fmt.Errorf("%w: connect request without a server connection", ErrRejected)
		}
		return true, nil
	case *remote.RemoteMessage_MessageBatch:
		if t.MessageBatch == nil {
			return false, fmt.Errorf("%w: empty message batch", ErrRejected)
		}
		err := g.filterBatch(t.MessageBatch, sc)
		return len(t.MessageBatch.Envelopes) > 0, err
	default:
		return false, fmt.Errorf("%w: unexpected message %T", ErrRejected, rm.GetMessageType())
	}
}

// filterBatch removes from b, in place and in order, every envelope that
// checkEnvelope rejects, and returns the first reason.
func (g *guard) filterBatch(b *remote.MessageBatch, sc *scratch) error {
	sc.types = sc.types[:0]
	for _, name := range b.TypeNames {
		t, err := g.lookupType(name)
		sc.types = append(sc.types, typeCheck{t: t, err: err})
	}
	sc.targets = sc.targets[:0]
	for _, pid := range b.Targets {
		sc.targets = append(sc.targets, g.checkTarget(pid))
	}
	sc.senders = sc.senders[:0]
	for _, pid := range b.Senders {
		sc.senders = append(sc.senders, checkRemotePID("sender", pid))
	}

	var first error
	kept := b.Envelopes[:0]
	for _, env := range b.Envelopes {
		if err := g.checkEnvelope(env, sc); err != nil {
			g.stats.droppedEnvelopes.Add(1)
			if first == nil {
				first = err
			}
			continue
		}
		kept = append(kept, env)
	}
	clear(b.Envelopes[len(kept):])
	b.Envelopes = kept
	return first
}

// checkEnvelope rejects an envelope that would make protoactor's endpoint
// reader panic, end the stream, or deliver something it should not:
//
//   - a type, target or sender index outside its table (protoactor indexes
//     the tables without a check and panics);
//   - a serializer other than protoactor's protobuf serializer (protoactor
//     indexes its serializer registry with the id and panics);
//   - a type name that is not registered in this process (protoactor's
//     deserializer dereferences the nil type it finds and panics) or that
//     AcceptType refuses;
//   - a payload that does not decode as its type (protoactor would end the
//     stream, losing every later message, and the sender would report
//     every actor it watches here as terminated);
//   - a target that is not a process of this node: address nonhost,
//     another node's address (protoactor would relay the message there) or
//     an empty id;
//   - a sender whose address is nonhost or empty (a reply to it would go
//     to a process of this node);
//   - a Watch or Unwatch without a watcher or a Terminated without the
//     terminated PID (protoactor dereferences them), or with the address
//     nonhost or this node's own.
//
// The payload is checked by the rules of the function protoactor decodes it
// with (proto.Unmarshal; see wirecheck.go), so that what passes here
// decodes there too.
func (g *guard) checkEnvelope(env *remote.MessageEnvelope, sc *scratch) error {
	if env == nil {
		return fmt.Errorf("%w: nil envelope", ErrRejected)
	}
	if env.TypeId < 0 || int(env.TypeId) >= len(sc.types) {
		return fmt.Errorf("%w: type index %d outside a table of %d", ErrRejected, env.TypeId, len(sc.types))
	}
	tc := sc.types[env.TypeId]
	if tc.err != nil {
		return tc.err
	}
	if env.Target < 0 || int(env.Target) >= len(sc.targets) {
		return fmt.Errorf("%w: target index %d outside a table of %d", ErrRejected, env.Target, len(sc.targets))
	}
	if err := sc.targets[env.Target]; err != nil {
		return err
	}
	if env.Sender < 0 || int(env.Sender) > len(sc.senders) {
		return fmt.Errorf("%w: sender index %d outside a table of %d", ErrRejected, env.Sender, len(sc.senders))
	}
	if env.Sender > 0 {
		if err := sc.senders[env.Sender-1]; err != nil {
			return err
		}
	}
	if env.SerializerId != protoSerializerID {
		return fmt.Errorf("%w: serializer %d, want %d", ErrRejected, env.SerializerId, protoSerializerID)
	}
	t := tc.t
	if !t.decode {
		if err := checkWire(env.MessageData, t.shape); err != nil {
			return fmt.Errorf("%w: payload of %s does not decode: %w", ErrRejected, t.mt.Descriptor().FullName(), err)
		}
		return nil
	}
	msg := t.mt.New().Interface()
	if err := proto.Unmarshal(env.MessageData, msg); err != nil {
		return fmt.Errorf("%w: payload of %s does not decode: %w", ErrRejected, t.mt.Descriptor().FullName(), err)
	}
	switch m := msg.(type) {
	case *actor.Watch:
		return g.checkPeerPID("Watch.watcher", m.Watcher)
	case *actor.Unwatch:
		return g.checkPeerPID("Unwatch.watcher", m.Watcher)
	case *actor.Terminated:
		return g.checkPeerPID("Terminated.who", m.Who)
	}
	return nil
}

// lookupType resolves a type name to a registered, accepted message type.
func (g *guard) lookupType(name string) (*acceptedType, error) {
	if t, ok := g.types.Load(name); ok {
		return t.(*acceptedType), nil
	}
	full := protoreflect.FullName(name)
	if !full.IsValid() {
		return nil, fmt.Errorf("%w: invalid type name %q", ErrRejected, truncate(name))
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(full)
	if err != nil {
		return nil, fmt.Errorf("%w: type %s is not registered in this process", ErrRejected, full)
	}
	if !g.accept(full) {
		return nil, fmt.Errorf("%w: type %s is not accepted from other nodes", ErrRejected, full)
	}
	t := &acceptedType{mt: mt, shape: g.shapes.of(mt.Descriptor())}
	switch full {
	case "actor.Watch", "actor.Unwatch", "actor.Terminated":
		t.decode = true // checkEnvelope looks at their PIDs
	default:
		t.decode = !t.shape.exact
	}
	g.types.Store(name, t)
	return t, nil
}

// checkTarget accepts only a PID of a process of this node.
func (g *guard) checkTarget(pid *actor.PID) error {
	switch {
	case pid == nil:
		return fmt.Errorf("%w: nil target", ErrRejected)
	case pid.Address != g.self:
		return fmt.Errorf("%w: target address %q is not this node's %q", ErrRejected, truncate(pid.Address), g.self)
	case pid.Id == "" || len(pid.Id) > pb.MaxNameLen:
		return fmt.Errorf("%w: target id of %d bytes", ErrRejected, len(pid.Id))
	}
	return nil
}

// checkRemotePID accepts a PID that names a process by a real address.
func checkRemotePID(what string, pid *actor.PID) error {
	switch {
	case pid == nil:
		return fmt.Errorf("%w: nil %s", ErrRejected, what)
	case pid.Address == "" || pid.Address == nonhost || len(pid.Address) > pb.MaxAddressLen:
		return fmt.Errorf("%w: %s address %q", ErrRejected, what, truncate(pid.Address))
	case pid.Id == "" || len(pid.Id) > pb.MaxNameLen:
		return fmt.Errorf("%w: %s id of %d bytes", ErrRejected, what, len(pid.Id))
	}
	return nil
}

// checkPeerPID accepts a PID of a process on another node.
func (g *guard) checkPeerPID(what string, pid *actor.PID) error {
	if err := checkRemotePID(what, pid); err != nil {
		return err
	}
	if pid.Address == g.self {
		return fmt.Errorf("%w: %s has this node's own address", ErrRejected, what)
	}
	return nil
}

// truncate shortens what a peer sent before it is logged.
func truncate(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
