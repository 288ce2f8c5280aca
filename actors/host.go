package actors

import (
	"context"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	pb "github.com/goray-dev/goray/proto"
)

// HostControl is the part of a hosted actor that outlives one incarnation
// of its host: the restart count, death, and the handles through which a kill
// or cancel reaches a method that is running. The raylet that supervises the
// host owns it; the host reads it when it (re)starts.
type HostControl struct {
	Spec   *pb.ActorSpec
	Policy RestartPolicy
	// GPUIDs are the devices the raylet assigned (the spec is shared and
	// read only).
	GPUIDs []int32

	mu        sync.Mutex
	restarts  int32
	dead      bool
	cause     string
	current   string // return ID of the running call
	cancelRun context.CancelFunc
	cancelled map[string]struct{}
	retry     []*pb.ActorCall
}

// maxCancelled bounds the cancels a host remembers for calls not yet begun.
const maxCancelled = 4096

// NewHostControl returns the control of a new actor.
func NewHostControl(spec *pb.ActorSpec) *HostControl {
	return &HostControl{Spec: spec, Policy: RestartPolicy{MaxRestarts: spec.MaxRestarts}, GPUIDs: spec.GpuIds}
}

// Kill marks the actor dead (when noRestart) and cancels its running call.
func (c *HostControl) Kill(noRestart bool, cause string) {
	c.mu.Lock()
	if noRestart && !c.dead {
		c.dead, c.cause = true, cause
	}
	if c.cancelRun != nil {
		c.cancelRun()
	}
	c.mu.Unlock()
}

// Cancel cancels the call that returns returnID: at once if it runs, or
// before it starts.
func (c *HostControl) Cancel(returnID []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current == string(returnID) && c.cancelRun != nil {
		c.cancelRun()
		return
	}
	// A cancel may arrive after its call ran; bound what such leftovers keep.
	if c.cancelled == nil || len(c.cancelled) >= maxCancelled {
		c.cancelled = map[string]struct{}{}
	}
	c.cancelled[string(returnID)] = struct{}{}
}

// Failed records a failure and returns whether the actor restarts, after
// which delay. Past the budget the actor is dead.
func (c *HostControl) Failed(reason string) (restart bool, restarts int32, delayNanos int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false, c.restarts, 0
	}
	ok, d := c.Policy.Next(c.restarts)
	if !ok {
		c.dead = true
		c.cause = fmt.Sprintf("actor failed and exhausted its %d restarts: %s", c.Policy.MaxRestarts, reason)
		return false, c.restarts, 0
	}
	c.restarts++
	return true, c.restarts, int64(d)
}

// Dead reports whether the actor is dead and why.
func (c *HostControl) Dead() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead, c.cause
}

func (c *HostControl) markDead(cause string) {
	c.mu.Lock()
	if !c.dead {
		c.dead, c.cause = true, cause
	}
	c.mu.Unlock()
}

func (c *HostControl) restartCount() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

// begin registers a call as running; it reports false when the call was
// cancelled before it started.
func (c *HostControl) begin(returnID []byte, cancel context.CancelFunc) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cancelled[string(returnID)]; ok {
		delete(c.cancelled, string(returnID))
		return false
	}
	if c.current == "" {
		c.current, c.cancelRun = string(returnID), cancel
	}
	return true
}

func (c *HostControl) end(returnID []byte) {
	c.mu.Lock()
	if c.current == string(returnID) {
		c.current, c.cancelRun = "", nil
	}
	c.mu.Unlock()
}

func (c *HostControl) stash(call *pb.ActorCall) {
	c.mu.Lock()
	c.retry = append(c.retry, call)
	c.mu.Unlock()
}

func (c *HostControl) takeStash() []*pb.ActorCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.retry
	c.retry = nil
	return r
}

// Host is the actor that runs one user actor: it builds the instance with the
// registered constructor and runs method calls in arrival order (or up to
// max_concurrency at once). A method that panics makes the host panic too, so
// its supervisor restarts it and the constructor runs again.
type Host struct {
	env  *Env
	ctl  *HostControl
	typ  *ActorType
	inst any
	// ctx lives as long as this incarnation; calls derive from it.
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	dead   bool
	// Calls of a sequential host share one context until a call is
	// cancelled, saving two allocations per call.
	callCtx    context.Context
	callCancel context.CancelFunc
	callUctx   context.Context
	names      map[string]string // method -> "Type.method", for errors
}

