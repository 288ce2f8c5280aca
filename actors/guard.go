package actors

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// Guard is the receive middleware every goray actor runs behind. It checks
// each inbound message with its Validate method before any handler sees it,
// answering a bad one with an error, and it recovers a panic in a handler:
// the panic is logged at Error with its stack, a request that caused it is
// answered with a system error, and OnPanic decides what happens to the
// actor (a system actor stops its node; a host fails its user actor). No
// goray actor is ever restarted silently by protoactor's supervision.
type Guard struct {
	// Component names the actor in logs ("gcs", "raylet", "host").
	Component string
	Logger    *slog.Logger
	// OnPanic runs after a recovered panic, on the actor's goroutine.
	OnPanic func(c actor.Context, reason any)
	// Checked says the actor hears only from actors of its own node that
	// checked each message where it entered the node (its PID never goes
	// on the wire): it skips Validate, and still recovers panics.
	Checked bool

	rejected logBudget
}

// Actor returns inner behind the guard: the receive middleware in the form
// of a decorator, which unlike a protoactor receiver middleware costs no
// envelope per message.
func (g *Guard) Actor(inner actor.Actor) actor.Actor { return guarded{g: g, inner: inner} }

type guarded struct {
	g     *Guard
	inner actor.Actor
}

// Receive implements actor.Actor.
func (a guarded) Receive(c actor.Context) {
	msg := c.Message()
	if v, ok := msg.(pb.Validator); ok && !a.g.Checked {
		if err := v.Validate(); err != nil {
			a.g.reject(c, msg, c.Sender(), err)
			return
		}
	}
	defer func() {
		if r := recover(); r != nil {
			a.g.panicked(c, msg, c.Sender(), r, debug.Stack())
		}
	}()
	a.inner.Receive(c)
}

// reject answers a malformed message: the sender of a request gets the
// error; a call or task that names its owner has its result failed.
func (g *Guard) reject(c actor.Context, msg any, sender *actor.PID, err error) {
	perr := &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_INVALID, Message: fmt.Sprintf("%s refused %T: %v", g.Component, msg, err)}
	if g.rejected.take() {
		g.Logger.Warn("goray: refused malformed message", "component", g.Component, "type", fmt.Sprintf("%T", msg), "error", err)
	}
	answer(c, msg, sender, perr)
}

// answer sends perr to the sender of a request, or fails the result of a
// call or task that names its owner.
func answer(c actor.Context, msg any, sender *actor.PID, perr *pb.Error) {
	if sender != nil {
		c.Send(sender, perr)
		return
	}
	var owner *pb.Pid
	var ret []byte
	switch m := msg.(type) {
	case *pb.TaskSpec:
		owner, ret, perr.Function = m.Owner, m.ReturnId, m.Function
	case *pb.ActorCall:
		owner, ret, perr.Function = m.Owner, m.ReturnId, m.Method
	}
	if owner != nil && owner.Id != "" && len(ret) == pb.IDLen {
		c.Send(PID(owner), &pb.Result{ObjectId: ret, Error: perr})
	}
}

func (g *Guard) panicked(c actor.Context, msg any, sender *actor.PID, reason any, stack []byte) {
	g.Logger.Error("goray: actor panicked", "component", g.Component, "self", c.Self(),
		"message", fmt.Sprintf("%T", msg), "panic", fmt.Sprint(reason), "stack", string(stack))
	// OnPanic runs before the answer, so whoever hears of the panic can
	// rely on what OnPanic did.
	if g.OnPanic != nil {
		g.OnPanic(c, reason)
	}
	answer(c, msg, sender, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: fmt.Sprintf("%s panicked handling %T: %v", g.Component, msg, reason)})
}

// logBudget lets through a burst of log lines per minute, so a flood of
// malformed messages cannot flood the log.
type logBudget struct {
	window atomic.Int64 // unix minute of the current window
	used   atomic.Int32
}

const logBurst = 10

func (b *logBudget) take() bool {
	now := time.Now().Unix() / 60
	if w := b.window.Load(); w != now && b.window.CompareAndSwap(w, now) {
		b.used.Store(0)
	}
	return b.used.Add(1) <= logBurst
}
