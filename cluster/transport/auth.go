package transport

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// authMetadataKey is the gRPC metadata key that carries the credential.
const authMetadataKey = "goray-cluster-auth"

// credentialLabel is what the credential authenticates with the token; a new
// label would make a new, incompatible credential.
const credentialLabel = "goray remote transport v1"

// credential derives what a node presents from the cluster token: an
// HMAC-SHA256 of a fixed label keyed by the token, in hex. The token itself
// never goes on the wire, so that reading plaintext traffic does not reveal
// the token the cluster also derives its gossip key from.
func credential(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(credentialLabel))
	return hex.EncodeToString(m.Sum(nil))
}

// tokenCredentials presents the credential on every call (per-RPC
// credentials).
type tokenCredentials struct {
	value  string
	secure bool
}

func (c tokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{authMetadataKey: c.value}, nil
}

// RequireTransportSecurity is false only when TLS is off: gRPC refuses to
// send per-RPC credentials over a plaintext connection unless they say they
// do not need a secure one. Without TLS the credential travels in clear, as
// TLSConfig.Enabled documents.
func (c tokenCredentials) RequireTransportSecurity() bool { return c.secure }

// authenticate checks the credential of an inbound call in constant time: it
// compares SHA-256 digests, so neither the content nor the length of what
// the peer presented changes how long the comparison takes.
func (g *guard) authenticate(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(authMetadataKey)
	var presented string
	if len(values) == 1 {
		presented = values[0]
	}
	digest := sha256.Sum256([]byte(presented))
	if subtle.ConstantTimeCompare(digest[:], g.credDigest[:]) != 1 || len(values) != 1 {
		return status.Error(codes.Unauthenticated, ErrUnauthenticated.Error())
	}
	return nil
}

// unaryInterceptor authenticates a unary call and turns a panic of its
// handler into an error. protoactor implements no unary method: both panic.
func (g *guard) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	from := peerKey(ctx)
	if err := g.authenticate(ctx); err != nil {
		g.refuse(from, info.FullMethod)
		return nil, err
	}
	defer g.recoverPanic(&err, from, info.FullMethod)
	return handler(ctx, req)
}

// streamInterceptor authenticates a stream, guards every message read from
// it (see guardedStream) and turns a panic of its handler into an error.
func (g *guard) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	from := peerKey(ss.Context())
	if err := g.authenticate(ss.Context()); err != nil {
		g.refuse(from, info.FullMethod)
		return err
	}
	defer g.recoverPanic(&err, from, info.FullMethod)
	return handler(srv, &guardedStream{ServerStream: ss, g: g, from: from})
}

// refuse counts a refused call and logs the first from each peer.
func (g *guard) refuse(from, method string) {
	g.stats.refused.Add(1)
	if g.refusedPeers.first(from, g.logger, "transport: further refused peers are not logged one by one") {
		g.logger.Warn("transport: refused a peer without the cluster token; further refusals of this peer are not logged",
			slog.String("peer", from), slog.String("method", method))
	}
}

// recoverPanic is deferred by the interceptors: it turns a panic into an
// Internal status so that the node keeps running, and logs the first panic
// of each peer with its stack.
func (g *guard) recoverPanic(err *error, from, method string) {
	r := recover()
	if r == nil {
		return
	}
	g.stats.panics.Add(1)
	if g.panicPeers.first(from, g.logger, "transport: further peers whose input panicked are not logged one by one") {
		g.logger.Error("transport: recovered a panic while handling a peer's call; further panics of this peer are not logged",
			slog.String("peer", from), slog.String("method", method),
			slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
	}
	*err = status.Error(codes.Internal, fmt.Sprintf("transport: recovered panic while handling %s", method))
}

// peerKey names a peer for logging: its IP address without the port, since
// every new connection of the same node comes from a new port.
func peerKey(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "unknown"
	}
	return hostOf(p.Addr)
}

// maxLoggedPeers bounds the peers a peerLog remembers, so that a flood of
// addresses cannot grow it without bound.
const maxLoggedPeers = 4096

// peerLog remembers which peers were logged, so that each is logged once.
type peerLog struct {
	mu   sync.Mutex
	seen map[string]struct{}
	full bool
}

// first reports whether key is seen for the first time. Past maxLoggedPeers
// keys it reports false, having logged overflow once.
func (l *peerLog) first(key string, logger *slog.Logger, overflow string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[key]; ok {
		return false
	}
	if len(l.seen) >= maxLoggedPeers {
		if !l.full {
			l.full = true
			logger.Warn(overflow, slog.Int("peers", len(l.seen)))
		}
		return false
	}
	if l.seen == nil {
		l.seen = make(map[string]struct{})
	}
	l.seen[key] = struct{}{}
	return true
}
