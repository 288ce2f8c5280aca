package actors

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// stopGate closes the gap protoactor leaves when an actor stops: messages
// still in its mailbox, or arriving before its process is unregistered, are
// dropped. Behind a gate they go to dead letters instead, where the node
// answers them (a call to a dead actor gets ACTOR_DIED), so no caller waits
// on a message that vanished. The actor closes the gate when it receives
// *actor.Stopped; the mailbox reads it on the same goroutine.
type stopGate struct {
	system  *actor.ActorSystem
	stopped atomic.Bool
}

// mailbox returns the props option for a mailbox behind the gate.
func (g *stopGate) mailbox() actor.PropsOption {
	inner := actor.Unbounded()
	return actor.WithMailbox(func() actor.Mailbox { return &gatedMailbox{Mailbox: inner(), gate: g} })
}

type gatedMailbox struct {
	actor.Mailbox
	gate *stopGate
}

func (m *gatedMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.Mailbox.RegisterHandlers(gatedInvoker{MessageInvoker: invoker, gate: m.gate}, dispatcher)
}

type gatedInvoker struct {
	actor.MessageInvoker
	gate *stopGate
}

func (i gatedInvoker) InvokeUserMessage(message any) {
	if i.gate.stopped.Load() {
		i.gate.system.DeadLetter.SendUserMessage(nil, message)
		return
	}
	i.MessageInvoker.InvokeUserMessage(message)
}
