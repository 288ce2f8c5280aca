package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	pb "github.com/goray-dev/goray/proto"
)

// Causes with which a host cancels a call's context.
var (
	// errCallCancelled: the caller cancelled the call; whoever runs it
	// answers CANCELLED.
	errCallCancelled = errors.New("call cancelled")
	// errTakenBack: the host took the call back (the actor was killed or
	// failed): the host answered it or will run it again, so the goroutine
	// that ran it must not answer.
	errTakenBack = errors.New("call taken back by its host")
)

// maxRun bounds how many calls of a sequential actor one goroutine runs
// before reporting back to its host.
const maxRun = 256

type hostState uint8

const (
	hostStarting   hostState = iota // the constructor runs
	hostAlive                       // calls run
	hostRestarting                  // waiting out the backoff before a restart
	hostDead
)

// hostCall is one call the host accepted, with the context only the host
// cancels.
type hostCall struct {
	msg    *pb.ActorCall
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// hostRun is a batch of calls handed to one goroutine.
type hostRun struct {
	id    uint64
	calls []*hostCall
}

// Messages a host sends itself from the goroutines it runs user code on.
type (
	ctorDone struct {
		incarnation uint64
		inst        any
		perr        *pb.Error
	}
	runDone struct {
		incarnation uint64
		run         *hostRun
		ran         int       // calls of the run that finished
		failure     *pb.Error // set when call ran failed the actor (panic or Goexit)
	}
	restartNow struct{ incarnation uint64 }
)

// Host is the actor that runs one user actor. It builds the instance with
// the registered constructor and runs method calls in arrival order, or up to
// max_concurrency at once. User code never runs on the host's mailbox: the
// host hands it to goroutines it owns and learns of completion by message,
// so cancel and kill are messages that cancel contexts only the host holds.
// A method that panics or exits its goroutine fails the actor: the host
// restarts it (the constructor runs again) after a backoff while its restart
// budget lasts, then the actor is dead, every call it still holds is
// answered with ACTOR_DIED, and its parent (the raylet, which hears of
// every state change) stops the host.
type Host struct {
	env    *Env
	spec   *pb.ActorSpec
	typ    *ActorType
	gpuIDs []int32
	policy RestartPolicy
	self   *actor.PID

	state       hostState
	restarts    int32
	incarnation uint64
	inst        any
	// endLife cancels the context of the current incarnation, which its
	// constructor received: it ends when the actor fails, dies or stops.
	endLife context.CancelCauseFunc
	death   *pb.Error

	gate    *stopGate
	queue   []*hostCall // accepted, not yet handed to a goroutine; FIFO
	runs    map[uint64]*hostRun
	nextRun uint64
	limit   int // runs at once: 1 for a sequential actor
}

// NewHost returns the props of a host for the actor of spec, with the GPU
// devices its raylet assigned.
func NewHost(env *Env, typ *ActorType, spec *pb.ActorSpec, gpuIDs []int32) *actor.Props {
	gate := &stopGate{system: env.System}
	return env.Props(func() actor.Actor {
		limit := 1
		if spec.MaxConcurrency > 1 {
			limit = int(spec.MaxConcurrency)
		}
		return &Host{
			env: env, spec: spec, typ: typ, gpuIDs: gpuIDs, limit: limit, gate: gate,
			policy: RestartPolicy{MaxRestarts: spec.MaxRestarts, InitialBackoff: env.RestartBackoff},
			runs:   map[uint64]*hostRun{},
		}
	}, env.Guard("host", hostPanicked), gate.mailbox())
}

// hostPanicked fails the user actor when the host itself panicked (a goray
// defect): its state can no longer be trusted.
func hostPanicked(c actor.Context, reason any) {
	if h, ok := c.Actor().(*Host); ok {
		h.die(c, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: fmt.Sprintf("actor host failed: %v", reason), NodeId: h.env.NodeID})
	}
}

