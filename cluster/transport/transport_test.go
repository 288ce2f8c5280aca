package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

func TestExchangeBetweenNodes(t *testing.T) {
	before := local.tr.Stats()
	p := startPeer(t, peerSpec{Token: testToken})
	if p.addr == local.tr.Address() {
		t.Fatalf("both nodes have address %s", p.addr)
	}
	if local.sys.Address() != local.tr.Address() {
		t.Fatalf("system address %s, transport address %s", local.sys.Address(), local.tr.Address())
	}
	s, pid := localSink(t)
	if pid.Address != local.tr.Address() {
		t.Fatalf("PID address %s, want %s", pid.Address, local.tr.Address())
	}

	// Request and response in both directions.
	if got := p.do(15*time.Second, "request %s %s 10000", pid.Address, pid.Id); got != "ok" {
		t.Fatalf("peer's request to the local node: %s", got)
	}
	roundTrip(t, local.sys, actor.NewPID(p.addr, "sink"))

	// One-way messages arrive in order, in both directions.
	const n = 10
	peerSink := actor.NewPID(p.addr, "sink")
	for i := range n {
		local.sys.Root.Send(peerSink, &pb.PutObject{ObjectId: fmt.Appendf(nil, "%06d", i)})
	}
	if got := p.do(15*time.Second, "wait %d 10000", n); got != fmt.Sprintf("received %d ordered", n) {
		t.Fatalf("peer sink: %s", got)
	}
	if got := p.do(15*time.Second, "send %s %s %d 0", pid.Address, pid.Id, n); got != "sent" {
		t.Fatalf("peer send: %s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := s.waitFor(ctx, n)
	if err != nil {
		t.Fatalf("local sink got %q: %v", got, err)
	}
	for i, id := range got {
		if id != fmt.Sprintf("%06d", i) {
			t.Fatalf("local sink got %q, out of order", got)
		}
	}
	if st := p.stats(); st != (Stats{}) {
		t.Errorf("peer stats %+v after legitimate traffic, want zero", st)
	}
	if d := statsDelta(before); d != (Stats{}) {
		t.Errorf("local stats grew by %+v with legitimate traffic, want zero", d)
	}
}

// TestLargeBatch sends 1000 messages of 100 KiB at once: protoactor's
// writer takes them as one batch of about 100 MiB, 25 times the limit the
// receiver keeps (gRPC's default of 4 MiB). They must all arrive, in order,
// as several smaller batches, and the stream must keep working.
func TestLargeBatch(t *testing.T) {
	const n, size = 1000, 100 << 10
	p := startPeer(t, peerSpec{Token: testToken, MaxRecvMsgSize: 4 << 20})
	peerSink := actor.NewPID(p.addr, "sink")
	roundTrip(t, local.sys, peerSink) // connected, so that the writer's queue fills while it is idle
	before := local.tr.Stats()

	payload := make([]byte, size)
	for i := range n {
		local.sys.Root.Send(peerSink, &pb.PutObject{ObjectId: fmt.Appendf(nil, "%06d", i), Data: payload})
	}
	if got := p.do(60*time.Second, "wait %d 50000", n); got != fmt.Sprintf("received %d ordered", n) {
		t.Fatalf("peer sink: %s", got)
	}
	if d := statsDelta(before); d.SplitBatches == 0 || d.OversizedDropped != 0 {
		t.Fatalf("local stats grew by %+v: want split batches and nothing dropped", d)
	}
	roundTrip(t, local.sys, peerSink)
}

// TestOversizedOutbound sends a message that cannot fit the send limit even
// alone: it is dropped before the wire, its requester gets a dead letter at
// once, and the messages around it still arrive.
func TestOversizedOutbound(t *testing.T) {
	p := startPeer(t, peerSpec{Token: testToken})
	peerSink := actor.NewPID(p.addr, "sink")
	roundTrip(t, local.sys, peerSink)
	before := local.tr.Stats()

	huge := make([]byte, localMaxSend)
	local.sys.Root.Send(peerSink, &pb.PutObject{ObjectId: []byte("000000")})
	start := time.Now()
	_, err := local.sys.Root.RequestFuture(peerSink, &pb.PutObject{ObjectId: []byte("huge"), Data: huge}, 30*time.Second).Result()
	if !errors.Is(err, actor.ErrDeadLetter) {
		t.Fatalf("request with an oversized message: %v, want ErrDeadLetter", err)
	}
	if waited := time.Since(start); waited > 20*time.Second {
		t.Fatalf("dead letter took %v", waited)
	}
	local.sys.Root.Send(peerSink, &pb.PutObject{ObjectId: []byte("000001")})
	if got := p.do(15*time.Second, "wait 2 10000"); got != "received 2 ordered" {
		t.Fatalf("peer sink: %s", got)
	}
	if d := statsDelta(before); d.OversizedDropped != 1 {
		t.Fatalf("local stats grew by %+v, want one oversized message dropped", d)
	}
}

// TestStop stops a peer that the local node talks to: Stop returns
// promptly, twice, and the stopped node is no longer reachable.
func TestStop(t *testing.T) {
	p := startPeer(t, peerSpec{Token: testToken})
	peerSink := actor.NewPID(p.addr, "sink")
	roundTrip(t, local.sys, peerSink)
	if got := p.do(30*time.Second, "request %s nonexistent 100", local.tr.Address()); !strings.HasPrefix(got, "error") {
		t.Fatalf("request to a missing actor: %s", got)
	}
	if got := p.do(30*time.Second, "stop 10000"); got != "stopped" {
		t.Fatalf("stop: %s", got)
	}
	if got := p.do(30*time.Second, "stop 10000"); got != "stopped" {
		t.Fatalf("second stop: %s", got)
	}
	_, err := local.sys.Root.RequestFuture(peerSink, &pb.ListActors{}, 500*time.Millisecond).Result()
	if err == nil {
		t.Fatalf("request to a stopped node succeeded")
	}
}

func TestStartPortInUse(t *testing.T) {
	_, port, _ := net.SplitHostPort(local.tr.ListenAddr())
	cfg := testConfig(nil)
	cfg.BindPort, _ = strconv.Atoi(port)
	_, err := Start(newSystem(), cfg)
	if !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("Start on a taken port: %v, want ErrAddressInUse", err)
	}
}

func TestStartFixedPortAndAdvertisedHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := startPeer(t, peerSpec{Token: testToken, BindPort: port, AdvertisedHost: "localhost"})
	if want := net.JoinHostPort("localhost", strconv.Itoa(port)); p.addr != want {
		t.Fatalf("Address %s, want %s", p.addr, want)
	}
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(port)); p.listen != want {
		t.Fatalf("ListenAddr %s, want %s", p.listen, want)
	}
	// The advertised name resolves here, so the node is reachable by it.
	if got := p.do(15*time.Second, "request %s nonexistent 100", p.addr); !strings.HasPrefix(got, "error") {
		t.Fatalf("request to a missing local actor: %s", got)
	}
	roundTrip(t, local.sys, actor.NewPID(p.addr, "sink"))
}

