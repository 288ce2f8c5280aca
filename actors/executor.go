package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	pb "github.com/goray-dev/goray/proto"
)

// ErrMalformedArg: an argument carried neither a value nor an object ID.
var ErrMalformedArg = errors.New("malformed argument")

// taskExited is what an executor hears when a task's goroutine exited
// through runtime.Goexit instead of returning.
type taskExited struct{ spec *pb.TaskSpec }

// Executor is the actor that runs the tasks a raylet hands it, one at a time,
// each on a goroutine the executor owns: the result goes straight to the
// task's owner and TaskFinished to the raylet. The mailbox stays free while
// a task runs, so a cancel reaches the task as a message that cancels a
// context only the executor holds. A task whose goroutine exits through
// runtime.Goexit is a worker failure, retried per max_retries.
type Executor struct {
	env     *Env
	self    *actor.PID
	handoff *Handoff
	task    *taskCall // the task handed out last
}

// taskCall is a task an executor runs; it is the task's context too, which
// only the executor cancels.
type taskCall struct {
	callCtx
	spec *pb.TaskSpec
	info CallInfo
	inc  Incarnation
}

// NewExecutor returns the props of an executor actor.
func NewExecutor(env *Env) *actor.Props {
	handoff := NewHandoff(env.Pool)
	// Only its raylet, which checked the task, and the executor itself
	// send to it.
	guard := env.Guard("executor", nil)
	guard.Checked = true
	return actor.PropsFromProducer(func() actor.Actor { return guard.Actor(&Executor{env: env, handoff: handoff}) },
		actor.WithDispatcher(handoff))
}

// Receive implements actor.Actor.
func (x *Executor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		x.self = c.Self()
	case *pb.TaskSpec:
		x.start(m)
	case *pb.CancelTask:
		if x.task != nil && bytes.Equal(x.task.spec.TaskId, m.TaskId) {
			x.task.cancel(cancelCause(m))
		}
	case taskExited:
		spec := m.spec
		if r := spec.MaxRetries; r < 0 || spec.Attempt < r {
			again := proto.Clone(spec).(*pb.TaskSpec)
			again.Attempt++
			x.start(again)
			return
		}
		x.env.finishTask(spec, nil, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM,
			Message:  fmt.Sprintf("task %s exited its goroutine (runtime.Goexit) on each of its %d attempts", spec.Function, spec.Attempt+1),
			Function: spec.Function, NodeId: x.env.NodeID}, &CallInfo{})
	case *actor.Stopping:
		if x.task != nil {
			x.task.cancel(errTakenBack)
		}
	}
}

// start hands the task to the goroutine of this mailbox run, once the run
// ends: the task runs off the mailbox, which stays free for a cancel.
func (x *Executor) start(spec *pb.TaskSpec) {
	t := &taskCall{spec: spec,
		inc:  Incarnation{JobID: spec.JobId, NodeID: x.env.NodeID, GPUIDs: spec.GpuIds, Raylet: x.env.Raylet, Resources: spec.Resources, Scheduling: spec.Scheduling},
		info: CallInfo{TaskID: spec.TaskId, Owner: spec.Owner, NumReturns: 1 + len(spec.ExtraReturnIds), StreamBackpressure: spec.StreamBackpressure}}
	t.info.Incarnation = &t.inc
	t.init(x.env.Base, &t.info)
	x.task = t
	self, sys := x.self, x.env.System
	x.handoff.After(func() {
		exited := true
		defer func() {
			t.cancel(errCallDone)
			if exited {
				sys.Root.Send(self, taskExited{spec: spec})
			}
		}()
		x.env.runTask(t)
		exited = false
	})
}

// runTask runs one task to completion, retrying user failures when the spec
// asks for it, and reports the outcome: TaskFinished to the raylet, the
// result to the owner. A task cancelled by its caller is answered
// CANCELLED; one its executor took back (the node stops) is not answered.
func (e *Env) runTask(t *taskCall) {
	spec := t.spec
	var data []byte
	var perr *pb.Error
	for attempt := int32(0); ; attempt++ {
		t.info.Extra = nil
		data, perr = e.runOnce(t, spec)
		if perr == nil || t.Err() != nil || !retryable(spec, perr, attempt) {
			break
		}
		e.Logger.Debug("retrying task", "function", spec.Function, "attempt", attempt+1, "error", perr.Message)
	}
	switch t.causeOf() {
	case errTakenBack:
		return
	case errCallCancelled, errCallCancelledAlone:
		msg := "task cancelled by its caller"
		if perr != nil {
			msg += ": " + perr.Message
		}
		data, perr = nil, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED, Message: msg, Function: spec.Function, NodeId: e.NodeID}
	}
	// The references a result holds travel with it, even when the task
	// failed after encoding it, so that its owner lets go of them.
	e.finishTask(spec, data, perr, &t.info)
}

// finishTask frees the task's executor, then wakes its owner: a caller that
// submits its next task on wake-up finds the resources already released.
func (e *Env) finishTask(spec *pb.TaskSpec, data []byte, perr *pb.Error, info *CallInfo) {
	e.System.Root.Send(e.Raylet, &pb.TaskFinished{TaskId: spec.TaskId})
	e.DeliverCall(spec.Owner, spec.ReturnId, spec.ExtraReturnIds, data, perr, info)
}

func retryable(spec *pb.TaskSpec, perr *pb.Error, attempt int32) bool {
	if !spec.RetryExceptions {
		return false
	}
	if perr.Kind != pb.ErrorKind_ERROR_KIND_USER && perr.Kind != pb.ErrorKind_ERROR_KIND_PANIC {
		return false
	}
	return spec.MaxRetries < 0 || attempt < spec.MaxRetries
}

func (e *Env) runOnce(ctx context.Context, spec *pb.TaskSpec) ([]byte, *pb.Error) {
	fn, err := e.Registry.Func(spec.Function)
	if err != nil {
		return nil, ErrorOf(pb.ErrorKind_ERROR_KIND_NOT_FOUND, err, spec.Function, e.NodeID)
	}
	if err := CheckArgs("function", spec.Function, fn.NumArgs, len(spec.Args)); err != nil {
		return nil, ErrorOf(pb.ErrorKind_ERROR_KIND_INVALID, err, spec.Function, e.NodeID)
	}
	args, err := e.FetchArgs(ctx, spec.Args)
	if err != nil {
		return nil, ErrorOf(argErrorKind(err), fmt.Errorf("task %s: %w", spec.Function, err), spec.Function, e.NodeID)
	}
	return Invoke(spec.Function, e.NodeID, func() ([]byte, error) { return fn.Invoke(ctx, args) })
}

// argErrorKind classifies a failure to fetch arguments.
func argErrorKind(err error) pb.ErrorKind {
	if errors.Is(err, ErrMalformedArg) {
		return pb.ErrorKind_ERROR_KIND_INVALID
	}
	return pb.ErrorKind_ERROR_KIND_OBJECT_LOST
}
