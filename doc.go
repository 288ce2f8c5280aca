// Package goray runs plain Go functions as remote tasks and plain Go structs
// as stateful actors, passing results as typed futures (Ref) through an
// object store. Init starts an embedded single-node cluster in the process;
// every component — GCS, placement, raylet, object store and directory,
// actor hosts, task executors — is a protoactor actor exchanging the
// protobuf messages of package proto, so a program behaves the same on one
// node and on many.
//
// Register tasks and actor types at package level; the name is their
// identity in every process of a job:
//
//	var square = goray.Task("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
//	type Counter struct{ n int }
//
//	func (c *Counter) Add(ctx context.Context, d int) (int, error) { c.n += d; return c.n, nil }
//
//	var counter = goray.Actor("counter", func(ctx context.Context, start int) (*Counter, error) {
//		return &Counter{n: start}, nil
//	})
//	var add = goray.Method(counter, "add", (*Counter).Add)
//
// Then, with the context Init returns:
//
//	ctx, err := goray.Init(context.Background())
//	defer goray.Shutdown(ctx)
//	r := square.Remote(ctx, 7)                  // Ref[int], at once
//	s := square.Submit(ctx, r)                  // a Ref as argument: no Get needed
//	c, err := counter.New(ctx, 10, goray.Name("c1"), goray.MaxRestarts(3))
//	total := add.Remote(ctx, c, 5)              // calls from one caller run in order
//	v, err := goray.Get(ctx, total)             // 15
//	ready, notReady, err := goray.Wait(ctx, []goray.AnyRef{r, s}, 1, time.Second)
//
// Tasks and methods receive a context that carries the runtime, so they can
// call further tasks and actors. Errors wrap the sentinels of this package
// (ErrActorDied, ErrTaskCancelled, ErrInfeasible, …) for errors.Is; a failed
// task's error is a *TaskError with the user's message and, for a panic, the
// remote stack. An error type registered with RegisterError comes back
// decoded inside the *TaskError, so errors.As finds it with its fields.
//
// Values cross every call through package codec, even in one process:
// []byte and numeric slices are copied as they are, proto.Message values are
// marshalled as protobuf, anything else is CBOR. Results and Put values of
// 100 KiB or more go to the node's object store (which spills to disk past
// its capacity); smaller ones travel inline. An object is freed once no Ref
// to it is reachable, or at once with Free.
//
// A Ref or ActorRef may sit anywhere in a value: an argument, an exported
// struct field, a slice or array element, a map value, behind a pointer; in
// arguments, results and Put values. The receiver gets a Ref it can Get (or
// an ActorRef it can call). The receiving process borrows the object from
// its owner, as in Ray: the object stays alive while any holder of such a
// Ref can reach it, the owner hears when borrowers let go, and a borrower
// whose node dies releases what it borrowed. A result holds the Refs inside
// it for as long as its own Ref lives; so does a Put value. A zero Ref
// travels as a zero Ref. What cannot travel fails where the value is
// passed, never arriving as a zero Ref: a Ref to a freed object
// (ErrObjectFreed), the handle of a dead actor (ErrActorDied), a Ref inside
// an interface value or in a non-zero unexported field (ErrInvalidArgument).
// Whether a type can hold a Ref is decided once per type, so values of
// other types are not walked.
//
// A function that returns several values gives one Ref per value, each an
// object of its own (Ray's num_returns): TaskR2 and TaskR3 (MethodR2 for
// actors) for a fixed count, TaskRN and MethodRN for a slice whose length
// the caller names per call:
//
//	var divmod = goray.TaskR2("divmod", func(ctx context.Context, p [2]int) (int, int, error) {
//		return p[0] / p[1], p[0] % p[1], nil
//	})
//	q, r := divmod.Remote(ctx, [2]int{17, 5}) // Ref[int], Ref[int]
//	parts := split.Remote(ctx, grad, k)       // TaskRN: []Ref[[]float32], len k
//
// A failed call fails every one of its Refs; cancelling any cancels the
// call; each object is freed when its own Ref goes.
//
// A generator task (TaskGen) or method (MethodGen) yields values one by
// one; its Stream gives their Refs while it runs (range over Stream.All),
// with Backpressure(n) pausing it while it is n items ahead, and
// abandoning the stream cancelling it. Items of any size travel: a large
// one goes through the object store.
//
//	for r, err := range countdown.Remote(ctx, 5).All(ctx) { … }
//
// Actors live as in Ray. One that is not Detached is killed once no
// process can reach a handle to it (ActorRefs inside values and those
// GetActor returns count, like Refs) and when its job ends; a detached
// actor lives until Kill. A method ends its own actor with ExitActor. An
// actor's methods may run in named concurrency groups, each with its own
// limit (ConcurrencyGroup, and InGroup where the method is registered).
package goray
