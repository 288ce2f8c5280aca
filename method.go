package goray

import (
	"context"
	"fmt"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// registerMethod registers inv as method name of c; nilFn reports that
// the user's function is nil, which the registry refuses.
func registerMethod[S any](c class[S], name string, n int, fn any, nilFn bool, inv func(ctx context.Context, s *S, args [][]byte) ([]byte, error)) error {
	if c == nil {
		return fmt.Errorf("%w: method %q of a nil actor type", ErrInvalidArgument, name)
	}
	if err := c.regErr(); err != nil {
		return fmt.Errorf("method %q: %w", name, err)
	}
	what := c.typeName() + "." + name
	m := &actors.Method{Name: name, NumArgs: n, Signature: fmt.Sprintf("%T", fn)}
	if !nilFn {
		m.Invoke = func(ctx context.Context, inst any, args [][]byte) ([]byte, error) {
			s, ok := inst.(*S)
			if !ok {
				return nil, fmt.Errorf("%w: %s called on a %T", ErrInvalidArgument, what, inst)
			}
			return inv(ctx, s, args)
		}
	}
	return actors.Default.RegisterMethod(c.typeName(), m)
}

// inGroup assigns method name of actor type typ to concurrency group
// group; regErr is the method's registration error, if any.
func inGroup(typ, name, group string, regErr error) error {
	if regErr != nil {
		return regErr
	}
	if group == "" {
		return fmt.Errorf("%w: method %s.%s: InGroup with an empty group name", ErrInvalidArgument, typ, name)
	}
	t, err := actors.Default.Actor(typ)
	if err == nil {
		err = t.SetGroup(name, group)
	}
	return err
}

// typeNameOf returns the name of actor type c, or "" for a nil one.
func typeNameOf[S any](c class[S]) string {
	if c == nil {
		return ""
	}
	return c.typeName()
}

// MethodFunc0 is a registered actor method without arguments.
type MethodFunc0[S, R any] struct {
	name string
	typ  string
	err  error
}

// Method0 registers fn, a method without arguments, of actor type c.
func Method0[S, R any](c class[S], name string, fn func(*S, context.Context) (R, error)) *MethodFunc0[S, R] {
	err := registerMethod(c, name, 0, fn, fn == nil, func(ctx context.Context, s *S, _ [][]byte) ([]byte, error) {
		r, err := fn(s, ctx)
		return encodeResult(ctx, name, r, err)
	})
	return &MethodFunc0[S, R]{name: name, typ: typeNameOf[S](c), err: err}
}

// Remote calls the method on actor a and returns a Ref to its result.
func (m *MethodFunc0[S, R]) Remote(ctx context.Context, a ActorRef[S], opts ...Option) Ref[R] {
	return Ref[R]{callActor(ctx, a.a, m.name, nil, m.err, opts)}
}

// MethodFunc is a registered actor method with one argument.
type MethodFunc[S, A, R any] struct {
	name string
	typ  string
	err  error
}

// Method registers fn as method name of actor type c. A method expression
// fits directly:
//
//	var add = goray.Method(counter, "add", (*Counter).Add)
func Method[S, A, R any](c class[S], name string, fn func(*S, context.Context, A) (R, error)) *MethodFunc[S, A, R] {
	err := registerMethod(c, name, 1, fn, fn == nil, func(ctx context.Context, s *S, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		r, err := fn(s, ctx, a)
		return encodeResult(ctx, name, r, err)
	})
	return &MethodFunc[S, A, R]{name: name, typ: typeNameOf[S](c), err: err}
}

// Remote calls the method on actor a with a plain value.
func (m *MethodFunc[S, A, R]) Remote(ctx context.Context, a ActorRef[S], x A, opts ...Option) Ref[R] {
	s, err := encodeArg(x)
	return Ref[R]{callActor(ctx, a.a, m.name, []argSpec{s}, firstErr(m.err, err), opts)}
}

// Submit calls the method with an Arg (a Ref, or Val).
func (m *MethodFunc[S, A, R]) Submit(ctx context.Context, a ActorRef[S], x Arg[A], opts ...Option) Ref[R] {
	specs, err := argSpecs(x)
	return Ref[R]{callActor(ctx, a.a, m.name, specs, firstErr(m.err, err), opts)}
}

// MethodFunc2 is a registered actor method with two arguments.
type MethodFunc2[S, A, B, R any] struct {
	name string
	typ  string
	err  error
}

// Method2 registers fn, a method with two arguments, of actor type c.
func Method2[S, A, B, R any](c class[S], name string, fn func(*S, context.Context, A, B) (R, error)) *MethodFunc2[S, A, B, R] {
	err := registerMethod(c, name, 2, fn, fn == nil, func(ctx context.Context, s *S, args [][]byte) ([]byte, error) {
		a, b, err := decode2[A, B](ctx, name, args)
		if err != nil {
			return nil, err
		}
		r, err := fn(s, ctx, a, b)
		return encodeResult(ctx, name, r, err)
	})
	return &MethodFunc2[S, A, B, R]{name: name, typ: typeNameOf[S](c), err: err}
}

// Remote calls the method with plain values.
func (m *MethodFunc2[S, A, B, R]) Remote(ctx context.Context, a ActorRef[S], x A, y B, opts ...Option) Ref[R] {
	sx, err1 := encodeArg(x)
	sy, err2 := encodeArg(y)
	return Ref[R]{callActor(ctx, a.a, m.name, []argSpec{sx, sy}, firstErr(m.err, err1, err2), opts)}
}

// Submit calls the method with Args (Refs or Val values).
func (m *MethodFunc2[S, A, B, R]) Submit(ctx context.Context, a ActorRef[S], x Arg[A], y Arg[B], opts ...Option) Ref[R] {
	specs, err := argSpecs(x, y)
	return Ref[R]{callActor(ctx, a.a, m.name, specs, firstErr(m.err, err), opts)}
}

// callActor sends a method call straight to the actor's host. Calls whose
// Ref arguments are not ready wait, and later calls through the same handle
// wait behind them, so calls from one process run in the order made.
func callActor(ctx context.Context, a *actorHandle, method string, args []argSpec, argErr error, opts []Option) *handle {
	return callActorN(ctx, a, method, args, argErr, nil, opts)
}

// callActorN is callActor for a method that returns 1+len(more) values:
// it returns the first's handle and sets more to the others'.
func callActorN(ctx context.Context, a *actorHandle, method string, args []argSpec, argErr error, more []*handle, opts []Option) *handle {
	return callActorSpec(ctx, a, method, args, argErr, more, opts, nil)
}

// callActorSpec is callActorN with prep, when set, run on the call before
// it is queued: a generator call's (which alone takes Backpressure).
func callActorSpec(ctx context.Context, a *actorHandle, method string, args []argSpec, argErr error, more []*handle, opts []Option, prep func(*pb.ActorCall, objects.ID)) *handle {
	if a == nil {
		rt, _ := runtimeOf(ctx)
		return failedHandles(rt, fmt.Errorf("%w: call %s on a zero ActorRef", ErrInvalidArgument, method), more)
	}
	rt := a.rt
	if err := rt.err(); err != nil {
		return failedHandles(nil, err, more)
	}
	if argErr != nil {
		return failedHandles(rt, fmt.Errorf("%s.%s: %w", a.typeName, method, argErr), more)
	}
	var name string
	var retries *int32
	if len(opts) > 0 {
		o, err := buildOptions(forMethod, opts)
		if err != nil {
			return failedHandles(rt, fmt.Errorf("%s.%s: %w", a.typeName, method, err), more)
		}
		if o.backpressure > 0 && prep == nil {
			return failedHandles(rt, fmt.Errorf("%w: %s.%s: Backpressure applies to generator calls only", ErrInvalidArgument, a.typeName, method), more)
		}
		name = o.name
		if o.retriesSet {
			retries = &o.maxRetries
		}
	}
	id := rt.ids.Next()
	h := pendingHandle(rt, id, a)
	cancelWithCaller(ctx, h)
	keepArgs(h.slot, args)
	call := &pb.ActorCall{ActorId: a.id, Method: method, ReturnId: id[:], Owner: rt.ownerPID, Name: name, MaxRetries: retries}
	if len(more) > 0 {
		call.ExtraReturnIds = rt.moreReturns(h, a, more)
	}
	if prep != nil {
		prep(call, id)
	}
	a.call(queuedCall{call: call, args: args, h: h})
	return h
}

// MethodFunc3 is a registered actor method with three arguments.
type MethodFunc3[S, A, B, C, R any] struct {
	name string
	typ  string
	err  error
}

// Method3 registers fn, a method with three arguments, of actor type c.
func Method3[S, A, B, C, R any](c class[S], name string, fn func(*S, context.Context, A, B, C) (R, error)) *MethodFunc3[S, A, B, C, R] {
	err := registerMethod(c, name, 3, fn, fn == nil, func(ctx context.Context, s *S, args [][]byte) ([]byte, error) {
		a, b, err := decode2[A, B](ctx, name, args)
		if err != nil {
			return nil, err
		}
		z, err := decodeArg[C](ctx, name, args, 2)
		if err != nil {
			return nil, err
		}
		r, err := fn(s, ctx, a, b, z)
		return encodeResult(ctx, name, r, err)
	})
	return &MethodFunc3[S, A, B, C, R]{name: name, typ: typeNameOf[S](c), err: err}
}

// Remote calls the method with plain values.
func (m *MethodFunc3[S, A, B, C, R]) Remote(ctx context.Context, a ActorRef[S], x A, y B, z C, opts ...Option) Ref[R] {
	sx, err1 := encodeArg(x)
	sy, err2 := encodeArg(y)
	sz, err3 := encodeArg(z)
	return Ref[R]{callActor(ctx, a.a, m.name, []argSpec{sx, sy, sz}, firstErr(m.err, err1, err2, err3), opts)}
}

// Submit calls the method with Args (Refs or Val values).
func (m *MethodFunc3[S, A, B, C, R]) Submit(ctx context.Context, a ActorRef[S], x Arg[A], y Arg[B], z Arg[C], opts ...Option) Ref[R] {
	specs, err := argSpecs(x, y, z)
	return Ref[R]{callActor(ctx, a.a, m.name, specs, firstErr(m.err, err), opts)}
}

// InGroup runs the method's calls in concurrency group group of each actor
// of its type (see ConcurrencyGroup). Call it where the method is
// registered, at package level; a bad group makes every call fail.
func (m *MethodFunc0[S, R]) InGroup(group string) *MethodFunc0[S, R] {
	m.err = inGroup(m.typ, m.name, group, m.err)
	return m
}

// InGroup runs the method's calls in concurrency group group of each actor
// of its type (see ConcurrencyGroup). Call it where the method is
// registered, at package level; a bad group makes every call fail.
func (m *MethodFunc[S, A, R]) InGroup(group string) *MethodFunc[S, A, R] {
	m.err = inGroup(m.typ, m.name, group, m.err)
	return m
}

// InGroup runs the method's calls in concurrency group group of each actor
// of its type (see ConcurrencyGroup). Call it where the method is
// registered, at package level; a bad group makes every call fail.
func (m *MethodFunc2[S, A, B, R]) InGroup(group string) *MethodFunc2[S, A, B, R] {
	m.err = inGroup(m.typ, m.name, group, m.err)
	return m
}

// InGroup runs the method's calls in concurrency group group of each actor
// of its type (see ConcurrencyGroup). Call it where the method is
// registered, at package level; a bad group makes every call fail.
func (m *MethodFunc3[S, A, B, C, R]) InGroup(group string) *MethodFunc3[S, A, B, C, R] {
	m.err = inGroup(m.typ, m.name, group, m.err)
	return m
}