// Receive implements actor.Actor.
func (h *Host) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		h.self = c.Self()
		h.construct(c)
	case *pb.ActorCall:
		h.accept(c, m)
	case *pb.CancelTask:
		h.cancelCall(m.ReturnId)
	case *pb.KillActor:
		if m.NoRestart {
			h.die(c, h.diedError("killed"))
		} else {
			h.fail(c, "killed with restart allowed")
		}
		if c.Sender() != nil {
			c.Respond(&pb.KillActorReply{})
		}
	case ctorDone:
		h.constructed(c, m)
	case runDone:
		h.ran(c, m)
	case restartNow:
		if m.incarnation == h.incarnation && h.state == hostRestarting {
			h.construct(c)
		}
	case *actor.Stopping:
		if h.state != hostDead {
			h.die(c, h.diedError("node stopping"))
		}
	case *actor.Stopped:
		h.gate.stopped.Store(true)
	}
}

func (h *Host) report(c actor.Context, state pb.ActorState, perr *pb.Error) {
	perr = ClipError(perr)
	c.Send(c.Parent(), &pb.ActorStateChanged{
		ActorId: h.spec.ActorId, State: state, Pid: WirePID(h.self), NodeId: h.env.NodeID,
		NumRestarts: h.restarts, Error: perr,
	})
}

func (h *Host) diedError(cause string) *pb.Error {
	return &pb.Error{
		Kind:     pb.ErrorKind_ERROR_KIND_ACTOR_DIED,
		Message:  fmt.Sprintf("actor %s (%x) is dead: %s", h.spec.TypeName, h.spec.ActorId, cause),
		Function: h.spec.TypeName, NodeId: h.env.NodeID,
	}
}

// construct runs the constructor on a goroutine of its own.
func (h *Host) construct(c actor.Context) {
	h.state = hostStarting
	h.incarnation++
	inc, self := h.incarnation, h.self
	ctx, cancel := context.WithCancelCause(context.Background())
	h.endLife = cancel
	uctx := h.env.WrapContext(ctx, CallInfo{ActorID: h.spec.ActorId, NodeID: h.env.NodeID, GPUIDs: h.gpuIDs})
	h.env.Pool.Go(func() {
		done := ctorDone{incarnation: inc}
		defer func() { h.env.System.Root.Send(self, done) }()
		// A constructor that exits its goroutine leaves this error behind.
		done.perr = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_PANIC, Message: "constructor exited its goroutine (runtime.Goexit)",
			Function: h.spec.TypeName, NodeId: h.env.NodeID}
		_, done.perr = Invoke(h.spec.TypeName, h.env.NodeID, func() ([]byte, error) {
			args, err := h.env.FetchArgs(ctx, h.spec.Args)
			if err != nil {
				return nil, err
			}
			if err := CheckArgs("constructor of "+h.spec.TypeName, h.typ.NumArgs, len(args)); err != nil {
				return nil, err
			}
			done.inst, err = h.typ.New(uctx, args)
			return nil, err
		})
	})
}

func (h *Host) constructed(c actor.Context, m ctorDone) {
	if m.incarnation != h.incarnation || h.state != hostStarting {
		return // a constructor the actor no longer waits for
	}
	if m.perr != nil {
		// Ray: a constructor that fails makes the actor dead for good.
		m.perr.Message = "constructor failed: " + m.perr.Message
		h.die(c, m.perr)
		return
	}
	h.inst, h.state = m.inst, hostAlive
	h.report(c, pb.ActorState_ACTOR_STATE_ALIVE, nil)
	h.dispatch()
}

// accept takes a call: a dead actor answers at once, a live one queues it.
func (h *Host) accept(c actor.Context, m *pb.ActorCall) {
	if h.state == hostDead {
		h.env.Deliver(m.Owner, m.ReturnId, nil, h.callError(h.death, m.Method))
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	h.queue = append(h.queue, &hostCall{msg: m, ctx: ctx, cancel: cancel})
	h.dispatch()
}

// callError is the death of the actor as seen by one call.
func (h *Host) callError(death *pb.Error, method string) *pb.Error {
	return &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: death.Message,
		Function: h.spec.TypeName + "." + method, NodeId: h.env.NodeID}
}

