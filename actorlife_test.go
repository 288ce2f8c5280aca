package goray_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// Keeper is an actor that holds the handle of another actor in its state.
type Keeper struct{ held goray.ActorRef[Splitter] }

type splitterBox struct{ S goray.ActorRef[Splitter] }

var (
	keeper = goray.Actor0("test.life.keeper", func(ctx context.Context) (*Keeper, error) { return &Keeper{}, nil })
	keep   = goray.Method(keeper, "keep", func(k *Keeper, ctx context.Context, b splitterBox) (bool, error) {
		k.held = b.S
		return true, nil
	})
	callHeld = goray.Method(keeper, "call", func(k *Keeper, ctx context.Context, x int) (string, error) {
		_, s := splitPair.Remote(ctx, k.held, x)
		return goray.Get(ctx, s)
	})
	discard = goray.Method(keeper, "discard", func(k *Keeper, ctx context.Context, b splitterBox) (bool, error) {
		return b.S.ID() != "", nil
	})
	findHeld = goray.Method(keeper, "find", func(k *Keeper, ctx context.Context, name string) (bool, error) {
		s, err := goray.GetActor[Splitter](ctx, name)
		k.held = s
		return err == nil, err
	})
	dropHeld = goray.Method0(keeper, "drop", func(k *Keeper, ctx context.Context) (bool, error) {
		k.held = goray.ActorRef[Splitter]{}
		return true, nil
	})
	// keeperGC collects the garbage of the keeper's process: a process
	// lets go of the handles it dropped when its GC runs, which an idle
	// process may not do for minutes.
	keeperGC = goray.Method0(keeper, "gc", func(k *Keeper, ctx context.Context) (bool, error) {
		runtime.GC()
		return true, nil
	})
)

// deadOnceCollected polls until the actor with id is dead, collecting the
// garbage of k's process as well as this one's each time.
func deadOnceCollected(t *testing.T, ctx context.Context, k goray.ActorRef[Keeper], what, id string) {
	t.Helper()
	pollUntil(t, what, func() bool {
		mustGet(t, ctx, keeperGC.Remote(ctx, k))
		st, _ := actorState(t, ctx, id)
		return st == "DEAD"
	})
}

// actorState returns the state and death cause of the actor with id.
func actorState(t *testing.T, ctx context.Context, id string) (state, cause string) {
	t.Helper()
	infos, err := goray.ListActors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range infos {
		if i.ID == id {
			return strings.TrimPrefix(i.State, "ACTOR_STATE_"), i.DeathCause
		}
	}
	t.Fatalf("actor %s unknown", id)
	return "", ""
}

// newSplitter creates a splitter, checks it answers, and returns its ID
// only: the caller holds no handle.
func newSplitter(t *testing.T, ctx context.Context, opts ...goray.Option) string {
	t.Helper()
	s, err := splitter.New(ctx, 0, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, ctx, splitN.Remote(ctx, s, []int{1}, 1)[0])
	return s.ID()
}

// collected waits until an actor whose handles are all dropped is dead: by
// then, a handle that were as unreachable would have been collected too.
func collected(t *testing.T, ctx context.Context) {
	t.Helper()
	canary := newSplitter(t, ctx)
	pollUntil(t, "an unreferenced canary actor killed", func() bool {
		st, _ := actorState(t, ctx, canary)
		return st == "DEAD"
	})
}

