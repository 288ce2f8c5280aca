package goray

import (
	"context"
	"fmt"

	"github.com/goray-dev/goray/actors"
	pb "github.com/goray-dev/goray/proto"
)

// MaxReturns bounds the values one call of a TaskRN or MethodRN function
// returns.
const MaxReturns = pb.MaxIDs + 1

// encodeReturn encodes value i of a function returning several, pinning
// the references it holds for the call's owner.
func encodeReturn[R any](ctx context.Context, what string, i int, r R) (actors.Return, error) {
	b, s, err := encodeValue(r, holdsRefsOf[R]())
	if err != nil {
		return actors.Return{}, fmt.Errorf("%w: %s: result %d: %w", ErrInvalidArgument, what, i, err)
	}
	out := actors.Return{Data: b}
	if s != nil && len(s.refs) > 0 {
		info := callOf(ctx)
		rt, rerr := runtimeOf(ctx)
		if info == nil || info.Owner == nil || rerr != nil {
			return out, fmt.Errorf("%w: %s: result %d holds Refs outside a remote call", ErrInvalidArgument, what, i)
		}
		if out.Contained, err = rt.pinFor(ctx, info.Owner, s); err != nil {
			return out, fmt.Errorf("%s: result %d: %w", what, i, err)
		}
	}
	return out, nil
}

// encodeReturns encodes the n values of a function returning several with
// enc: the first is returned, the others go to the call's CallInfo.Extra.
// When one fails to encode, the references the others hold still travel
// with the error, so that the owner lets go of them.
func encodeReturns(ctx context.Context, what string, n int, enc func(i int) (actors.Return, error)) ([]byte, error) {
	info := callOf(ctx)
	if info == nil {
		return nil, fmt.Errorf("%w: %s: called outside a remote call", ErrInvalidArgument, what)
	}
	if info.NumReturns != n {
		// A wire error, so that the caller sees ErrInvalidArgument.
		return nil, &actors.RemoteError{E: &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_INVALID, Function: what, NodeId: info.NodeID,
			Message: fmt.Sprintf("%s returned %d values, its caller asked for %d", what, n, info.NumReturns)}}
	}
	var first actors.Return
	extra := make([]actors.Return, 0, n-1)
	for i := range n {
		r, err := enc(i)
		if err != nil {
			info.Contained = first.Contained
			for _, e := range extra {
				info.Contained = append(info.Contained, e.Contained...)
			}
			info.Contained = append(info.Contained, r.Contained...)
			return nil, err
		}
		if i == 0 {
			first = r
		} else {
			extra = append(extra, r)
		}
	}
	info.Contained, info.Extra = first.Contained, extra
	return first.Data, nil
}

// encodeResult2 encodes the two values of a function returning a pair.
func encodeResult2[R1, R2 any](ctx context.Context, what string, r1 R1, r2 R2, err error) ([]byte, error) {
	if err != nil {
		return nil, userError(err)
	}
	return encodeReturns(ctx, what, 2, func(i int) (actors.Return, error) {
		if i == 0 {
			return encodeReturn(ctx, what, i, r1)
		}
		return encodeReturn(ctx, what, i, r2)
	})
}

// encodeResult3 encodes the three values of a function returning a triple.
func encodeResult3[R1, R2, R3 any](ctx context.Context, what string, r1 R1, r2 R2, r3 R3, err error) ([]byte, error) {
	if err != nil {
		return nil, userError(err)
	}
	return encodeReturns(ctx, what, 3, func(i int) (actors.Return, error) {
		switch i {
		case 0:
			return encodeReturn(ctx, what, i, r1)
		case 1:
			return encodeReturn(ctx, what, i, r2)
		}
		return encodeReturn(ctx, what, i, r3)
	})
}

// encodeResultN encodes the values of a function returning a slice, one
// object each.
func encodeResultN[R any](ctx context.Context, what string, rs []R, err error) ([]byte, error) {
	if err != nil {
		return nil, userError(err)
	}
	return encodeReturns(ctx, what, len(rs), func(i int) (actors.Return, error) {
		return encodeReturn(ctx, what, i, rs[i])
	})
}

// checkReturns checks the count of values a TaskRN or MethodRN call asks for.
func checkReturns(n int) error {
	if n < 1 || n > MaxReturns {
		return fmt.Errorf("%w: %d return values (want 1 to %d)", ErrInvalidArgument, n, MaxReturns)
	}
	return nil
}

// refsOf wraps a call's handles as typed Refs.
func refsOf[R any](first *handle, more []*handle) []Ref[R] {
	out := make([]Ref[R], 1+len(more))
	out[0] = Ref[R]{first}
	for i, h := range more {
		out[i+1] = Ref[R]{h}
	}
	return out
}

// failedRefs returns one Ref that fails with err.
func failedRefs[R any](ctx context.Context, err error) []Ref[R] {
	rt, _ := runtimeOf(ctx)
	return []Ref[R]{{failedHandle(rt, err)}}
}

// TaskFuncR2 is a registered task with one argument that returns two
// values, each its own object.
type TaskFuncR2[A, R1, R2 any] struct {
	name string
	err  error
}

