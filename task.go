package goray

import (
	"context"
	"fmt"

	"github.com/goray-dev/goray/actors"
)

// decodeArg decodes argument i of a registered function, binding the
// references it holds to the runtime of ctx.
func decodeArg[T any](ctx context.Context, what string, args [][]byte, i int) (T, error) {
	v, err := decodeValue[T](ctx, args[i], decodesRefsOf[T]())
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%w: %s: argument %d: %w", ErrInvalidArgument, what, i, err)
	}
	return v, nil
}

// decode2 decodes the first two arguments of a registered function.
func decode2[A, B any](ctx context.Context, what string, args [][]byte) (a A, b B, err error) {
	if a, err = decodeArg[A](ctx, what, args, 0); err != nil {
		return a, b, err
	}
	b, err = decodeArg[B](ctx, what, args, 1)
	return a, b, err
}

// encodeResult encodes a function's result, or passes its error on. The
// references the result holds are pinned for the call's owner and travel
// with the result.
func encodeResult[R any](ctx context.Context, what string, r R, err error) ([]byte, error) {
	if err != nil {
		return nil, userError(err)
	}
	b, s, err := encodeValue(r, holdsRefsOf[R]())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: result: %w", ErrInvalidArgument, what, err)
	}
	if s != nil && len(s.refs) > 0 {
		info := callOf(ctx)
		rt, rerr := runtimeOf(ctx)
		if info == nil || info.Owner == nil || rerr != nil {
			return nil, fmt.Errorf("%w: %s: result holds Refs outside a remote call", ErrInvalidArgument, what)
		}
		contained, err := rt.pinFor(ctx, info.Owner, s)
		if err != nil {
			return nil, fmt.Errorf("%s: result: %w", what, err)
		}
		info.Contained = contained
	}
	return b, nil
}

// registerFunc registers inv as task name; nilFn reports that the user's
// function is nil, which the registry refuses.
func registerFunc(name string, n int, fn any, nilFn bool, inv actors.Invoker) error {
	if nilFn {
		inv = nil
	}
	return actors.Default.RegisterFunc(&actors.Func{Name: name, NumArgs: n, Invoke: inv, Signature: fmt.Sprintf("%T", fn)})
}

// TaskFunc0 is a registered task without arguments.
type TaskFunc0[R any] struct {
	name string
	err  error
}

// Task0 registers fn as a task without arguments under name.
func Task0[R any](name string, fn func(context.Context) (R, error)) *TaskFunc0[R] {
	err := registerFunc(name, 0, fn, fn == nil, func(ctx context.Context, _ [][]byte) ([]byte, error) {
		r, err := fn(ctx)
		return encodeResult(ctx, name, r, err)
	})
	return &TaskFunc0[R]{name: name, err: err}
}

// Remote runs the task and returns a Ref to its result at once.
func (t *TaskFunc0[R]) Remote(ctx context.Context, opts ...Option) Ref[R] {
	return Ref[R]{submitTask(ctx, t.name, nil, t.err, opts)}
}

// Name returns the name the task is registered under.
func (t *TaskFunc0[R]) Name() string { return t.name }

// TaskFunc is a registered task with one argument.
type TaskFunc[A, R any] struct {
	name string
	err  error
}

// Task registers fn as a task under name. The name identifies the function
// in every process of the job: register it at package level, e.g.
//
//	var square = goray.Task("square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
//
// A duplicate name makes Init fail and every call of the task fail.
func Task[A, R any](name string, fn func(context.Context, A) (R, error)) *TaskFunc[A, R] {
	err := registerFunc(name, 1, fn, fn == nil, func(ctx context.Context, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		r, err := fn(ctx, a)
		return encodeResult(ctx, name, r, err)
	})
	return &TaskFunc[A, R]{name: name, err: err}
}

// Remote runs the task on a plain value and returns a Ref to its result at
// once. Errors (bad options, unencodable argument, no runtime) come back
// from Get on the Ref.
func (t *TaskFunc[A, R]) Remote(ctx context.Context, a A, opts ...Option) Ref[R] {
	s, err := encodeArg(a)
	return Ref[R]{submitTask(ctx, t.name, []argSpec{s}, firstErr(t.err, err), opts)}
}

