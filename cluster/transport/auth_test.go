package transport

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// TestWrongTokenCannotDeliver runs peers with a wrong token and with none
// (protoactor's remote as it is): what they send never arrives, every
// attempt is refused, the refusal is logged once for the peer address
// however many attempts there are, and a peer with the token is still
// served.
func TestWrongTokenCannotDeliver(t *testing.T) {
	s, pid := localSink(t)
	self := local.tr.Address()
	before := local.tr.Stats()

	bad := startPeers(t, peerSpec{Token: "wrong-token"}, peerSpec{Plain: true})
	for _, p := range bad {
		p.ask("send %s %s 5 0", pid.Address, pid.Id)
		p.ask("request %s %s 1000", pid.Address, pid.Id)
	}
	for _, p := range bad {
		if got := p.answer(30 * time.Second); got != "sent" {
			t.Fatalf("send: %s", got)
		}
		if got := p.answer(30 * time.Second); !strings.HasPrefix(got, "error") {
			t.Fatalf("request from a peer without the token: %s", got)
		}
	}
	eventually(t, 10*time.Second, "both peers' connections are refused", func() bool {
		return local.tr.Stats().RefusedCalls >= before.RefusedCalls+2
	})

	// Many more attempts, streams and unary calls, without the token and
	// with a wrong one: each is refused before protoactor sees it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, token := range []string{"", "wrong-token", credential(testToken)} {
		cc := dialRaw(t, self, token, nil)
		for range 10 {
			if _, err := openStream(t, ctx, cc); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("stream with token %q: %v, want Unauthenticated", token, err)
			}
			_, err := remote.NewRemotingClient(cc).ListProcesses(ctx, &remote.ListProcessesRequest{})
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("unary call with token %q: %v, want Unauthenticated", token, err)
			}
		}
	}
	if d := statsDelta(before); d.RefusedCalls < 62 || d.RecoveredPanics != 0 {
		t.Fatalf("stats grew by %+v, want at least 62 refused calls and no panic", d)
	}
	if n := local.logs.count("refused a peer"); n != 1 {
		t.Fatalf("refusals logged %d times, want once for the one peer address", n)
	}

	// A peer with the token is served, and nothing else arrived.
	good := startPeer(t, peerSpec{Token: testToken})
	if got := good.do(30*time.Second, "request %s %s 10000", pid.Address, pid.Id); got != "ok" {
		t.Fatalf("request from a peer with the token: %s", got)
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("messages from peers without the token arrived: %q", got)
	}
}

// fakeStream is a grpc.ServerStream with a context and nothing else.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (f fakeStream) Context() context.Context { return f.ctx }

func testGuard(logs *recorder) *guard {
	return &guard{
		credDigest: sha256.Sum256([]byte(credential(testToken))),
		accept:     DefaultAcceptType,
		logger:     slog.New(logs),
		self:       "127.0.0.1:9",
	}
}

func callContext(addr string, md metadata.MD) context.Context {
	tcp, _ := net.ResolveTCPAddr("tcp", addr)
	return peer.NewContext(metadata.NewIncomingContext(context.Background(), md), &peer.Peer{Addr: tcp})
}

