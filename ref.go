package goray

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"sync/atomic"
	"time"
	"weak"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// ObjectID identifies an object across the cluster.
type ObjectID = objects.ID

// handle is the process-local reference to one object. When no Ref reaches
// it any more, the runtime drops the owner's reference to the object, so a
// value in the store is freed once nothing can read it.
type handle struct {
	rt   *runtime
	slot *objects.Slot
	// actor is set when the object is an actor call's result.
	actor *actorHandle
	// task is set for the result of a task or actor call (it can be cancelled).
	task bool
	// first is the handle of a call's first value when this handle is one
	// of its further values: cancelling either cancels the call. It is
	// weak, so that each value's lifetime is its own; the first's slot
	// holds that handle until the call settles, and Cancel has nothing to
	// do after.
	first weak.Pointer[handle]
	// spec is a task's spec, kept to resubmit it should its node die; a
	// death and a late acceptance may both resubmit, so it is swapped.
	spec atomic.Pointer[pb.TaskSpec]
	// sent moves from callWaiting to callSent when the call leaves this
	// process, or to callCancelled when it is cancelled before: whoever
	// moves it first decides who answers a cancel.
	sent atomic.Int32
	// err is set when the call failed before it was submitted.
	err error
	// owner is the core that owns the object when this process borrows
	// it (nil when this process owns it); token is the borrow's.
	owner *pb.Pid
	token objects.ID
	// wire is the reference as it was decoded, until it is bound.
	wire *pb.ObjectRef
	// nested are the handles of the references the object's value holds,
	// which it keeps alive.
	nested []*handle
}

// States of handle.sent.
const (
	callWaiting int32 = iota
	callSent
	callCancelled
)

// pendingHandle returns a handle whose slot waits for a result; a is the
// actor whose call produces it, if any.
func pendingHandle(rt *runtime, id objects.ID, a *actorHandle) *handle {
	h := &handle{rt: rt, actor: a, task: true}
	key := ""
	if a != nil {
		key = a.key
	}
	h.slot = rt.owner.Pending(id, h, key)
	return h
}

// markSent records that the call is about to leave this process; it
// reports false when the call was cancelled first.
func (h *handle) markSent() bool { return h.sent.CompareAndSwap(callWaiting, callSent) }

// storedHandle ties a store object's lifetime to its handle: the owner's
// reference is dropped when the handle becomes unreachable. Inline values
// need no such hook; they go with the handle. It runs as the Owner's Stored
// hook, while the slot still holds the handle.
func (rt *runtime) storedHandle(s *objects.Slot) {
	if h, ok := s.Holder().(*handle); ok {
		goruntime.AddCleanup(h, releaseSlot, cleanupArg{rt: rt, slot: s})
	}
}

type cleanupArg struct {
	rt   *runtime
	slot *objects.Slot
}

func releaseSlot(a cleanupArg) {
	if a.rt.owner.Release(a.slot) && a.rt.err() == nil {
		a.rt.root.Send(a.rt.node.Directory, &pb.RefDelta{Decr: [][]byte{a.slot.ID[:]}})
	}
}

// failedHandle is a Ref that failed before it was submitted: Get returns err.
func failedHandle(rt *runtime, err error) *handle {
	return &handle{rt: rt, slot: settled, err: err}
}

// settled is a slot that is complete, shared by all Refs that failed before
// submission (their handle carries the error). It is never written again.
var settled = objects.NewOwner().Ready(objects.ID{}, nil, &pb.Result{})

// objectRef describes h's value in a store for the wire: its ID, its owner
// and where it is. Call it once the slot is done.
func (h *handle) objectRef() *pb.ObjectRef {
	_, storeNode, size, _, _ := h.slot.Value()
	store := h.slot.Store()
	if store == nil && storeNode == h.rt.node.ID {
		store = h.rt.storePID
	}
	owner := h.owner
	if owner == nil {
		owner = h.rt.ownerPID
	}
	ref := &pb.ObjectRef{Id: h.slot.ID.Bytes(), Owner: owner, Size: size}
	if store != nil {
		ref.Locations = []*pb.Pid{store}
	} else if h.wire != nil {
		ref.Locations = h.wire.Locations
	}
	return ref
}

