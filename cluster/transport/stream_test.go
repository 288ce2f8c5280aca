package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"
)

// streamNode is a transport with only its stream server: streams need no
// actor system.
type streamNode struct {
	tr   *Transport
	logs *recorder
}

// newStreamNode starts a stream server holding token, with TLS when cfg is
// given, serving streams with handle.
func newStreamNode(t *testing.T, token string, cfg *TLSConfig, handle func(net.Conn)) *streamNode {
	t.Helper()
	logs := &recorder{}
	g := &guard{logger: slog.New(logs)}
	var serverTLS, clientTLS *tls.Config
	if cfg != nil {
		var err error
		if serverTLS, clientTLS, err = cfg.tlsConfigs(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := listenStreams("127.0.0.1", 0, "127.0.0.1", serverTLS, []byte(credential(token)), g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	tr := &Transport{streams: s, clientTLS: clientTLS, guard: g}
	if err := tr.ServeStreams(handle); err != nil {
		t.Fatal(err)
	}
	return &streamNode{tr: tr, logs: logs}
}

// echo serves a stream by sending back what it reads; a stream that starts
// with "panic" makes it panic.
func echo(c net.Conn) {
	defer c.Close()
	var first [5]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return
	}
	if string(first[:]) == "panic" {
		panic("echo: asked to panic")
	}
	if _, err := c.Write(first[:]); err != nil {
		return
	}
	_, _ = io.Copy(c, c)
}

// streamRoundTrip opens a stream from client to server and checks that it
// carries bytes both ways.
func streamRoundTrip(t *testing.T, client, server *streamNode) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.tr.DialStream(ctx, server.tr.StreamAddress())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	msg := bytes.Repeat([]byte("goray"), 1000)
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the stream changed the bytes")
	}
	return nil
}

// TestStreams opens streams between nodes of one cluster, and from
// clients that cannot prove they belong to it: those are refused, logged
// once per peer, and the server goes on serving.
func TestStreams(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	tlsCfg := func(serial int64) *TLSConfig { c := ca.files(t, t.TempDir(), serial); return &c }
	plain := newStreamNode(t, testToken, nil, echo)
	secure := newStreamNode(t, testToken, tlsCfg(2), echo)
	tests := []struct {
		name    string
		client  *streamNode
		server  *streamNode
		refused error // nil: the stream works
	}{
		{"same token", newStreamNode(t, testToken, nil, echo), plain, nil},
		{"other token", newStreamNode(t, "another cluster's token, long enough", nil, echo), plain, ErrStreamRefused},
		{"TLS both", newStreamNode(t, testToken, tlsCfg(3), echo), secure, nil},
		{"plaintext client of a TLS server", newStreamNode(t, testToken, nil, echo), secure, ErrStreamRefused},
		{"TLS client of a plaintext server", newStreamNode(t, testToken, tlsCfg(4), echo), plain, errors.New("TLS")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refusedBefore := tt.server.tr.guard.stats.refused.Load()
			err := streamRoundTrip(t, tt.client, tt.server)
			switch {
			case tt.refused == nil && err != nil:
				t.Fatalf("stream failed: %v", err)
			case tt.refused != nil && err == nil:
				t.Fatal("stream carried bytes; want it refused")
			case errors.Is(tt.refused, ErrStreamRefused) && !errors.Is(err, ErrStreamRefused):
				t.Fatalf("error %v, want %v", err, tt.refused)
			}
			if tt.refused != nil {
				waitCount(t, func() uint64 { return tt.server.tr.guard.stats.refused.Load() }, refusedBefore+1)
			}
			// The server still serves its own cluster.
			good := plain
			if tt.server == secure {
				good = newStreamNode(t, testToken, tlsCfg(5), echo)
			}
			if err := streamRoundTrip(t, good, tt.server); err != nil {
				t.Fatalf("after that, a node of the cluster: %v", err)
			}
		})
	}
	if n := plain.logs.count("refused a peer"); n != 1 {
		t.Errorf("the plaintext server logged %d refusals from one peer address, want 1", n)
	}
}

