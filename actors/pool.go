package actors

import (
	"sync"
	"sync/atomic"
)

// DefaultThroughput is how many messages an actor processes before its
// goroutine yields to others (protoactor's default).
const DefaultThroughput = 300

// Pool runs functions on reused goroutines. Go starts a fresh goroutine with
// a small stack, and every task or mailbox run that goes deeper than it grows
// the stack by copying; a goroutine from the pool keeps the stack it grew.
// At most MaxIdle goroutines wait for work; more exit when they finish, and
// all exit when the pool is closed.
type Pool struct {
	work      chan func()
	done      chan struct{}
	closeOnce sync.Once
	idle      atomic.Int32
	maxIdle   int32
}

// NewPool returns a pool that keeps up to maxIdle goroutines waiting.
func NewPool(maxIdle int) *Pool {
	return &Pool{work: make(chan func()), done: make(chan struct{}), maxIdle: int32(maxIdle)}
}

// Go runs fn on an idle pooled goroutine, or on a new one that then joins
// the pool. It never blocks.
func (p *Pool) Go(fn func()) {
	select {
	case p.work <- fn:
	default:
		go p.worker(fn)
	}
}

func (p *Pool) worker(fn func()) {
	for {
		fn()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		select {
		case fn = <-p.work:
			p.idle.Add(-1)
		case <-p.done:
			p.idle.Add(-1)
			return
		}
	}
}

// Idle returns how many goroutines wait for work.
func (p *Pool) Idle() int { return int(p.idle.Load()) }

// Close makes idle goroutines exit; running functions finish first.
func (p *Pool) Close() { p.closeOnce.Do(func() { close(p.done) }) }

// Dispatcher schedules actor mailboxes on a Pool (a protoactor Dispatcher).
type Dispatcher struct{ Pool *Pool }

// Schedule implements actor.Dispatcher.
func (d Dispatcher) Schedule(fn func()) { d.Pool.Go(fn) }

// Throughput implements actor.Dispatcher.
func (d Dispatcher) Throughput() int { return DefaultThroughput }

// Handoff is the Dispatcher of one actor whose handlers start work that
// must run off its mailbox (user code). After hands that work to the
// goroutine running the mailbox, to run once the mailbox run ends: the work
// runs off the mailbox, which is free for the next message at once, yet no
// other goroutine is woken for it.
type Handoff struct {
	pool *Pool
	// mailbox is the run protoactor schedules; it is the same function
	// each time, and at most one run is scheduled at once.
	mailbox func()
	run     func()

	mu   sync.Mutex
	next func()
}

// NewHandoff returns a Handoff dispatching on pool.
func NewHandoff(pool *Pool) *Handoff {
	h := &Handoff{pool: pool}
	h.run = func() {
		h.mailbox()
		h.mu.Lock()
		f := h.next
		h.next = nil
		h.mu.Unlock()
		if f != nil {
			f()
		}
	}
	return h
}

// Schedule implements actor.Dispatcher.
func (h *Handoff) Schedule(fn func()) {
	h.mailbox = fn
	h.pool.Go(h.run)
}

// Throughput implements actor.Dispatcher.
func (h *Handoff) Throughput() int { return DefaultThroughput }

// After runs f on the goroutine of the current mailbox run once that run
// ends, or on a pooled goroutine when work is already handed over. Call it
// from the actor's handlers only.
func (h *Handoff) After(f func()) {
	h.mu.Lock()
	if h.next == nil {
		h.next = f
		f = nil
	}
	h.mu.Unlock()
	if f != nil {
		h.pool.Go(f)
	}
}
