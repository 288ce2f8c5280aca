package actors

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// CallInfo describes the task or actor call a context belongs to.
type CallInfo struct {
	// Incarnation is what the call shares with the other calls of its actor
	// incarnation (or, for a task, with nothing): never changed once set.
	*Incarnation
	TaskID []byte
	// Owner is the core the call's result goes to (nil for a constructor).
	Owner *pb.Pid
	// Contained is set by the function's invoker to the references its
	// result holds, each pinned at its owner for Owner: they travel with
	// the result.
	Contained []*pb.Contained
	// NumReturns is how many values the caller expects the function to
	// return (Ray's num_returns): 1 but for functions registered as
	// returning several.
	NumReturns int
	// Extra is set by the invoker of a function returning several values:
	// every value but the first, which the invoker returns as usual.
	Extra []Return
	// StreamBackpressure is, for a generator task or method, how many
	// items it may yield ahead of its consumer (0: no limit).
	StreamBackpressure int64
	// Exit is set by an actor method (on its own goroutine) that ends its
	// actor: the host answers the call, then the actor dies, answering
	// the calls still queued with ACTOR_DIED.
	Exit bool
}

// Incarnation is where and as what calls run: a task, or one incarnation
// of an actor, whose calls all point to it.
type Incarnation struct {
	ActorID []byte
	// JobID is the job the call belongs to: what it submits belongs to the
	// same job.
	JobID  string
	NodeID string
	GPUIDs []int32
	// Resources is what the task or actor was scheduled with (fixed-point,
	// as on the wire).
	Resources map[string]int64
	// Restarts is how often the actor restarted before this incarnation.
	Restarts int32
	// Raylet is where a blocked task reports that it waits (nil for actor calls).
	Raylet *actor.PID
	// Scheduling is how the task or actor was placed: work it submits
	// without options of its own stays in its placement group when it
	// asked to capture child tasks.
	Scheduling *pb.Scheduling
}

// Return is one further value a call returns, encoded, with the
// references it holds (pinned for the call's owner).
type Return struct {
	Data      []byte
	Contained []*pb.Contained
}

type callInfoKey struct{}

// callCtxKey finds the call's own context among a context's values.
type callCtxKey struct{}

// cancelCause is the cause with which a CancelTask cancels its call.
func cancelCause(m *pb.CancelTask) error {
	if m.NotRecursive {
		return errCallCancelledAlone
	}
	return errCallCancelled
}

// InCall reports whether ctx is a call's context (OnCancel would then
// register), so that callers outside calls make no closure for it.
func InCall(ctx context.Context) bool {
	_, ok := ctx.Value(callCtxKey{}).(*callCtx)
	return ok
}

// OnCancel runs f once the call that ctx belongs to is cancelled by its
// caller with a recursive cancel (not when it returns, fails or is taken
// back, nor when a context derived from it ends). The returned function
// stops it; outside a call, OnCancel does nothing and returns nil.
func OnCancel(ctx context.Context, f func()) (stop func()) {
	c, _ := ctx.Value(callCtxKey{}).(*callCtx)
	if c == nil {
		return nil
	}
	return c.afterCancel(f)
}

// CallInfoOf returns the call that ctx belongs to, or nil outside a call.
func CallInfoOf(ctx context.Context) *CallInfo {
	info, _ := ctx.Value(callInfoKey{}).(*CallInfo)
	return info
}

// callCtx is the context user code runs with for one call or incarnation.
// Only the actor running the call cancels it, with a cause that tells the
// actor who answers the call. Its values come from the node's base context
// (the runtime, for nested calls) and its own CallInfo. It is embedded in
// the actor's record of the call, so a call costs no context allocations;
// the done channel is made only if user code asks for it.
type callCtx struct {
	base context.Context
	info *CallInfo

	mu     sync.Mutex
	done   chan struct{}
	cause  error
	afters []*afterCall
}

type afterCall struct {
	f       func()
	stopped bool
	// onlyCancel: f runs only for a recursive cancel by the caller.
	onlyCancel bool
}

// closedChan is the done channel of a context cancelled before anyone asked.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *callCtx) init(base context.Context, info *CallInfo) {
	c.base, c.info = base, info
}

// Deadline implements context.Context: a call has none of its own.
func (c *callCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context.
func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.cause != nil {
			return closedChan
		}
		c.done = make(chan struct{})
	}
	return c.done
}

// Err implements context.Context.
func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause == nil {
		return nil
	}
	return context.Canceled
}

// Value implements context.Context.
func (c *callCtx) Value(key any) any {
	switch key.(type) {
	case callInfoKey:
		return c.info
	case callCtxKey:
		return c
	}
	return c.base.Value(key)
}

// AfterFunc lets the context package watch this context without a
// goroutine of its own (for contexts user code derives from it).
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.cause != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &afterCall{f: f}
	c.afters = append(c.afters, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.stopped || c.cause != nil {
			return false
		}
		a.stopped = true
		return true
	}
}

// afterCancel runs f once the context is cancelled with errCallCancelled;
// the returned function stops it, and drops it from the context so that a
// long call submitting many children does not accumulate them.
func (c *callCtx) afterCancel(f func()) (stop func()) {
	c.mu.Lock()
	if c.cause != nil {
		cause := c.cause
		c.mu.Unlock()
		if cause == errCallCancelled {
			go f()
		}
		return func() {}
	}
	a := &afterCall{f: f, onlyCancel: true}
	c.afters = append(c.afters, a)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.stopped || c.cause != nil {
			return
		}
		a.stopped = true
		if i := slices.Index(c.afters, a); i >= 0 {
			c.afters = slices.Delete(c.afters, i, i+1)
		}
	}
}

// cancel cancels the context with cause; the first cause wins. It reports
// whether this call cancelled it.
func (c *callCtx) cancel(cause error) bool {
	c.mu.Lock()
	if c.cause != nil {
		c.mu.Unlock()
		return false
	}
	c.cause = cause
	if c.done != nil {
		close(c.done)
	}
	var fns []func()
	for _, a := range c.afters {
		if !a.stopped {
			a.stopped = true
			if !a.onlyCancel || cause == errCallCancelled {
				fns = append(fns, a.f)
			}
		}
	}
	c.afters = nil
	c.mu.Unlock()
	for _, f := range fns {
		go f()
	}
	return true
}

// causeOf returns why the context was cancelled, or nil.
func (c *callCtx) causeOf() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}
