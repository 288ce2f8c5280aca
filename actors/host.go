package actors

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"

	pb "github.com/goray-dev/goray/proto"
)

// Causes with which a host cancels a call's context.
var (
	// errCallCancelled: the caller cancelled the call; whoever runs it
	// answers CANCELLED.
	errCallCancelled = errors.New("call cancelled")
	// errCallCancelledAlone: as errCallCancelled, but what the call
	// submitted is not cancelled with it.
	errCallCancelledAlone = errors.New("call cancelled, not what it submitted")
	// errTakenBack: the host took the call back (the actor was killed or
	// failed): the host answered it or will run it again, so the goroutine
	// that ran it must not answer.
	errTakenBack = errors.New("call taken back by its host")
	// errCallDone: the call returned; its context ends with it.
	errCallDone = errors.New("call returned")
)

// maxRun bounds how many calls of a sequential actor one goroutine takes
// from the lane at a time.
const maxRun = 256

type hostState uint8

const (
	hostStarting   hostState = iota // the constructor runs
	hostAlive                       // calls run
	hostRestarting                  // waiting out the backoff before a restart
	hostDead
)

// hostCall is one call the host accepted; it is the call's context too,
// which only the host cancels.
type hostCall struct {
	callCtx
	msg  *pb.ActorCall
	info CallInfo
	lane *lane // the lane of the call's concurrency group
	ri   int   // its index in lane.running while it runs
}

// lane is what a host shares with the goroutines that run its calls, under
// its own lock: the calls waiting to run and the calls running. Workers
// take calls from it and record there that they finished; the host adds
// calls, and takes them back when the actor fails or dies. Nothing else of
// the host is touched off its mailbox.
type lane struct {
	mu      sync.Mutex
	queue   []*hostCall // accepted, not started; FIFO
	running []*hostCall // in no order; each knows its index (hostCall.ri)
	open    bool        // calls may start: the actor is alive
	inst    any         // the instance calls run on, while open
	// inc is the incarnation inst belongs to; calls report it.
	inc     *Incarnation
	gen     uint64 // bumps whenever the workers of the past must stop
	workers int    // goroutines of generation gen taking calls
	limit   int    // workers at once: 1 for a sequential actor

	// worker takes calls from the lane for generation workerGen; kept so a
	// call does not allocate a closure to start one. Only the host's
	// mailbox touches them.
	worker    func()
	workerGen uint64
}

// Messages a host sends itself from the goroutines it runs user code on.
type (
	ctorDone struct {
		incarnation uint64
		inst        any
		perr        *pb.Error
	}
	// callFailed: a call panicked or exited its goroutine; the actor fails.
	callFailed struct {
		gen     uint64
		call    *hostCall
		failure *pb.Error
	}
	restartNow struct{ incarnation uint64 }
	// exitRequested: a call of generation gen asked to end the actor
	// (CallInfo.Exit) and was answered.
	exitRequested struct {
		lane *lane
		gen  uint64
	}
)

// Host is the actor that runs one user actor. It builds the instance with
// the registered constructor and runs method calls in arrival order, or up to
// max_concurrency at once. User code never runs on the host's mailbox: calls
// go through the host's lane to goroutines it owns (handed over, without a
// wake-up, by its dispatcher), so cancel and kill are messages that cancel
// contexts only the host holds. A method that panics or exits its goroutine
// fails the actor: the host restarts it (the constructor runs again) after a
// backoff while its restart budget lasts, then the actor is dead, every call
// it still holds is answered with ACTOR_DIED, and its parent (the raylet,
// which hears of every state change) stops the host.
type Host struct {
	env     *Env
	spec    *pb.ActorSpec
	typ     *ActorType
	inc     *Incarnation // the current incarnation, which its calls report
	policy  RestartPolicy
	self    *actor.PID
	gate    *stopGate
	handoff *Handoff
	// lanes are the actor's concurrency groups: lanes[0] the default one
	// (max_concurrency), then one per named group, each with its limit.
	lanes []*lane
	// groups maps a group's name to its lane.
	groups map[string]*lane

	state       hostState
	restarts    int32
	incarnation uint64
	// life is the context of the current incarnation, which its
	// constructor received: it ends when the actor fails, dies or stops.
	life  *callCtx
	death *pb.Error
}

