package membership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testToken is the cluster token of the tests' clusters.
const testToken = "0123456789abcdef0123456789abcdef"

// newID returns a fresh node ID.
func newID(t testing.TB) string {
	t.Helper()
	var b [NodeIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// recorder is a slog.Handler that keeps every record, for assertions on
// what was logged.
type recorder struct {
	mu    *sync.Mutex
	recs  *[]slog.Record
	attrs []slog.Attr
}

func newRecorder() *recorder {
	return &recorder{mu: new(sync.Mutex), recs: new([]slog.Record)}
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(r.attrs...)
	r.mu.Lock()
	*r.recs = append(*r.recs, rec)
	r.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{mu: r.mu, recs: r.recs, attrs: append(slices.Clip(r.attrs), as...)}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// matching returns the records at level or above whose message contains
// substr.
func (r *recorder) matching(level slog.Level, substr string) []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []slog.Record
	for _, rec := range *r.recs {
		if rec.Level >= level && strings.Contains(rec.Message, substr) {
			out = append(out, rec)
		}
	}
	return out
}

// dump logs every record at level or above, for a failing test.
func (r *recorder) dump(t testing.TB, level slog.Level) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range *r.recs {
		if rec.Level < level {
			continue
		}
		var b strings.Builder
		rec.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		t.Logf("%s %s %s%s", rec.Time.Format("15:04:05.000"), rec.Level, rec.Message, b.String())
	}
}

// attr returns the value of the record's attribute key.
func attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// testConfig returns a Config for a member on 127.0.0.1 with a free port.
func testConfig(t testing.TB, log *slog.Logger) Config {
	cfg := DefaultConfig()
	cfg.NodeID = newID(t)
	cfg.BindHost = "127.0.0.1"
	cfg.Token = testToken
	cfg.Logger = log
	cfg.Meta = Meta{
		ActorAddr:   "127.0.0.1:9000",
		Role:        RoleWorker,
		Version:     "0.1.0-test",
		Fingerprint: "f1n9e4",
		Resources:   map[string]int64{"CPU": 2 * 10000},
		Labels:      map[string]string{"zone": "test"},
	}
	return cfg
}

// member is a started member with its events collected.
type member struct {
	*Cluster
	mu     sync.Mutex
	events []Event
	closed chan struct{} // closed when Events is closed
}

// startMember starts a member from cfg, collects its events and shuts it
// down when the test ends.
func startMember(t testing.TB, cfg Config) *member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	m := &member{Cluster: c, closed: make(chan struct{})}
	go func() {
		defer close(m.closed)
		for ev := range c.Events() {
			m.mu.Lock()
			m.events = append(m.events, ev)
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if err := c.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-m.closed
	})
	return m
}

// eventsAbout returns the kinds of the events received about node id, in
// order.
func (m *member) eventsAbout(id string) []EventKind {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []EventKind
	for _, ev := range m.events {
		if ev.Member.ID() == id {
			out = append(out, ev.Kind)
		}
	}
	return out
}

// lastEvent returns the last event of kind about id.
func (m *member) lastEvent(id string, kind EventKind) (Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.events) - 1; i >= 0; i-- {
		if ev := m.events[i]; ev.Member.ID() == id && ev.Kind == kind {
			return ev, true
		}
	}
	return Event{}, false
}

// ids returns the node IDs in Members.
func (m *member) ids() []string {
	var out []string
	for _, mm := range m.Members() {
		out = append(out, mm.ID())
	}
	return out
}

// waitFor polls cond every 10ms until it holds or timeout passes, then
// fails the test with what.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startCluster starts n members that join the first one, and waits until
// each sees all n.
func startCluster(t testing.TB, n int, log *slog.Logger, tweak func(*Config)) []*member {
	t.Helper()
	var ms []*member
	for i := range n {
		cfg := testConfig(t, log)
		if i > 0 {
			cfg.Join = []string{ms[0].Local().Addr.String()}
		}
		if tweak != nil {
			tweak(&cfg)
		}
		ms = append(ms, startMember(t, cfg))
	}
	want := make([]string, 0, n)
	for _, m := range ms {
		want = append(want, m.Local().ID())
	}
	slices.Sort(want)
	for i, m := range ms {
		waitFor(t, 10*time.Second, fmt.Sprintf("member %d sees all %d members", i, n), func() bool {
			return slices.Equal(m.ids(), want)
		})
	}
	return ms
}
