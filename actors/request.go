package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

// Errors of Request.
var (
	// ErrNoProcess: the request went to a process that does not exist (it
	// stopped, or never did).
	ErrNoProcess = errors.New("no such process")
	// ErrRemote: the target answered with an error (a *pb.Error reply, as
	// system actors give to malformed requests).
	ErrRemote = errors.New("request refused")
)

// replyProcess is a one-shot protoactor process that takes the reply to one
// request. Unlike protoactor's futures it has no timer of its own: the
// caller's context is the only deadline.
type replyProcess struct {
	once sync.Once
	ch   chan any
}

func (p *replyProcess) SendUserMessage(_ *actor.PID, message any) {
	p.once.Do(func() { p.ch <- actor.UnwrapEnvelopeMessage(message) })
}
func (p *replyProcess) SendSystemMessage(*actor.PID, any) {}
func (p *replyProcess) Stop(*actor.PID)                   {}

// Request sends msg to pid and waits for the reply until ctx ends. A
// *pb.Error reply is returned as an error wrapping ErrRemote (and the
// RemoteError); a request to a process that does not exist fails with
// ErrNoProcess.
func Request(ctx context.Context, system *actor.ActorSystem, pid *actor.PID, msg any) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &replyProcess{ch: make(chan any, 1)}
	self, ok := system.ProcessRegistry.Add(p, "request"+system.ProcessRegistry.NextId())
	if !ok {
		return nil, fmt.Errorf("registering a reply process for %T", msg)
	}
	defer system.ProcessRegistry.Remove(self)
	system.Root.RequestWithCustomSender(pid, msg, self)
	select {
	case reply := <-p.ch:
		switch r := reply.(type) {
		case *actor.DeadLetterResponse:
			return nil, fmt.Errorf("%w: %s", ErrNoProcess, pid)
		case *pb.Error:
			return nil, fmt.Errorf("%w: %w", ErrRemote, &RemoteError{E: r})
		}
		return reply, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