// ended returns why h's runtime ended, or nil.
func (h *handle) ended() error {
	if h.rt == nil {
		return nil
	}
	return h.rt.err()
}

// Ref is a typed future: the result of a task or actor call, or a value
// stored with Put. It is cheap to copy and may be passed as an argument to
// other tasks and actor calls (see Arg), which then wait for it without the
// caller waiting. The zero Ref is invalid.
type Ref[T any] struct{ h *handle }

// ID returns the object's ID.
func (r Ref[T]) ID() ObjectID {
	if r.h == nil {
		return ObjectID{}
	}
	return r.h.slot.ID
}

// Ready reports, without blocking, whether the value (or its error) is there.
func (r Ref[T]) Ready() bool { return r.h != nil && r.h.slot.IsDone() }

func (r Ref[T]) String() string { return "Ref(" + r.ID().String() + ")" }

func (r Ref[T]) handle() *handle { return r.h }

// isArg makes Ref[T] an Arg[T].
func (r Ref[T]) isArg(*T) {}

func (r Ref[T]) argSpec() (argSpec, error) {
	if r.h == nil {
		return argSpec{}, fmt.Errorf("%w: zero Ref passed as argument", ErrInvalidArgument)
	}
	return argSpec{ref: r.h}, nil
}

// AnyRef is any Ref, whatever its type: what Wait, Cancel and Free take.
type AnyRef interface {
	ID() ObjectID
	handle() *handle
}

// Arg is an argument of type T to a remote call: a Ref[T] or a plain value
// wrapped with Val. The Submit methods take Args; Remote takes plain values.
type Arg[T any] interface {
	isArg(*T)
	argSpec() (argSpec, error)
}

type value[T any] struct{ v T }

