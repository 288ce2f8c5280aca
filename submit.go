package goray

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sync/atomic"
	"weak"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// resolved turns argument specs into wire arguments once every Ref among
// them is ready. It reports the first dependency's error, if any.
func resolved(args []argSpec) ([]*pb.Arg, error) {
	out := make([]*pb.Arg, len(args))
	// One allocation holds every inline argument's wire form.
	inline := make([]struct {
		arg  pb.Arg
		kind pb.Arg_Inline
	}, len(args))
	for i, a := range args {
		if a.ref == nil {
			in := &inline[i]
			in.kind.Inline = a.data
			in.arg.Kind = &in.kind
			out[i] = &in.arg
			continue
		}
		if a.ref.err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, a.ref.err)
		}
		data, storeNode, _, perr, freed := a.ref.slot.Value()
		switch {
		case freed:
			return nil, fmt.Errorf("%w: argument %d (%s)", ErrObjectFreed, i, a.ref.slot.ID)
		case perr != nil:
			return nil, fmt.Errorf("argument %d: %w", i, fromWire(perr))
		case storeNode != "":
			out[i] = &pb.Arg{Kind: &pb.Arg_Ref{Ref: a.ref.objectRef()}}
		default:
			in := &inline[i]
			in.kind.Inline = data
			in.arg.Kind = &in.kind
			out[i] = &in.arg
		}
	}
	return out, nil
}

func argsReady(args []argSpec) bool {
	for _, s := range args {
		if s.ref != nil && !s.ref.slot.IsDone() {
			return false
		}
	}
	return true
}

// whenReady runs f on a pooled goroutine once every Ref among args is ready.
// f never runs on the goroutine that completes the last argument: a failure
// that f propagates would otherwise recurse along a chain of dependent calls.
func (rt *runtime) whenReady(args []argSpec, f func()) {
	var pending []*objects.Slot
	for _, a := range args {
		if a.ref != nil && !a.ref.slot.IsDone() {
			pending = append(pending, a.ref.slot)
		}
	}
	if len(pending) == 0 {
		rt.pool.Go(f)
		return
	}
	var left atomic.Int32
	left.Store(int32(len(pending)))
	for _, s := range pending {
		s.OnDone(func() {
			if left.Add(-1) == 0 {
				rt.pool.Go(f)
			}
		})
	}
}

// keepArgs keeps the Refs passed to a call reachable until the call's result
// is settled, so that their values outlive the call that reads them.
func keepArgs(result *objects.Slot, args []argSpec) {
	for _, a := range args {
		if a.ref != nil || len(a.nested) > 0 {
			result.OnDone(func() { goruntime.KeepAlive(args) })
			return
		}
	}
}

// submitTask sends a task to the local raylet once its arguments are ready.
func submitTask(ctx context.Context, function string, args []argSpec, argErr error, opts []Option) *handle {
	return submitTaskN(ctx, function, args, argErr, opts, nil)
}

// submitTaskN is submitTask for a function that returns 1+len(more)
// values: it returns the first's handle and sets more to the others'.
func submitTaskN(ctx context.Context, function string, args []argSpec, argErr error, opts []Option, more []*handle) *handle {
	return submitTaskSpec(ctx, function, args, argErr, opts, more, nil)
}

// submitTaskSpec is submitTaskN with prep, when set, run on the task's
// spec before it is sent.
func submitTaskSpec(ctx context.Context, function string, args []argSpec, argErr error, opts []Option, more []*handle, prep func(*pb.TaskSpec, objects.ID)) *handle {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return failedHandles(nil, err, more)
	}
	if argErr != nil {
		return failedHandles(rt, fmt.Errorf("task %s: %w", function, argErr), more)
	}
	o, err := buildOptions(forTask, opts)
	if err != nil {
		return failedHandles(rt, fmt.Errorf("task %s: %w", function, err), more)
	}
	if o.backpressure > 0 && prep == nil {
		return failedHandles(rt, fmt.Errorf("%w: task %s: Backpressure applies to generator tasks only", ErrInvalidArgument, function), more)
	}
	res, err := o.wireResources(forTask)
	if err != nil {
		return failedHandles(rt, fmt.Errorf("task %s: %w", function, err), more)
	}
	id := rt.ids.Next()
	h := pendingHandle(rt, id, nil)
	spec := &pb.TaskSpec{
		TaskId: id[:], ReturnId: id[:], Function: function, Resources: res,
		MaxRetries: o.maxRetries, RetryExceptions: o.retryOnError, Name: o.name,
		Owner: rt.ownerPID, JobId: rt.jobOf(ctx), Scheduling: o.schedulingFrom(ctx),
	}
	if len(more) > 0 {
		spec.ExtraReturnIds = rt.moreReturns(h, nil, more)
	}
	if prep != nil {
		prep(spec, id)
	}
	h.spec.Store(spec)
	cancelWithCaller(ctx, h)
	keepArgs(h.slot, args)
	if argsReady(args) {
		rt.sendTask(h, spec, args)
	} else {
		rt.whenReady(args, func() { rt.sendTask(h, spec, args) })
	}
	return h
}

// sendTask resolves a task's arguments, all ready, and sends it to the
// local raylet, unless it was cancelled meanwhile.
func (rt *runtime) sendTask(h *handle, spec *pb.TaskSpec, args []argSpec) {
	wire, err := resolved(args)
	if err != nil {
		rt.owner.Fail(h.slot.ID, toWire(fmt.Errorf("task %s: %w", spec.Function, err)))
		return
	}
	spec.Args = wire
	if h.markSent() {
		rt.root.Send(rt.node.Raylet, spec)
	}
}

// cancelWithCaller makes a recursive cancel of the call that ctx belongs
// to, if any, cancel the call h is the result of, as long as it has not
// settled (Ray's recursive cancel).
func cancelWithCaller(ctx context.Context, h *handle) {
	if !actors.InCall(ctx) {
		return // a driver's call: nothing cancels it but Cancel
	}
	if stop := actors.OnCancel(ctx, func() { _ = cancelHandle(h, true) }); stop != nil {
		h.slot.OnDone(stop)
	}
}

// failedHandles returns a failed handle for err, and sets more to further
// ones failed alike.
func failedHandles(rt *runtime, err error, more []*handle) *handle {
	for i := range more {
		more[i] = failedHandle(rt, err)
	}
	return failedHandle(rt, err)
}

// moreReturns sets more to pending handles for the further values of the
// call whose first value is first's (a is its actor, if any), and returns
// their IDs for the wire. The call answers an error at first's object
// alone: the others then fail with it.
func (rt *runtime) moreReturns(first *handle, a *actorHandle, more []*handle) [][]byte {
	ids := make([][]byte, len(more))
	slots := make([]objects.ID, len(more))
	for i := range more {
		id := rt.ids.Next()
		h := pendingHandle(rt, id, a)
		h.first = weak.Make(first)
		more[i], slots[i], ids[i] = h, id, h.slot.ID[:]
	}
	first.slot.OnDone(func() {
		if _, _, _, perr, _ := first.slot.Value(); perr != nil {
			rt.pool.Go(func() {
				for _, id := range slots {
					rt.owner.Fail(id, perr)
				}
			})
		}
	})
	return ids
}