func (h *Host) methodName(method string) string {
	if n, ok := h.names[method]; ok {
		return n
	}
	if h.names == nil {
		h.names = map[string]string{}
	}
	n := h.ctl.Spec.TypeName + "." + method
	if len(h.names) < 1024 {
		h.names[method] = n
	}
	return n
}

// callContext returns a context for the next call: the shared one for a
// sequential host, or a fresh one per concurrent call.
func (h *Host) callContext(call *pb.ActorCall) (ctx, uctx context.Context, cancel context.CancelFunc, shared bool) {
	info := CallInfo{ActorID: call.ActorId, NodeID: h.env.NodeID, GPUIDs: h.ctl.GPUIDs}
	if h.sem != nil {
		ctx, cancel = context.WithCancel(h.ctx)
		return ctx, h.env.WrapContext(ctx, info), cancel, false
	}
	if h.callCtx == nil || h.callCtx.Err() != nil {
		h.callCtx, h.callCancel = context.WithCancel(h.ctx)
		h.callUctx = h.env.WrapContext(h.callCtx, info)
	}
	return h.callCtx, h.callUctx, h.callCancel, true
}

// hostPanicked is sent by a concurrent call's goroutine so that the host
// fails on its own goroutine.
type hostPanicked struct{ reason string }

// NewHost returns the props of a host for ctl's actor.
func NewHost(env *Env, typ *ActorType, ctl *HostControl) *actor.Props {
	return env.Props(func() actor.Actor { return &Host{env: env, typ: typ, ctl: ctl} })
}

// Receive implements actor.Actor.
func (h *Host) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		h.start(c)
	case *pb.ActorCall:
		h.call(c, m)
	case *pb.KillActor:
		if m.NoRestart {
			h.ctl.markDead("killed")
			h.tombstone(c, "killed", nil)
			return
		}
		panic(Failure{Reason: "killed with restart allowed"})
	case hostPanicked:
		panic(Failure{Reason: m.reason})
	case *actor.Restarting, *actor.Stopping:
		if h.cancel != nil {
			h.cancel()
		}
	}
}

func (h *Host) report(c actor.Context, state pb.ActorState, perr *pb.Error) {
	c.Send(c.Parent(), &pb.ActorStateChanged{
		ActorId:     h.ctl.Spec.ActorId,
		State:       state,
		Pid:         WirePID(c.Self()),
		NodeId:      h.env.NodeID,
		NumRestarts: h.ctl.restartCount(),
		Error:       perr,
	})
}

func (h *Host) start(c actor.Context) {
	if dead, cause := h.ctl.Dead(); dead {
		h.tombstone(c, cause, nil)
		return
	}
	spec := h.ctl.Spec
	h.ctx, h.cancel = context.WithCancel(context.Background())
	uctx := h.env.WrapContext(h.ctx, CallInfo{ActorID: spec.ActorId, NodeID: h.env.NodeID, GPUIDs: h.ctl.GPUIDs})
	if n := spec.MaxConcurrency; n > 1 {
		h.sem = make(chan struct{}, n)
	}
	var inst any
	_, perr := Invoke(spec.TypeName, h.env.NodeID, func() ([]byte, error) {
		args, err := h.env.FetchArgs(uctx, spec.Args)
		if err != nil {
			return nil, err
		}
		if err := CheckArgs("constructor of "+spec.TypeName, h.typ.NumArgs, len(args)); err != nil {
			return nil, err
		}
		inst, err = h.typ.New(uctx, args)
		return nil, err
	})
	if perr != nil {
		cause := "constructor failed: " + perr.Message
		h.ctl.markDead(cause)
		perr.Message = cause
		h.tombstone(c, cause, perr)
		return
	}
	h.inst = inst
	h.report(c, pb.ActorState_ACTOR_STATE_ALIVE, nil)
	for _, call := range h.ctl.takeStash() {
		h.call(c, call)
	}
}

