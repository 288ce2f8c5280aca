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

	rejected logBudget
}

// Middleware returns the guard as a protoactor receiver middleware.
func (g *Guard) Middleware() actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if v, ok := env.Message.(pb.Validator); ok {
				if err := v.Validate(); err != nil {
					g.reject(c, env, err)
					return
				}
			}
			defer func() {
				if r := recover(); r != nil {
					g.panicked(c, env, r, debug.Stack())
				}
			}()
			next(c, env)
		}
	}
}

// reject answers a malformed message: the sender of a request gets the
// error; a call or task that names its owner has its result failed.
func (g *Guard) reject(c actor.ReceiverContext, env *actor.MessageEnvelope, err error) {
	perr := &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_INVALID, Message: fmt.Sprintf("%s refused %T: %v", g.Component, env.Message, err)}
	if g.rejected.take() {
		g.Logger.Warn("goray: refused malformed message", "component", g.Component, "type", fmt.Sprintf("%T", env.Message), "error", err)
	}
	answer(c, env, perr)
}

// answer sends perr to the sender of a request, or fails the result of a
// call or task that names its owner.
func answer(c actor.ReceiverContext, env *actor.MessageEnvelope, perr *pb.Error) {
	if env.Sender != nil {
		c.ActorSystem().Root.Send(env.Sender, perr)
		return
	}
	var owner *pb.Pid
	var ret []byte
	switch m := env.Message.(type) {
	case *pb.TaskSpec:
		owner, ret, perr.Function = m.Owner, m.ReturnId, m.Function
	case *pb.ActorCall:
		owner, ret, perr.Function = m.Owner, m.ReturnId, m.Method
	}
	if owner != nil && owner.Id != "" && len(ret) == pb.IDLen {
		c.ActorSystem().Root.Send(PID(owner), &pb.Result{ObjectId: ret, Error: perr})
	}
}

func (g *Guard) panicked(c actor.ReceiverContext, env *actor.MessageEnvelope, reason any, stack []byte) {
	g.Logger.Error("goray: actor panicked", "component", g.Component, "self", c.Self(),
		"message", fmt.Sprintf("%T", env.Message), "panic", fmt.Sprint(reason), "stack", string(stack))
	answer(c, env, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: fmt.Sprintf("%s panicked handling %T: %v", g.Component, env.Message, reason)})
	if ac, ok := c.(actor.Context); ok && g.OnPanic != nil {
		g.OnPanic(ac, reason)
	}
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
