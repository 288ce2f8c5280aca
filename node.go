package goray

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
)

// Node is a node of a goray cluster that runs in this process: the tasks and
// actors the cluster sends it run here, on goroutines. Every process of a
// cluster runs the same binary, so every node knows every registered
// function and actor type.
type Node struct{ rt *runtime }

// AsHead makes StartNode (or Init) start the head of a new cluster: its GCS
// and placement actor run here, and other nodes join it at its Address.
func AsHead() InitOption { return func(c *config) { c.head = true } }

// StartNode starts a node of a cluster in this process and returns once it
// runs: the head of a new cluster with AsHead, else a node joining the head
// at WithAddress (or GORAY_ADDRESS). It takes Init's node options
// (resources, labels, store, listen address, logger). Stop it with Stop.
func StartNode(ctx context.Context, opts ...InitOption) (*Node, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: StartNode: nil context", ErrInvalidArgument)
	}
	cfg := config{namespace: "default"}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.head && cfg.address == "" {
		cfg.address = getenvAddress()
	}
	if !cfg.head && cfg.address == "" {
		return nil, fmt.Errorf("%w: StartNode: neither AsHead nor the address of a head", ErrInvalidArgument)
	}
	rt, err := startRuntime(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	return &Node{rt: rt}, nil
}

// ID returns the node's ID, fresh for every start.
func (n *Node) ID() string { return n.rt.node.ID }

// Address returns the address to join this node's cluster at (host:port
// of its gossip): what WithAddress takes, for a head.
func (n *Node) Address() string { return n.rt.node.Address() }

// Context returns a context that carries the node's runtime, for goray's
// calls from the process that runs the node (Nodes, ListActors, tasks...).
// They fail with ErrShutdown once the node stops.
func (n *Node) Context() context.Context { return n.rt.node.Env.Base }

// Failed is closed when the node failed (a system actor broke) and stopped.
func (n *Node) Failed() <-chan struct{} { return n.rt.node.Failed() }

// ActorSystem returns the node's protoactor actor system, for tools that
// talk to nodes at the level of actors (the microbenchmark measures a bare
// remote round trip with it). goray's own actors and messages are not part
// of the API.
func (n *Node) ActorSystem() *actor.ActorSystem { return n.rt.node.System }

// Stop stops the node: its tasks and actors end, and the cluster learns
// that it left.
func (n *Node) Stop(ctx context.Context) error {
	if !n.rt.end(ErrShutdown) {
		return nil
	}
	close(n.rt.stopped)
	if err := n.rt.node.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("goray: stopping node: %w", err)
	}
	return nil
}