// tombstone keeps the host as a dead actor that fails every call with
// ACTOR_DIED, so no caller waits on an actor that will never answer.
func (h *Host) tombstone(c actor.Context, cause string, perr *pb.Error) {
	if h.dead {
		return
	}
	h.dead, h.inst = true, nil
	if h.cancel != nil {
		h.cancel()
	}
	if perr == nil {
		perr = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: cause, Function: h.ctl.Spec.TypeName, NodeId: h.env.NodeID}
	}
	h.report(c, pb.ActorState_ACTOR_STATE_DEAD, perr)
}

func (h *Host) died(call *pb.ActorCall) *pb.Error {
	_, cause := h.ctl.Dead()
	return &pb.Error{
		Kind:     pb.ErrorKind_ERROR_KIND_ACTOR_DIED,
		Message:  fmt.Sprintf("actor %s (%x) is dead: %s", h.ctl.Spec.TypeName, h.ctl.Spec.ActorId, cause),
		Function: h.ctl.Spec.TypeName + "." + call.Method,
		NodeId:   h.env.NodeID,
	}
}

func (h *Host) call(c actor.Context, call *pb.ActorCall) {
	if h.dead {
		h.env.Deliver(call.Owner, call.ReturnId, nil, h.died(call))
		return
	}
	if dead, _ := h.ctl.Dead(); dead {
		// Killed while this call waited in the mailbox.
		h.tombstone(c, "killed", nil)
		h.env.Deliver(call.Owner, call.ReturnId, nil, h.died(call))
		return
	}
	name := h.methodName(call.Method)
	if h.sem == nil {
		if reason, failed := h.run(call, name); failed {
			panic(Failure{Reason: reason})
		}
		return
	}
	h.sem <- struct{}{}
	self := c.Self()
	h.env.Pool.Go(func() {
		defer func() { <-h.sem }()
		if reason, failed := h.run(call, name); failed {
			h.env.System.Root.Send(self, hostPanicked{reason: reason})
		}
	})
}

// run executes one call and delivers its result. It reports failed when the
// method panicked and the host must restart. Concurrent calls run it on
// their own goroutines: it must not touch the host's unsynchronised state.
func (h *Host) run(call *pb.ActorCall, name string) (reason string, failed bool) {
	ctx, uctx, cancel, shared := h.callContext(call)
	if !shared {
		defer cancel()
	}
	if !h.ctl.begin(call.ReturnId, cancel) {
		h.env.Deliver(call.Owner, call.ReturnId, nil, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED, Message: "call cancelled before it ran", Function: name, NodeId: h.env.NodeID})
		return "", false
	}
	defer h.ctl.end(call.ReturnId)
	m, err := h.typ.Method(call.Method)
	if err != nil {
		h.env.Deliver(call.Owner, call.ReturnId, nil, ErrorOf(pb.ErrorKind_ERROR_KIND_NOT_FOUND, err, name, h.env.NodeID))
		return "", false
	}
	if err := CheckArgs("method "+name, m.NumArgs, len(call.Args)); err != nil {
		h.env.Deliver(call.Owner, call.ReturnId, nil, ErrorOf(pb.ErrorKind_ERROR_KIND_INVALID, err, name, h.env.NodeID))
		return "", false
	}
	args, err := h.env.FetchArgs(ctx, call.Args)
	if err != nil {
		h.env.Deliver(call.Owner, call.ReturnId, nil, ErrorOf(pb.ErrorKind_ERROR_KIND_OBJECT_LOST, err, name, h.env.NodeID))
		return "", false
	}
	data, perr := Invoke(name, h.env.NodeID, func() ([]byte, error) { return m.Invoke(uctx, h.inst, args) })
	if perr != nil && ctx.Err() != nil && h.ctx.Err() == nil {
		perr.Kind = pb.ErrorKind_ERROR_KIND_CANCELLED
	}
	if perr != nil && perr.Kind == pb.ErrorKind_ERROR_KIND_PANIC {
		if r := h.ctl.Spec.MaxTaskRetries; r < 0 || call.Attempt < r {
			retry := proto.Clone(call).(*pb.ActorCall)
			retry.Attempt++
			h.ctl.stash(retry)
		} else {
			h.env.Deliver(call.Owner, call.ReturnId, nil, perr)
		}
		return perr.Message, true
	}
	h.env.Deliver(call.Owner, call.ReturnId, data, perr)
	return "", false
}