// dispatch hands queued calls to goroutines while the actor has room.
func (h *Host) dispatch() {
	for h.state == hostAlive && len(h.queue) > 0 && len(h.runs) < h.limit {
		n := 1
		if h.limit == 1 {
			n = min(len(h.queue), maxRun)
		}
		h.nextRun++
		run := &hostRun{id: h.nextRun, calls: make([]*hostCall, n)}
		copy(run.calls, h.queue)
		clear(h.queue[:n])
		h.queue = h.queue[n:]
		if len(h.queue) == 0 {
			h.queue = nil
		}
		h.runs[run.id] = run
		inst, inc := h.inst, h.incarnation
		h.env.Pool.Go(func() { h.work(run, inst, inc) })
	}
}

// work runs a batch of calls on a goroutine the host owns. It reads only
// what is immutable for the host's lifetime and reports by message.
func (h *Host) work(run *hostRun, inst any, incarnation uint64) {
	done := runDone{incarnation: incarnation, run: run}
	exited := true
	defer func() {
		if exited {
			call := run.calls[done.ran].msg
			done.failure = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED,
				Message:  fmt.Sprintf("method %s exited its goroutine (runtime.Goexit): the actor failed", call.Method),
				Function: h.spec.TypeName + "." + call.Method, NodeId: h.env.NodeID}
		}
		h.env.System.Root.Send(h.self, done)
	}()
	for ; done.ran < len(run.calls); done.ran++ {
		if perr := h.runCall(run.calls[done.ran], inst); perr != nil {
			done.failure = perr
			break
		}
	}
	exited = false
}

// runCall runs one call and answers it, unless the host took it back. A
// panic is returned instead: the host decides whether the call runs again.
func (h *Host) runCall(hc *hostCall, inst any) (panicked *pb.Error) {
	call := hc.msg
	defer hc.cancel(nil)
	name := h.spec.TypeName + "." + call.Method
	data, perr := h.invoke(hc, inst, name)
	switch context.Cause(hc.ctx) {
	case errTakenBack:
		return nil
	case errCallCancelled:
		data, perr = nil, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED, Message: "call cancelled by its caller", Function: name, NodeId: h.env.NodeID}
	}
	if perr != nil && perr.Kind == pb.ErrorKind_ERROR_KIND_PANIC {
		return perr
	}
	h.env.Deliver(call.Owner, call.ReturnId, data, perr)
	return nil
}

func (h *Host) invoke(hc *hostCall, inst any, name string) ([]byte, *pb.Error) {
	call := hc.msg
	if hc.ctx.Err() != nil {
		return nil, nil // cancelled before it began; runCall answers
	}
	m, err := h.typ.Method(call.Method)
	if err != nil {
		return nil, ErrorOf(pb.ErrorKind_ERROR_KIND_NOT_FOUND, err, name, h.env.NodeID)
	}
	if err := CheckArgs("method "+name, m.NumArgs, len(call.Args)); err != nil {
		return nil, ErrorOf(pb.ErrorKind_ERROR_KIND_INVALID, err, name, h.env.NodeID)
	}
	args, err := h.env.FetchArgs(hc.ctx, call.Args)
	if err != nil {
		return nil, ErrorOf(argErrorKind(err), err, name, h.env.NodeID)
	}
	uctx := h.env.WrapContext(hc.ctx, CallInfo{ActorID: call.ActorId, NodeID: h.env.NodeID, GPUIDs: h.gpuIDs})
	return Invoke(name, h.env.NodeID, func() ([]byte, error) { return m.Invoke(uctx, inst, args) })
}

// ran takes a run back from its goroutine.
func (h *Host) ran(c actor.Context, m runDone) {
	if m.incarnation != h.incarnation || h.runs[m.run.id] != m.run {
		return // a run the host took back when the actor failed
	}
	delete(h.runs, m.run.id)
	if m.failure == nil {
		h.dispatch()
		return
	}
	// The call that failed runs again if it may; the calls of its run that
	// did not start go back to the head of the queue, in order.
	failed := m.run.calls[m.ran]
	var again []*hostCall
	if retry := h.retry(failed, m.failure); retry != nil {
		again = append(again, retry)
	}
	again = append(again, m.run.calls[m.ran+1:]...)
	h.queue = append(again, h.queue...)
	h.fail(c, m.failure.Message)
}

