package actors

import (
	"sync"
	"time"
)

// DefaultThroughput is how many messages an actor processes before its
// goroutine yields to others (protoactor's default).
const DefaultThroughput = 300

// Pool runs functions on reused goroutines. Go starts a fresh goroutine with
// a small stack, and every task or mailbox run that goes deeper than it grows
// the stack by copying; a goroutine from the pool keeps the stack it grew.
// Idle goroutines exit after IdleTimeout, or when the pool is closed.
type Pool struct {
	work        chan func()
	done        chan struct{}
	closeOnce   sync.Once
	idleTimeout time.Duration
}

// NewPool returns a pool whose idle goroutines exit after idleTimeout.
func NewPool(idleTimeout time.Duration) *Pool {
	return &Pool{work: make(chan func()), done: make(chan struct{}), idleTimeout: idleTimeout}
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
	t := time.NewTimer(p.idleTimeout)
	defer t.Stop()
	for {
		fn()
		fn = nil
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(p.idleTimeout)
		select {
		case fn = <-p.work:
		case <-t.C:
			return
		case <-p.done:
			return
		}
	}
}

// Close makes idle goroutines exit; running functions finish first.
func (p *Pool) Close() { p.closeOnce.Do(func() { close(p.done) }) }

// Dispatcher schedules actor mailboxes on a Pool (a protoactor Dispatcher).
type Dispatcher struct{ Pool *Pool }

// Schedule implements actor.Dispatcher.
func (d Dispatcher) Schedule(fn func()) { d.Pool.Go(fn) }

// Throughput implements actor.Dispatcher.
func (d Dispatcher) Throughput() int { return DefaultThroughput }
