package transport

import (
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits of the default configuration. The arithmetic behind them:
//
// protoactor's endpoint writer drains up to WriterBatchSize messages from its
// mailbox and sends them as one gRPC message, a MessageBatch. gRPC refuses a
// received message larger than the receiver's MaxRecvMsgSize (4 MiB unless
// set), and the refusal ends the whole stream: every message of the batch is
// lost and the sender reports every actor it watched on the peer as
// terminated. With protoactor's batch of 1000 and goray's inline results of
// up to 100 KiB each, a full batch is 1000 × 100 KiB ≈ 98 MiB of payload
// alone, 24 times the 4 MiB default. Raising the limit until such a batch
// fits would let any peer make the node allocate 100 MiB per message, and it
// would still not bound the batch: a message's size has no fixed ceiling
// (an error carries up to 1.5 MiB of text and stack, an object reply a whole
// object).
//
// So the batch is capped in bytes, not in count: an interceptor on every
// outbound stream splits a batch whose encoded size could exceed
// MaxBatchBytes into consecutive batches of at most MaxBatchBytes, in order
// (see split.go). With MaxBatchBytes = 4 MiB a full batch of 1000 inline
// results travels as 25 batches of about 40 envelopes (40 × (100 KiB + at
// most 96 bytes of envelope) + the shared tables ≈ 3.9 MiB each); every
// batch fits gRPC's 4 MiB default, so even a peer that left gRPC's limits
// alone accepts it. A single message larger than MaxBatchBytes travels alone;
// it fits as long as it is at most MaxSendMsgSize (64 MiB) with its tables,
// which the receiver accepts because MaxRecvMsgSize is the same 64 MiB. A
// message larger than that can never cross: it is dropped before it reaches
// the wire, logged, and its sender (if it awaits a reply) is answered with a
// DeadLetterResponse, instead of breaking the stream for every other message.
// goray sends objects larger than that in chunks.
//
// WriterBatchSize stays at protoactor's 1000: with the byte cap it only
// decides how many small control messages share one gRPC message, and a
// large count is what makes small messages cheap.
//
// WriterQueueSize is the initial capacity of the endpoint writer's queue, one
// per peer, which protoactor doubles whenever it fills: it is not a bound.
// protoactor's default of 1,000,000 allocates 16 MB per peer up front;
// 4096 slots (64 KiB) cover several full batches and grow when needed.
const (
	DefaultMaxBatchBytes   = 4 << 20
	DefaultMaxMsgSize      = 64 << 20
	DefaultWriterBatchSize = 1000
	DefaultWriterQueueSize = 4096
	// DefaultConnectAttempts bounds how often an endpoint writer tries to
	// connect to a peer before it gives up and reports the peer's endpoint
	// terminated. protoactor waits 2 s after each failed attempt and blocks
	// the writer meanwhile; membership notices a dead node within seconds,
	// so 3 attempts (6 s) are enough, where protoactor's 5 take 10 s.
	DefaultConnectAttempts = 3
)

// Config configures a node's transport. Start from DefaultConfig and set the
// token; every field is documented with its default.
type Config struct {
	// BindHost is the address the gRPC server listens on ("127.0.0.1" by
	// default; "0.0.0.0" or "::" for every interface).
	BindHost string
	// BindPort is the port the server listens on; 0 (the default) picks a
	// free port, which Transport.ListenAddr reports.
	BindPort int
	// StreamPort is the port of the node's byte streams (see Streams), on
	// BindHost; 0 (the default) picks a free port, which
	// Transport.StreamAddress reports.
	StreamPort int
	// AdvertisedHost is the host (without port) other nodes reach this node
	// by; every PID this node builds carries AdvertisedHost:port. Empty
	// means BindHost, which must then not be an unspecified address.
	AdvertisedHost string

	// Token is the cluster token: every call this node makes presents it,
	// and a call that does not present it is refused. Required.
	Token string

	// TLS, when enabled, encrypts every connection and verifies peers in
	// both directions against a cluster CA. Off by default.
	TLS TLSConfig

	// MaxRecvMsgSize is the largest gRPC message the server accepts and
	// MaxSendMsgSize the largest this node sends (both DefaultMaxMsgSize).
	// Give every node the same values.
	MaxRecvMsgSize int
	MaxSendMsgSize int
	// MaxBatchBytes is the largest batch this node sends in one gRPC message
	// (DefaultMaxBatchBytes); a larger batch is split. At most
	// MaxSendMsgSize.
	MaxBatchBytes int
	// WriterBatchSize is the most messages protoactor's endpoint writer
	// takes from its queue for one batch (DefaultWriterBatchSize).
	WriterBatchSize int
	// WriterQueueSize is the initial capacity of each endpoint writer's
	// queue (DefaultWriterQueueSize); it grows as needed.
	WriterQueueSize int
	// ConnectAttempts is how often an endpoint writer tries to connect to a
	// peer (DefaultConnectAttempts), waiting 2 s after each failure.
	ConnectAttempts int

	// AcceptType decides which message types may arrive from other nodes,
	// by full protobuf name; a type must also be registered in this
	// process. DefaultAcceptType when nil.
	AcceptType func(protoreflect.FullName) bool

	// Logger receives the transport's own logs (refused peers, rejected
	// input, recovered panics). The actor system's logger when nil;
	// protoactor's remote always logs through the actor system's logger.
	Logger *slog.Logger
}

// TLSConfig names the PEM files of a node's TLS identity.
type TLSConfig struct {
	// Enabled turns TLS on. With TLS off, connections are plaintext: the
	// token keeps out peers that do not know it, but anyone who can read
	// the traffic can read the messages and replay the credential.
	Enabled bool
	// CertFile and KeyFile hold this node's certificate (with any
	// intermediates) and private key; the certificate serves both as the
	// server's and as the client's. It must name the host other nodes dial
	// (an IP SAN for an address).
	CertFile string
	KeyFile  string
	// CAFile holds the cluster CA certificates: a peer's certificate, as
	// server or as client, must chain to one of them.
	CAFile string
	// ServerName, when set, is the name expected in every peer's server
	// certificate instead of the dialled host.
	ServerName string
}

// DefaultConfig returns a configuration that listens on 127.0.0.1 on a free
// port with the default limits and TLS off. Its Token is empty: set it.
func DefaultConfig() Config {
	return Config{
		BindHost:        "127.0.0.1",
		MaxRecvMsgSize:  DefaultMaxMsgSize,
		MaxSendMsgSize:  DefaultMaxMsgSize,
		MaxBatchBytes:   DefaultMaxBatchBytes,
		WriterBatchSize: DefaultWriterBatchSize,
		WriterQueueSize: DefaultWriterQueueSize,
		ConnectAttempts: DefaultConnectAttempts,
	}
}

// batchOverhead bounds what a sub-batch adds beyond its envelopes and the
// shared tables: the RemoteMessage and MessageBatch framing.
const batchOverhead = 64

// validate checks what Start relies on and returns the host the node
// advertises.
func (c *Config) validate() (advertised string, err error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Token == "" {
		return "", ErrNoToken
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return "", invalid("bind port %d out of range", c.BindPort)
	}
	if c.StreamPort < 0 || c.StreamPort > 65535 {
		return "", invalid("stream port %d out of range", c.StreamPort)
	}
	if c.StreamPort != 0 && c.StreamPort == c.BindPort {
		return "", invalid("bind port and stream port are both %d", c.StreamPort)
	}
	if c.MaxRecvMsgSize <= 0 || c.MaxSendMsgSize <= 0 {
		return "", invalid("message size limits must be positive (recv %d, send %d)", c.MaxRecvMsgSize, c.MaxSendMsgSize)
	}
	if c.MaxBatchBytes <= batchOverhead || c.MaxBatchBytes > c.MaxSendMsgSize {
		return "", invalid("MaxBatchBytes %d must be above %d and at most MaxSendMsgSize %d", c.MaxBatchBytes, batchOverhead, c.MaxSendMsgSize)
	}
	if c.WriterBatchSize <= 0 || c.WriterQueueSize <= 0 || c.ConnectAttempts <= 0 {
		return "", invalid("WriterBatchSize, WriterQueueSize and ConnectAttempts must be positive (%d, %d, %d)", c.WriterBatchSize, c.WriterQueueSize, c.ConnectAttempts)
	}
	if c.TLS.Enabled && (c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.CAFile == "") {
		return "", invalid("TLS needs CertFile, KeyFile and CAFile")
	}
	advertised = c.AdvertisedHost
	if advertised == "" {
		advertised = c.BindHost
		if ip := net.ParseIP(advertised); advertised == "" || ip != nil && ip.IsUnspecified() {
			return "", invalid("BindHost %q is not an address peers can dial: set AdvertisedHost", c.BindHost)
		}
	}
	return advertised, nil
}