// NewHost returns the props of a host for the actor of spec, with the GPU
// devices its raylet assigned.
func NewHost(env *Env, typ *ActorType, spec *pb.ActorSpec, gpuIDs []int32) *actor.Props {
	gate := &stopGate{system: env.System}
	handoff := NewHandoff(env.Pool)
	var h *Host
	guard := env.Guard("host", func(c actor.Context, reason any) {
		// The host itself failed (a goray defect): its state can no longer
		// be trusted, so the user actor dies.
		h.die(c, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: fmt.Sprintf("actor host failed: %v", reason), NodeId: env.NodeID})
	})
	return actor.PropsFromProducer(func() actor.Actor {
		limit := 1
		if spec.MaxConcurrency > 1 {
			limit = int(spec.MaxConcurrency)
		}
		h = &Host{
			env: env, spec: spec, typ: typ, gate: gate, handoff: handoff,
			inc:    &Incarnation{ActorID: spec.ActorId, JobID: spec.JobId, NodeID: env.NodeID, GPUIDs: gpuIDs, Resources: spec.Resources, Scheduling: spec.Scheduling},
			policy: RestartPolicy{MaxRestarts: spec.MaxRestarts, InitialBackoff: env.RestartBackoff},
		}
		h.lanes = []*lane{{limit: limit}}
		if len(spec.ConcurrencyGroups) > 0 {
			h.groups = map[string]*lane{}
			names := make([]string, 0, len(spec.ConcurrencyGroups))
			for name := range spec.ConcurrencyGroups {
				names = append(names, name)
			}
			slices.Sort(names)
			for _, name := range names {
				l := &lane{limit: int(spec.ConcurrencyGroups[name])}
				h.groups[name] = l
				h.lanes = append(h.lanes, l)
			}
		}
		return guard.Actor(h)
	}, gate.mailbox(), actor.WithDispatcher(handoff))
}

// Receive implements actor.Actor.
func (h *Host) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		h.self = c.Self()
		h.construct()
	case *pb.ActorCall:
		h.accept(m)
	case *pb.CancelTask:
		h.cancelCall(m.ReturnId, cancelCause(m))
	case *pb.KillActor:
		if m.NoRestart {
			cause := m.Cause
			if cause == "" {
				cause = "killed"
			}
			h.die(c, h.diedError(cause))
		} else {
			h.fail(c, "killed with restart allowed")
		}
		if c.Sender() != nil {
			c.Respond(&pb.KillActorReply{})
		}
	case ctorDone:
		h.constructed(c, m)
	case callFailed:
		h.callFailed(c, m)
	case exitRequested:
		if m.gen == m.lane.gen && h.state == hostAlive {
			h.die(c, h.diedError("it ended itself (ExitActor)"))
		}
	case restartNow:
		if m.incarnation == h.incarnation && h.state == hostRestarting {
			h.construct()
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
	c.Send(c.Parent(), &pb.ActorStateChanged{
		ActorId: h.spec.ActorId, State: state, Pid: WirePID(h.self), NodeId: h.env.NodeID,
		NumRestarts: h.restarts, Error: ClipError(perr),
	})
}

func (h *Host) diedError(cause string) *pb.Error {
	return &pb.Error{
		Kind:     pb.ErrorKind_ERROR_KIND_ACTOR_DIED,
		Message:  fmt.Sprintf("actor %s (%x) is dead: %s", h.spec.TypeName, h.spec.ActorId, cause),
		Function: h.spec.TypeName, NodeId: h.env.NodeID,
	}
}

