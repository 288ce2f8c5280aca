package membership

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// MinTokenLen is the shortest cluster token Start accepts, in bytes. The
// token is the only secret between the members: it should be random, such
// as 32 hex digits from a cryptographic source.
const MinTokenLen = 16

// Config configures one member. Start it with DefaultConfig and set at least
// NodeID, Meta and Token; members that join an existing cluster also set
// Join.
type Config struct {
	// NodeID identifies this member for this start of the process: 16
	// lower-case hex digits, chosen by the caller and fresh on every start.
	// It is the member's name in memberlist, so a restarted process is a
	// new member, never the old one come back. Meta.NodeID is set from it.
	NodeID string

	// BindHost and BindPort are where the member listens for gossip, on
	// both UDP and TCP. BindHost is an IP address; BindPort 0 picks a
	// free port (Cluster.Local reports which).
	BindHost string
	BindPort int

	// AdvertiseHost and AdvertisePort are the address the other members
	// use to reach this one, when it differs from the bound one (NAT, a
	// wildcard BindHost). AdvertiseHost is an IP address; empty means the
	// bound address, or for a wildcard BindHost a private address of the
	// machine chosen by memberlist. AdvertisePort 0 means the bound port.
	AdvertiseHost string
	AdvertisePort int

	// Meta is what this member tells the others. Its NodeID may be left
	// empty; it is set from NodeID. Cluster.UpdateMeta changes it later.
	Meta Meta

	// Join lists addresses ("host:port", or "host" for BindPort) of
	// members of the cluster to join; any member will do, and one that
	// answers is enough. Empty starts a new cluster.
	Join []string

	// Token is the cluster's shared secret. The gossip encryption key
	// (AES-256-GCM) and the gossip label are derived from it with
	// HKDF-SHA256, so a process with another token can neither read the
	// gossip nor join: its packets and connections are refused and the
	// refusal is logged once per peer. At least MinTokenLen bytes.
	Token string

	// Logger receives this package's logs and memberlist's, which are
	// translated to slog levels. Refusals of peers with another token
	// are logged at Warn once per peer and RefusalLogInterval, not per
	// packet. Nil logs to slog.Default().
	Logger *slog.Logger

	// Timing tunes failure detection and gossip; see DefaultTiming for
	// the values and why.
	Timing Timing
}

// RefusalLogInterval is how long a refused peer stays quiet in the logs
// after its refusal was logged. Refusals are counted meanwhile, and the count
// is logged with the next refusal after the interval.
const RefusalLogInterval = 10 * time.Minute

// DefaultConfig returns a Config that binds every interface on a free port,
// with the timings of DefaultTiming. The caller still sets NodeID, Meta and
// Token, and Join to join a cluster; the node that others join sets a
// fixed BindPort.
func DefaultConfig() Config {
	return Config{
		BindHost: "0.0.0.0",
		Timing:   DefaultTiming(),
	}
}

// Timing holds memberlist's failure-detection and gossip settings. The
// fields have memberlist's names and meaning; DefaultTiming documents the
// chosen values.
type Timing struct {
	// ProbeInterval is how often a member probes one other member
	// (round robin over a shuffled list).
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack before
	// the indirect probes start. Less than ProbeInterval.
	ProbeTimeout time.Duration
	// IndirectChecks is how many other members are asked to probe a member
	// whose direct probe failed.
	IndirectChecks int
	// SuspicionMult sets the suspicion timeout: a suspect member is
	// declared dead after SuspicionMult * max(1, log10(N)) * ProbeInterval
	// once enough other members confirm the suspicion.
	SuspicionMult int
	// SuspicionMaxTimeoutMult sets the longest suspicion timeout, used
	// while no other member confirms: SuspicionMaxTimeoutMult times the
	// suspicion timeout.
	SuspicionMaxTimeoutMult int
	// AwarenessMaxMultiplier bounds how much a member that notices it is
	// slow itself (missed acks and nacks, refuted suspicions) stretches its
	// own probe interval and timeout.
	AwarenessMaxMultiplier int
	// GossipInterval is how often a member sends queued broadcasts
	// (suspect, alive, dead) to GossipNodes random members, besides
	// piggybacking them on probes.
	GossipInterval time.Duration
	// GossipNodes is how many members each gossip round goes to.
	GossipNodes int
	// GossipToTheDeadTime is how long a member declared dead still
	// receives gossip, so that it can refute a false declaration.
	GossipToTheDeadTime time.Duration
	// RetransmitMult sets how often each broadcast is sent:
	// RetransmitMult * ceil(log10(N+1)) times.
	RetransmitMult int
	// PushPullInterval is how often a member exchanges its full state
	// with a random member over TCP (anti-entropy after lost gossip or a
	// partition). 0 disables it.
	PushPullInterval time.Duration
	// TCPTimeout bounds a stream connection: a join, a push/pull, a
	// reliable message.
	TCPTimeout time.Duration
}