// TaskR2 registers fn, a task with one argument returning two values (Ray's
// num_returns=2), under name. Each value is an object of its own, with its
// own Ref: a caller passes one on without fetching the other. An error
// fails both Refs.
func TaskR2[A, R1, R2 any](name string, fn func(context.Context, A) (R1, R2, error)) *TaskFuncR2[A, R1, R2] {
	err := registerFunc(name, 1, fn, fn == nil, func(ctx context.Context, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		r1, r2, err := fn(ctx, a)
		return encodeResult2(ctx, name, r1, r2, err)
	})
	return &TaskFuncR2[A, R1, R2]{name: name, err: err}
}

// Remote runs the task on a plain value and returns a Ref to each of its
// results at once.
func (t *TaskFuncR2[A, R1, R2]) Remote(ctx context.Context, a A, opts ...Option) (Ref[R1], Ref[R2]) {
	s, err := encodeArg(a)
	var more [1]*handle
	h := submitTaskN(ctx, t.name, []argSpec{s}, firstErr(t.err, err), opts, more[:])
	return Ref[R1]{h}, Ref[R2]{more[0]}
}

// Submit runs the task on an Arg (a Ref, or Val).
func (t *TaskFuncR2[A, R1, R2]) Submit(ctx context.Context, a Arg[A], opts ...Option) (Ref[R1], Ref[R2]) {
	specs, err := argSpecs(a)
	var more [1]*handle
	h := submitTaskN(ctx, t.name, specs, firstErr(t.err, err), opts, more[:])
	return Ref[R1]{h}, Ref[R2]{more[0]}
}

// Name returns the name the task is registered under.
func (t *TaskFuncR2[A, R1, R2]) Name() string { return t.name }

// TaskFuncR3 is a registered task with one argument that returns three
// values, each its own object.
type TaskFuncR3[A, R1, R2, R3 any] struct {
	name string
	err  error
}

// TaskR3 registers fn, a task with one argument returning three values,
// under name; see TaskR2.
func TaskR3[A, R1, R2, R3 any](name string, fn func(context.Context, A) (R1, R2, R3, error)) *TaskFuncR3[A, R1, R2, R3] {
	err := registerFunc(name, 1, fn, fn == nil, func(ctx context.Context, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		r1, r2, r3, err := fn(ctx, a)
		return encodeResult3(ctx, name, r1, r2, r3, err)
	})
	return &TaskFuncR3[A, R1, R2, R3]{name: name, err: err}
}

// Remote runs the task on a plain value and returns a Ref to each of its
// results at once.
func (t *TaskFuncR3[A, R1, R2, R3]) Remote(ctx context.Context, a A, opts ...Option) (Ref[R1], Ref[R2], Ref[R3]) {
	s, err := encodeArg(a)
	var more [2]*handle
	h := submitTaskN(ctx, t.name, []argSpec{s}, firstErr(t.err, err), opts, more[:])
	return Ref[R1]{h}, Ref[R2]{more[0]}, Ref[R3]{more[1]}
}

// Submit runs the task on an Arg (a Ref, or Val).
func (t *TaskFuncR3[A, R1, R2, R3]) Submit(ctx context.Context, a Arg[A], opts ...Option) (Ref[R1], Ref[R2], Ref[R3]) {
	specs, err := argSpecs(a)
	var more [2]*handle
	h := submitTaskN(ctx, t.name, specs, firstErr(t.err, err), opts, more[:])
	return Ref[R1]{h}, Ref[R2]{more[0]}, Ref[R3]{more[1]}
}

// Name returns the name the task is registered under.
func (t *TaskFuncR3[A, R1, R2, R3]) Name() string { return t.name }

// TaskFuncRN is a registered task with one argument that returns a slice
// whose elements are objects of their own.
type TaskFuncRN[A, R any] struct {
	name string
	err  error
}

// TaskRN registers fn, a task with one argument whose slice result is
// returned element by element, one object and one Ref each. The caller says
// how many elements it expects (Ray's num_returns=n); a call whose function
// returns another count fails, every Ref with it.
func TaskRN[A, R any](name string, fn func(context.Context, A) ([]R, error)) *TaskFuncRN[A, R] {
	err := registerFunc(name, 1, fn, fn == nil, func(ctx context.Context, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		rs, err := fn(ctx, a)
		return encodeResultN(ctx, name, rs, err)
	})
	return &TaskFuncRN[A, R]{name: name, err: err}
}

// Remote runs the task on a plain value and returns n Refs at once, one
// per element of its result. An n outside 1 to MaxReturns gives a single
// Ref, which fails with ErrInvalidArgument.
func (t *TaskFuncRN[A, R]) Remote(ctx context.Context, a A, n int, opts ...Option) []Ref[R] {
	s, err := encodeArg(a)
	return t.submit(ctx, []argSpec{s}, err, n, opts)
}

// Submit runs the task on an Arg (a Ref, or Val) and returns n Refs.
func (t *TaskFuncRN[A, R]) Submit(ctx context.Context, a Arg[A], n int, opts ...Option) []Ref[R] {
	specs, err := argSpecs(a)
	return t.submit(ctx, specs, err, n, opts)
}

