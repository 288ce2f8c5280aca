package transport

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Streams are plain byte streams between nodes, beside protoactor's
// messages, for bulk data such as object chunks: a byte read from a stream
// is copied once, from the kernel into the reader's buffer, where a message
// is copied five times on its way in. They are authenticated with the
// cluster token as messages are, and encrypted with TLS when messages are.
//
// A stream starts with a mutual challenge: each side sends a random nonce
// and proves it holds the credential with an HMAC of both nonces, so that
// neither the credential nor the token crosses the network, and neither
// side can be impersonated by replaying an earlier handshake.

// streamMagic opens every stream, with streamVersion after it.
var streamMagic = [8]byte{'G', 'O', 'R', 'A', 'Y', 'S', 'T', 'R'}

const (
	streamVersion = 1
	nonceLen      = 32
	macLen        = sha256.Size
	// handshakeTimeout bounds the handshake of a stream, both ways.
	handshakeTimeout = 10 * time.Second
	// streamAccepted is the byte the server sends once the client has
	// proved itself.
	streamAccepted = 1
)

// ErrStreamRefused reports a stream the other side did not authenticate, or
// one whose server could not prove it holds the cluster token.
var ErrStreamRefused = errors.New("transport: stream refused")

// streamServer accepts the streams of other nodes.
type streamServer struct {
	ln      net.Listener
	address string // advertised host and the bound port
	tls     *tls.Config
	key     []byte // the credential, as the HMAC key
	g       *guard

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	serving bool
	wg      sync.WaitGroup
}

// listenStreams listens for streams on host:port (0: a free port).
func listenStreams(host string, port int, advertised string, serverTLS *tls.Config, key []byte, g *guard) (*streamServer, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w: streams: %s: %w", ErrAddressInUse, addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: listen for streams on %s: %w", ErrStart, addr, err)
	}
	return &streamServer{
		ln: ln, address: net.JoinHostPort(advertised, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)),
		tls: serverTLS, key: key, g: g, conns: make(map[net.Conn]struct{}),
	}, nil
}

// StreamAddress is where other nodes open streams to this node.
func (t *Transport) StreamAddress() string { return t.streams.address }

// ServeStreams hands every authenticated inbound stream to handle, on a
// goroutine of its own; handle owns the connection and closes it. Streams
// that arrive before ServeStreams wait in the listener's backlog. A second
// call returns an error.
func (t *Transport) ServeStreams(handle func(net.Conn)) error {
	s := t.streams
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving || s.closed {
		return fmt.Errorf("%w: streams already served or the transport stopped", ErrInvalidConfig)
	}
	s.serving = true
	s.wg.Go(func() { s.accept(handle) })
	return nil
}

func (s *streamServer) accept(handle func(net.Conn)) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed; a listener on TCP fails for no other lasting reason
		}
		if !s.track(c) {
			_ = c.Close()
			return
		}
		s.wg.Go(func() {
			defer s.untrack(c)
			conn, err := s.handshake(c)
			if err != nil {
				_ = c.Close()
				s.g.refuse(hostOf(c.RemoteAddr()), "stream: "+err.Error())
				return
			}
			s.serve(conn, handle)
		})
	}
}

// serve runs handle and recovers its panic, so that one malformed stream
// cannot stop the node.
func (s *streamServer) serve(conn net.Conn, handle func(net.Conn)) {
	defer func() {
		if r := recover(); r != nil {
			_ = conn.Close()
			s.g.stats.panics.Add(1)
			from := hostOf(conn.RemoteAddr())
			if s.g.panicPeers.first(from, s.g.logger, "transport: further peers whose input panicked are not logged one by one") {
				s.g.logger.Error("transport: recovered a panic while serving a peer's stream", slog.String("peer", from), slog.Any("panic", r))
			}
		}
	}()
	handle(conn)
}

