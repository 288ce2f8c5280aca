package membership

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// childEnv names the environment variable that turns the test binary into
// a member process for the multi-process tests: it holds a childSpec in
// JSON.
const childEnv = "GORAY_MEMBERSHIP_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// childSpec configures a member process.
type childSpec struct {
	NodeID string
	Token  string
	Join   []string
	Timing Timing
}

// childMsg is one line a member process writes on stdout.
type childMsg struct {
	Kind  string // "ready", "event", "busy"
	Addr  string `json:",omitempty"`
	Event string `json:",omitempty"`
	ID    string `json:",omitempty"`
	At    int64  `json:",omitempty"` // unix nanoseconds
}

// runChild runs one member until its stdin closes (the parent ended it or
// died) and reports on stdout; logs go to stderr. Commands on stdin:
// "busy N" starts N goroutines that spin on the CPU.
func runChild(specJSON string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "child spec:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := DefaultConfig()
	cfg.NodeID = spec.NodeID
	cfg.BindHost = "127.0.0.1"
	cfg.Token = spec.Token
	cfg.Join = spec.Join
	cfg.Logger = log
	cfg.Timing = spec.Timing
	cfg.Meta = Meta{ActorAddr: "127.0.0.1:1", Role: RoleWorker, Version: "test"}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	c, err := Start(ctx, cfg)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 1
	}
	var outMu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	send := func(m childMsg) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = enc.Encode(m)
	}
	go func() {
		for ev := range c.Events() {
			send(childMsg{Kind: "event", Event: ev.Kind.String(), ID: ev.Member.ID(), At: ev.At.UnixNano()})
		}
	}()
	send(childMsg{Kind: "ready", Addr: c.Local().Addr.String(), ID: spec.NodeID})

	var stop atomic.Bool
	var spun atomic.Uint64
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 2 && f[0] == "busy" {
			n, _ := strconv.Atoi(f[1])
			for range n {
				go spin(&stop, &spun)
			}
			send(childMsg{Kind: "busy"})
		}
	}
	stop.Store(true)
	_ = c.Shutdown()
	return 0
}

// spin keeps one CPU busy until stop is set.
func spin(stop *atomic.Bool, spun *atomic.Uint64) {
	x := uint64(1)
	for i := 0; ; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		if i%(1<<20) == 0 && stop.Load() {
			spun.Add(x)
			return
		}
	}
}