// retry returns the call to run again after a failure, or answers it with
// the failure when its retries are used up.
func (h *Host) retry(hc *hostCall, failure *pb.Error) *hostCall {
	call := hc.msg
	if r := h.spec.MaxTaskRetries; r < 0 || call.Attempt < r {
		again := &pb.ActorCall{ActorId: call.ActorId, Method: call.Method, Args: call.Args, ReturnId: call.ReturnId,
			Owner: call.Owner, Attempt: call.Attempt + 1}
		ctx, cancel := context.WithCancelCause(context.Background())
		return &hostCall{msg: again, ctx: ctx, cancel: cancel}
	}
	h.env.Deliver(call.Owner, call.ReturnId, nil, failure)
	return nil
}

// fail handles a failure of the actor: the calls still running are taken
// back (answered, or queued again when they may retry), and the actor
// restarts after its backoff, or dies once its restarts are used up.
func (h *Host) fail(c actor.Context, reason string) {
	if h.state == hostDead {
		return
	}
	h.endIncarnation()
	var again []*hostCall
	for id, run := range h.runs {
		for _, hc := range run.calls {
			hc.cancel(errTakenBack)
			if retry := h.retry(hc, h.callError(&pb.Error{Message: "the actor failed while the call ran: " + reason}, hc.msg.Method)); retry != nil {
				again = append(again, retry)
			}
		}
		delete(h.runs, id)
	}
	h.queue = append(again, h.queue...)
	h.inst = nil
	ok, delay := h.policy.Next(h.restarts)
	if !ok {
		h.die(c, h.diedError(fmt.Sprintf("it failed and used up its %d restarts: %s", h.policy.MaxRestarts, reason)))
		return
	}
	h.restarts++
	h.state = hostRestarting
	h.incarnation++ // reports of the failed incarnation are stale from now on
	h.report(c, pb.ActorState_ACTOR_STATE_RESTARTING, nil)
	scheduler.NewTimerScheduler(c).SendOnce(delay, h.self, restartNow{incarnation: h.incarnation})
}

// die ends the actor for good: every call it holds is answered with its
// death and the raylet hears of it. The raylet then stops the host, once
// the calls already in its mailbox are answered.
func (h *Host) die(c actor.Context, death *pb.Error) {
	if h.state == hostDead {
		return
	}
	h.state, h.death, h.inst = hostDead, death, nil
	h.endIncarnation()
	for id, run := range h.runs {
		for _, hc := range run.calls {
			hc.cancel(errTakenBack)
			h.env.Deliver(hc.msg.Owner, hc.msg.ReturnId, nil, h.callError(death, hc.msg.Method))
		}
		delete(h.runs, id)
	}
	for _, hc := range h.queue {
		hc.cancel(errTakenBack)
		h.env.Deliver(hc.msg.Owner, hc.msg.ReturnId, nil, h.callError(death, hc.msg.Method))
	}
	h.queue = nil
	h.report(c, pb.ActorState_ACTOR_STATE_DEAD, death)
}

// endIncarnation cancels the context the constructor of the current
// incarnation received.
func (h *Host) endIncarnation() {
	if h.endLife != nil {
		h.endLife(errTakenBack)
		h.endLife = nil
	}
}

// cancelCall cancels the call that returns returnID: a queued call is
// answered at once; a running one has its context cancelled and is answered
// by the goroutine running it.
func (h *Host) cancelCall(returnID []byte) {
	for i, hc := range h.queue {
		if string(hc.msg.ReturnId) == string(returnID) {
			hc.cancel(errTakenBack)
			h.queue = append(h.queue[:i], h.queue[i+1:]...)
			h.env.Deliver(hc.msg.Owner, hc.msg.ReturnId, nil, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED,
				Message: "call cancelled before it ran", Function: h.spec.TypeName + "." + hc.msg.Method, NodeId: h.env.NodeID})
			return
		}
	}
	for _, run := range h.runs {
		for _, hc := range run.calls {
			if string(hc.msg.ReturnId) == string(returnID) {
				hc.cancel(errCallCancelled)
				return
			}
		}
	}
}
