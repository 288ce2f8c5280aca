package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// ErrMalformedArg: an argument carried neither a value nor an object ID.
var ErrMalformedArg = errors.New("malformed argument")

// Executor is the actor that runs tasks a raylet hands it, one at a time.
// The user function runs on its own goroutine so the executor stays able to
// receive a CancelTask for it; when the function returns, the result goes
// straight to the task's owner and TaskFinished to the raylet.
type Executor struct {
	env     *Env
	current string
	cancel  context.CancelFunc
}

// NewExecutor returns the props of an executor actor.
func NewExecutor(env *Env) *actor.Props {
	return env.Props(func() actor.Actor { return &Executor{env: env} })
}

// Receive implements actor.Actor.
func (x *Executor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *pb.TaskSpec:
		ctx, cancel := context.WithCancel(context.Background())
		x.current, x.cancel = string(m.TaskId), cancel
		x.env.Pool.Go(func() { x.env.RunTask(ctx, cancel, m) })
	case *pb.CancelTask:
		if x.cancel != nil && string(m.TaskId) == x.current {
			x.cancel()
		}
	}
}

// RunTask runs one task to completion, retrying user failures when the spec
// asks for it, and reports the outcome.
func (e *Env) RunTask(ctx context.Context, cancel context.CancelFunc, spec *pb.TaskSpec) {
	defer cancel()
	info := CallInfo{TaskID: spec.TaskId, NodeID: e.NodeID, GPUIDs: spec.GpuIds, Raylet: e.Raylet}
	uctx := e.WrapContext(ctx, info)
	var data []byte
	var perr *pb.Error
	for attempt := int32(0); ; attempt++ {
		data, perr = e.runOnce(uctx, spec)
		if perr == nil || ctx.Err() != nil || !retryable(spec, perr, attempt) {
			break
		}
		e.Logger.Debug("retrying task", "function", spec.Function, "attempt", attempt+1, "error", perr.Message)
	}
	if perr != nil && ctx.Err() != nil {
		perr = &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED, Message: "task cancelled: " + perr.Message, Function: spec.Function, NodeId: e.NodeID}
	}
	// Free the executor before waking the owner, so a caller that submits
	// its next task on wake-up finds resources already released.
	e.System.Root.Send(e.Raylet, &pb.TaskFinished{TaskId: spec.TaskId})
	e.Deliver(spec.Owner, spec.ReturnId, data, perr)
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
	args, err := e.FetchArgs(ctx, spec.Args)
	if err != nil {
		return nil, ErrorOf(pb.ErrorKind_ERROR_KIND_OBJECT_LOST, fmt.Errorf("task %s: %w", spec.Function, err), spec.Function, e.NodeID)
	}
	if err := CheckArgs("function "+spec.Function, fn.NumArgs, len(args)); err != nil {
		return nil, ErrorOf(pb.ErrorKind_ERROR_KIND_INVALID, err, spec.Function, e.NodeID)
	}
	return Invoke(spec.Function, e.NodeID, func() ([]byte, error) { return fn.Invoke(ctx, args) })
}
