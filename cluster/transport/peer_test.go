package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/goray-dev/goray/internal/nodeproc"
	pb "github.com/goray-dev/goray/proto"
)

// A peer is a node in a process of its own: this test binary run again
// with peerEnv set to a peerSpec in JSON. It starts its node, spawns a sink
// named "sink", prints "ready <address> <listen address>" and then answers
// one line of commands from stdin with one line on stdout (see
// peerCommand). It exits when stdin closes.

const peerEnv = "GORAY_TRANSPORT_TEST_PEER"

type peerSpec struct {
	// Plain runs protoactor's remote as it is: no token, no guard.
	Plain          bool
	Token          string
	TLS            TLSConfig
	MaxRecvMsgSize int
	BindPort       int
	AdvertisedHost string
}

func runPeer(specJSON string) int {
	var spec peerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Println("startfail", err)
		return 1
	}
	sys := newSystem()
	var tr *Transport
	listen := ""
	if spec.Plain {
		rc := remote.Configure("127.0.0.1", 0)
		rc.MaxRetryCount = 1
		remote.NewRemote(sys, rc).Start()
		listen = sys.Address()
	} else {
		cfg := testConfig(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		cfg.Token = spec.Token
		cfg.TLS = spec.TLS
		cfg.BindPort = spec.BindPort
		cfg.AdvertisedHost = spec.AdvertisedHost
		if spec.MaxRecvMsgSize > 0 {
			cfg.MaxRecvMsgSize = spec.MaxRecvMsgSize
		}
		var err error
		if tr, err = Start(sys, cfg); err != nil {
			fmt.Println("startfail", err)
			return 1
		}
		listen = tr.ListenAddr()
	}
	s := newSink()
	if _, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return s }), "sink"); err != nil {
		fmt.Println("startfail", err)
		return 1
	}
	fmt.Println("ready", sys.Address(), listen)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println(peerCommand(sys, tr, s, strings.Fields(in.Text())))
	}
	return 0
}

// peerCommand runs one command:
//
//	request ADDR ID MS        ListActors to ADDR/ID -> "ok" | "error ..."
//	send ADDR ID COUNT BYTES  COUNT PutObjects (IDs 000000...) -> "sent"
//	wait COUNT MS             until the sink has COUNT -> "received N ordered|unordered" | "timeout N"
//	stats                     the transport's Stats in JSON
//	stop MS                   Stop -> "stopped" | "error ..."
//	bench ADDR ID N C         N round trips by C workers -> "bench NANOSECONDS"
func peerCommand(sys *actor.ActorSystem, tr *Transport, s *sink, f []string) string {
	arg := func(i int) int {
		n, _ := strconv.Atoi(f[i])
		return n
	}
	switch {
	case len(f) == 4 && f[0] == "request":
		_, err := requestOnce(sys, actor.NewPID(f[1], f[2]), time.Duration(arg(3))*time.Millisecond)
		if err != nil {
			return "error " + err.Error()
		}
		return "ok"
	case len(f) == 5 && f[0] == "send":
		pid, data := actor.NewPID(f[1], f[2]), make([]byte, arg(4))
		for i := range arg(3) {
			sys.Root.Send(pid, &pb.PutObject{ObjectId: fmt.Appendf(nil, "%06d", i), Data: data})
		}
		return "sent"
	case len(f) == 3 && f[0] == "wait":
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(arg(2))*time.Millisecond)
		defer cancel()
		got, err := s.waitFor(ctx, arg(1))
		if err != nil {
			return fmt.Sprintf("timeout %d", len(got))
		}
		for i, id := range got {
			if id != fmt.Sprintf("%06d", i) {
				return fmt.Sprintf("received %d unordered", len(got))
			}
		}
		return fmt.Sprintf("received %d ordered", len(got))
	case len(f) == 1 && f[0] == "stats":
		var st Stats
		if tr != nil {
			st = tr.Stats()
		}
		b, _ := json.Marshal(st)
		return string(b)
	case len(f) == 2 && f[0] == "stop" && tr != nil:
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(arg(1))*time.Millisecond)
		defer cancel()
		if err := tr.Stop(ctx); err != nil {
			return "error " + err.Error()
		}
		return "stopped"
	case len(f) == 5 && f[0] == "bench":
		elapsed, err := benchRoundTrips(sys, actor.NewPID(f[1], f[2]), arg(3), arg(4))
		if err != nil {
			return "error " + err.Error()
		}
		return fmt.Sprintf("bench %d", elapsed.Nanoseconds())
	}
	return "error unknown command " + strings.Join(f, " ")
}

