package goray

import (
	"context"
	"errors"
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
// yields values one by one; each is an object of its own, owned by the
// caller, which ranges over their Refs while the task runs. The process
// running the generator sends each item to the caller's core (StreamItem)
// in the order yielded, then the task's own result (the item count, or its
// error) ends the stream. With backpressure, the consumer tells the
// producer's core how far it got (StreamAck), and the generator's yield
// waits while it is that many items ahead.

// ErrStreamItemTooLarge: a generator yielded an item too large to travel
// inline; yield a Ref to it instead (Put it first).
var ErrStreamItemTooLarge = errors.New("goray: stream item too large")

// streamState is the consumer's side of one stream: the items arrived and
// not yet taken. The owner's goroutine adds items; Next takes them.
type streamState struct {
	mu       sync.Mutex
	items    []*handle
	producer *pb.Pid
	wake     chan struct{} // signalled when an item arrives
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
		// Abandoned: the references the item holds are let go of.
		if len(m.Result.Contained) > 0 {
			rt.contained(nil, m.Result)
		}
		return
	}
	s := v.(*streamState)
	h := &handle{rt: rt}
	h.slot = rt.owner.Ready(itemID, h, m.Result)
	s.mu.Lock()
	s.items = append(s.items, h)
	s.producer = m.Producer
	s.mu.Unlock()
	s.signal()
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

// Stream is the consumer's end of a generator task: the Refs of the items
// it yields, in order, as they come. Range over All, or call Next. Close
// it (or let it become unreachable) to abandon it: the generator is
// cancelled.
type Stream[T any] struct {
	h     *handle // the task's own result: the item count, or its error
	state *streamState
	ack   bool // the producer waits for acks (backpressure)
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
			if s.ack && producer != nil {
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

// Backpressure makes a generator task pause while it is n items ahead of
// its consumer (default: no limit).
func Backpressure(n int) Option {
	return opt(forTask, func(o *options) {
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
// value cannot travel. Items travel inline: one of 100 KiB or more fails
// with ErrStreamItemTooLarge (Put it and yield its Ref).
func TaskGen[A, T any](name string, fn func(ctx context.Context, a A, yield func(T) error) error) *TaskGenFunc[A, T] {
	err := registerFunc(name, 1, fn, fn == nil, func(ctx context.Context, args [][]byte) ([]byte, error) {
		a, err := decodeArg[A](ctx, name, args, 0)
		if err != nil {
			return nil, err
		}
		g, err := newGenerator(ctx, name)
		if err != nil {
			return nil, err
		}
		defer g.done()
		err = fn(ctx, a, func(v T) error { return yieldItem(ctx, g, v) })
		return encodeResult(ctx, name, g.count, err)
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
	o, err := buildOptions(forTask, opts)
	if err != nil {
		return &Stream[T]{err: fmt.Errorf("task %s: %w", t.name, err)}
	}
	rt, err := runtimeOf(ctx)
	if err != nil {
		return &Stream[T]{err: err}
	}
	st := &streamState{wake: make(chan struct{}, 1)}
	s := &Stream[T]{state: st, ack: o.backpressure > 0}
	s.h = submitTaskSpec(ctx, t.name, args, firstErr(t.err, argErr), opts, nil, func(spec *pb.TaskSpec, id objects.ID) {
		spec.StreamBackpressure = o.backpressure
		rt.streams.Store(id, st)
	})
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

// newGenerator registers the generator of the task ctx belongs to.
func newGenerator(ctx context.Context, what string) (*generator, error) {
	info := callOf(ctx)
	rt, err := runtimeOf(ctx)
	if info == nil || info.Owner == nil || err != nil || len(info.ActorID) > 0 {
		return nil, fmt.Errorf("%w: generator %s: not run as a task", ErrInvalidArgument, what)
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
// less than the backpressure ahead.
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
	if len(r.Data) >= g.rt.inline {
		return fmt.Errorf("%w: item %d encodes to %d bytes, from %d on it cannot travel inline; Put it and yield its Ref",
			ErrStreamItemTooLarge, g.count, len(r.Data), g.rt.inline)
	}
	item := g.rt.ids.Next()
	g.rt.root.Send(g.owner, &pb.StreamItem{StreamId: g.id.Bytes(), Index: int64(g.count), Producer: g.rt.ownerPID,
		Result: &pb.Result{ObjectId: item.Bytes(), Inline: r.Data, Contained: r.Contained}})
	g.count++
	return nil
}