// construct runs the constructor off the mailbox.
func (h *Host) construct() {
	h.state = hostStarting
	h.incarnation++
	inc, self := h.incarnation, h.self
	// Each incarnation has its own: a call or constructor of the past may
	// still read the one it was given.
	next := *h.inc
	next.Restarts = h.restarts
	h.inc = &next
	life := &callCtx{}
	life.init(h.env.Base, &CallInfo{Incarnation: h.inc})
	h.life = life
	h.handoff.After(func() {
		done := ctorDone{incarnation: inc}
		defer func() { h.env.System.Root.Send(self, done) }()
		// A constructor that exits its goroutine leaves this error behind.
		done.perr = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_PANIC, Message: "constructor exited its goroutine (runtime.Goexit)",
			Function: h.spec.TypeName, NodeId: h.env.NodeID}
		_, done.perr = Invoke(h.spec.TypeName, h.env.NodeID, func() ([]byte, error) {
			args, err := h.env.FetchArgs(life, h.spec.Args)
			if err != nil {
				return nil, err
			}
			if err := CheckArgs("constructor of", h.spec.TypeName, h.typ.NumArgs, len(args)); err != nil {
				return nil, err
			}
			done.inst, err = h.typ.New(life, args)
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
	h.state = hostAlive
	h.report(c, pb.ActorState_ACTOR_STATE_ALIVE, nil)
	for _, l := range h.lanes {
		l.mu.Lock()
		l.open, l.inst, l.inc = true, m.inst, h.inc
		n := l.workersNeeded()
		l.mu.Unlock()
		h.startWorkers(l, n)
	}
}

// newCall returns the host's record of a call, its context ready.
func (h *Host) newCall(m *pb.ActorCall) *hostCall {
	hc := &hostCall{msg: m, lane: h.laneOf(m.Method),
		info: CallInfo{Incarnation: h.inc, Owner: m.Owner, TaskID: m.ReturnId, NumReturns: 1 + len(m.ExtraReturnIds),
			StreamBackpressure: m.StreamBackpressure}}
	hc.init(h.env.Base, &hc.info)
	return hc
}

// accept takes a call: a dead actor answers at once, a live one queues it.
func (h *Host) accept(m *pb.ActorCall) {
	if h.state == hostDead {
		h.env.Deliver(m.Owner, m.ReturnId, nil, h.callError(h.death, m.Method), nil)
		return
	}
	hc := h.newCall(m)
	l := hc.lane
	l.mu.Lock()
	l.queue = append(l.queue, hc)
	n := l.workersNeeded()
	l.mu.Unlock()
	h.startWorkers(l, n)
}

// laneOf returns the lane of a method's concurrency group: the default
// lane unless the method is in a group the actor has.
func (h *Host) laneOf(method string) *lane {
	if h.groups != nil {
		if l := h.groups[h.typ.GroupOf(method)]; l != nil {
			return l
		}
	}
	return h.lanes[0]
}

// workersNeeded counts the workers to start now and counts them in; l.mu
// is held.
func (l *lane) workersNeeded() int {
	if !l.open {
		return 0
	}
	n := min(l.limit-l.workers, len(l.queue))
	if n < 0 {
		n = 0
	}
	l.workers += n
	return n
}

// startWorkers starts n workers of lane l's current generation: the first
// on the goroutine of this mailbox run, once it ends.
func (h *Host) startWorkers(l *lane, n int) {
	if n == 0 {
		return
	}
	if gen := l.gen; l.worker == nil || l.workerGen != gen {
		l.worker, l.workerGen = func() { h.work(l, gen) }, gen
	}
	h.handoff.After(l.worker)
	for range n - 1 {
		h.env.Pool.Go(l.worker)
	}
}

// callError is the death of the actor as seen by one call.
func (h *Host) callError(death *pb.Error, method string) *pb.Error {
	return &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: death.Message,
		Function: h.spec.TypeName + "." + method, NodeId: h.env.NodeID}
}

// work takes calls from the lane and runs them until the lane is empty or
// closed, or a call fails the actor. It runs off the mailbox and touches
// nothing of the host but the lane and what never changes.
func (h *Host) work(l *lane, gen uint64) {
	var buf [maxRun]*hostCall
	batch := buf[:0]
	i := 0
	exited := true
	defer func() {
		if exited {
			call := batch[i].msg
			h.failRun(l, gen, batch, i, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED,
				Message:  fmt.Sprintf("method %s exited its goroutine (runtime.Goexit): the actor failed", call.Method),
				Function: h.spec.TypeName + "." + call.Method, NodeId: h.env.NodeID})
		}
	}()
	l.mu.Lock()
	for {
		if gen != l.gen || !l.open || len(l.queue) == 0 {
			if gen == l.gen {
				l.workers--
			}
			l.mu.Unlock()
			exited = false
			return
		}
		n := 1
		if l.limit == 1 {
			n = min(len(l.queue), maxRun)
		}
		batch = append(batch[:0], l.queue[:n]...)
		clear(l.queue[:n])
		if n == len(l.queue) {
			l.queue = l.queue[:0] // keep the array: the next accept appends in place
		} else {
			l.queue = l.queue[n:]
		}
		for _, hc := range batch {
			l.addRunning(hc)
		}
		inst, inc := l.inst, l.inc
		l.mu.Unlock()
		for i = 0; i < len(batch); i++ {
			batch[i].info.Incarnation = inc // it may have been queued before a restart
			if perr := h.runCall(batch[i], inst); perr != nil {
				h.failRun(l, gen, batch, i, perr)
				exited = false
				return
			}
			if batch[i].info.Exit {
				h.exitRun(l, gen, batch, i)
				exited = false
				return
			}
		}
		l.mu.Lock()
		for _, hc := range batch {
			l.dropRunning(hc)
		}
	}
}

// addRunning records that hc runs; l.mu is held.
func (l *lane) addRunning(hc *hostCall) {
	hc.ri = len(l.running)
	l.running = append(l.running, hc)
}

// dropRunning records that hc no longer runs, if it was recorded as
// running (a takeBack may have cleared it already); l.mu is held.
func (l *lane) dropRunning(hc *hostCall) {
	i := hc.ri
	if i >= len(l.running) || l.running[i] != hc {
		return
	}
	last := len(l.running) - 1
	l.running[i] = l.running[last]
	l.running[i].ri = i
	l.running[last] = nil
	l.running = l.running[:last]
}

// failRun records, on the worker's goroutine, that call i of batch failed
// the actor, and tells the host.
func (h *Host) failRun(l *lane, gen uint64, batch []*hostCall, i int, failure *pb.Error) {
	h.stopRun(l, gen, batch, i)
	h.env.System.Root.Send(h.self, callFailed{gen: gen, call: batch[i], failure: failure})
}

// exitRun records, on the worker's goroutine, that call i of batch ended
// the actor and was answered, and tells the host (which answers the calls
// put back when the actor dies).
func (h *Host) exitRun(l *lane, gen uint64, batch []*hostCall, i int) {
	h.stopRun(l, gen, batch, i)
	h.env.System.Root.Send(h.self, exitRequested{lane: l, gen: gen})
}

// stopRun closes the lane of generation gen after call i of batch: the
// worker stops, and the calls of the batch that did not start go back to
// the head of the queue.
func (h *Host) stopRun(l *lane, gen uint64, batch []*hostCall, i int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen {
		return
	}
	l.open = false
	l.workers--
	for _, hc := range batch {
		l.dropRunning(hc)
	}
	l.queue = append(append([]*hostCall(nil), batch[i+1:]...), l.queue...)
}

// runCall runs one call and answers it, unless the host took it back. A
// panic is returned instead: the host decides whether the call runs again.
func (h *Host) runCall(hc *hostCall, inst any) (panicked *pb.Error) {
	call := hc.msg
	defer hc.cancel(errCallDone)
	name, data, perr := h.invoke(hc, inst)
	switch hc.causeOf() {
	case errTakenBack:
		return nil
	case errCallCancelled, errCallCancelledAlone:
		data, perr = nil, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED, Message: "call cancelled by its caller", Function: name, NodeId: h.env.NodeID}
	}
	if perr != nil && perr.Kind == pb.ErrorKind_ERROR_KIND_PANIC {
		return perr
	}
	// The references a result holds travel with it, even when the call failed
	// after encoding it, so that its owner lets go of them.
	h.env.DeliverCall(call.Owner, call.ReturnId, call.ExtraReturnIds, data, perr, &hc.info)
	return nil
}

