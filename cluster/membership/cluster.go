package membership

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultBroadcastTimeout bounds how long Leave and UpdateMeta wait for
// their broadcast to go out when their context has no deadline.
const DefaultBroadcastTimeout = 5 * time.Second

// Cluster is this process's membership in a goray cluster: its memberlist
// instance, its view of the members, and the stream of changes to it. Its
// methods are safe for concurrent use.
type Cluster struct {
	id      string
	log     *slog.Logger
	limiter *limiter // for members refused for their metadata

	// life serialises calls into memberlist against Shutdown: memberlist
	// panics on some calls after its shutdown. Callers hold it for
	// reading around such calls; Shutdown holds it for writing.
	life sync.RWMutex

	// mu guards what follows. memberlist calls the delegate, which takes
	// mu, while holding its own locks, so no memberlist method is ever
	// called with mu held.
	mu        sync.Mutex
	ml        *memberlist.Memberlist
	addr      netip.AddrPort // advertised gossip address
	meta      Meta
	metaBytes []byte
	// view holds the alive members by node ID, this one included.
	view map[string]Member
	// byAddr maps a gossip address to the alive member that has it.
	byAddr map[netip.AddrPort]string
	// replaced holds members removed from the view because a new member
	// took their address; memberlist still has to declare them dead, and
	// that declaration is not reported again.
	replaced map[string]struct{}
	// leavers holds members that announced a graceful leave.
	leavers map[string]struct{}
	queue   eventQueue
	leaving bool                // Leave was called
	acks    map[string]struct{} // members that confirmed our leave
	closed  bool

	wake   chan struct{} // a new event is queued (capacity 1)
	change chan struct{} // an ack arrived or a member went (capacity 1)
	events chan Event
	done   chan struct{} // closed by Shutdown
	wg     sync.WaitGroup
}

// Start creates this process's member: it binds the gossip port, starts
// failure detection and, if cfg.Join is set, joins the cluster through
// those addresses (see Cluster.Join), giving up with ErrJoin when ctx ends
// first. Invalid configuration gives ErrInvalidConfig.
//
// The first event is the local member's own EventJoined.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("membership: start: %w", err)
	}
	meta, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	metaBytes, err := meta.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With(slog.String("member", cfg.NodeID))
	c := &Cluster{
		id:        cfg.NodeID,
		log:       logger,
		limiter:   newLimiter(RefusalLogInterval, maxLimiterKeys, time.Now),
		meta:      meta,
		metaBytes: metaBytes,
		view:      make(map[string]Member),
		byAddr:    make(map[netip.AddrPort]string),
		replaced:  make(map[string]struct{}),
		leavers:   make(map[string]struct{}),
		acks:      make(map[string]struct{}),
		wake:      make(chan struct{}, 1),
		change:    make(chan struct{}, 1),
		events:    make(chan Event),
		done:      make(chan struct{}),
	}
	mc, err := cfg.memberlistConfig(&delegate{c: c}, newLogBridge(logger))
	if err != nil {
		return nil, fmt.Errorf("membership: start: %w", err)
	}
	c.wg.Add(1)
	go c.deliver()
	ml, err := memberlist.Create(mc)
	if err != nil {
		c.mu.Lock()
		c.closed = true
		close(c.done)
		c.mu.Unlock()
		c.wg.Wait()
		return nil, fmt.Errorf("membership: start: %w", err)
	}
	var addr netip.AddrPort
	if n := ml.LocalNode(); n != nil {
		if ip, ok := netip.AddrFromSlice(n.Addr); ok {
			addr = netip.AddrPortFrom(ip.Unmap(), n.Port)
		}
	}
	c.mu.Lock()
	c.ml, c.addr = ml, addr
	c.mu.Unlock()
	c.log.Debug("membership: started", slog.String("addr", c.Local().Addr.String()),
		slog.String("role", meta.Role.String()))
	if len(cfg.Join) > 0 {
		if _, err := c.Join(ctx, cfg.Join...); err != nil {
			_ = c.Shutdown()
			return nil, err
		}
	}
	return c, nil
}