// DefaultTiming returns timings that declare a member killed without
// leaving dead within 2 seconds in a cluster of a handful of members on one
// machine or a LAN, without false deaths while the members' CPUs are
// saturated. memberlist's LAN defaults take 5 to 25 seconds.
//
// The detection time is the wait until some member probes the dead one,
// plus one probe interval (direct probe, then indirect and TCP probes), plus
// the suspicion timeout, plus a gossip round to spread the death:
//
//   - ProbeInterval 200ms (LAN default 1s): with N members each probing one
//     other per interval, the first probe of a dead member comes within
//     about 200ms, and a failed probe ends 200ms after it started. Five
//     members then send 25 probes a second in all: nothing for a LAN.
//   - ProbeTimeout 100ms (LAN default 500ms): on loopback or a LAN an ack
//     takes well under a millisecond when the CPU is free. A late ack is
//     not a death: the timeout only starts the indirect probes and the TCP
//     fallback, and the direct ack still counts until the interval ends.
//   - IndirectChecks 3 (the default): three other members probe for us
//     before the member becomes suspect, so a member that is merely slow to
//     answer one prober, or one prober that is itself starved of CPU, does
//     not lead to a suspicion.
//   - SuspicionMult 5 (LAN default 4): in a cluster of fewer than 10
//     members the suspicion timeout is 5 * 200ms = 1s, reached once 3 other
//     members confirm the suspicion (SuspicionMult-2; in a cluster of fewer
//     than 5, which cannot supply them, it is 1s flat). When a member is really dead the other probers
//     confirm within a probe round or two, so a kill is declared in about
//     1.5s. A live but suspected member has at least that long to hear of
//     the suspicion and refute it. With 4 (800ms after 2 confirmations)
//     detection took 1.2s, but members whose CPUs were saturated while the
//     machine ran other work were sometimes declared dead: starved members
//     are suspected by several probers at once, and 200ms more to refute
//     made the difference in the measurements.
//   - SuspicionMaxTimeoutMult 6 (the default): a suspicion that others do
//     not confirm starts at 6 * 1s = 6s and shrinks as confirmations come.
//     A real death is confirmed quickly, so this costs it nothing; a live
//     member suspected by one prober that is itself starved gets seconds
//     to be heard refuting. With 3, such lone suspicions timed out after
//     2.4s in runs with more spinning goroutines than cores per member.
//   - AwarenessMaxMultiplier 8 (the default): a member that finds itself
//     slow (nacks from indirect probers do not arrive, it has to refute)
//     stretches its probe interval, and so the time its indirect and TCP
//     probes get, up to 8 times (1.6s). This keeps a CPU-starved member
//     from suspecting healthy ones; its detection slows while it is
//     starved, which is the right trade.
//   - GossipInterval 100ms (LAN default 200ms) and GossipNodes 3: suspect,
//     alive (refutation) and dead messages reach all of a small cluster in
//     one or two rounds, so the other members learn a death ~100ms after
//     the first declares it, and a refutation arrives well inside the
//     suspicion timeout.
//   - GossipToTheDeadTime 10s (LAN default 30s): long enough for a member
//     falsely declared dead to hear it and refute; node IDs are never
//     reused, so nothing else needs it.
//   - RetransmitMult 4 (the default): each broadcast goes out 4 times in a
//     cluster of up to 9 members (8 up to 99).
//   - PushPullInterval 15s (LAN default 30s): full-state exchanges repair
//     what gossip lost, e.g. after a partition; cheap at these sizes.
//   - TCPTimeout 3s (LAN default 10s): bounds joins and push/pulls to an
//     unresponsive address. It does not affect probes, whose TCP fallback
//     ends with the probe interval.
//
// A build with the race detector runs every goroutine several times
// slower: there the probe and gossip intervals are 4 times longer, and so
// is detection.
func DefaultTiming() Timing {
	return Timing{
		ProbeInterval:           timingScale * 200 * time.Millisecond,
		ProbeTimeout:            timingScale * 100 * time.Millisecond,
		IndirectChecks:          3,
		SuspicionMult:           5,
		SuspicionMaxTimeoutMult: 6,
		AwarenessMaxMultiplier:  8,
		GossipInterval:          timingScale * 100 * time.Millisecond,
		GossipNodes:             3,
		GossipToTheDeadTime:     10 * time.Second,
		RetransmitMult:          4,
		PushPullInterval:        15 * time.Second,
		TCPTimeout:              3 * time.Second,
	}
}