func TestStartAlreadyStarted(t *testing.T) {
	if _, err := Start(local.sys, testConfig(nil)); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start: %v, want ErrAlreadyStarted", err)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   error
	}{
		{"no token", func(c *Config) { c.Token = "" }, ErrNoToken},
		{"unspecified bind host without advertised host", func(c *Config) { c.BindHost = "0.0.0.0" }, ErrInvalidConfig},
		{"empty bind host without advertised host", func(c *Config) { c.BindHost = "" }, ErrInvalidConfig},
		{"port out of range", func(c *Config) { c.BindPort = 70000 }, ErrInvalidConfig},
		{"stream port out of range", func(c *Config) { c.StreamPort = -1 }, ErrInvalidConfig},
		{"stream port is the bind port", func(c *Config) { c.BindPort, c.StreamPort = 7000, 7000 }, ErrInvalidConfig},
		{"batch above send limit", func(c *Config) { c.MaxBatchBytes = c.MaxSendMsgSize + 1 }, ErrInvalidConfig},
		{"zero receive limit", func(c *Config) { c.MaxRecvMsgSize = 0 }, ErrInvalidConfig},
		{"zero writer batch", func(c *Config) { c.WriterBatchSize = 0 }, ErrInvalidConfig},
		{"TLS without files", func(c *Config) { c.TLS.Enabled = true }, ErrInvalidConfig},
		{"TLS with missing files", func(c *Config) {
			c.TLS = TLSConfig{Enabled: true, CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem", CAFile: "/nonexistent/ca.pem"}
		}, ErrTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(nil)
			tt.change(&cfg)
			sys := newSystem()
			_, err := Start(sys, cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Start: %v, want %v", err, tt.want)
			}
			if sys.Address() != nonhost {
				t.Fatalf("failed Start left the system at address %s", sys.Address())
			}
		})
	}
	if _, err := Start(nil, testConfig(nil)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start(nil): %v, want ErrInvalidConfig", err)
	}
}

// TestWarnsAboutEarlyProcesses checks what Start's warning counts: a new
// actor system has no process, and one spawned before Start is counted.
func TestWarnsAboutEarlyProcesses(t *testing.T) {
	if n := local.logs.count("spawned before the transport started"); n != 0 {
		t.Fatalf("the local node warned about early processes %d times", n)
	}
	sys := newSystem()
	if n := localProcesses(sys); n != 0 {
		t.Fatalf("a new actor system has %d processes, want 0", n)
	}
	_, pid := spawnSink(t, sys, "early")
	if pid.Address != nonhost {
		t.Fatalf("PID built before Start has address %s, want %s", pid.Address, nonhost)
	}
	if n := localProcesses(sys); n != 1 {
		t.Fatalf("%d processes after one spawn, want 1", n)
	}
}