// Join contacts the given members ("host:port") and merges their state,
// joining their cluster; one that answers is enough. Until one does it
// retries with backoff (50ms doubling to 2s), and fails with ErrJoin when
// ctx ends. It returns how many addresses answered. A single attempt is
// not interrupted: it may outlast ctx by up to Timing.TCPTimeout.
//
// A process with another token is refused by every member, so its Join
// fails with ErrJoin and the members log the refusal.
func (c *Cluster) Join(ctx context.Context, addrs ...string) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no addresses", ErrJoin)
	}
	backoff := 50 * time.Millisecond
	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			if lastErr == nil {
				return 0, fmt.Errorf("%w: no member at %v let this node in before the deadline (is it a goray node's gossip address, and is the token the cluster's?): %w",
					ErrJoin, addrs, err)
			}
			// memberlist's error spans lines; one line reads better in a log.
			last := strings.Join(strings.Fields(lastErr.Error()), " ")
			return 0, fmt.Errorf("%w: no member at %v let this node in after %d attempts (is it a goray node's gossip address, and is the token the cluster's?); last: %s: %w",
				ErrJoin, addrs, attempt-1, last, err)
		}
		n, err := c.joinOnce(addrs)
		if n > 0 {
			return n, nil
		}
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrLeft) {
			return 0, err
		}
		lastErr = err
		c.log.Debug("membership: join attempt failed", slog.Int("attempt", attempt), slog.Any("error", err))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-c.done:
			t.Stop()
			return 0, ErrClosed
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (c *Cluster) joinOnce(addrs []string) (int, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	c.mu.Lock()
	closed, leaving := c.closed, c.leaving
	c.mu.Unlock()
	switch {
	case closed:
		return 0, ErrClosed
	case leaving:
		return 0, ErrLeft
	}
	return c.ml.Join(addrs)
}

// Events returns the stream of membership changes, in the order this
// process learned of them. It is the same channel on every call, meant for
// one consumer, and is closed by Shutdown.
//
// memberlist's goroutines never wait for the consumer: events queue in
// memory and a goroutine of the Cluster delivers them. A slow consumer makes
// the queue grow; nothing is dropped, except that an Updated event for a
// member whose latest undelivered event is Joined or Updated is merged into
// that event (which then carries the newest metadata). Joined, Left and
// Dead events are never dropped or merged while the Cluster runs. Events
// still queued when Shutdown is called are discarded.
func (c *Cluster) Events() <-chan Event { return c.events }

// Members returns the alive members, this one included until it leaves,
// ordered by node ID.
// It reflects every event queued so far, including events the consumer of
// Events has not received yet.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Member, 0, len(c.view))
	for _, m := range c.view {
		m.Meta = m.Meta.Clone()
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.ID(), b.ID()) })
	return out
}

// Local returns this member: its advertised gossip address and its current
// metadata.
func (c *Cluster) Local() Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Member{Addr: c.addr, Meta: c.meta.Clone()}
}

// HealthScore returns memberlist's awareness score of this member: 0 when
// it keeps up with the protocol, higher when it has noticed itself being
// slow (and stretches its probe interval by 1+score).
func (c *Cluster) HealthScore() int {
	c.life.RLock()
	defer c.life.RUnlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0
	}
	return c.ml.GetHealthScore()
}

// UpdateMeta replaces this member's metadata and gossips it; the others see
// EventUpdated. meta.NodeID and meta.StartedAt may be left zero; values
// other than this member's are refused with ErrInvalidMeta. Metadata that does not encode
// within MaxMetaSize gives ErrMetaTooLarge and changes nothing.
//
// It returns once the update has been sent RetransmitMult·log10(N+1) times,
// or when ctx ends (after DefaultBroadcastTimeout if ctx has no deadline);
// the update keeps spreading either way.
func (c *Cluster) UpdateMeta(ctx context.Context, meta Meta) error {
	switch meta.NodeID {
	case "":
		meta.NodeID = c.id
	case c.id:
	default:
		return fmt.Errorf("%w: node ID %q cannot change to %q", ErrInvalidMeta, c.id, meta.NodeID)
	}
	c.mu.Lock()
	started := c.meta.StartedAt
	c.mu.Unlock()
	switch {
	case meta.StartedAt.IsZero():
		meta.StartedAt = started
	case !meta.StartedAt.Equal(started):
		return fmt.Errorf("%w: start time %v cannot change to %v", ErrInvalidMeta, started, meta.StartedAt)
	}
	b, err := meta.MarshalBinary()
	if err != nil {
		return err
	}
	c.life.RLock()
	defer c.life.RUnlock()
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.leaving:
		c.mu.Unlock()
		return ErrLeft
	}
	c.meta, c.metaBytes = meta.Clone(), b
	c.mu.Unlock()
	if err := c.ml.UpdateNode(broadcastTimeout(ctx)); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("membership: update metadata: %w", err)
	}
	return nil
}

