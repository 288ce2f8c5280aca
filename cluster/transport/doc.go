// Package transport starts protoactor's remote for a goray node, so that the
// node's actors exchange protobuf messages with other nodes over gRPC, and
// secures it: every connection is authenticated with the cluster token,
// optionally encrypted with TLS, and every inbound message is checked
// before protoactor decodes it.
//
// # Use
//
//	sys := actor.NewActorSystem()
//	cfg := transport.DefaultConfig()
//	cfg.Token = clusterToken
//	tr, err := transport.Start(sys, cfg) // before any PID is built
//	...
//	defer tr.Stop(ctx)
//
// Start must run before the node builds any PID that may reach another
// node: a PID takes the system's address when it is built, and before
// Start that address is "nonhost", which other nodes reject.
//
// # Authentication
//
// Every gRPC call a node makes carries a credential derived from the
// cluster token (an HMAC-SHA256 of a fixed label keyed by the token, so
// that the token itself never crosses the network) as per-RPC metadata.
// The server's unary and stream interceptors compare the SHA-256 digest of
// what a call presents with the digest of the expected credential in
// constant time, and refuse a call without it with codes.Unauthenticated
// before protoactor sees anything. The first refusal of each peer address
// (IP, without the port) is logged; every refusal is counted in Stats.
//
// With TLS enabled, connections are TLS 1.3 with mutual authentication:
// each node presents its certificate as server and as client, and accepts
// only peers whose certificate chains to the cluster CA. With TLS off, the
// credential travels in clear over plaintext gRPC (which gRPC allows only
// because the credential says it does not require transport security).
//
// # Inbound messages
//
// protoactor's endpoint reader trusts what arrives. Left alone, one
// malformed message from a peer does one of the following:
//
//   - An unknown type name, or one not registered in this process: the
//     protobuf deserializer ignores the lookup error and calls New on a nil
//     type; the nil dereference panics in the gRPC handler goroutine, which
//     nothing recovers, and the whole process dies.
//   - A type, target or sender index outside its table, or a serializer id
//     other than 0 and 1: an index out of range, which also kills the
//     process.
//   - A Terminated without its PID: a nil dereference, which kills the
//     process; a Watch or Unwatch without a watcher makes the watched actor
//     panic (its supervisor restarts it).
//   - A payload that does not decode (garbage bytes, truncated fields,
//     invalid UTF-8 in a string field): the reader ends the stream. Every
//     later message of the batch is lost, and the sending node reports
//     every actor it watches on this node as terminated.
//   - A target PID with the address nonhost: delivered to the local process
//     of that id; a target with another node's address: relayed to that
//     node; a sender with nonhost: replies go to a local process.
//   - A gRPC message larger than the receive limit: gRPC refuses it and the
//     stream ends, with the same losses as above.
//   - A unary call (ListProcesses, GetProcessDiagnostics): protoactor does
//     not implement them and panics, which kills the process.
//
// This package does not fork protoactor and does not replace its
// serializer: protoactor's serializer registry is append-only and indexed
// by the id on the wire, and its endpoint writer always writes id 0, so a
// guarded serializer registered beside it would never be used. Instead,
// the stream interceptor wraps the server stream's RecvMsg and checks each
// RemoteMessage after gRPC decodes it and before protoactor's reader gets
// it (guard.go):
//
//   - A MessageBatch loses, in place and in order, every envelope with an
//     index outside its table, a serializer other than protobuf's, a type
//     name that is invalid, unregistered or not accepted
//     (Config.AcceptType; DefaultAcceptType takes goray's messages and the
//     protoactor messages that cross between nodes), a payload that
//     proto.Unmarshal rejects (the same function protoactor then calls, so
//     what passes here decodes there), a target that is not a process of
//     this node (address nonhost or another node's, or no id), a sender
//     with the address nonhost or none, or a Watch, Unwatch or Terminated
//     without a PID of another node. The other envelopes are delivered.
//   - A batch left empty, a ConnectRequest that is not a server
//     connection, and every other kind of RemoteMessage (which a server
//     never legitimately receives) are dropped, and the next message read.
//   - The stream stays open: one bad envelope costs that envelope only.
//
// The first rejection of each peer address is logged; every dropped
// envelope and message is counted in Stats. Both interceptors also recover
// a panic of the handler they call, turn it into codes.Internal for that
// call, and log the first of each peer with its stack: whatever the checks
// miss ends one call, not the node.
//
// What is not guarded: a gRPC message over the receive limit or one that
// is not a RemoteMessage at all still ends its stream (gRPC refuses it
// before the interceptor sees it; the node goes on). The content of goray
// messages (nil nested fields, ID lengths) is left to the system actors'
// validation middleware; this package only checks that a payload decodes
// as its type. Decoding each payload twice (once here, once in protoactor)
// is the price of the check. Panics in goroutines the gRPC handler does
// not run (actors' mailboxes) are outside the interceptors; protoactor's
// mailboxes recover those themselves. A peer with the token is trusted to
// send goray messages: the guard keeps it from crashing the node, not from
// asking it to do work.
//
// # Streams
//
// Beside messages, a node serves plain byte streams for bulk data (object
// chunks), on a second port of BindHost that Transport.StreamAddress
// names: ServeStreams hands each inbound stream to a handler, and
// DialStream opens one to another node. A byte read from a stream is
// copied once, from the kernel into the reader's buffer; a message's bytes
// are copied five times on the way in (gRPC's framer and message buffer,
// the batch's envelope, the message's field, the destination).
//
// Streams are secured as messages are. With TLS on, they are TLS 1.3 with
// the same certificates. Either way a stream opens with a mutual
// challenge: each side sends a random nonce and proves it holds the
// credential with an HMAC of both nonces, so that the credential itself
// never crosses the network and an old handshake cannot be replayed. A
// peer that fails is refused, counted and logged once, as a call would be;
// a panic of the handler ends that stream only.
//
// # Limits
//
// Outbound batches are capped in bytes, not only in count: see the
// constants in config.go for the arithmetic. A batch that could exceed
// Config.MaxBatchBytes (4 MiB) is sent as several in order; a single
// message that cannot fit Config.MaxSendMsgSize even alone is dropped and
// its sender, if it awaits a reply, gets a DeadLetterResponse.
//
// # Global state
//
// This package keeps none. protoactor's remote.Start replaces gRPC's
// global logger each time it runs, which gRPC allows only before any gRPC
// goroutine exists: run one transport per process (tests that need several
// nodes run the others in child processes).
package transport
