package membership

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestClusterFormsAndSharesMetadata(t *testing.T) {
	rec := newRecorder()
	ms := startCluster(t, 4, slog.New(rec), nil)
	for i, m := range ms {
		local := m.Local()
		if !local.Addr.IsValid() || local.Addr.Port() == 0 {
			t.Errorf("member %d: local address %v", i, local.Addr)
		}
		for _, other := range ms {
			want := other.Local()
			got, ok := find(m.Members(), want.ID())
			if !ok {
				t.Fatalf("member %d does not list %s", i, want.ID())
			}
			if got.Addr != want.Addr || !got.Meta.Equal(want.Meta) {
				t.Errorf("member %d sees %s as %+v, want %+v", i, want.ID(), got, want)
			}
			if kinds := m.eventsAbout(want.ID()); !slices.Equal(kinds, []EventKind{EventJoined}) {
				// Events lag Members a little; wait for the Joined.
				waitFor(t, 5*time.Second, fmt.Sprintf("member %d gets Joined for %s", i, want.ID()), func() bool {
					return slices.Equal(m.eventsAbout(want.ID()), []EventKind{EventJoined})
				})
			}
			ev, _ := m.lastEvent(want.ID(), EventJoined)
			if !ev.Member.Meta.Equal(want.Meta) || ev.Member.Addr != want.Addr || ev.At.IsZero() {
				t.Errorf("member %d: Joined event %+v, want member %+v", i, ev, want)
			}
		}
	}
	// The first event of a member is its own Joined.
	for i, m := range ms {
		m.mu.Lock()
		first := m.events[0]
		m.mu.Unlock()
		if first.Kind != EventJoined || first.Member.ID() != m.Local().ID() {
			t.Errorf("member %d: first event %v about %s, want its own Joined", i, first.Kind, first.Member.ID())
		}
	}
	if t.Failed() {
		rec.dump(t, slog.LevelInfo)
	}
}

func find(ms []Member, id string) (Member, bool) {
	for _, m := range ms {
		if m.ID() == id {
			return m, true
		}
	}
	return Member{}, false
}

// plainMemberlist starts a bare memberlist node on 127.0.0.1 with the given
// label and key (nil: no encryption), with valid goray metadata, logging
// into out.
func plainMemberlist(t *testing.T, label string, key []byte, out io.Writer) *memberlist.Memberlist {
	t.Helper()
	meta, err := Meta{NodeID: newID(t), ActorAddr: "127.0.0.1:1", Role: RoleWorker}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mc := memberlist.DefaultLocalConfig()
	mc.Name = newID(t)
	mc.BindAddr, mc.BindPort = "127.0.0.1", 0
	mc.Label = label
	if key != nil {
		mc.Keyring, err = memberlist.NewKeyring(nil, key)
		if err != nil {
			t.Fatal(err)
		}
	}
	mc.Delegate = staticMeta(meta)
	mc.Logger = log.New(out, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ml.Shutdown() })
	return ml
}

type staticMeta []byte

func (s staticMeta) NodeMeta(int) []byte               { return s }
func (staticMeta) NotifyMsg([]byte)                    {}
func (staticMeta) GetBroadcasts(int, int) [][]byte     { return nil }
func (staticMeta) LocalState(bool) []byte              { return nil }
func (staticMeta) MergeRemoteState(buf []byte, _ bool) {}