// Submit runs the task on an Arg: a Ref (the task starts once it is ready;
// the caller does not wait) or Val(v).
func (t *TaskFunc[A, R]) Submit(ctx context.Context, a Arg[A], opts ...Option) Ref[R] {
	specs, err := argSpecs(a)
	return Ref[R]{submitTask(ctx, t.name, specs, firstErr(t.err, err), opts)}
}

// Name returns the name the task is registered under.
func (t *TaskFunc[A, R]) Name() string { return t.name }

// TaskFunc2 is a registered task with two arguments.
type TaskFunc2[A, B, R any] struct {
	name string
	err  error
}

// Task2 registers fn, a task with two arguments, under name.
func Task2[A, B, R any](name string, fn func(context.Context, A, B) (R, error)) *TaskFunc2[A, B, R] {
	err := registerFunc(name, 2, fn, fn == nil, func(ctx context.Context, args [][]byte) ([]byte, error) {
		a, b, err := decode2[A, B](ctx, name, args)
		if err != nil {
			return nil, err
		}
		r, err := fn(ctx, a, b)
		return encodeResult(ctx, name, r, err)
	})
	return &TaskFunc2[A, B, R]{name: name, err: err}
}

// Remote runs the task on plain values.
func (t *TaskFunc2[A, B, R]) Remote(ctx context.Context, a A, b B, opts ...Option) Ref[R] {
	sa, err1 := encodeArg(a)
	sb, err2 := encodeArg(b)
	return Ref[R]{submitTask(ctx, t.name, []argSpec{sa, sb}, firstErr(t.err, err1, err2), opts)}
}

// Submit runs the task on Args (Refs or Val values).
func (t *TaskFunc2[A, B, R]) Submit(ctx context.Context, a Arg[A], b Arg[B], opts ...Option) Ref[R] {
	specs, err := argSpecs(a, b)
	return Ref[R]{submitTask(ctx, t.name, specs, firstErr(t.err, err), opts)}
}

// Name returns the name the task is registered under.
func (t *TaskFunc2[A, B, R]) Name() string { return t.name }

// TaskFunc3 is a registered task with three arguments.
type TaskFunc3[A, B, C, R any] struct {
	name string
	err  error
}

// Task3 registers fn, a task with three arguments, under name.
func Task3[A, B, C, R any](name string, fn func(context.Context, A, B, C) (R, error)) *TaskFunc3[A, B, C, R] {
	err := registerFunc(name, 3, fn, fn == nil, func(ctx context.Context, args [][]byte) ([]byte, error) {
		a, b, err := decode2[A, B](ctx, name, args)
		if err != nil {
			return nil, err
		}
		c, err := decodeArg[C](ctx, name, args, 2)
		if err != nil {
			return nil, err
		}
		r, err := fn(ctx, a, b, c)
		return encodeResult(ctx, name, r, err)
	})
	return &TaskFunc3[A, B, C, R]{name: name, err: err}
}

// Remote runs the task on plain values.
func (t *TaskFunc3[A, B, C, R]) Remote(ctx context.Context, a A, b B, c C, opts ...Option) Ref[R] {
	sa, err1 := encodeArg(a)
	sb, err2 := encodeArg(b)
	sc, err3 := encodeArg(c)
	return Ref[R]{submitTask(ctx, t.name, []argSpec{sa, sb, sc}, firstErr(t.err, err1, err2, err3), opts)}
}

// Submit runs the task on Args (Refs or Val values).
func (t *TaskFunc3[A, B, C, R]) Submit(ctx context.Context, a Arg[A], b Arg[B], c Arg[C], opts ...Option) Ref[R] {
	specs, err := argSpecs(a, b, c)
	return Ref[R]{submitTask(ctx, t.name, specs, firstErr(t.err, err), opts)}
}

// Name returns the name the task is registered under.
func (t *TaskFunc3[A, B, C, R]) Name() string { return t.name }

type argSource interface {
	argSpec() (argSpec, error)
}

func argSpecs(args ...argSource) ([]argSpec, error) {
	out := make([]argSpec, len(args))
	for i, a := range args {
		if a == nil {
			return nil, fmt.Errorf("%w: argument %d is a nil Arg", ErrInvalidArgument, i)
		}
		s, err := a.argSpec()
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
