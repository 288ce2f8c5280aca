package goray

import (
	"context"
	"fmt"
	"iter"
	goruntime "runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// Streaming generators, as Ray's num_returns="streaming": a generator task
// or actor method yields values one by one; each is an object of its own,
// owned by the caller, which ranges over their Refs while the call runs.
// The process running the generator sends each item to the caller's core
// (StreamItem) in the order yielded, then the call's own result (the item
// count, or its error) ends the stream. A small item travels inline; a
// large one is put into the producer's store first and travels as its
// location, the caller owning it as it owns a call's result. With
// backpressure, the consumer tells the producer's core how far it got
// (StreamAck), and the generator's yield waits while it is that many items
// ahead. A call that runs again (a retry) yields its items again: the
// consumer drops those it has already.

// streamState is the consumer's side of one stream: the items arrived and
// not yet taken. The owner's goroutine adds items; Next takes them.
type streamState struct {
	mu       sync.Mutex
	items    []*handle
	received int64 // items that arrived, taken or not
	producer *pb.Pid
	wake     chan struct{} // signalled when an item arrives
	ack      bool          // the producer waits for acks (backpressure)
}

func (s *streamState) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// streamItem takes an item a generator sent to this process.
func (rt *runtime) streamItem(m *pb.StreamItem) {
	id, err1 := objects.IDFromBytes(m.StreamId)
	itemID, err2 := objects.IDFromBytes(m.Result.ObjectId)
	if err1 != nil || err2 != nil {
		return
	}
	v, ok := rt.streams.Load(id)
	if !ok {
		rt.dropItem(itemID, m.Result) // abandoned
		return
	}
	s := v.(*streamState)
	s.mu.Lock()
	if m.Index < s.received {
		// Yielded again by a retry: the first copy stands. The producer
		// may wait for it to be taken.
		s.mu.Unlock()
		rt.dropItem(itemID, m.Result)
		if s.ack {
			rt.root.Send(actors.PID(m.Producer), &pb.StreamAck{StreamId: m.StreamId, Consumed: m.Index + 1})
		}
		return
	}
	h := &handle{rt: rt}
	h.slot = rt.owner.Ready(itemID, h, m.Result)
	s.items = append(s.items, h)
	s.received++
	s.producer = m.Producer
	s.mu.Unlock()
	s.signal()
}

// dropItem lets go of an item nobody takes: of the references it holds,
// and of its value in the producer's store. A handle that is dropped at
// once does both, as it does for any object.
func (rt *runtime) dropItem(id objects.ID, res *pb.Result) {
	switch {
	case res.StoreNode != "":
		h := &handle{rt: rt}
		h.slot = rt.owner.Ready(id, h, res)
	case len(res.Contained) > 0:
		rt.contained(nil, res)
	}
}

// producer is the producing side of one stream in the process running its
// generator: how many items the consumer took.
type producer struct {
	consumed atomic.Int64
	wake     chan struct{}
}

// streamAck records how far a stream's consumer got.
func (rt *runtime) streamAck(m *pb.StreamAck) {
	id, err := objects.IDFromBytes(m.StreamId)
	if err != nil {
		return
	}
	if v, ok := rt.producers.Load(id); ok {
		p := v.(*producer)
		for {
			old := p.consumed.Load()
			if m.Consumed <= old || p.consumed.CompareAndSwap(old, m.Consumed) {
				break
			}
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Stream is the consumer's end of a generator task or method: the Refs of
// the items it yields, in order, as they come. Range over All, or call
// Next. Close it (or let it become unreachable) to abandon it: the
// generator is cancelled.
type Stream[T any] struct {
	h     *handle // the call's own result: the item count, or its error
	state *streamState
	taken int64
	err   error // set when the stream failed before it was submitted
}

// Next returns the Ref of the next item, waiting until the generator yields
// it or ends. ok is false once the stream ended; err is then the
// generator's error (nil when it returned normally). A ctx that ends
// returns its error, and the stream stays usable.
func (s *Stream[T]) Next(ctx context.Context) (r Ref[T], ok bool, err error) {
	if s.err != nil {
		return r, false, s.err
	}
	for {
		// Items arrive before the task's result: once it is there, every
		// item is.
		done := s.h.slot.IsDone()
		st := s.state
		st.mu.Lock()
		if len(st.items) > 0 {
			h := st.items[0]
			st.items[0] = nil
			st.items = st.items[1:]
			producer := st.producer
			st.mu.Unlock()
			s.taken++
			if st.ack && producer != nil {
				s.h.rt.root.Send(actors.PID(producer), &pb.StreamAck{StreamId: s.h.slot.ID.Bytes(), Consumed: s.taken})
			}
			return Ref[T]{h}, true, nil
		}
		st.mu.Unlock()
		if done {
			s.close()
			_, err := fetch(ctx, s.h)
			return r, false, err
		}
		select {
		case <-st.wake:
		case <-s.h.slot.Done():
		case <-ctx.Done():
			return r, false, ctxError(ctx)
		}
	}
}

// All ranges over the stream: each item's Ref with a nil error, then, if
// the generator failed, a zero Ref with its error. Breaking out of the
// loop abandons the stream (the generator is cancelled).
func (s *Stream[T]) All(ctx context.Context) iter.Seq2[Ref[T], error] {
	return func(yield func(Ref[T], error) bool) {
		for {
			r, ok, err := s.Next(ctx)
			if !ok {
				if err != nil {
					yield(r, err)
				}
				if err != nil && ctx.Err() != nil {
					s.Close()
				}
				return
			}
			if !yield(r, nil) {
				s.Close()
				return
			}
		}
	}
}

// Close abandons the stream: the generator is cancelled (with what it
// submitted) and items that still arrive are dropped.
func (s *Stream[T]) Close() {
	if s.err != nil || s.h.slot.IsDone() {
		s.close()
		return
	}
	s.close()
	_ = cancelHandle(s.h, true)
}

func (s *Stream[T]) close() {
	if s.h != nil && s.h.rt != nil {
		s.h.rt.streams.Delete(s.h.slot.ID)
	}
}

// Backpressure makes a generator task or method pause while it is n items
// ahead of its consumer (default: no limit). Given to a call that is not a
// generator's, it fails the call with ErrInvalidArgument.
func Backpressure(n int) Option {
	return opt(forTask|forMethod, func(o *options) {
		if n < 1 {
			o.fail(fmt.Errorf("%w: Backpressure(%d): want 1 or more", ErrInvalidArgument, n))
		}
		o.backpressure = int64(n)
	})
}

// TaskGenFunc is a registered generator task with one argument.
type TaskGenFunc[A, T any] struct {
	name string
	err  error
}

// TaskGen registers fn as a generator task under name (Ray's
// num_returns="streaming"): fn yields values with yield, each an object of
// its own that its caller can use at once, and returns nil at the end or
// the error that ends the stream. yield returns an error when fn should
// stop: its context ended (the stream was abandoned or cancelled), or the
// value cannot travel. Items of any size travel: a large one goes through
// the object store, freed once its consumer drops its Ref.
func TaskGen[A, T any](name string, fn func(ctx context.Context, a A, yield func(T) error) error) *TaskGenFunc[A, T] {
	err := registerFunc(name, 1, fn, fn == nil, func(ctx context.Context, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		return runGenerator(ctx, name, func(yield func(T) error) error { return fn(ctx, a, yield) })
	})
	return &TaskGenFunc[A, T]{name: name, err: err}
}

// Remote runs the generator on a plain value and returns its stream at once.
func (t *TaskGenFunc[A, T]) Remote(ctx context.Context, a A, opts ...Option) *Stream[T] {
	s, err := encodeArg(a)
	return t.submit(ctx, []argSpec{s}, err, opts)
}

// Submit runs the generator on an Arg (a Ref, or Val).
func (t *TaskGenFunc[A, T]) Submit(ctx context.Context, a Arg[A], opts ...Option) *Stream[T] {
	specs, err := argSpecs(a)
	return t.submit(ctx, specs, err, opts)
}

func (t *TaskGenFunc[A, T]) submit(ctx context.Context, args []argSpec, argErr error, opts []Option) *Stream[T] {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return &Stream[T]{err: err}
	}
	return openStream[T](forTask, "task "+t.name, opts, func(backpressure int64, st *streamState) *handle {
		return submitTaskSpec(ctx, t.name, args, firstErr(t.err, argErr), opts, nil, func(spec *pb.TaskSpec, id objects.ID) {
			spec.StreamBackpressure = backpressure
			rt.streams.Store(id, st)
		})
	})
}

// MethodGenFunc is a registered generator method with one argument.
type MethodGenFunc[S, A, T any] struct {
	name string
	typ  string
	err  error
}

// MethodGen registers fn as generator method name of actor type c: what
// TaskGen is for a task. Its calls keep the order of the caller's calls to
// the actor and count against the actor's concurrency (MaxConcurrency, or
// its group's with InGroup) from start to end, paused or not: a generator
// that waits for its consumer holds its place.
func MethodGen[S, A, T any](c class[S], name string, fn func(s *S, ctx context.Context, a A, yield func(T) error) error) *MethodGenFunc[S, A, T] {
	err := registerMethod(c, name, 1, fn, fn == nil, func(ctx context.Context, s *S, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		return runGenerator(ctx, name, func(yield func(T) error) error { return fn(s, ctx, a, yield) })
	})
	return &MethodGenFunc[S, A, T]{name: name, typ: typeNameOf[S](c), err: err}
}

// Remote calls the generator method on actor a with a plain value and
// returns its stream at once.
func (m *MethodGenFunc[S, A, T]) Remote(ctx context.Context, a ActorRef[S], x A, opts ...Option) *Stream[T] {
	s, err := encodeArg(x)
	return m.call(ctx, a, []argSpec{s}, firstErr(m.err, err), opts)
}

// Submit calls the generator method with an Arg (a Ref, or Val).
func (m *MethodGenFunc[S, A, T]) Submit(ctx context.Context, a ActorRef[S], x Arg[A], opts ...Option) *Stream[T] {
	specs, err := argSpecs(x)
	return m.call(ctx, a, specs, firstErr(m.err, err), opts)
}

func (m *MethodGenFunc[S, A, T]) call(ctx context.Context, a ActorRef[S], args []argSpec, argErr error, opts []Option) *Stream[T] {
	return openStream[T](forMethod, "method "+m.typ+"."+m.name, opts, func(backpressure int64, st *streamState) *handle {
		return callActorSpec(ctx, a.a, m.name, args, argErr, nil, opts, func(call *pb.ActorCall, id objects.ID) {
			call.StreamBackpressure = backpressure
			a.a.rt.streams.Store(id, st)
		})
	})
}

// InGroup runs the method's calls in concurrency group group of each actor
// of its type (see ConcurrencyGroup). Call it where the method is
// registered, at package level; a bad group makes every call fail.
func (m *MethodGenFunc[S, A, T]) InGroup(group string) *MethodGenFunc[S, A, T] {
	m.err = inGroup(m.typ, m.name, group, m.err)
	return m
}

// openStream makes the consumer's end of a generator call of kind k (what
// names it in errors). send sends the call, registering st under the
// call's ID before it leaves; backpressure is the option's value.
func openStream[T any](k optKind, what string, opts []Option, send func(backpressure int64, st *streamState) *handle) *Stream[T] {
	o, err := buildOptions(k, opts)
	if err != nil {
		return &Stream[T]{err: fmt.Errorf("%s: %w", what, err)}
	}
	st := &streamState{wake: make(chan struct{}, 1), ack: o.backpressure > 0}
	s := &Stream[T]{state: st}
	s.h = send(o.backpressure, st)
	if s.h.err != nil {
		s.err = s.h.err
		return s
	}
	// A stream nobody can reach any more is abandoned.
	goruntime.AddCleanup(s, abandonStream, streamRef{h: s.h})
	return s
}

type streamRef struct{ h *handle }

func abandonStream(r streamRef) {
	r.h.rt.streams.Delete(r.h.slot.ID)
	if !r.h.slot.IsDone() {
		_ = cancelHandle(r.h, true)
	}
}

// Name returns the name the generator is registered under.
func (t *TaskGenFunc[A, T]) Name() string { return t.name }

// generator is the producing side of one running generator task.
type generator struct {
	rt    *runtime
	id    objects.ID
	info  *actors.CallInfo
	owner *actor.PID
	prod  *producer
	count int
}

// runGenerator runs body, the generator of the call ctx belongs to, and
// encodes the call's result: the count of items, or body's error.
func runGenerator[T any](ctx context.Context, what string, body func(yield func(T) error) error) ([]byte, error) {
	g, err := newGenerator(ctx, what)
	if err != nil {
		return nil, err
	}
	defer g.done()
	err = body(func(v T) error { return yieldItem(ctx, g, v) })
	return encodeResult(ctx, what, g.count, err)
}

// newGenerator registers the generator of the task or method call ctx
// belongs to.
func newGenerator(ctx context.Context, what string) (*generator, error) {
	info := callOf(ctx)
	rt, err := runtimeOf(ctx)
	if info == nil || info.Owner == nil || err != nil {
		return nil, fmt.Errorf("%w: generator %s: not run as a task or method call", ErrInvalidArgument, what)
	}
	id, err := objects.IDFromBytes(info.TaskID)
	if err != nil {
		return nil, fmt.Errorf("%w: generator %s: %w", ErrInvalidArgument, what, err)
	}
	g := &generator{rt: rt, id: id, info: info, owner: actors.PID(info.Owner)}
	if info.StreamBackpressure > 0 {
		g.prod = &producer{wake: make(chan struct{}, 1)}
		rt.producers.Store(id, g.prod)
	}
	return g, nil
}

func (g *generator) done() {
	if g.prod != nil {
		g.rt.producers.Delete(g.id)
	}
}

// yieldItem sends one item to the stream's owner, once the consumer is
// less than the backpressure ahead. A large item is put into this
// process's store first: the owner gets its location, and owns it.
func yieldItem[T any](ctx context.Context, g *generator, v T) error {
	if g.prod != nil {
		for int64(g.count)-g.prod.consumed.Load() >= g.info.StreamBackpressure {
			select {
			case <-g.prod.wake:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := encodeReturn(ctx, "stream item", g.count, v)
	if err != nil {
		return err
	}
	item := g.rt.ids.Next()
	res := &pb.Result{ObjectId: item.Bytes(), Inline: r.Data, Contained: r.Contained}
	if len(r.Data) >= g.rt.inline {
		stored, err := g.rt.putObject(ctx, item, r.Data)
		if err != nil {
			// Never delivered: the borrows pinned for the owner end here.
			g.rt.contained(nil, res)
			return fmt.Errorf("stream item %d: %w", g.count, err)
		}
		stored.ObjectId, stored.Contained = res.ObjectId, res.Contained
		res = stored
	}
	g.rt.root.Send(g.owner, &pb.StreamItem{StreamId: g.id.Bytes(), Index: int64(g.count), Producer: g.rt.ownerPID, Result: res})
	g.count++
	return nil
}