func TestForeignPeerRefusedAndLoggedOnce(t *testing.T) {
	_, ourLabel, err := deriveSecrets(testToken)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := deriveSecrets("another-cluster-token-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		reason string
		// join tries to join addr a few times and returns the foreign
		// node's name and how many attempts it made.
		join func(t *testing.T, addr string) (string, int)
	}{
		{
			name:   "another token",
			reason: reasonLabel,
			join: func(t *testing.T, addr string) (string, int) {
				rec := newRecorder()
				cfg := testConfig(t, slog.New(rec))
				cfg.Token = "another-cluster-token-0123456789"
				cfg.Join = []string{addr}
				ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
				defer cancel()
				c, err := Start(ctx, cfg)
				if !errors.Is(err, ErrJoin) {
					if c != nil {
						_ = c.Shutdown()
					}
					t.Fatalf("Start with another token: %v, want ErrJoin", err)
				}
				return cfg.NodeID, len(rec.matching(slog.LevelDebug, "join attempt failed"))
			},
		},
		{
			name:   "no token: no label, no encryption",
			reason: reasonLabel,
			join: func(t *testing.T, addr string) (string, int) {
				ml := plainMemberlist(t, "", nil, io.Discard)
				return joinRepeatedly(t, ml, addr)
			},
		},
		{
			name:   "this cluster's label without encryption",
			reason: reasonDecrypt,
			join: func(t *testing.T, addr string) (string, int) {
				ml := plainMemberlist(t, ourLabel, nil, io.Discard)
				return joinRepeatedly(t, ml, addr)
			},
		},
		{
			name:   "this cluster's label with another key",
			reason: reasonDecrypt,
			join: func(t *testing.T, addr string) (string, int) {
				ml := plainMemberlist(t, ourLabel, otherKey, io.Discard)
				return joinRepeatedly(t, ml, addr)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			ms := startCluster(t, 2, slog.New(rec), nil)
			foreign, attempts := tt.join(t, ms[0].Local().Addr.String())
			if attempts < 2 {
				t.Fatalf("the foreign node tried %d times; the test needs at least 2", attempts)
			}
			refusals := rec.matching(slog.LevelWarn, "refused gossip")
			if len(refusals) != 1 {
				rec.dump(t, slog.LevelDebug)
				t.Fatalf("%d refusals logged after %d attempts, want exactly 1", len(refusals), attempts)
			}
			r := refusals[0]
			if got := attr(r, "reason"); got != tt.reason {
				t.Errorf("refusal reason %q, want %q", got, tt.reason)
			}
			if got := attr(r, "from"); !strings.HasPrefix(got, "127.0.0.1:") {
				t.Errorf("refusal from %q, want 127.0.0.1:port", got)
			}
			if got := attr(r, "member"); got != ms[0].Local().ID() {
				t.Errorf("refusal logged by %q, want the member joined, %s", got, ms[0].Local().ID())
			}
			// The foreign node never appears: not in Members, no event.
			for i, m := range ms {
				if ids := m.ids(); len(ids) != 2 || slices.Contains(ids, foreign) {
					t.Errorf("member %d lists %v", i, ids)
				}
				if kinds := m.eventsAbout(foreign); len(kinds) > 0 {
					t.Errorf("member %d got events %v about the foreign node", i, kinds)
				}
			}
			// memberlist's own per-packet lines did not get through.
			if n := len(rec.matching(slog.LevelDebug, "unacceptable label")) + len(rec.matching(slog.LevelDebug, "failed to receive")); n > 0 {
				t.Errorf("%d raw memberlist refusal lines logged", n)
			}
		})
	}
}

// joinRepeatedly makes three join attempts with ml, each expected to fail,
// and returns ml's name and the attempt count.
func joinRepeatedly(t *testing.T, ml *memberlist.Memberlist, addr string) (string, int) {
	t.Helper()
	const attempts = 3
	for i := range attempts {
		if n, err := ml.Join([]string{addr}); err == nil || n > 0 {
			t.Fatalf("attempt %d: join succeeded (%d)", i, n)
		}
	}
	return ml.LocalNode().Name, attempts
}

