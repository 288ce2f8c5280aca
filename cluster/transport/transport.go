package transport

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
)

// Transport is protoactor's remote running on one actor system, secured as
// the package documentation describes.
type Transport struct {
	system  *actor.ActorSystem
	remote  *remote.Remote
	address string
	listen  string
	guard   *guard
	// streams serves the byte streams of other nodes (stream.go);
	// clientTLS, when TLS is on, secures those this node opens.
	streams   *streamServer
	clientTLS *tls.Config

	stopOnce sync.Once
	stopped  chan struct{}
}

// Stats counts what the transport refused, dropped and split since it
// started.
type Stats struct {
	// RefusedCalls counts inbound calls refused for a missing or wrong
	// token.
	RefusedCalls uint64
	// RecoveredPanics counts panics of inbound call handlers turned into
	// errors.
	RecoveredPanics uint64
	// DroppedEnvelopes counts inbound messages removed from their batch by
	// the guard.
	DroppedEnvelopes uint64
	// DroppedMessages counts inbound gRPC messages not passed on to
	// protoactor at all (a batch left empty, an unexpected kind).
	DroppedMessages uint64
	// SplitBatches counts outbound batches sent as several.
	SplitBatches uint64
	// OversizedDropped counts outbound messages dropped because they
	// exceed MaxSendMsgSize even alone.
	OversizedDropped uint64
}

// startAttempts bounds the tries to listen on a free port that another
// process takes between the moment it is picked and the moment protoactor
// listens on it.
const startAttempts = 3

// Start starts protoactor's remote on system with cfg and returns once the
// gRPC server listens.
//
// Call Start before building any PID that may travel to another node: a
// PID takes its address when it is built, and before Start that address is
// "nonhost", which other nodes reject. In practice, create the actor system,
// call Start, then spawn actors.
//
// Start returns an error wrapping ErrAddressInUse when the bind address is
// taken, ErrNoToken without a token, ErrInvalidConfig or ErrTLS for a
// configuration that cannot work, ErrAlreadyStarted when remote already
// runs on system, and ErrStart for any other failure of protoactor's remote.
func Start(system *actor.ActorSystem, cfg Config) (*Transport, error) {
	if system == nil {
		return nil, fmt.Errorf("%w: nil actor system", ErrInvalidConfig)
	}
	advertised, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if system.ProcessRegistry.Address != nonhost {
		return nil, fmt.Errorf("%w (address %s)", ErrAlreadyStarted, system.ProcessRegistry.Address)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = system.Logger()
	}
	accept := cfg.AcceptType
	if accept == nil {
		accept = DefaultAcceptType
	}
	cred := credential(cfg.Token)
	g := &guard{
		credDigest: sha256.Sum256([]byte(cred)),
		accept:     accept,
		logger:     logger,
		system:     system,
	}
	sp := &splitter{
		maxBatch: cfg.MaxBatchBytes,
		maxSend:  cfg.MaxSendMsgSize,
		system:   system,
		logger:   logger,
		stats:    &g.stats,
	}

	// Received gRPC messages are read into buffers from a pool: they are
	// decoded (copied out) before the next is read, and a fresh buffer for
	// every chunk of an object (megabytes each) cost page faults.
	bufs := &recvPool{}
	serverOpts := []grpc.ServerOption{
		experimental.RecvBufferPool(bufs),
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(cfg.MaxSendMsgSize),
		grpc.ChainUnaryInterceptor(g.unaryInterceptor),
		grpc.ChainStreamInterceptor(g.streamInterceptor),
	}
	dialCreds := insecure.NewCredentials()
	var serverTLS, clientTLS *tls.Config
	if cfg.TLS.Enabled {
		serverTLS, clientTLS, err = cfg.TLS.tlsConfigs()
		if err != nil {
			return nil, err
		}
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(serverTLS)))
		dialCreds = credentials.NewTLS(clientTLS)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(dialCreds),
		experimental.WithRecvBufferPool(bufs),
		// With TLS off, secure is false: the credential then declares that
		// it may travel over the plaintext connection, which gRPC would
		// otherwise refuse. This is deliberate and only ever so without TLS.
		grpc.WithPerRPCCredentials(tokenCredentials{value: cred, secure: cfg.TLS.Enabled}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallSendMsgSize(cfg.MaxSendMsgSize),
			grpc.MaxCallRecvMsgSize(cfg.MaxRecvMsgSize),
		),
		grpc.WithChainStreamInterceptor(sp.streamInterceptor),
	}

	if n := localProcesses(system); n > 0 {
		logger.Warn("transport: processes were spawned before the transport started; their PIDs have the address nonhost and other nodes reject them",
			slog.Int("processes", n))
	}

	var r *remote.Remote
	for attempt := 1; ; attempt++ {
		port, err := checkListen(cfg.BindHost, cfg.BindPort)
		if err != nil {
			return nil, err
		}
		g.self = net.JoinHostPort(advertised, strconv.Itoa(port))
		rc := remote.Configure(cfg.BindHost, port,
			remote.WithAdvertisedHost(g.self),
			remote.WithDialOptions(dialOpts...),
			remote.WithServerOptions(serverOpts...),
			remote.WithEndpointWriterBatchSize(cfg.WriterBatchSize),
			remote.WithEndpointWriterQueueSize(cfg.WriterQueueSize),
		)
		rc.MaxRetryCount = cfg.ConnectAttempts
		r = remote.NewRemote(system, rc)
		err = startRemote(r)
		if err == nil {
			streams, err := listenStreams(cfg.BindHost, cfg.StreamPort, advertised, serverTLS, []byte(cred), g)
			if err != nil {
				r.Shutdown(false)
				return nil, err
			}
			t := &Transport{
				system:    system,
				remote:    r,
				address:   g.self,
				listen:    net.JoinHostPort(cfg.BindHost, strconv.Itoa(port)),
				guard:     g,
				streams:   streams,
				clientTLS: clientTLS,
				stopped:   make(chan struct{}),
			}
			logger.Info("transport: started", slog.String("address", t.address),
				slog.String("listen", t.listen), slog.String("streams", streams.address), slog.Bool("tls", cfg.TLS.Enabled))
			return t, nil
		}
		// A port picked free can be taken before protoactor listens on it.
		if !errors.Is(err, ErrAddressInUse) || cfg.BindPort != 0 || attempt == startAttempts {
			return nil, err
		}
	}
}

