package goray_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// Streamer is an actor whose generator methods yield from its state: each
// call yields the next N numbers of one sequence, so the items of
// successive calls show the order the calls ran in.
type Streamer struct{ next int }

var (
	// methodGenEnded records, by key, how each generator call with a key
	// ended: nil, or the error it returned.
	methodGenEnded sync.Map
	streamer       = goray.Actor0("test.genmethod.streamer", func(ctx context.Context) (*Streamer, error) { return &Streamer{}, nil })
	emit           = goray.MethodGen(streamer, "emit", (*Streamer).emit)
	// emitIO is emit in concurrency group "io".
	emitIO     = goray.MethodGen(streamer, "emit-io", (*Streamer).emit).InGroup("io")
	streamNext = goray.Method0(streamer, "next", func(s *Streamer, ctx context.Context) (int, error) { return s.next, nil })
)

func (s *Streamer) emit(ctx context.Context, p genParams, yield func(int) error) (err error) {
	if p.Key != "" {
		defer func() { methodGenEnded.Store(p.Key, err) }()
	}
	for i := range p.N {
		if i == p.FailAt {
			return fmt.Errorf("failed at %d", i)
		}
		if i == p.PanicAt {
			panic(fmt.Sprintf("panic at %d", i))
		}
		if err := yield(s.next); err != nil {
			return err
		}
		s.next++
		if p.Key != "" {
			counter(&genYielded, p.Key).Add(1)
		}
	}
	return nil
}

// ended reports whether the generator call with key returned.
func ended(key string) bool {
	_, ok := methodGenEnded.Load(key)
	return ok
}

// collectFrom ranges over s and checks its items are want..want+len-1.
func collectFrom(t *testing.T, ctx context.Context, s *goray.Stream[int], want int) (int, error) {
	t.Helper()
	got, err := collect(t, ctx, s)
	for i, v := range got {
		if v != want+i {
			t.Fatalf("item %d is %d, want %d (items %v)", i, v, want+i, got)
		}
	}
	return len(got), err
}

// withDeadline returns ctx with a deadline, for a loop that must not hang.
func withDeadline(t *testing.T, ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// nextWithin returns the next item of s, or ErrTimeout when none comes
// within d (a short d checks that none comes yet).
func nextWithin[T any](ctx context.Context, s *goray.Stream[T], d time.Duration) (goray.Ref[T], bool, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return s.Next(ctx)
}

func TestGeneratorMethod(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2))
	// A panic fails the actor: it restarts (its sequence from 0).
	a, err := streamer.New(ctx, goray.ConcurrencyGroup("io", 1), goray.MaxRestarts(-1))
	if err != nil {
		t.Fatal(err)
	}
	// Each case's items continue the actor's sequence where the last
	// case left it.
	for _, tt := range generatorCases {
		t.Run(tt.name, func(t *testing.T) {
			from := mustGet(t, ctx, streamNext.Remote(ctx, a))
			n, err := collectFrom(t, ctx, emit.Remote(ctx, a, tt.params, tt.opts...), from)
			if n != tt.want {
				t.Fatalf("%d items, want %d (%v)", n, tt.want, err)
			}
			checkStreamErr(t, err, tt.wantErr)
		})
	}
	t.Run("calls from one caller run in order", func(t *testing.T) {
		from := mustGet(t, ctx, streamNext.Remote(ctx, a))
		first := emit.Remote(ctx, a, genParams{N: 5, FailAt: -1, PanicAt: -1})
		second := emit.Remote(ctx, a, genParams{N: 5, FailAt: -1, PanicAt: -1})
		after := streamNext.Remote(ctx, a)
		// Consumed in the other order, the items still show the calls ran
		// in the order made; the plain call made after them ran after.
		if n, err := collectFrom(t, ctx, second, from+5); n != 5 || err != nil {
			t.Fatalf("second stream: %d items, %v", n, err)
		}
		if n, err := collectFrom(t, ctx, first, from); n != 5 || err != nil {
			t.Fatalf("first stream: %d items, %v", n, err)
		}
		if got := mustGet(t, ctx, after); got != from+10 {
			t.Fatalf("call after the streams saw %d, want %d", got, from+10)
		}
	})
	t.Run("the producer waits for its consumer", func(t *testing.T) {
		key := uniqueKey(t)
		s := emit.Remote(ctx, a, genParams{N: 100, FailAt: -1, PanicAt: -1, Key: key}, goray.Backpressure(3))
		if _, ok, err := nextWithin(ctx, s, 20*time.Second); !ok || err != nil {
			t.Fatalf("first item: %v %v", ok, err)
		}
		// One taken, three ahead at most: the fifth item is never yielded.
		pollUntil(t, "producer ahead", func() bool { return counter(&genYielded, key).Load() >= 4 })
		if n := counter(&genYielded, key).Load(); n != 4 {
			t.Fatalf("producer yielded %d items with 1 taken and backpressure 3", n)
		}
		s.Close()
		pollUntil(t, "abandoned generator cancelled", func() bool { return ended(key) })
		if n := counter(&genYielded, key).Load(); n != 4 {
			t.Fatalf("abandoned producer went on to %d items", n)
		}
	})
	t.Run("breaking out of the range abandons the stream", func(t *testing.T) {
		key := uniqueKey(t)
		for _, err := range emit.Remote(ctx, a, genParams{N: 1000, FailAt: -1, PanicAt: -1, Key: key}, goray.Backpressure(1)).All(withDeadline(t, ctx)) {
			if err != nil || counter(&genYielded, key).Load() >= 2 {
				break
			}
		}
		pollUntil(t, "abandoned generator cancelled", func() bool { return ended(key) })
		if n := counter(&genYielded, key).Load(); n > 4 {
			t.Fatalf("abandoned producer went on to %d items", n)
		}
	})
	t.Run("a stream nobody reaches is abandoned", func(t *testing.T) {
		key := uniqueKey(t)
		func() {
			s := emit.Remote(ctx, a, genParams{N: 1000, FailAt: -1, PanicAt: -1, Key: key}, goray.Backpressure(1))
			if _, ok, err := nextWithin(ctx, s, 20*time.Second); !ok || err != nil {
				t.Fatalf("first item: %v %v", ok, err)
			}
		}()
		pollUntil(t, "dropped stream's generator cancelled", func() bool { return ended(key) })
		if n := counter(&genYielded, key).Load(); n > 3 {
			t.Fatalf("abandoned producer went on to %d items", n)
		}
	})
	t.Run("the actor's concurrency holds", func(t *testing.T) {
		// A generator paused by backpressure holds its slot: the default
		// group's one, or its group's.
		for _, tc := range []struct {
			name string
			gen  *goray.MethodGenFunc[Streamer, genParams, int]
		}{{"default group", emit}, {"own group", emitIO}} {
			t.Run(tc.name, func(t *testing.T) {
				key := uniqueKey(t)
				first := tc.gen.Remote(ctx, a, genParams{N: 3, FailAt: -1, PanicAt: -1, Key: key}, goray.Backpressure(1))
				pollUntil(t, "first generator paused", func() bool { return counter(&genYielded, key).Load() == 1 })
				second := tc.gen.Remote(ctx, a, genParams{N: 1, FailAt: -1, PanicAt: -1})
				if _, ok, err := nextWithin(ctx, second, 200*time.Millisecond); ok || !errors.Is(err, goray.ErrTimeout) {
					t.Fatalf("a call ran beside a paused generator of its group: %v %v", ok, err)
				}
				if tc.gen == emitIO {
					// The default group is free meanwhile.
					if _, err := getWithin(t, ctx, streamNext.Remote(ctx, a), 20*time.Second); err != nil {
						t.Fatal(err)
					}
				}
				if got, err := collect(t, ctx, first); len(got) != 3 || err != nil {
					t.Fatalf("first stream: %v %v", got, err)
				}
				if got, err := collect(t, ctx, second); len(got) != 1 || err != nil {
					t.Fatalf("second stream: %v %v", got, err)
				}
			})
		}
	})
	t.Run("a killed actor ends its streams with ErrActorDied", func(t *testing.T) {
		b, err := streamer.New(ctx, goray.ConcurrencyGroup("io", 1))
		if err != nil {
			t.Fatal(err)
		}
		s := emit.Remote(ctx, b, genParams{N: 100, FailAt: -1, PanicAt: -1}, goray.Backpressure(2))
		if _, ok, err := nextWithin(ctx, s, 20*time.Second); !ok || err != nil {
			t.Fatalf("first item: %v %v", ok, err)
		}
		if err := goray.Kill(ctx, b); err != nil {
			t.Fatal(err)
		}
		var err2 error
		for _, err := range s.All(withDeadline(t, ctx)) {
			err2 = err
		}
		if !errors.Is(err2, goray.ErrActorDied) {
			t.Fatalf("stream of a killed actor ended with %v", err2)
		}
	})
}