// invoke runs the method of a call and returns the method's qualified name
// with its outcome.
func (h *Host) invoke(hc *hostCall, inst any) (name string, data []byte, perr *pb.Error) {
	call := hc.msg
	m, err := h.typ.Method(call.Method)
	if err != nil {
		name = h.spec.TypeName + "." + call.Method
		return name, nil, ErrorOf(pb.ErrorKind_ERROR_KIND_NOT_FOUND, err, name, h.env.NodeID)
	}
	name = m.qualified
	if call.Name != "" {
		name += " (" + call.Name + ")"
	}
	if hc.Err() != nil {
		return name, nil, nil // cancelled before it began; runCall answers
	}
	if err := CheckArgs("method", name, m.NumArgs, len(call.Args)); err != nil {
		return name, nil, ErrorOf(pb.ErrorKind_ERROR_KIND_INVALID, err, name, h.env.NodeID)
	}
	args, err := h.env.FetchArgs(hc, call.Args)
	if err != nil {
		return name, nil, ErrorOf(argErrorKind(err), err, name, h.env.NodeID)
	}
	data, perr = Invoke(name, h.env.NodeID, func() ([]byte, error) { return m.Invoke(hc, inst, args) })
	return name, data, perr
}

// callFailed handles a call that failed the actor.
func (h *Host) callFailed(c actor.Context, m callFailed) {
	if m.gen != m.call.lane.gen || h.state != hostAlive {
		return // the actor failed or died already; the call was taken back
	}
	if retry := h.retry(m.call, m.failure); retry != nil {
		l := retry.lane
		l.mu.Lock()
		l.queue = append([]*hostCall{retry}, l.queue...)
		l.mu.Unlock()
	}
	h.fail(c, m.failure.Message)
}