// waitCount polls get until it reaches want.
func waitCount(t *testing.T, get func() uint64, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for get() < want {
		if time.Now().After(deadline) {
			t.Fatalf("count %d, want %d", get(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStreamBadInput sends a stream server what no node sends: it refuses
// it, recovers from a handler's panic, and keeps serving.
func TestStreamBadInput(t *testing.T) {
	server := newStreamNode(t, testToken, nil, echo)
	client := newStreamNode(t, testToken, nil, echo)
	stats := &server.tr.guard.stats
	raw := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	tests := []struct {
		name  string
		dial  func(ctx context.Context, addr string) (net.Conn, error)
		send  []byte
		count func() uint64
	}{
		{"garbage instead of a greeting", raw, bytes.Repeat([]byte{0xff}, 200), stats.refused.Load},
		{"an HTTP/2 preface", raw, []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n0123456789012345678901234567890123"), stats.refused.Load},
		{"a handler that panics", client.tr.DialStream, []byte("panic"), stats.panics.Load},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.count()
			c, err := tt.dial(context.Background(), server.tr.StreamAddress())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if err := c.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
				t.Fatal(err)
			}
			// The server closes the stream without a greeting or an echo.
			if n, err := io.ReadFull(c, make([]byte, 64)); err == nil || n == 64 {
				t.Fatalf("read %d bytes, err %v: the server did not close the stream", n, err)
			}
			waitCount(t, tt.count, before+1)
			if err := streamRoundTrip(t, client, server); err != nil {
				t.Fatalf("after that, a node of the cluster: %v", err)
			}
		})
	}
}

// TestStreamsEndWithTheServer: closing the server ends the streams it
// serves, and refuses new ones.
func TestStreamsEndWithTheServer(t *testing.T) {
	server := newStreamNode(t, testToken, nil, echo)
	client := newStreamNode(t, testToken, nil, echo)
	c, err := client.tr.DialStream(context.Background(), server.tr.StreamAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	server.tr.streams.close()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("read after the server closed: %v, want the stream ended", err)
	}
	if err := streamRoundTrip(t, client, server); err == nil {
		t.Fatal("a closed server accepted a stream")
	}
	if err := server.tr.ServeStreams(echo); err == nil {
		t.Fatal("ServeStreams on a closed server succeeded")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// scriptConn is a net.Conn that reads a fixed input and discards what is
// written to it.
type scriptConn struct {
	net.Conn // nil: the methods not overridden are not called
	in       *bytes.Reader
}

func (c *scriptConn) Read(b []byte) (int, error)       { return c.in.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzStreamHandshake gives a stream server's handshake arbitrary bytes
// from a client: it never panics and never accepts a client that cannot
// compute the proof.
func FuzzStreamHandshake(f *testing.F) {
	hello := append(append([]byte(nil), streamMagic[:]...), streamVersion)
	f.Add(append(hello, make([]byte, nonceLen+macLen)...))
	f.Add(hello)
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
	s := &streamServer{key: []byte(credential(testToken))}
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := s.handshake(&scriptConn{in: bytes.NewReader(in)}); err == nil {
			t.Fatal("a client that did not see the server's nonce was accepted")
		}
	})
}

// TestStreamPort: a stream server listens on the port it is given, and a
// port in use is reported as such.
func TestStreamPort(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	if _, err := listenStreams("127.0.0.1", port, "127.0.0.1", nil, nil, &guard{}); !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("listening on a port in use: %v, want ErrAddressInUse", err)
	}
	if err := probe.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := listenStreams("127.0.0.1", port, "10.0.0.7", nil, nil, &guard{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if want := net.JoinHostPort("10.0.0.7", strconv.Itoa(port)); s.address != want {
		t.Fatalf("stream address %s, want %s (the advertised host and the given port)", s.address, want)
	}
}