func (t Timing) validate() error {
	switch {
	case t.ProbeInterval <= 0:
		return fmt.Errorf("ProbeInterval %v is not positive", t.ProbeInterval)
	case t.ProbeTimeout <= 0 || t.ProbeTimeout >= t.ProbeInterval:
		return fmt.Errorf("ProbeTimeout %v is not in (0, ProbeInterval %v)", t.ProbeTimeout, t.ProbeInterval)
	case t.IndirectChecks < 0:
		return fmt.Errorf("IndirectChecks %d is negative", t.IndirectChecks)
	case t.SuspicionMult < 1:
		return fmt.Errorf("SuspicionMult %d is below 1", t.SuspicionMult)
	case t.SuspicionMaxTimeoutMult < 1:
		return fmt.Errorf("SuspicionMaxTimeoutMult %d is below 1", t.SuspicionMaxTimeoutMult)
	case t.AwarenessMaxMultiplier < 1:
		return fmt.Errorf("AwarenessMaxMultiplier %d is below 1", t.AwarenessMaxMultiplier)
	case t.GossipInterval <= 0:
		return fmt.Errorf("GossipInterval %v is not positive", t.GossipInterval)
	case t.GossipNodes < 1:
		return fmt.Errorf("GossipNodes %d is below 1", t.GossipNodes)
	case t.GossipToTheDeadTime < 0:
		return fmt.Errorf("GossipToTheDeadTime %v is negative", t.GossipToTheDeadTime)
	case t.RetransmitMult < 1:
		return fmt.Errorf("RetransmitMult %d is below 1", t.RetransmitMult)
	case t.PushPullInterval < 0:
		return fmt.Errorf("PushPullInterval %v is negative", t.PushPullInterval)
	case t.TCPTimeout <= 0:
		return fmt.Errorf("TCPTimeout %v is not positive", t.TCPTimeout)
	}
	return nil
}

