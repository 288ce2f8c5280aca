package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// ErrMalformedArg: an argument carried neither a value nor an object ID.
var ErrMalformedArg = errors.New("malformed argument")

// ExecControl is the part of an executor its raylet reaches while the
// executor is busy: the cancel function of the task it runs.
type ExecControl struct {
	mu     sync.Mutex
	task   []byte // the spec's ID, read only
	cancel context.CancelFunc
	// early is a task cancelled after it was sent here but before it began.
	early []byte
}

func (c *ExecControl) begin(task []byte, cancel context.CancelFunc) {
	c.mu.Lock()
	c.task, c.cancel = task, cancel
	if c.early != nil && bytes.Equal(c.early, task) {
		c.early = nil
		cancel()
	}
	c.mu.Unlock()
}

func (c *ExecControl) end() {
	c.mu.Lock()
	c.task, c.cancel = nil, nil
	c.mu.Unlock()
}

// Cancel cancels taskID: at once if it runs, or as soon as it begins.
func (c *ExecControl) Cancel(taskID []byte) {
	c.mu.Lock()
	if c.cancel != nil && bytes.Equal(c.task, taskID) {
		c.cancel()
	} else {
		c.early = bytes.Clone(taskID)
	}
	c.mu.Unlock()
}

// Executor is the actor that runs the tasks a raylet hands it, one at a
// time, on its own goroutine: the result goes straight to the task's owner
// and TaskFinished to the raylet. A cancel reaches the running task through
// the executor's control, since the mailbox is busy while the task runs.
type Executor struct {
	env *Env
	ctl *ExecControl
	// Tasks share one context until one is cancelled.
	ctx    context.Context
	cancel context.CancelFunc
}

// NewExecutor returns the props of an executor actor and its control.
func NewExecutor(env *Env) (*actor.Props, *ExecControl) {
	ctl := &ExecControl{}
	return env.Props(func() actor.Actor { return &Executor{env: env, ctl: ctl} }), ctl
}

// Receive implements actor.Actor.
func (x *Executor) Receive(c actor.Context) {
	if m, ok := c.Message().(*pb.TaskSpec); ok {
		if x.ctx == nil || x.ctx.Err() != nil {
			x.ctx, x.cancel = context.WithCancel(context.Background())
		}
		x.ctl.begin(m.TaskId, x.cancel)
		x.env.RunTask(x.ctx, m)
		x.ctl.end()
	}
}

// RunTask runs one task to completion, retrying user failures when the spec
// asks for it, and reports the outcome.
func (e *Env) RunTask(ctx context.Context, spec *pb.TaskSpec) {
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
	if err := CheckArgs("function "+spec.Function, fn.NumArgs, len(spec.Args)); err != nil {
		return nil, ErrorOf(pb.ErrorKind_ERROR_KIND_INVALID, err, spec.Function, e.NodeID)
	}
	args, err := e.FetchArgs(ctx, spec.Args)
	if err != nil {
		kind := pb.ErrorKind_ERROR_KIND_OBJECT_LOST
		if errors.Is(err, ErrMalformedArg) {
			kind = pb.ErrorKind_ERROR_KIND_INVALID
		}
		return nil, ErrorOf(kind, fmt.Errorf("task %s: %w", spec.Function, err), spec.Function, e.NodeID)
	}
	return Invoke(spec.Function, e.NodeID, func() ([]byte, error) { return fn.Invoke(ctx, args) })
}