func broadcastTimeout(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return DefaultBroadcastTimeout
	}
	return max(time.Until(d), time.Nanosecond)
}

// Leave leaves the cluster gracefully, so that the others see EventLeft
// rather than EventDead. It first tells every member it knows that it is
// leaving and waits until each has confirmed (or is gone), then broadcasts
// memberlist's leave and waits until it has gone out. A member that has not
// confirmed when ctx ends may report EventDead instead; Leave then still
// broadcasts the leave and returns ctx's error.
//
// Leave does not stop the member: call Shutdown afterwards. A second call
// returns nil at once. After Leave, UpdateMeta and Join fail with ErrLeft.
func (c *Cluster) Leave(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.leaving:
		c.mu.Unlock()
		return nil
	}
	c.leaving = true
	peers := make([]Member, 0, len(c.view))
	for id, m := range c.view {
		if id != c.id {
			peers = append(peers, m)
		}
	}
	c.mu.Unlock()

	waitErr := c.announceLeave(ctx, peers)
	if errors.Is(waitErr, ErrClosed) {
		return ErrClosed
	}

	c.life.RLock()
	defer c.life.RUnlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := c.ml.Leave(broadcastTimeout(ctx)); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("membership: leave: %w", err)
	}
	if waitErr != nil {
		return fmt.Errorf("membership: leave: %w", waitErr)
	}
	return nil
}

// announceLeave tells peers that this member is leaving and waits until
// each of them has acknowledged it or left the view, or ctx ends.
func (c *Cluster) announceLeave(ctx context.Context, peers []Member) error {
	msg := encodeLeaving(c.id, c.Local().Addr)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		told []string
	)
	for _, p := range peers {
		wg.Go(func() {
			if err := c.ml.SendReliable(nodeOf(p), msg); err != nil {
				c.log.Debug("membership: leave announcement not delivered",
					slog.String("peer", p.ID()), slog.Any("error", err))
				return
			}
			mu.Lock()
			told = append(told, p.ID())
			mu.Unlock()
		})
	}
	wg.Wait()
	for {
		c.mu.Lock()
		waiting := 0
		for _, id := range told {
			_, acked := c.acks[id]
			_, alive := c.view[id]
			if !acked && alive {
				waiting++
			}
		}
		c.mu.Unlock()
		if waiting == 0 {
			return nil
		}
		select {
		case <-c.change:
		case <-c.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("%d of %d members did not confirm: %w", waiting, len(peers), ctx.Err())
		}
	}
}

// nodeOf returns the memberlist node to send a message to m.
func nodeOf(m Member) *memberlist.Node {
	return &memberlist.Node{Name: m.ID(), Addr: m.Addr.Addr().AsSlice(), Port: m.Addr.Port()}
}

// Shutdown stops the member at once, without telling the others: they
// detect it as dead unless Leave came first. It closes the Events channel;
// undelivered events are discarded. It is safe to call more than once.
func (c *Cluster) Shutdown() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	ml := c.ml
	c.mu.Unlock()

	c.life.Lock()
	var err error
	if ml != nil {
		err = ml.Shutdown()
	}
	c.life.Unlock()
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("membership: shutdown: %w", err)
	}
	return nil
}

// deliver moves queued events to the consumer until Shutdown.
func (c *Cluster) deliver() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		c.mu.Lock()
		ev, ok := c.queue.pop()
		c.mu.Unlock()
		if !ok {
			select {
			case <-c.wake:
				continue
			case <-c.done:
				return
			}
		}
		select {
		case c.events <- ev:
		case <-c.done:
			return
		}
	}
}

// push queues an event; c.mu is held.
func (c *Cluster) push(kind EventKind, m Member) {
	c.queue.push(Event{Kind: kind, Member: m, At: time.Now()})
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// signal wakes a Leave waiting for acknowledgements; c.mu is held.
func (c *Cluster) signal() {
	select {
	case c.change <- struct{}{}:
	default:
	}
}