func TestLeaveGivesLeft(t *testing.T) {
	rec := newRecorder()
	ms := startCluster(t, 3, slog.New(rec), nil)
	leaver := ms[2]
	id := leaver.Local().ID()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := leaver.Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := leaver.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, m := range ms[:2] {
		waitFor(t, 5*time.Second, fmt.Sprintf("member %d sees the leaver gone", i), func() bool {
			return !slices.Contains(m.ids(), id) && len(m.eventsAbout(id)) >= 2
		})
		if kinds := m.eventsAbout(id); !slices.Equal(kinds, []EventKind{EventJoined, EventLeft}) {
			rec.dump(t, slog.LevelDebug)
			t.Errorf("member %d: events %v about the leaver, want [joined left]", i, kinds)
		}
		ev, _ := m.lastEvent(id, EventLeft)
		if ev.Member.Meta.NodeID != id || ev.Member.Meta.Role != RoleWorker {
			t.Errorf("member %d: Left event carries %+v", i, ev.Member)
		}
	}
	// The leaver saw its own Left; after Leave it refuses to change.
	if kinds := leaver.eventsAbout(id); !slices.Contains(kinds, EventLeft) {
		t.Errorf("leaver's own events %v, want a Left", kinds)
	}
	if err := leaver.UpdateMeta(ctx, leaver.Local().Meta); !errors.Is(err, ErrClosed) {
		t.Errorf("UpdateMeta after Shutdown: %v, want ErrClosed", err)
	}
}

func TestShutdownGivesDead(t *testing.T) {
	rec := newRecorder()
	ms := startCluster(t, 3, slog.New(rec), nil)
	gone := ms[1]
	id := gone.Local().ID()
	if err := gone.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for i, m := range []*member{ms[0], ms[2]} {
		waitFor(t, 10*time.Second, fmt.Sprintf("member %d gets Dead", i), func() bool {
			return len(m.eventsAbout(id)) >= 2
		})
		if kinds := m.eventsAbout(id); !slices.Equal(kinds, []EventKind{EventJoined, EventDead}) {
			rec.dump(t, slog.LevelDebug)
			t.Errorf("member %d: events %v about the stopped member, want [joined dead]", i, kinds)
		}
		if slices.Contains(m.ids(), id) {
			t.Errorf("member %d still lists the stopped member", i)
		}
	}
	// Shutdown closed the Events channel.
	select {
	case <-gone.closed:
	case <-time.After(5 * time.Second):
		t.Error("Events not closed by Shutdown")
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	rec := newRecorder()
	ms := startCluster(t, 3, slog.New(rec), nil)
	changer := ms[0]
	id := changer.Local().ID()
	meta := changer.Local().Meta
	meta.Labels = map[string]string{"zone": "b", "gpu": "a100"}
	meta.Resources = map[string]int64{"CPU": 4 * 10000, "GPU": 1 * 10000}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := changer.UpdateMeta(ctx, meta); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	for i, m := range ms {
		waitFor(t, 5*time.Second, fmt.Sprintf("member %d gets Updated", i), func() bool {
			ev, ok := m.lastEvent(id, EventUpdated)
			return ok && ev.Member.Meta.Equal(meta)
		})
		got, _ := find(m.Members(), id)
		if !got.Meta.Equal(meta) {
			t.Errorf("member %d lists %+v, want %+v", i, got.Meta, meta)
		}
	}
	if got := changer.Local().Meta; !got.Equal(meta) {
		t.Errorf("Local().Meta = %+v, want %+v", got, meta)
	}

	tests := []struct {
		name string
		meta func() Meta
		want error
	}{
		{"too large", func() Meta {
			m := meta.Clone()
			m.Labels = map[string]string{}
			for i := range 20 {
				m.Labels[fmt.Sprintf("label-%02d", i)] = strings.Repeat("v", 30)
			}
			return m
		}, ErrMetaTooLarge},
		{"another node ID", func() Meta { m := meta.Clone(); m.NodeID = newID(t); return m }, ErrInvalidMeta},
		{"invalid role", func() Meta { m := meta.Clone(); m.Role = 9; return m }, ErrInvalidMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := changer.UpdateMeta(ctx, tt.meta()); !errors.Is(err, tt.want) {
				t.Fatalf("UpdateMeta: %v, want %v", err, tt.want)
			}
			if got := changer.Local().Meta; !got.Equal(meta) {
				t.Errorf("a refused update changed the metadata to %+v", got)
			}
		})
	}
}