// checkListen listens on host:port and closes the listener at once, so
// that a taken address is reported as an error (protoactor panics) and port
// 0 becomes a free port that protoactor then listens on.
func checkListen(host string, port int) (int, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return 0, fmt.Errorf("%w: %s: %w", ErrAddressInUse, addr, err)
		}
		return 0, fmt.Errorf("%w: listen on %s: %w", ErrStart, addr, err)
	}
	port = l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("%w: close probe listener on %s: %w", ErrStart, addr, err)
	}
	return port, nil
}

// startRemote runs protoactor's Start, which panics when it cannot listen
// or start its endpoint manager, and turns a panic into an error.
func startRemote(r *remote.Remote) (err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		msg := fmt.Sprint(p)
		if strings.Contains(msg, syscall.EADDRINUSE.Error()) {
			err = fmt.Errorf("%w: %s", ErrAddressInUse, msg)
			return
		}
		err = fmt.Errorf("%w: %s", ErrStart, msg)
	}()
	r.Start()
	return nil
}

// localProcesses counts the processes registered on system besides the
// two every actor system registers when it is created.
func localProcesses(system *actor.ActorSystem) int {
	n := 0
	for _, bucket := range system.ProcessRegistry.LocalPIDs.LocalPIDs {
		for _, id := range bucket.Keys() {
			if id != "deadletter" && id != "eventstream" {
				n++
			}
		}
	}
	return n
}

// Address is the address other nodes reach this node by, AdvertisedHost
// (or BindHost) and the bound port; every PID the node builds carries it.
func (t *Transport) Address() string { return t.address }

// ListenAddr is the address the gRPC server listens on: BindHost and the
// bound port.
func (t *Transport) ListenAddr() string { return t.listen }

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	s := &t.guard.stats
	return Stats{
		RefusedCalls:     s.refused.Load(),
		RecoveredPanics:  s.panics.Load(),
		DroppedEnvelopes: s.droppedEnvelopes.Load(),
		DroppedMessages:  s.droppedMessages.Load(),
		SplitBatches:     s.splitBatches.Load(),
		OversizedDropped: s.oversized.Load(),
	}
}

// Stop stops the gRPC server: inbound streams end and nothing more
// arrives. Stop returns when that is done or when ctx ends, whichever comes
// first; in the latter case the shutdown goes on in the background and a
// later Stop waits for it again. It does not stop the actor system, whose
// shutdown ends the outbound streams (the endpoint writers are its actors).
//
// protoactor's graceful shutdown is not used: it writes fields its stream
// handlers and endpoint events read without synchronisation (a data race
// whenever a peer is connected). Peers learn that a node leaves from its
// gossip, not from its streams.
func (t *Transport) Stop(ctx context.Context) error {
	t.stopOnce.Do(func() {
		go func() {
			t.streams.close()
			t.remote.Shutdown(false)
			close(t.stopped)
		}()
	})
	select {
	case <-t.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("transport: stop: %w", ctx.Err())
	}
}