// Bad input to generator methods fails clearly and leaves no object and
// no actor behind.
func TestGeneratorMethodBadInput(t *testing.T) {
	ctx := start(t)
	leaksNothing(t, ctx)
	a, err := streamer.New(ctx, goray.ConcurrencyGroup("io", 1), goray.MaxRestarts(-1))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		s    func() *goray.Stream[int]
		want error
	}{
		{"Backpressure(0)", func() *goray.Stream[int] { return emit.Remote(ctx, a, genParams{N: 1}, goray.Backpressure(0)) }, goray.ErrInvalidArgument},
		{"an option for actors", func() *goray.Stream[int] { return emit.Remote(ctx, a, genParams{N: 1}, goray.Detached()) }, goray.ErrInvalidArgument},
		{"zero ActorRef", func() *goray.Stream[int] {
			return emit.Remote(ctx, goray.ActorRef[Streamer]{}, genParams{N: 1})
		}, goray.ErrInvalidArgument},
		{"panic mid-stream", func() *goray.Stream[int] { return emit.Remote(ctx, a, genParams{N: 3, FailAt: -1, PanicAt: 1}) }, goray.ErrTaskFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := collect(t, ctx, c.s()); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	t.Run("Backpressure on a plain method call", func(t *testing.T) {
		if err := get(ctx, streamNext.Remote(ctx, a, goray.Backpressure(1))); !errors.Is(err, goray.ErrInvalidArgument) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("Backpressure on a plain task", func(t *testing.T) {
		if err := get(ctx, double.Remote(ctx, 1, goray.Backpressure(1))); !errors.Is(err, goray.ErrInvalidArgument) {
			t.Fatalf("got %v", err)
		}
	})
	// After a panic the actor restarts and answers on.
	mustGet(t, ctx, streamNext.Remote(ctx, a))
}

// liveActors counts the actors that are not dead.
func liveActors(t *testing.T, ctx context.Context) int {
	t.Helper()
	infos, err := goray.ListActors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, i := range infos {
		if !strings.Contains(i.State, "DEAD") {
			n++
		}
	}
	return n
}
