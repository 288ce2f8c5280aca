package goray_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// BagKeeper is an actor built from a value holding Refs.
type BagKeeper struct{ bag bigBag }

var (
	// bagKeeper's constructor reads every blob of its bag: an incarnation
	// after a restart fails if one is gone.
	bagKeeper = goray.Actor("test.ctorpin.keeper", func(ctx context.Context, b bigBag) (*BagKeeper, error) {
		if _, err := goray.GetAll(ctx, b.Blobs); err != nil {
			return nil, err
		}
		return &BagKeeper{bag: b}, nil
	})
	bagSize = goray.Method0(bagKeeper, "size", func(k *BagKeeper, ctx context.Context) (int, error) {
		blobs, err := goray.GetAll(ctx, k.bag.Blobs)
		n := 0
		for _, b := range blobs {
			n += len(b)
		}
		return n, err
	})
)

// newBagKeeper creates a bagKeeper from a bag of n blobs of 150 KiB that
// only the actor holds once it returns.
//
//go:noinline
func newBagKeeper(t *testing.T, ctx context.Context, n int, opts ...goray.Option) goray.ActorRef[BagKeeper] {
	var bag bigBag
	for i := range n {
		r, err := goray.Put(ctx, bytes.Repeat([]byte{byte(i)}, 150<<10))
		if err != nil {
			t.Fatal(err)
		}
		bag.Blobs = append(bag.Blobs, r)
	}
	a, err := bagKeeper.New(ctx, bag, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The Refs inside a constructor's argument live as long as the actor, not
// only until its constructor ran: a restart, after every other holder let
// go of them, finds them; once the actor is dead they are freed.
func TestConstructorRefsInsideValuesArePinned(t *testing.T) {
	ctx := start(t, goray.WithRestartBackoff(200*time.Millisecond))
	objects0, actors0 := storeObjects(t, ctx), liveActors(t, ctx)
	a := newBagKeeper(t, ctx, 2, goray.MaxRestarts(1))
	if got := mustGet(t, ctx, bagSize.Remote(ctx, a)); got != 2*150<<10 {
		t.Fatalf("size %d", got)
	}
	// The incarnation that held the bag goes; the garbage is collected
	// while the actor waits to restart.
	if err := goray.Kill(ctx, a, goray.AllowRestart()); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the actor restarted", func() bool {
		infos, err := goray.ListActors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range infos {
			if i.ID == a.ID() {
				return i.Restarts == 1 && i.State != "RESTARTING" || i.State == "DEAD"
			}
		}
		return false
	})
	if got, err := getWithin(t, ctx, bagSize.Remote(ctx, a), 20*time.Second); err != nil || got != 2*150<<10 {
		t.Fatalf("after a restart: size %d, %v", got, err)
	}
	if n := storeObjects(t, ctx); n != objects0+2 {
		t.Fatalf("%d objects in the store with the actor alive, want %d", n, objects0+2)
	}
	if err := goray.Kill(ctx, a); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "objects and actors back to the baseline once the actor is dead", func() bool {
		return storeObjects(t, ctx) == objects0 && liveActors(t, ctx) == actors0
	})
}