// retry returns the call to run again after a failure, or answers it with
// the failure when its retries are used up.
func (h *Host) retry(hc *hostCall, failure *pb.Error) *hostCall {
	call := hc.msg
	r := h.spec.MaxTaskRetries
	if call.MaxRetries != nil {
		r = *call.MaxRetries
	}
	if r < 0 || call.Attempt < r {
		return h.newCall(&pb.ActorCall{ActorId: call.ActorId, Method: call.Method, Args: call.Args, ReturnId: call.ReturnId,
			Owner: call.Owner, Attempt: call.Attempt + 1, ExtraReturnIds: call.ExtraReturnIds, Name: call.Name, MaxRetries: call.MaxRetries,
			StreamBackpressure: call.StreamBackpressure})
	}
	h.env.Deliver(call.Owner, call.ReturnId, nil, failure, nil)
	return nil
}

// takeBack closes the lanes and returns the calls still running and then
// those queued, lane by lane; their workers will not answer them.
func (h *Host) takeBack() (running, queued []*hostCall) {
	for _, l := range h.lanes {
		l.mu.Lock()
		l.open, l.inst = false, nil
		l.gen++
		l.workers = 0
		running = append(running, l.running...)
		clear(l.running)
		l.running = l.running[:0]
		queued, l.queue = append(queued, l.queue...), nil
		l.mu.Unlock()
	}
	for _, hc := range running {
		hc.cancel(errTakenBack)
	}
	for _, hc := range queued {
		hc.cancel(errTakenBack)
	}
	return running, queued
}

// fail handles a failure of the actor: the calls still running are taken
// back (answered, or queued again when they may retry), and the actor
// restarts after its backoff, or dies once its restarts are used up.
func (h *Host) fail(c actor.Context, reason string) {
	if h.state == hostDead {
		return
	}
	h.endIncarnation()
	running, queued := h.takeBack()
	var again []*hostCall
	for _, hc := range running {
		if retry := h.retry(hc, h.callError(&pb.Error{Message: "the actor failed while the call ran: " + reason}, hc.msg.Method)); retry != nil {
			again = append(again, retry)
		}
	}
	for _, hc := range queued {
		// Calls that never started run on the next incarnation, in order.
		again = append(again, h.newCall(hc.msg))
	}
	for _, l := range h.lanes {
		var mine []*hostCall
		for _, hc := range again {
			if hc.lane == l {
				mine = append(mine, hc)
			}
		}
		l.mu.Lock()
		l.queue = append(mine, l.queue...)
		l.mu.Unlock()
	}
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
	h.state, h.death = hostDead, death
	h.endIncarnation()
	running, queued := h.takeBack()
	for _, hc := range append(running, queued...) {
		h.env.Deliver(hc.msg.Owner, hc.msg.ReturnId, nil, h.callError(death, hc.msg.Method), nil)
	}
	h.report(c, pb.ActorState_ACTOR_STATE_DEAD, death)
}

// endIncarnation cancels the context the constructor of the current
// incarnation received.
func (h *Host) endIncarnation() {
	if h.life != nil {
		h.life.cancel(errTakenBack)
		h.life = nil
	}
}

// cancelCall cancels the call that returns returnID: a queued call is
// answered at once; a running one has its context cancelled and is answered
// by the goroutine running it.
func (h *Host) cancelCall(returnID []byte, cause error) {
	for _, l := range h.lanes {
		if h.cancelIn(l, returnID, cause) {
			return
		}
	}
}

// cancelIn cancels the call that returns returnID if lane l holds it, and
// reports whether it did.
func (h *Host) cancelIn(l *lane, returnID []byte, cause error) bool {
	l.mu.Lock()
	for i, hc := range l.queue {
		if string(hc.msg.ReturnId) == string(returnID) {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			l.mu.Unlock()
			hc.cancel(errTakenBack)
			h.env.Deliver(hc.msg.Owner, hc.msg.ReturnId, nil, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED,
				Message: "call cancelled before it ran", Function: h.spec.TypeName + "." + hc.msg.Method, NodeId: h.env.NodeID}, nil)
			return true
		}
	}
	var target *hostCall
	for _, hc := range l.running {
		if string(hc.msg.ReturnId) == string(returnID) {
			target = hc
			break
		}
	}
	l.mu.Unlock()
	if target != nil {
		target.cancel(cause)
	}
	return target != nil
}