func TestActorLifetime(t *testing.T) {
	ctx := start(t, goray.WithCPUs(4))
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"no handle left kills the actor", func(t *testing.T) {
			id := newSplitter(t, ctx)
			pollUntil(t, "actor killed", func() bool { st, _ := actorState(t, ctx, id); return st == "DEAD" })
			if _, cause := actorState(t, ctx, id); !strings.Contains(cause, "out of scope") {
				t.Fatalf("death cause %q", cause)
			}
		}},
		{"a handle inside another actor's state keeps it", func(t *testing.T) {
			k, err := keeper.New(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id := func() string {
				s, err := splitter.New(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				mustGet(t, ctx, keep.Remote(ctx, k, splitterBox{S: s}))
				return s.ID()
			}()
			collected(t, ctx)
			if st, cause := actorState(t, ctx, id); st != "ALIVE" {
				t.Fatalf("held actor %s: %s", st, cause)
			}
			if got := mustGet(t, ctx, callHeld.Remote(ctx, k, 2)); got != "xx" {
				t.Fatalf("call through the held handle: %q", got)
			}
			mustGet(t, ctx, dropHeld.Remote(ctx, k))
			pollUntil(t, "actor killed once its last holder let go", func() bool { st, _ := actorState(t, ctx, id); return st == "DEAD" })
			runtime.KeepAlive(k)
		}},
		{"a handle from GetActor keeps it", func(t *testing.T) {
			created, err := splitter.New(ctx, 0, goray.Name("life-named"))
			if err != nil {
				t.Fatal(err)
			}
			id := created.ID()
			s, err := goray.GetActor[Splitter](ctx, "life-named")
			if err != nil {
				t.Fatal(err)
			}
			runtime.KeepAlive(created)
			collected(t, ctx)
			if st, cause := actorState(t, ctx, id); st != "ALIVE" {
				t.Fatalf("looked-up actor %s: %s", st, cause)
			}
			mustGet(t, ctx, splitN.Remote(ctx, s, []int{1}, 1)[0])
			s = goray.ActorRef[Splitter]{}
			pollUntil(t, "actor killed", func() bool { st, _ := actorState(t, ctx, id); return st == "DEAD" })
		}},
		{"a detached actor lives until killed", func(t *testing.T) {
			id := newSplitter(t, ctx, goray.Name("life-detached"), goray.Detached())
			collected(t, ctx)
			if st, cause := actorState(t, ctx, id); st != "ALIVE" {
				t.Fatalf("detached actor %s: %s", st, cause)
			}
			s, err := goray.GetActor[Splitter](ctx, "life-detached")
			if err != nil {
				t.Fatal(err)
			}
			if err := goray.Kill(ctx, s); err != nil {
				t.Fatal(err)
			}
			if st, _ := actorState(t, ctx, id); st != "DEAD" {
				t.Fatalf("killed detached actor %s", st)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// An actor's handles in other processes keep it alive: one inside another
// actor's state (on another node), one a task got from GetActor; it dies
// once the last of them is dropped.
func clusterActorLifetime(t *testing.T, ctx context.Context, _ []string) {
	// A CPU keeps the keeper off the driver, which has none.
	k, err := keeper.New(ctx, goray.CPUs(1))
	if err != nil {
		t.Fatal(err)
	}
	id := sendSplitter(t, ctx, k, keep)
	// A probe actor travels the same way to a method that drops it: once
	// it is dead, what the driver sent is let go of, and the held actor
	// lives on only through the keeper's handle.
	probe := sendSplitter(t, ctx, k, discard)
	deadOnceCollected(t, ctx, k, "probe actor killed", probe)
	collected(t, ctx)
	if st, cause := actorState(t, ctx, id); st != "ALIVE" {
		t.Fatalf("actor held by another process: %s (%s)", st, cause)
	}
	if got := mustGet(t, ctx, callHeld.Remote(ctx, k, 3)); got != "xxx" {
		t.Fatalf("call through the held handle: %q", got)
	}
	mustGet(t, ctx, dropHeld.Remote(ctx, k))
	deadOnceCollected(t, ctx, k, "actor killed once the other process let go", id)

	// A handle another process got from GetActor keeps the actor too.
	id = findSplitter(t, ctx, k, "life-cluster")
	probe = sendSplitter(t, ctx, k, discard)
	deadOnceCollected(t, ctx, k, "probe actor killed", probe)
	collected(t, ctx)
	if st, cause := actorState(t, ctx, id); st != "ALIVE" {
		t.Fatalf("actor looked up by another process: %s (%s)", st, cause)
	}
	mustGet(t, ctx, dropHeld.Remote(ctx, k))
	deadOnceCollected(t, ctx, k, "looked-up actor killed once the other process let go", id)
	runtime.KeepAlive(k)
}

// findSplitter creates a splitter named name and has k look it up by name;
// it returns the splitter's ID only.
//
//go:noinline
func findSplitter(t *testing.T, ctx context.Context, k goray.ActorRef[Keeper], name string) string {
	s, err := splitter.New(ctx, 0, goray.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, ctx, findHeld.Remote(ctx, k, name))
	return s.ID()
}

// sendSplitter creates a splitter, hands it to k's method m inside a value,
// and returns its ID only: the caller holds no handle.
//
//go:noinline
func sendSplitter(t *testing.T, ctx context.Context, k goray.ActorRef[Keeper], m *goray.MethodFunc[Keeper, splitterBox, bool]) string {
	s, err := splitter.New(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, ctx, m.Remote(ctx, k, splitterBox{S: s}))
	return s.ID()
}

var (
	// exitAfter blocks until the gate of key opens, then ends its actor.
	exitAfter = goray.Method(splitter, "exit", func(s *Splitter, ctx context.Context, key string) (string, error) {
		select {
		case <-gateOf(key):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return "bye", goray.ExitActor(ctx)
	})
	exitInTask = goray.Task("test.life.exit-in-task", func(ctx context.Context, _ int) (bool, error) {
		return true, goray.ExitActor(ctx)
	})
	exitInCtor = goray.Actor0("test.life.exit-in-ctor", func(ctx context.Context) (*Splitter, error) {
		return &Splitter{}, goray.ExitActor(ctx)
	})
)

func TestExitActor(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2))
	leaksNothing(t, ctx)
	t.Run("queued calls fail and the actor is dead", func(t *testing.T) {
		s, err := splitter.New(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		key := uniqueKey(t)
		bye := exitAfter.Remote(ctx, s, key)
		var queued []goray.Ref[int]
		for range 3 {
			queued = append(queued, splitN.Remote(ctx, s, []int{1}, 1)[0])
		}
		close(gateOf(key))
		if got := mustGet(t, ctx, bye); got != "bye" {
			t.Fatalf("exit call: %q", got)
		}
		for i, r := range queued {
			if err := get(ctx, r); !errors.Is(err, goray.ErrActorDied) {
				t.Fatalf("queued call %d: %v, want ErrActorDied", i, err)
			}
		}
		// The host answers the queued calls, then reports its death.
		pollUntil(t, "actor dead at the GCS", func() bool { st, _ := actorState(t, ctx, s.ID()); return st == "DEAD" })
		if _, cause := actorState(t, ctx, s.ID()); !strings.Contains(cause, "ExitActor") {
			t.Fatalf("death cause %q", cause)
		}
		if err := get(ctx, splitN.Remote(ctx, s, []int{1}, 1)[0]); !errors.Is(err, goray.ErrActorDied) {
			t.Fatalf("later call: %v, want ErrActorDied", err)
		}
	})
	t.Run("outside an actor method", func(t *testing.T) {
		if err := goray.ExitActor(ctx); !errors.Is(err, goray.ErrInvalidArgument) {
			t.Fatalf("driver: %v", err)
		}
		if err := get(ctx, exitInTask.Remote(ctx, 0)); !errors.Is(err, goray.ErrTaskFailed) || !strings.Contains(err.Error(), "outside an actor method") {
			t.Fatalf("task: %v", err)
		}
		if _, err := exitInCtor.New(ctx); err == nil || !strings.Contains(err.Error(), "outside an actor method") {
			t.Fatalf("constructor: %v", err)
		}
	})
}

// An idle process lets go of what it dropped within its release interval,
// without anyone running the garbage collector: here an actor whose last
// handle is gone dies.
func TestIdleProcessReleasesDroppedHandles(t *testing.T) {
	ctx := start(t, goray.WithReleaseInterval(100*time.Millisecond))
	id := newSplitter(t, ctx)
	// Poll without collecting (pollUntil would): only the runtime may.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, _ := actorState(t, ctx, id); st == "DEAD" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the actor whose handles were dropped still lives after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