// validate checks c and returns the metadata to announce, with its NodeID
// set.
func (c *Config) validate() (Meta, error) {
	bad := func(format string, args ...any) (Meta, error) {
		return Meta{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	if !ValidNodeID(c.NodeID) {
		return bad("node ID %q is not %d lower-case hex digits", c.NodeID, NodeIDLen)
	}
	if len(c.Token) < MinTokenLen {
		return bad("token has %d bytes, want at least %d", len(c.Token), MinTokenLen)
	}
	if _, err := netip.ParseAddr(c.BindHost); err != nil {
		return bad("bind host %q is not an IP address", c.BindHost)
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		return bad("bind port %d is not in 0..65535", c.BindPort)
	}
	if c.AdvertiseHost != "" {
		if _, err := netip.ParseAddr(c.AdvertiseHost); err != nil {
			return bad("advertise host %q is not an IP address", c.AdvertiseHost)
		}
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return bad("advertise port %d is not in 0..65535", c.AdvertisePort)
	}
	for _, j := range c.Join {
		if j == "" {
			return bad("empty join address")
		}
		// "host:port", or a bare host (memberlist then uses BindPort).
		if net.ParseIP(j) == nil && strings.Contains(j, ":") {
			if _, _, err := net.SplitHostPort(j); err != nil {
				return bad("join address %q: %v", j, err)
			}
		}
	}
	if err := c.Timing.validate(); err != nil {
		return bad("%v", err)
	}
	meta := c.Meta.Clone()
	switch meta.NodeID {
	case "":
		meta.NodeID = c.NodeID
	case c.NodeID:
	default:
		return bad("Meta.NodeID %q differs from NodeID %q", meta.NodeID, c.NodeID)
	}
	if meta.StartedAt.IsZero() {
		meta.StartedAt = time.Now()
	}
	if _, err := meta.MarshalBinary(); err != nil {
		return Meta{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return meta, nil
}

// Key derivation. Both values come from the token through HKDF-SHA256 with
// a fixed salt and distinct info strings, so neither reveals the other or
// the token, and a change of either derivation is a change of its info.
const (
	kdfSalt      = "goray cluster token"
	kdfInfoKey   = "goray membership gossip key v1"
	kdfInfoLabel = "goray membership gossip label v1"
	labelPrefix  = "goray-"
	labelHexLen  = 8 // bytes of HKDF output in the label, hex-encoded
	gossipKeyLen = 32
)

// deriveSecrets returns the gossip encryption key (32 bytes, AES-256) and
// the gossip label for token. The label travels in clear on every packet:
// it tells clusters apart cheaply and is authenticated as GCM associated
// data, while the key keeps the gossip secret.
func deriveSecrets(token string) (key []byte, label string, err error) {
	key, err = hkdf.Key(sha256.New, []byte(token), []byte(kdfSalt), kdfInfoKey, gossipKeyLen)
	if err != nil {
		return nil, "", fmt.Errorf("derive gossip key: %w", err)
	}
	l, err := hkdf.Key(sha256.New, []byte(token), []byte(kdfSalt), kdfInfoLabel, labelHexLen)
	if err != nil {
		return nil, "", fmt.Errorf("derive gossip label: %w", err)
	}
	return key, labelPrefix + hex.EncodeToString(l), nil
}

// memberlistConfig translates c into memberlist's configuration.
func (c *Config) memberlistConfig(d *delegate, logOut io.Writer) (*memberlist.Config, error) {
	key, label, err := deriveSecrets(c.Token)
	if err != nil {
		return nil, err
	}
	keyring, err := memberlist.NewKeyring(nil, key)
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeID
	mc.BindAddr = c.BindHost
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseHost
	mc.AdvertisePort = c.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = c.BindPort
	}
	mc.Label = label
	mc.Keyring = keyring
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true

	t := c.Timing
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.IndirectChecks = t.IndirectChecks
	mc.SuspicionMult = t.SuspicionMult
	mc.SuspicionMaxTimeoutMult = t.SuspicionMaxTimeoutMult
	mc.AwarenessMaxMultiplier = t.AwarenessMaxMultiplier
	mc.GossipInterval = t.GossipInterval
	mc.GossipNodes = t.GossipNodes
	mc.GossipToTheDeadTime = t.GossipToTheDeadTime
	mc.RetransmitMult = t.RetransmitMult
	mc.PushPullInterval = t.PushPullInterval
	mc.TCPTimeout = t.TCPTimeout

	mc.Delegate = d
	mc.Events = d
	mc.Alive = d
	mc.DelegateProtocolVersion = msgProtocol
	mc.DelegateProtocolMin = msgProtocol
	mc.DelegateProtocolMax = msgProtocol
	mc.Logger = log.New(logOut, "", 0)
	return mc, nil
}
