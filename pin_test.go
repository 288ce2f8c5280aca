package goray

import (
	"context"
	"errors"
	goruntime "runtime"
	"testing"
	"time"

	pb "github.com/goray-dev/goray/proto"
)

type pinned struct{ n int }

var (
	pinnedActor = Actor("test.pinned", func(ctx context.Context, b []byte) (*pinned, error) {
		return &pinned{n: len(b)}, nil
	})
	pinnedLen   = Method0(pinnedActor, "len", func(p *pinned, ctx context.Context) (int, error) { return p.n, nil })
	pinnedPanic = Method0(pinnedActor, "panic", func(p *pinned, ctx context.Context) (int, error) { panic("restart me") })
)

// objectCount asks the node's directory how many references it counts for
// id (0 when it no longer knows the object).
func objectCount(t *testing.T, ctx context.Context, id ObjectID) int32 {
	t.Helper()
	rt, err := runtimeOf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := rt.request(ctx, rt.node.Directory, &pb.ObjectStatus{ObjectId: id[:]})
	if err != nil {
		t.Fatal(err)
	}
	return reply.(*pb.ObjectStatusReply).Count
}

// A constructor's Ref argument stays alive as long as the actor: a restart
// after the caller dropped its Ref runs the constructor on the same value.
func TestConstructorRefArgumentsArePinned(t *testing.T) {
	ctx, err := Init(context.Background(), WithRestartBackoff(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Shutdown(ctx) }()
	const size = 200 << 10 // goes to the store
	ref, err := Put(ctx, make([]byte, size))
	if err != nil {
		t.Fatal(err)
	}
	id := ref.ID()
	a, err := pinnedActor.NewFrom(ctx, ref, MaxRestarts(1))
	if err != nil {
		t.Fatal(err)
	}
	held := objectCount(t, ctx, id)
	ref = Ref[[]byte]{}
	// Wait until the caller's Ref is collected and its reference dropped.
	deadline := time.Now().Add(10 * time.Second)
	for objectCount(t, ctx, id) >= held {
		if time.Now().After(deadline) {
			t.Fatalf("the caller's reference was never dropped (count %d)", held)
		}
		goruntime.GC()
		time.Sleep(time.Millisecond)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := Get(wctx, pinnedPanic.Remote(wctx, a)); !errors.Is(err, ErrTaskFailed) {
		t.Fatalf("panic call: %v", err)
	}
	got, err := Get(wctx, pinnedLen.Remote(wctx, a))
	if err != nil || got != size {
		t.Fatalf("after restart: %d, %v; want %d", got, err, size)
	}
	if c := objectCount(t, ctx, id); c < 1 {
		t.Fatalf("argument of a live actor has %d references", c)
	}
	// Once the actor is dead, nothing holds the argument any more.
	if err := Kill(wctx, a); err != nil {
		t.Fatal(err)
	}
	for objectCount(t, ctx, id) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the argument of a dead actor is still referenced")
		}
		time.Sleep(time.Millisecond)
	}
}