// requestOnce sends ListActors to pid and waits for the reply.
func requestOnce(sys *actor.ActorSystem, pid *actor.PID, timeout time.Duration) (*pb.ListActorsReply, error) {
	res, err := sys.Root.RequestFuture(pid, &pb.ListActors{}, timeout).Result()
	if err != nil {
		return nil, err
	}
	reply, ok := res.(*pb.ListActorsReply)
	if !ok {
		return nil, fmt.Errorf("reply %T", res)
	}
	return reply, nil
}

// benchRoundTrips runs n request/response round trips to pid from c
// workers, each waiting for its reply before the next request.
func benchRoundTrips(sys *actor.ActorSystem, pid *actor.PID, n, c int) (time.Duration, error) {
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for i := w; i < n; i += c {
				if _, err := requestOnce(sys, pid, 10*time.Second); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), first
}

// peerProc is a running peer process.
type peerProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	exit   error
	// addr is the peer's node address, listen its listen address.
	addr, listen string
}

// startPeer starts a peer process and waits until it is ready. It is
// stopped when the test ends; a data race in it fails the test.
func startPeer(t testing.TB, spec peerSpec) *peerProc {
	t.Helper()
	return startPeers(t, spec)[0]
}

// startPeers starts peer processes at once and waits until all are ready.
func startPeers(t testing.TB, specs ...peerSpec) []*peerProc {
	t.Helper()
	peers := make([]*peerProc, len(specs))
	for i, spec := range specs {
		peers[i] = launchPeer(t, spec)
	}
	for _, p := range peers {
		first := p.next(60 * time.Second)
		f := strings.Fields(first)
		if len(f) != 3 || f[0] != "ready" {
			t.Fatalf("peer did not start: %q\n%s", first, p.stderr)
		}
		p.addr, p.listen = f[1], f[2]
	}
	return peers
}

// launchPeer starts a peer process; its first line says whether it is
// ready.
func launchPeer(t testing.TB, spec peerSpec) *peerProc {
	t.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+string(js))
	p := &peerProc{t: t, cmd: cmd, lines: make(chan string, 16), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	var stdout io.ReadCloser
	p.stdin, stdout = nodeproc.StartPiped(t, cmd)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.exit = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.close)
	return p
}

// next returns the peer's next line, or "" when it exits or after timeout.
func (p *peerProc) next(timeout time.Duration) string {
	select {
	case line, ok := <-p.lines:
		if !ok {
			return ""
		}
		return line
	case <-time.After(timeout):
		return ""
	}
}

// do sends a command and returns the peer's answer.
func (p *peerProc) do(timeout time.Duration, format string, args ...any) string {
	p.t.Helper()
	p.ask(format, args...)
	return p.answer(timeout)
}

// ask sends a command without waiting for the answer, so that several
// peers can work at once.
func (p *peerProc) ask(format string, args ...any) {
	p.t.Helper()
	cmd := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(p.stdin, cmd); err != nil {
		p.t.Fatalf("peer %s: %v\n%s", cmd, err, p.stderr)
	}
}

// answer returns the answer to the oldest command not answered yet.
func (p *peerProc) answer(timeout time.Duration) string {
	p.t.Helper()
	line := p.next(timeout)
	if line == "" {
		p.t.Fatalf("peer gave no answer within %v\n%s", timeout, p.stderr)
	}
	return line
}

// stats returns the peer's transport counters.
func (p *peerProc) stats() Stats {
	p.t.Helper()
	var st Stats
	if err := json.Unmarshal([]byte(p.do(10*time.Second, "stats")), &st); err != nil {
		p.t.Fatalf("peer stats: %v", err)
	}
	return st
}

// close ends the peer: it exits when its stdin closes.
func (p *peerProc) close() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	var exit *exec.ExitError
	if strings.Contains(p.stderr.String(), "DATA RACE") || errors.As(p.exit, &exit) && exit.ExitCode() == 66 {
		p.t.Errorf("data race in peer process:\n%s", p.stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