// TestRestartAtSameAddressReplaces restarts a member on the same port with
// a new node ID. Failure detection is made slow (about 20s), so only the
// replacement by address can report the old member dead within the
// deadline.
func TestRestartAtSameAddressReplaces(t *testing.T) {
	rec := newRecorder()
	slow := func(c *Config) {
		c.Timing.ProbeInterval = time.Second
		c.Timing.ProbeTimeout = 500 * time.Millisecond
		c.Timing.SuspicionMult = 20
	}
	ms := startCluster(t, 3, slog.New(rec), slow)
	old := ms[2]
	oldID, addr := old.Local().ID(), old.Local().Addr
	if err := old.Shutdown(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, slog.New(rec))
	slow(&cfg)
	cfg.BindPort = int(addr.Port())
	cfg.Join = []string{ms[0].Local().Addr.String()}
	restarted := startMember(t, cfg)
	newID := restarted.Local().ID()
	if restarted.Local().Addr != addr {
		t.Fatalf("restarted at %v, want %v", restarted.Local().Addr, addr)
	}
	for i, m := range ms[:2] {
		waitFor(t, 5*time.Second, fmt.Sprintf("member %d replaces %s by %s", i, oldID, newID), func() bool {
			ids := m.ids()
			return slices.Contains(ids, newID) && !slices.Contains(ids, oldID) &&
				len(m.eventsAbout(oldID)) == 2 && len(m.eventsAbout(newID)) == 1
		})
		if kinds := m.eventsAbout(oldID); !slices.Equal(kinds, []EventKind{EventJoined, EventDead}) {
			t.Errorf("member %d: events about the old member %v, want [joined dead]", i, kinds)
		}
		if kinds := m.eventsAbout(newID); !slices.Equal(kinds, []EventKind{EventJoined}) {
			t.Errorf("member %d: events about the new member %v, want [joined]", i, kinds)
		}
	}
	// When memberlist finally declares the old one dead, it is not
	// reported twice; nor does the old one come back. Checked by the
	// exact event lists above at the end of the test, via Cleanup order.
	t.Cleanup(func() {
		for i, m := range ms[:2] {
			if kinds := m.eventsAbout(oldID); len(kinds) != 2 {
				t.Errorf("member %d: events about the old member at the end: %v", i, kinds)
			}
		}
	})
}

func TestStartRefusesBadConfig(t *testing.T) {
	base := func() Config { return testConfig(t, slog.New(slog.DiscardHandler)) }
	tests := []struct {
		name   string
		change func(*Config)
		want   error
	}{
		{"node ID upper case", func(c *Config) { c.NodeID = strings.ToUpper(newID(t)) + "" }, ErrInvalidConfig},
		{"node ID short", func(c *Config) { c.NodeID = "abc" }, ErrInvalidConfig},
		{"no token", func(c *Config) { c.Token = "" }, ErrInvalidConfig},
		{"short token", func(c *Config) { c.Token = "short" }, ErrInvalidConfig},
		{"host name as bind host", func(c *Config) { c.BindHost = "localhost" }, ErrInvalidConfig},
		{"bind port out of range", func(c *Config) { c.BindPort = 70000 }, ErrInvalidConfig},
		{"advertise host not an IP", func(c *Config) { c.AdvertiseHost = "node-1" }, ErrInvalidConfig},
		{"meta node ID differs", func(c *Config) { c.Meta.NodeID = newID(t) }, ErrInvalidConfig},
		{"meta without actor address", func(c *Config) { c.Meta.ActorAddr = "" }, ErrInvalidMeta},
		{"meta without role", func(c *Config) { c.Meta.Role = 0 }, ErrInvalidMeta},
		{"meta too large", func(c *Config) { c.Meta.Fingerprint = strings.Repeat("f", 128); c.Meta.Labels = bigLabels() }, ErrMetaTooLarge},
		{"probe timeout not below interval", func(c *Config) { c.Timing.ProbeTimeout = c.Timing.ProbeInterval }, ErrInvalidConfig},
		{"no gossip", func(c *Config) { c.Timing.GossipInterval = 0 }, ErrInvalidConfig},
		{"bad join address", func(c *Config) { c.Join = []string{"127.0.0.1:x:y"} }, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.change(&cfg)
			c, err := Start(context.Background(), cfg)
			if err == nil {
				_ = c.Shutdown()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Start: %v, want %v (and ErrInvalidConfig)", err, tt.want)
			}
		})
	}
}