func (s *streamServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *streamServer) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// close stops accepting and closes every inbound stream.
func (s *streamServer) close() {
	s.mu.Lock()
	s.closed = true
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// handshake authenticates the client of an inbound stream (see Streams),
// after the TLS handshake when TLS is on. It returns the connection to
// serve: c, or the TLS connection over it.
func (s *streamServer) handshake(c net.Conn) (net.Conn, error) {
	if err := c.SetDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return nil, err
	}
	conn := c
	if s.tls != nil {
		tc := tls.Server(c, s.tls)
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}
	var hello [len(streamMagic) + 1 + nonceLen]byte
	if _, err := io.ReadFull(conn, hello[:]); err != nil {
		return nil, fmt.Errorf("reading the greeting: %w", err)
	}
	if !bytes.Equal(hello[:len(streamMagic)], streamMagic[:]) || hello[len(streamMagic)] != streamVersion {
		return nil, errors.New("not a goray stream of this version")
	}
	clientNonce := hello[len(streamMagic)+1:]
	var serverNonce [nonceLen]byte
	_, _ = rand.Read(serverNonce[:])
	reply := append(serverNonce[:], streamMAC(s.key, "server", clientNonce, serverNonce[:])...)
	if _, err := conn.Write(reply); err != nil {
		return nil, fmt.Errorf("sending the challenge: %w", err)
	}
	var proof [macLen]byte
	if _, err := io.ReadFull(conn, proof[:]); err != nil {
		return nil, fmt.Errorf("reading the proof: %w", err)
	}
	if !hmac.Equal(proof[:], streamMAC(s.key, "client", clientNonce, serverNonce[:])) {
		return nil, ErrUnauthenticated
	}
	if _, err := conn.Write([]byte{streamAccepted}); err != nil {
		return nil, err
	}
	return conn, c.SetDeadline(time.Time{})
}

// DialStream opens an authenticated stream to the node whose stream server
// listens at addr (its StreamAddress). The handshake ends with ctx or
// within 10 s. An error wraps ErrStreamRefused when either side failed to
// prove it holds the cluster token.
func (t *Transport) DialStream(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: stream to %s: %w", addr, err)
	}
	conn, err := t.clientHandshake(ctx, c, addr)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("transport: stream to %s: %w", addr, err)
	}
	return conn, nil
}

func (t *Transport) clientHandshake(ctx context.Context, c net.Conn, addr string) (net.Conn, error) {
	deadline, _ := ctx.Deadline()
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// A context that ends early closes the connection, which ends any read.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	conn := c
	if t.clientTLS != nil {
		cfg := t.clientTLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}
	key := t.streams.key
	var nonce [nonceLen]byte
	_, _ = rand.Read(nonce[:])
	hello := append(append(streamMagic[:len(streamMagic):len(streamMagic)], streamVersion), nonce[:]...)
	if _, err := conn.Write(hello); err != nil {
		return nil, err
	}
	var challenge [nonceLen + macLen]byte
	if _, err := io.ReadFull(conn, challenge[:]); err != nil {
		return nil, fmt.Errorf("%w: reading the server's challenge: %w", ErrStreamRefused, err)
	}
	serverNonce := challenge[:nonceLen]
	if !hmac.Equal(challenge[nonceLen:], streamMAC(key, "server", nonce[:], serverNonce)) {
		return nil, fmt.Errorf("%w: the server does not hold the cluster token", ErrStreamRefused)
	}
	if _, err := conn.Write(streamMAC(key, "client", nonce[:], serverNonce)); err != nil {
		return nil, err
	}
	var ok [1]byte
	if _, err := io.ReadFull(conn, ok[:]); err != nil || ok[0] != streamAccepted {
		return nil, fmt.Errorf("%w: the server did not accept this node's proof of the cluster token", ErrStreamRefused)
	}
	return conn, c.SetDeadline(time.Time{})
}

// streamMAC is the proof of one side of the handshake: an HMAC of the side's
// name and both nonces, keyed by the credential.
func streamMAC(key []byte, side string, clientNonce, serverNonce []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("goray stream v1 " + side))
	m.Write(clientNonce)
	m.Write(serverNonce)
	return m.Sum(nil)
}

// hostOf names a peer for logging, as peerKey does for gRPC calls.
func hostOf(a net.Addr) string {
	if a == nil {
		return "unknown"
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}