func (t *TaskFuncRN[A, R]) submit(ctx context.Context, args []argSpec, argErr error, n int, opts []Option) []Ref[R] {
	if err := checkReturns(n); err != nil {
		return failedRefs[R](ctx, fmt.Errorf("task %s: %w", t.name, err))
	}
	more := make([]*handle, n-1)
	h := submitTaskN(ctx, t.name, args, firstErr(t.err, argErr), opts, more)
	return refsOf[R](h, more)
}

// Name returns the name the task is registered under.
func (t *TaskFuncRN[A, R]) Name() string { return t.name }

// MethodFuncR2 is a registered actor method with one argument that returns
// two values, each its own object.
type MethodFuncR2[S, A, R1, R2 any] struct {
	name string
	typ  string
	err  error
}

// MethodR2 registers fn, a method with one argument returning two values,
// of actor type c; see TaskR2.
func MethodR2[S, A, R1, R2 any](c class[S], name string, fn func(*S, context.Context, A) (R1, R2, error)) *MethodFuncR2[S, A, R1, R2] {
	err := registerMethod(c, name, 1, fn, fn == nil, func(ctx context.Context, s *S, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		r1, r2, err := fn(s, ctx, a)
		return encodeResult2(ctx, name, r1, r2, err)
	})
	return &MethodFuncR2[S, A, R1, R2]{name: name, typ: typeNameOf[S](c), err: err}
}

// Remote calls the method on actor a with a plain value.
func (m *MethodFuncR2[S, A, R1, R2]) Remote(ctx context.Context, a ActorRef[S], x A, opts ...Option) (Ref[R1], Ref[R2]) {
	s, err := encodeArg(x)
	var more [1]*handle
	h := callActorN(ctx, a.a, m.name, []argSpec{s}, firstErr(m.err, err), more[:], opts)
	return Ref[R1]{h}, Ref[R2]{more[0]}
}

// Submit calls the method with an Arg (a Ref, or Val).
func (m *MethodFuncR2[S, A, R1, R2]) Submit(ctx context.Context, a ActorRef[S], x Arg[A], opts ...Option) (Ref[R1], Ref[R2]) {
	specs, err := argSpecs(x)
	var more [1]*handle
	h := callActorN(ctx, a.a, m.name, specs, firstErr(m.err, err), more[:], opts)
	return Ref[R1]{h}, Ref[R2]{more[0]}
}

// MethodFuncRN is a registered actor method with one argument that returns
// a slice whose elements are objects of their own.
type MethodFuncRN[S, A, R any] struct {
	name string
	typ  string
	err  error
}

// MethodRN registers fn, a method with one argument whose slice result is
// returned element by element, of actor type c; see TaskRN.
func MethodRN[S, A, R any](c class[S], name string, fn func(*S, context.Context, A) ([]R, error)) *MethodFuncRN[S, A, R] {
	err := registerMethod(c, name, 1, fn, fn == nil, func(ctx context.Context, s *S, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		rs, err := fn(s, ctx, a)
		return encodeResultN(ctx, name, rs, err)
	})
	return &MethodFuncRN[S, A, R]{name: name, typ: typeNameOf[S](c), err: err}
}

// Remote calls the method on actor a with a plain value and returns n
// Refs, one per element of its result.
func (m *MethodFuncRN[S, A, R]) Remote(ctx context.Context, a ActorRef[S], x A, n int, opts ...Option) []Ref[R] {
	s, err := encodeArg(x)
	return m.call(ctx, a, []argSpec{s}, err, n, opts)
}

// Submit calls the method with an Arg (a Ref, or Val) and returns n Refs.
func (m *MethodFuncRN[S, A, R]) Submit(ctx context.Context, a ActorRef[S], x Arg[A], n int, opts ...Option) []Ref[R] {
	specs, err := argSpecs(x)
	return m.call(ctx, a, specs, err, n, opts)
}

func (m *MethodFuncRN[S, A, R]) call(ctx context.Context, a ActorRef[S], args []argSpec, argErr error, n int, opts []Option) []Ref[R] {
	if err := checkReturns(n); err != nil {
		return failedRefs[R](ctx, fmt.Errorf("method %s: %w", m.name, err))
	}
	more := make([]*handle, n-1)
	h := callActorN(ctx, a.a, m.name, args, firstErr(m.err, argErr), more, opts)
	return refsOf[R](h, more)
}

// InGroup runs the method's calls in concurrency group group of each actor
// of its type (see ConcurrencyGroup). Call it where the method is
// registered, at package level; a bad group makes every call fail.
func (m *MethodFuncR2[S, A, R1, R2]) InGroup(group string) *MethodFuncR2[S, A, R1, R2] {
	m.err = inGroup(m.typ, m.name, group, m.err)
	return m
}

// InGroup runs the method's calls in concurrency group group of each actor
// of its type (see ConcurrencyGroup). Call it where the method is
// registered, at package level; a bad group makes every call fail.
func (m *MethodFuncRN[S, A, R]) InGroup(group string) *MethodFuncRN[S, A, R] {
	m.err = inGroup(m.typ, m.name, group, m.err)
	return m
}