func bigLabels() map[string]string {
	m := make(map[string]string)
	for i := range 10 {
		m[fmt.Sprintf("k%d", i)] = strings.Repeat("x", 40)
	}
	return m
}

func TestJoinGivesUpWithContext(t *testing.T) {
	// Nothing listens on a port that a just-closed member had.
	probe := startMember(t, testConfig(t, slog.New(slog.DiscardHandler)))
	addr := probe.Local().Addr.String()
	if err := probe.Shutdown(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, slog.New(slog.DiscardHandler))
	cfg.Join = []string{addr}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := Start(ctx, cfg)
	if err == nil {
		_ = c.Shutdown()
		t.Fatal("Start joined a closed address")
	}
	if !errors.Is(err, ErrJoin) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start: %v, want ErrJoin and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond+cfg.Timing.TCPTimeout {
		t.Errorf("Start took %v after a 300ms context", d)
	}
}

func TestMembersIsACopy(t *testing.T) {
	ms := startCluster(t, 2, slog.New(slog.DiscardHandler), nil)
	got := ms[0].Members()
	for _, m := range got {
		maps.DeleteFunc(m.Meta.Labels, func(string, string) bool { return true })
	}
	for _, m := range ms[0].Members() {
		if len(m.Meta.Labels) == 0 {
			t.Fatalf("changing a Members result changed the view: %+v", m)
		}
	}
}

// A member that leaves right after it joined is confirmed by every member,
// also by one that has not heard of it yet: its Leave does not wait for
// the context to end.
func TestLeaveRightAfterJoin(t *testing.T) {
	rec := newRecorder()
	// Slow gossip and probes: the second member hears of the third one
	// only long after the third has left.
	slow := func(c *Config) {
		c.Timing.GossipInterval = time.Second
		c.Timing.ProbeInterval = 4 * time.Second
		c.Timing.ProbeTimeout = time.Second
	}
	ms := startCluster(t, 2, slog.New(rec), slow)
	cfg := testConfig(t, slog.New(rec))
	cfg.Join = []string{ms[0].Local().Addr.String()}
	slow(&cfg)
	leaver := startMember(t, cfg)
	if got := len(leaver.Members()); got != 3 {
		t.Fatalf("the new member sees %d members, want 3", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := leaver.Leave(ctx); err != nil {
		rec.dump(t, slog.LevelDebug)
		t.Fatalf("Leave: %v after %v", err, time.Since(t0))
	}
	t.Logf("Leave took %v", time.Since(t0))
}

func TestLeavingMessage(t *testing.T) {
	id := strings.Repeat("ab", NodeIDLen/2)
	addr := netip.MustParseAddrPort("127.0.0.1:7946")
	kind, from, got, err := decodeMsg(encodeLeaving(id, addr))
	if err != nil || kind != msgLeaving || from != id || got != addr {
		t.Fatalf("decode(encodeLeaving) = %d, %q, %v, %v", kind, from, got, err)
	}
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"short", encodeMsg(msgLeaving, id)[:NodeIDLen]},
		{"kind", encodeMsg(9, id)},
		{"id", encodeMsg(msgLeaving, strings.Repeat("G", NodeIDLen))},
		{"ack with an address", append(encodeMsg(msgLeaveAck, id), encodeLeaving(id, addr)[1+NodeIDLen:]...)},
		{"truncated address", encodeLeaving(id, addr)[:1+NodeIDLen+3]},
		{"port 0", encodeLeaving(id, netip.MustParseAddrPort("127.0.0.1:0"))},
	} {
		if _, _, _, err := decodeMsg(c.msg); err == nil {
			t.Errorf("%s: decoded %x", c.name, c.msg)
		}
	}
	// Without an address (an older member's) it still decodes.
	if _, _, got, err := decodeMsg(encodeMsg(msgLeaving, id)); err != nil || got.IsValid() {
		t.Fatalf("a leaving message without an address: %v, %v", got, err)
	}
}
