// Command hello is goray's first example: a task, Refs passed as arguments
// without waiting, an actor with state, Put, Get and Wait, and a streaming
// generator.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/goray-dev/goray"
)

// square is a task: a plain Go function registered under a name.
var square = goray.Task("square", func(ctx context.Context, x int) (int, error) {
	return x * x, nil
})

// sum adds a slice; it is called below with a Ref argument.
var sum = goray.Task("sum", func(ctx context.Context, xs []int) (int, error) {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t, nil
})

// sumOfSquares calls other tasks from inside a task.
var sumOfSquares = goray.Task("sum-of-squares", func(ctx context.Context, n int) (int, error) {
	refs := make([]goray.Ref[int], n)
	for i := range refs {
		refs[i] = square.Remote(ctx, i+1)
	}
	vs, err := goray.GetAll(ctx, refs)
	if err != nil {
		return 0, err
	}
	t := 0
	for _, v := range vs {
		t += v
	}
	return t, nil
})

// countdown is a streaming generator: each value it yields is an object of
// its own, which the caller can use while the task goes on.
var countdown = goray.TaskGen("countdown", func(ctx context.Context, from int, yield func(int) error) error {
	for i := from; i > 0; i-- {
		if err := yield(i); err != nil {
			return err // the caller abandoned the stream
		}
	}
	return nil
})

// Counter is an actor's state: a plain struct.
type Counter struct{ n int }

// Add is a plain method; registered below as the actor method "add".
func (c *Counter) Add(ctx context.Context, d int) (int, error) {
	c.n += d
	return c.n, nil
}

var (
	counter = goray.Actor("counter", func(ctx context.Context, start int) (*Counter, error) {
		return &Counter{n: start}, nil
	})
	add = goray.Method(counter, "add", (*Counter).Add)
	// steps is a generator method: it adds 1 n times, yielding each total.
	steps = goray.MethodGen(counter, "steps", func(c *Counter, ctx context.Context, n int, yield func(int) error) error {
		for range n {
			c.n++
			if err := yield(c.n); err != nil {
				return err
			}
		}
		return nil
	})
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	ctx, err := goray.Init(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = goray.Shutdown(ctx) }()

	// Tasks return Refs at once; Get waits for the value.
	r := square.Remote(ctx, 7)
	v, err := goray.Get(ctx, r)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "square(7) =", v)

	// A Ref passed as an argument: square runs once r is ready, and the
	// caller never waits in between.
	rr := square.Submit(ctx, r)
	v, err = goray.Get(ctx, rr)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "square(square(7)) =", v)

	// Put stores a value; its Ref goes to a task like any other.
	xs, err := goray.Put(ctx, []int{1, 2, 3, 4})
	if err != nil {
		return err
	}
	s, err := goray.Get(ctx, sum.Submit(ctx, xs))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "sum([1 2 3 4]) =", s)

	n, err := goray.Get(ctx, sumOfSquares.Remote(ctx, 10))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "sum of squares 1..10 (nested tasks) =", n)

	// An actor keeps state between calls; calls from one caller run in order.
	c, err := counter.New(ctx, 10, goray.Name("hello-counter"))
	if err != nil {
		return err
	}
	var last goray.Ref[int]
	for i := 1; i <= 5; i++ {
		last = add.Remote(ctx, c, i)
	}
	total, err := goray.Get(ctx, last)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "counter after adding 1..5 to 10 =", total)

	// Named actors can be looked up.
	same, err := goray.GetActor[Counter](ctx, "hello-counter")
	if err != nil {
		return err
	}
	total, err = goray.Get(ctx, add.Remote(ctx, same, 100))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "counter found by name, after adding 100 =", total)

	// Wait splits Refs into ready and not ready.
	refs := []goray.AnyRef{square.Remote(ctx, 3), square.Remote(ctx, 4), square.Remote(ctx, 5)}
	ready, notReady, err := goray.Wait(ctx, refs, len(refs), 5*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wait: %d ready, %d not ready\n", len(ready), len(notReady))

	// A generator streams Refs while it runs; Backpressure(2) pauses it
	// while it is two items ahead of the loop that reads them.
	got, err := streamed(ctx, countdown.Remote(ctx, 5, goray.Backpressure(2)))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "countdown streamed", got)
	// An actor method streams the same way, from the actor's state.
	if got, err = streamed(ctx, steps.Remote(ctx, c, 3)); err != nil {
		return err
	}
	fmt.Fprintln(w, "counter stepped", got)

	// Errors keep their kind: a killed actor fails calls with ErrActorDied.
	if err := goray.Kill(ctx, c); err != nil {
		return err
	}
	_, err = goray.Get(ctx, add.Remote(ctx, c, 1))
	fmt.Fprintln(w, "call after kill fails with ErrActorDied:", errors.Is(err, goray.ErrActorDied))
	return nil
}

// streamed reads every item of a stream.
func streamed(ctx context.Context, s *goray.Stream[int]) ([]int, error) {
	var got []int
	for r, err := range s.All(ctx) {
		if err != nil {
			return nil, err
		}
		x, err := goray.Get(ctx, r)
		if err != nil {
			return nil, err
		}
		got = append(got, x)
	}
	return got, nil
}
