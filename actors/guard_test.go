package actors

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// guardedProbe answers every message it handles and panics on a KillActor.
type guardedProbe struct {
	started, handled *atomic.Int32
}

func (p *guardedProbe) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *actor.Started:
		p.started.Add(1)
	case *pb.KillActor:
		panic("probe broke")
	case *pb.ListActors:
		p.handled.Add(1)
		c.Respond(&pb.ListActorsReply{})
	case *pb.LookupActor:
		p.handled.Add(1)
		c.Respond(&pb.LookupActorReply{})
	}
}

func TestGuard(t *testing.T) {
	te := newTestEnv(t, 1024)
	var logs bytes.Buffer
	var started, handled, panics atomic.Int32
	g := &Guard{Component: "probe", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnPanic: func(actor.Context, any) { panics.Add(1) }}
	pid := te.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return g.Actor(&guardedProbe{started: &started, handled: &handled})
	}))
	ctx := context.Background()

	// A malformed request never reaches the handler and is answered.
	_, err := Request(ctx, te.System, pid, &pb.LookupActor{})
	var re *RemoteError
	if !errors.As(err, &re) || re.E.Kind != pb.ErrorKind_ERROR_KIND_INVALID || !strings.Contains(re.E.Message, "LookupActor") {
		t.Fatalf("malformed request: %v", err)
	}
	if handled.Load() != 0 {
		t.Fatal("the handler saw a malformed message")
	}
	// A malformed call that names its owner gets its result failed.
	ret, slot := te.pending()
	te.System.Root.Send(pid, &pb.ActorCall{ReturnId: ret, Owner: WirePID(te.ownerPID), Method: "m"})
	if r := te.await(slot); r.err == nil || r.err.Kind != pb.ErrorKind_ERROR_KIND_INVALID || r.err.Function != "m" {
		t.Fatalf("malformed call: %+v", r)
	}

	// A panic is answered, logged at Error with its stack, handed to
	// OnPanic, and does not restart the actor.
	_, err = Request(ctx, te.System, pid, &pb.KillActor{ActorId: te.ids.Next().Bytes()})
	if !errors.As(err, &re) || re.E.Kind != pb.ErrorKind_ERROR_KIND_SYSTEM || !strings.Contains(re.E.Message, "probe broke") {
		t.Fatalf("request that panicked: %v", err)
	}
	if panics.Load() != 1 {
		t.Fatalf("OnPanic ran %d times", panics.Load())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "guard_test.go") {
		t.Fatalf("the panic was not logged at Error with its stack:\n%s", logs.String())
	}
	if _, err := Request(ctx, te.System, pid, &pb.ListActors{}); err != nil {
		t.Fatal(err)
	}
	if started.Load() != 1 {
		t.Fatalf("the actor started %d times: a panic restarted it", started.Load())
	}
}

// A Checked guard hands every message to its actor unvalidated (its
// senders checked them) and still recovers panics.
func TestCheckedGuardSkipsValidation(t *testing.T) {
	te := newTestEnv(t, 1024)
	var started, handled atomic.Int32
	g := &Guard{Component: "probe", Logger: slog.New(slog.DiscardHandler), Checked: true}
	pid := te.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return g.Actor(&guardedProbe{started: &started, handled: &handled})
	}))
	ctx := context.Background()
	if _, err := Request(ctx, te.System, pid, &pb.LookupActor{}); err != nil {
		t.Fatalf("a message the guard need not check: %v", err)
	}
	if handled.Load() != 1 {
		t.Fatalf("the handler saw %d messages, want 1", handled.Load())
	}
	var re *RemoteError
	if _, err := Request(ctx, te.System, pid, &pb.KillActor{ActorId: te.ids.Next().Bytes()}); !errors.As(err, &re) || re.E.Kind != pb.ErrorKind_ERROR_KIND_SYSTEM {
		t.Fatalf("request that panicked: %v", err)
	}
}