func TestAuthenticate(t *testing.T) {
	tests := []struct {
		name string
		md   metadata.MD
		ok   bool
	}{
		{"credential", metadata.Pairs(authMetadataKey, credential(testToken)), true},
		{"no metadata", nil, false},
		{"empty credential", metadata.Pairs(authMetadataKey, ""), false},
		{"the raw token", metadata.Pairs(authMetadataKey, testToken), false},
		{"another token's credential", metadata.Pairs(authMetadataKey, credential("other")), false},
		{"credential with a suffix", metadata.Pairs(authMetadataKey, credential(testToken)+"0"), false},
		{"credential twice", metadata.Pairs(authMetadataKey, credential(testToken), authMetadataKey, credential(testToken)), false},
		{"credential under another key", metadata.Pairs("authorization", credential(testToken)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &recorder{}
			g := testGuard(logs)
			called := false
			err := g.streamInterceptor(nil, fakeStream{ctx: callContext("127.0.0.1:5000", tt.md)}, &grpc.StreamServerInfo{FullMethod: "/m"},
				func(any, grpc.ServerStream) error { called = true; return nil })
			if tt.ok != (err == nil) || called != tt.ok {
				t.Fatalf("error %v, handler called %v; want accepted %v", err, called, tt.ok)
			}
			if !tt.ok && status.Code(err) != codes.Unauthenticated {
				t.Fatalf("error %v, want Unauthenticated", err)
			}
			_, err = g.unaryInterceptor(callContext("127.0.0.1:5000", tt.md), nil, &grpc.UnaryServerInfo{FullMethod: "/u"},
				func(context.Context, any) (any, error) { return "done", nil })
			if tt.ok != (err == nil) {
				t.Fatalf("unary: error %v, want accepted %v", err, tt.ok)
			}
		})
	}
}

// TestRefusalLoggedOncePerPeer refuses many calls from three ports of two
// addresses: two log lines, every call counted.
func TestRefusalLoggedOncePerPeer(t *testing.T) {
	logs := &recorder{}
	g := testGuard(logs)
	for i := range 30 {
		addr := fmt.Sprintf("127.0.0.%d:%d", 1+i%2, 5000+i%3)
		_ = g.streamInterceptor(nil, fakeStream{ctx: callContext(addr, nil)}, &grpc.StreamServerInfo{FullMethod: "/m"},
			func(any, grpc.ServerStream) error { t.Fatal("handler called"); return nil })
	}
	if n := logs.count("refused a peer"); n != 2 {
		t.Fatalf("%d refusal logs, want 2", n)
	}
	if n := g.stats.refused.Load(); n != 30 {
		t.Fatalf("%d refusals counted, want 30", n)
	}
}

// TestPanicRecovered turns a panicking handler into an Internal error,
// logged once per peer.
func TestPanicRecovered(t *testing.T) {
	logs := &recorder{}
	g := testGuard(logs)
	md := metadata.Pairs(authMetadataKey, credential(testToken))
	for range 3 {
		err := g.streamInterceptor(nil, fakeStream{ctx: callContext("127.0.0.1:1", md)}, &grpc.StreamServerInfo{FullMethod: "/m"},
			func(any, grpc.ServerStream) error { panic("boom") })
		if status.Code(err) != codes.Internal {
			t.Fatalf("stream: %v, want Internal", err)
		}
		_, err = g.unaryInterceptor(callContext("127.0.0.1:1", md), nil, &grpc.UnaryServerInfo{FullMethod: "/u"},
			func(context.Context, any) (any, error) { panic(fmt.Errorf("boom %d", 1)) })
		if status.Code(err) != codes.Internal {
			t.Fatalf("unary: %v, want Internal", err)
		}
	}
	if n := g.stats.panics.Load(); n != 6 {
		t.Fatalf("%d panics counted, want 6", n)
	}
	if n := logs.count("recovered a panic"); n != 1 {
		t.Fatalf("%d panic logs, want 1", n)
	}
}

// TestPeerLogBounded remembers at most maxLoggedPeers addresses and says so
// once.
func TestPeerLogBounded(t *testing.T) {
	logs := &recorder{}
	logger := slog.New(logs)
	var l peerLog
	firsts := 0
	for i := range maxLoggedPeers + 100 {
		if l.first(fmt.Sprint(i), logger, "overflow") {
			firsts++
		}
	}
	if firsts != maxLoggedPeers || len(l.seen) != maxLoggedPeers {
		t.Fatalf("%d first sightings, %d remembered; want %d", firsts, len(l.seen), maxLoggedPeers)
	}
	if n := logs.count("overflow"); n != 1 {
		t.Fatalf("overflow logged %d times, want once", n)
	}
}