func (v value[T]) isArg(*T) {}
func (v value[T]) argSpec() (argSpec, error) {
	b, s, err := encodeValue(v.v, holdsRefsOf[T]())
	if err != nil {
		return argSpec{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	a := argSpec{data: b}
	if s != nil {
		a.nested = s.refs
	}
	return a, nil
}

// Val wraps a plain value as an Arg, to mix values and Refs in Submit.
func Val[T any](v T) Arg[T] { return value[T]{v} }

// argSpec is one argument before submission: encoded data, or a Ref.
type argSpec struct {
	data []byte
	ref  *handle
	// nested are the handles of the references data holds: the caller
	// keeps them until the call settles.
	nested []*handle
}

func encodeArg[T any](v T) (argSpec, error) { return value[T]{v}.argSpec() }

// Get waits for the value of r and decodes it. It returns the task's error
// if it failed, and honours ctx's deadline and cancellation. Inside a task,
// waiting lends the task's CPUs to other work meanwhile.
func Get[T any](ctx context.Context, r Ref[T]) (T, error) {
	var zero T
	data, err := fetch(ctx, r.h)
	if err != nil {
		return zero, err
	}
	v, err := decodeValue[T](ctx, data, decodesRefsOf[T]())
	if err != nil {
		return zero, fmt.Errorf("goray: decoding %s: %w", r.ID(), err)
	}
	return v, nil
}

// GetAll waits for every Ref and returns their values in order.
func GetAll[T any](ctx context.Context, refs []Ref[T]) ([]T, error) {
	out := make([]T, len(refs))
	for i, r := range refs {
		v, err := Get(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// fetch waits for h and returns its encoded value.
func fetch(ctx context.Context, h *handle) ([]byte, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: zero Ref", ErrInvalidArgument)
	}
	if h.slot == nil {
		return nil, fmt.Errorf("%w: a Ref that was not bound to a runtime", ErrInvalidArgument)
	}
	if h.err != nil {
		return nil, h.err
	}
	if err := h.ended(); err != nil {
		return nil, err
	}
	if err := wait(ctx, h); err != nil {
		return nil, err
	}
	if err := h.ended(); err != nil {
		return nil, err
	}
	data, storeNode, _, perr, freed := h.slot.Value()
	switch {
	case freed:
		return nil, fmt.Errorf("%w: %s", ErrObjectFreed, h.slot.ID)
	case perr != nil:
		return nil, fromWire(perr)
	case storeNode == "":
		return data, nil
	}
	data, err := h.rt.node.Env.Fetch(ctx, h.objectRef())
	var re *actors.RemoteError
	switch {
	case err == nil:
		return data, nil
	case ctx.Err() != nil:
		return nil, ctxError(ctx)
	case errors.As(err, &re):
		return nil, fromWire(re.E)
	default:
		return nil, fmt.Errorf("%w: %w", ErrObjectLost, err)
	}
}

// wait blocks until h's slot settles, ctx ends, or the runtime shuts down.
func wait(ctx context.Context, h *handle) error {
	if h.slot.IsDone() {
		return nil
	}
	if info := callOf(ctx); info != nil && info.Raylet != nil && h.rt != nil {
		// A task waiting on another: lend its CPUs while it waits.
		h.rt.root.Send(info.Raylet, &pb.TaskBlocked{TaskId: info.TaskID})
		defer h.rt.root.Send(info.Raylet, &pb.TaskUnblocked{TaskId: info.TaskID})
	}
	select {
	case <-h.slot.Done():
		return nil
	case <-ctx.Done():
		return ctxError(ctx)
	}
}

// Put stores v as an object owned by this process and returns its Ref. Small
// values stay in this process; from the inline limit (100 KiB encoded) on
// they go to the node's object store.
func Put[T any](ctx context.Context, v T) (Ref[T], error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return Ref[T]{}, err
	}
	data, s, err := encodeValue(v, holdsRefsOf[T]())
	if err != nil {
		return Ref[T]{}, fmt.Errorf("%w: Put: %w", ErrInvalidArgument, err)
	}
	id := rt.ids.Next()
	h := &handle{rt: rt}
	if s != nil {
		// The object holds the references inside its value.
		h.nested = s.refs
	}
	if len(data) >= rt.inline {
		res, err := rt.putObject(ctx, id, data)
		if err != nil {
			return Ref[T]{}, fmt.Errorf("goray: Put: %w", err)
		}
		h.slot = rt.owner.Ready(id, h, res)
	} else {
		h.slot = rt.owner.ReadyInline(id, data)
	}
	return Ref[T]{h: h}, nil
}

// putObject puts data into the local store as object id and returns its
// location, for the object's owner to complete it with. When ctx ends
// first, the object is deleted again, in case the store took it.
func (rt *runtime) putObject(ctx context.Context, id objects.ID, data []byte) (*pb.Result, error) {
	reply, err := rt.request(ctx, rt.node.Store, &pb.PutObject{ObjectId: id[:], Data: data})
	if err != nil {
		if ctx.Err() != nil {
			rt.root.Send(rt.node.Store, &pb.DeleteObjects{ObjectIds: [][]byte{id[:]}})
		}
		return nil, err
	}
	ack, ok := reply.(*pb.Ack)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: unexpected reply %T from the store", ErrSystem, reply)
	case ack.Error != nil:
		return nil, fromWire(ack.Error)
	}
	return &pb.Result{StoreNode: rt.node.ID, Store: rt.storePID, Size: int64(len(data))}, nil
}

// Wait waits until numReady of refs are ready, the timeout passes, or ctx
// ends, and splits refs into ready and not ready, each in the given order.
// A negative timeout waits without limit; zero only polls. It is not an
// error for the timeout to pass: ready then holds fewer than numReady.
func Wait(ctx context.Context, refs []AnyRef, numReady int, timeout time.Duration) (ready, notReady []AnyRef, err error) {
	if numReady < 1 || numReady > len(refs) {
		return nil, nil, fmt.Errorf("%w: Wait: numReady %d must be in [1, %d]", ErrInvalidArgument, numReady, len(refs))
	}
	for i, r := range refs {
		if r == nil || r.handle() == nil {
			return nil, nil, fmt.Errorf("%w: Wait: ref %d is a zero Ref", ErrInvalidArgument, i)
		}
		if err := r.handle().ended(); err != nil {
			return nil, nil, err
		}
	}
	count := func() int {
		n := 0
		for _, r := range refs {
			if r.handle().slot.IsDone() {
				n++
			}
		}
		return n
	}
	if count() < numReady && timeout != 0 {
		notify := make(chan struct{}, len(refs))
		for _, r := range refs {
			// Drop the callbacks when Wait returns, so that polling a slot
			// that stays pending does not pile them up.
			defer r.handle().slot.OnDone(func() { notify <- struct{}{} })()
		}
		var expired <-chan time.Time
		if timeout > 0 {
			t := time.NewTimer(timeout)
			defer t.Stop()
			expired = t.C
		}
	loop:
		for got := 0; got < numReady; {
			select {
			case <-notify:
				got++
			case <-expired:
				break loop
			case <-ctx.Done():
				return nil, nil, ctxError(ctx)
			}
		}
	}
	for _, r := range refs {
		if r.handle().slot.IsDone() && len(ready) < numReady {
			ready = append(ready, r)
		} else {
			notReady = append(notReady, r)
		}
	}
	return ready, notReady, nil
}

// CancelOption configures Cancel.
type CancelOption func(*cancelOptions)

type cancelOptions struct{ notRecursive bool }

// NotRecursive cancels the call alone, not the tasks and actor calls it
// submitted (Ray's recursive=False).
func NotRecursive() CancelOption { return func(o *cancelOptions) { o.notRecursive = true } }

// Cancel cancels the task or actor call that produces r: one that has not
// started is dropped; a running one sees its context cancelled. Get on r
// then fails with ErrTaskCancelled, once the node that holds the call has
// acted on the cancel. Cancelling a finished call does nothing. As in Ray,
// the cancel is recursive: the tasks and actor calls the call submitted
// that have not settled are cancelled too (and theirs, in turn), unless
// NotRecursive is given.
func Cancel(ctx context.Context, r AnyRef, opts ...CancelOption) error {
	if r == nil || r.handle() == nil {
		return fmt.Errorf("%w: Cancel: zero Ref", ErrInvalidArgument)
	}
	var o cancelOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return cancelHandle(r.handle(), !o.notRecursive)
}

// cancelHandle cancels the call whose result h is.
func cancelHandle(h *handle, recursive bool) error {
	if first := h.first; first != (weak.Pointer[handle]{}) {
		if h = first.Value(); h == nil {
			return nil // the call settled: nothing to cancel
		}
	}
	if err := h.ended(); err != nil {
		return err
	}
	if !h.task || h.slot.IsDone() {
		return nil
	}
	rt, id := h.rt, h.slot.ID
	if h.sent.CompareAndSwap(callWaiting, callCancelled) {
		// Still in this process, waiting for its arguments or its actor.
		rt.owner.Fail(id, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED, Message: fmt.Sprintf("%s cancelled before it was sent", id)})
		return nil
	}
	msg := &pb.CancelTask{TaskId: id[:], ReturnId: id[:], NotRecursive: !recursive}
	if h.actor != nil {
		msg.ActorId = h.actor.id
		h.actor.sendCancel(msg)
		return nil
	}
	rt.root.Send(rt.node.Raylet, msg)
	return nil
}

// Free releases the values of refs at once, before their Refs become
// unreachable: Get on them fails with ErrObjectFreed afterwards.
func Free(ctx context.Context, refs ...AnyRef) error {
	var ids [][]byte
	var rt *runtime
	for i, r := range refs {
		if r == nil || r.handle() == nil {
			return fmt.Errorf("%w: Free: ref %d is a zero Ref", ErrInvalidArgument, i)
		}
		h := r.handle()
		if err := h.ended(); err != nil {
			return err
		}
		if h.rt == nil || h.err != nil {
			continue
		}
		if h.owner != nil {
			return fmt.Errorf("%w: Free: ref %d names an object this process borrows; only its owner frees it", ErrInvalidArgument, i)
		}
		rt = h.rt
		if rt.owner.Free(h.slot) {
			ids = append(ids, h.slot.ID[:])
		}
	}
	for len(ids) > 0 && rt != nil {
		n := min(len(ids), pb.MaxIDs)
		rt.root.Send(rt.node.Directory, &pb.FreeObjects{ObjectIds: ids[:n]})
		ids = ids[n:]
	}
	return nil
}
