package actors

import (
	"bytes"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// goroutineID parses the current goroutine's ID from its stack header.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, err := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// poolWorkers counts the goroutines of p's workers, and how many of them
// are idle (waiting in the worker's select for work).
func poolWorkers(p *Pool) (total, idle int) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	frame := fmt.Sprintf("actors.(*Pool).worker(%p", p)
	for _, g := range strings.Split(string(buf), "\n\n") {
		// The worker frame sits under the frames of the function it runs,
		// so an idle worker's stack starts with the worker frame itself.
		lines := strings.SplitN(g, "\n", 3)
		if !strings.Contains(g, frame) {
			continue
		}
		total++
		if len(lines) > 1 && strings.Contains(lines[0], "[select") && strings.Contains(lines[1], frame) {
			idle++
		}
	}
	return total, idle
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolRunsEveryFunction(t *testing.T) {
	tests := []struct {
		name       string
		calls      int
		concurrent bool
	}{
		{"sequential", 100, false},
		{"concurrent", 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(4)
			defer p.Close()
			var sum atomic.Int64
			var wg sync.WaitGroup
			for i := range tt.calls {
				wg.Add(1)
				p.Go(func() {
					defer wg.Done()
					sum.Add(int64(i))
				})
				if !tt.concurrent {
					wg.Wait()
				}
			}
			wg.Wait()
			if want := int64(tt.calls * (tt.calls - 1) / 2); sum.Load() != want {
				t.Errorf("sum = %d, want %d", sum.Load(), want)
			}
		})
	}
}

func TestPoolGoNeverBlocks(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	release := make(chan struct{})
	var started sync.WaitGroup
	const n = 8
	started.Add(n)
	// Every worker is busy; Go must still start each function at once.
	for range n {
		p.Go(func() {
			started.Done()
			<-release
		})
	}
	done := make(chan struct{})
	go func() { started.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("functions did not all start while the others were blocked")
	}
	close(release)
}

func TestPoolReusesIdleGoroutines(t *testing.T) {
	p := NewPool(4)
	defer p.Close()
	ids := map[uint64]int{}
	for i := range 50 {
		got := make(chan uint64, 1)
		p.Go(func() { got <- goroutineID() })
		ids[<-got]++
		// Hand the next call over only once the worker waits for it.
		waitFor(t, fmt.Sprintf("worker idle after call %d", i), 10*time.Second, func() bool {
			_, idle := poolWorkers(p)
			return idle == 1
		})
	}
	if len(ids) != 1 {
		t.Errorf("50 sequential calls ran on %d goroutines, want 1 reused goroutine", len(ids))
	}
	if total, _ := poolWorkers(p); total != 1 || p.Idle() != 1 {
		t.Errorf("pool has %d workers, Idle() = %d; want 1 and 1", total, p.Idle())
	}
}

func TestPoolKeepsAtMostMaxIdle(t *testing.T) {
	tests := []struct {
		name     string
		maxIdle  int
		close    bool
		wantIdle int
	}{
		{"extra workers exit", 2, false, 2},
		{"no idle workers", 0, false, 0},
		{"close", 8, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(tt.maxIdle)
			defer p.Close()
			const n = 5
			release := make(chan struct{})
			var started sync.WaitGroup
			started.Add(n)
			for range n {
				p.Go(func() { started.Done(); <-release })
			}
			started.Wait()
			if total, _ := poolWorkers(p); total != n {
				t.Fatalf("%d workers while %d functions run", total, n)
			}
			close(release)
			if tt.close {
				waitFor(t, "all workers idle", 10*time.Second, func() bool {
					_, idle := poolWorkers(p)
					return idle == n
				})
				p.Close()
				p.Close() // idempotent
			}
			waitFor(t, fmt.Sprintf("%d workers left", tt.wantIdle), 10*time.Second, func() bool {
				total, idle := poolWorkers(p)
				return total == tt.wantIdle && idle == tt.wantIdle
			})
			if p.Idle() != tt.wantIdle {
				t.Errorf("Idle() = %d, want %d", p.Idle(), tt.wantIdle)
			}
		})
	}
}

func TestPoolCloseLetsRunningFunctionFinish(t *testing.T) {
	p := NewPool(4)
	release := make(chan struct{})
	finished := make(chan struct{})
	started := make(chan struct{})
	p.Go(func() {
		close(started)
		<-release
		close(finished)
	})
	<-started
	p.Close()
	close(release)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("a running function did not finish after Close")
	}
	waitFor(t, "worker to exit after its function", 10*time.Second, func() bool {
		total, _ := poolWorkers(p)
		return total == 0
	})

	// Go after Close still runs the function, on a goroutine that exits.
	ran := make(chan struct{})
	p.Go(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Go after Close did not run the function")
	}
	waitFor(t, "late worker to exit", 10*time.Second, func() bool {
		total, _ := poolWorkers(p)
		return total == 0
	})
}

// echo answers every string with itself, to check actors run on a Dispatcher.
type echo struct{ gids chan uint64 }

func (e *echo) Receive(c actor.Context) {
	if s, ok := c.Message().(string); ok {
		e.gids <- goroutineID()
		c.Respond(s)
	}
}

func TestDispatcherRunsMailboxesOnPool(t *testing.T) {
	p := NewPool(4)
	defer p.Close()
	d := Dispatcher{Pool: p}
	if d.Throughput() != DefaultThroughput {
		t.Errorf("Throughput = %d, want %d", d.Throughput(), DefaultThroughput)
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer sys.Shutdown()
	env := &Env{System: sys, Pool: p}
	gids := make(chan uint64, 1)
	pid := sys.Root.Spawn(env.Props(func() actor.Actor { return &echo{gids: gids} }))
	res, err := sys.Root.RequestFuture(pid, "hi", 10*time.Second).Result()
	if err != nil || res != "hi" {
		t.Fatalf("reply = %v, %v", res, err)
	}
	gid := <-gids
	// The mailbox ran on one of p's workers.
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	found := false
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, fmt.Sprintf("goroutine %d ", gid)) {
			found = strings.Contains(g, fmt.Sprintf("actors.(*Pool).worker(%p", p))
		}
	}
	if !found {
		t.Errorf("the actor's message ran on goroutine %d, which is not a worker of the pool", gid)
	}
}
