package transport

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// One remote per process. protoactor's remote.Start replaces gRPC's global
// logger (grpclog.SetLoggerV2) every time it runs, which gRPC only allows
// before any gRPC goroutine exists; a second remote in the same process is
// a data race with the first one's gRPC goroutines, whatever the order.
// So each test process runs exactly one node, local, started here before
// any test and never stopped (protoactor's Shutdown also races with its
// own endpoint events), and every other protoactor node of a test runs in
// a peer process (see peer_test.go). In-process gRPC clients that speak the
// wire protocol directly are fine: they do not set the logger.

const testToken = "test-cluster-token"

// localMaxSend is the local node's send limit, smaller than the default so
// that TestOversizedOutbound builds a smaller message.
const localMaxSend = 16 << 20

// local is this process's node.
var local struct {
	sys  *actor.ActorSystem
	tr   *Transport
	logs *recorder
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(peerEnv); spec != "" {
		os.Exit(runPeer(spec))
	}
	local.logs = &recorder{}
	local.sys = newSystem()
	cfg := testConfig(slog.New(local.logs))
	// gRPC's default, so that TestStreamEndingInput is about the limit a
	// peer that keeps gRPC's defaults has.
	cfg.MaxRecvMsgSize = 4 << 20
	cfg.MaxSendMsgSize = localMaxSend
	tr, err := Start(local.sys, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local node:", err)
		os.Exit(1)
	}
	local.tr = tr
	os.Exit(m.Run())
}

// newSystem returns an actor system that logs nothing.
func newSystem() *actor.ActorSystem {
	return actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
		actor.WithDeadLetterRequestLogging(false),
	)
}

// testConfig is DefaultConfig with the test token.
func testConfig(logger *slog.Logger) Config {
	cfg := DefaultConfig()
	cfg.Token = testToken
	cfg.ConnectAttempts = 1
	cfg.Logger = logger
	return cfg
}

// sink is an actor that answers ListActors and records the object IDs of
// the PutObject messages it receives, in order.
type sink struct {
	mu   sync.Mutex
	got  []string
	cond chan struct{} // closed and replaced on every arrival
}

func newSink() *sink { return &sink{cond: make(chan struct{})} }

func (s *sink) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pb.ListActors:
		ctx.Respond(&pb.ListActorsReply{})
	case *pb.PutObject:
		s.mu.Lock()
		s.got = append(s.got, string(m.ObjectId))
		close(s.cond)
		s.cond = make(chan struct{})
		s.mu.Unlock()
	}
}

func (s *sink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// waitFor waits until the sink holds n messages or ctx ends.
func (s *sink) waitFor(ctx context.Context, n int) ([]string, error) {
	for {
		s.mu.Lock()
		got, cond := len(s.got), s.cond
		s.mu.Unlock()
		if got >= n {
			return s.received(), nil
		}
		select {
		case <-cond:
		case <-ctx.Done():
			return s.received(), ctx.Err()
		}
	}
}

// waitForID waits until the sink received id or ctx ends.
func (s *sink) waitForID(ctx context.Context, id string) error {
	for {
		s.mu.Lock()
		found := false
		for _, g := range s.got {
			found = found || g == id
		}
		cond := s.cond
		s.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-cond:
		case <-ctx.Done():
			return fmt.Errorf("%s not received: %w", id, ctx.Err())
		}
	}
}

// spawnSink spawns a sink named name on sys and stops it when the test
// ends.
func spawnSink(t testing.TB, sys *actor.ActorSystem, name string) (*sink, *actor.PID) {
	t.Helper()
	s := newSink()
	pid, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return s }), name)
	if err != nil {
		t.Fatalf("spawn %s: %v", name, err)
	}
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	return s, pid
}

// localSink spawns a sink on the local node, named after the test.
func localSink(t testing.TB) (*sink, *actor.PID) {
	t.Helper()
	return spawnSink(t, local.sys, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// roundTrip asks pid for ListActors from sys and checks the reply.
func roundTrip(t testing.TB, sys *actor.ActorSystem, pid *actor.PID) {
	t.Helper()
	res, err := sys.Root.RequestFuture(pid, &pb.ListActors{}, 10*time.Second).Result()
	if err != nil {
		t.Fatalf("request to %s: %v", pid, err)
	}
	if _, ok := res.(*pb.ListActorsReply); !ok {
		t.Fatalf("reply %T, want *pb.ListActorsReply", res)
	}
}

// recorder is a slog.Handler that keeps every record's message.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

// count returns how many records contain substr.
func (r *recorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// statsDelta returns what the local node's counters gained since before.
func statsDelta(before Stats) Stats {
	now := local.tr.Stats()
	return Stats{
		RefusedCalls:     now.RefusedCalls - before.RefusedCalls,
		RecoveredPanics:  now.RecoveredPanics - before.RecoveredPanics,
		DroppedEnvelopes: now.DroppedEnvelopes - before.DroppedEnvelopes,
		DroppedMessages:  now.DroppedMessages - before.DroppedMessages,
		SplitBatches:     now.SplitBatches - before.SplitBatches,
		OversizedDropped: now.OversizedDropped - before.OversizedDropped,
	}
}
