package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/cluster/membership"
	"github.com/goray-dev/goray/cluster/transport"
	pb "github.com/goray-dev/goray/proto"
)

// Errors of a node on the network.
var (
	// ErrNetwork reports a node that could not start messaging with others.
	ErrNetwork = errors.New("network")
	// ErrNoHead reports a node that found no head in the cluster it joined.
	ErrNoHead = errors.New("no head node answered")
)

// Version is the goray version nodes announce to each other.
const Version = "0.1.0"

// Network makes a node a member of a cluster over the network. Nodes find
// each other by gossip (cluster/membership) and send messages through the
// authenticated transport (cluster/transport).
type Network struct {
	// Host is the IP address the node listens on, for messages and gossip
	// (127.0.0.1 by default); AdvertiseHost is how other nodes reach it
	// (Host by default).
	Host          string
	AdvertiseHost string
	// Port is where the node listens for messages, GossipPort for gossip
	// (0: a free port). A head's gossip address is the cluster's address.
	Port       int
	GossipPort int
	// ObjectPort is where the node serves object chunks to other nodes
	// over byte streams (0: a free port).
	ObjectPort int
	// Head runs the GCS and the placement actor on this node and starts a
	// new cluster; any other node joins the cluster at Join (host:port of
	// any member's gossip address, usually the head's).
	Head bool
	Join string
	// Role is what the node announces: head, worker or driver (worker by
	// default for a node that is not the head).
	Role membership.Role
	// Token is the cluster's secret: gossip is encrypted with a key
	// derived from it and every message between nodes presents it, so a
	// node without it can neither join nor send. Required (16 bytes or
	// more).
	Token string
	// TLS encrypts the messages between nodes (off by default).
	TLS transport.TLSConfig
	// JoinTimeout bounds the wait for the head (30 s by default).
	JoinTimeout time.Duration
	// Fingerprint identifies the build (the registered functions and
	// actor types): a node whose build differs from the head's gets no
	// work, so it never receives a function it lacks.
	Fingerprint string
}

// startNetwork starts the transport, then gossip, and finds the head within
// ctx and the join timeout. It returns the head's actor system address.
func (n *Node) startNetwork(ctx context.Context, cfg *Network, total map[string]int64, labels map[string]string) (string, error) {
	if !cfg.Head && cfg.Join == "" {
		return "", fmt.Errorf("%w: a node that is not the head needs the address of the cluster to join", ErrInvalidConfig)
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	tc := transport.DefaultConfig()
	tc.BindHost, tc.BindPort, tc.StreamPort, tc.AdvertisedHost, tc.Token, tc.TLS, tc.Logger = host, cfg.Port, cfg.ObjectPort, cfg.AdvertiseHost, cfg.Token, cfg.TLS, n.logger
	tr, err := transport.Start(n.System, tc)
	switch {
	case errors.Is(err, transport.ErrNoToken), errors.Is(err, transport.ErrInvalidConfig), errors.Is(err, transport.ErrTLS):
		return "", fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	n.transport = tr
	n.stopNet = func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = tr.Stop(ctx)
	}

	role := cfg.role()
	mc := membership.DefaultConfig()
	mc.NodeID, mc.BindHost, mc.BindPort, mc.AdvertiseHost, mc.Token, mc.Logger = n.ID, host, cfg.GossipPort, cfg.AdvertiseHost, cfg.Token, n.logger
	mc.Meta = membership.Meta{ActorAddr: n.System.Address(), Role: role, Version: Version, Fingerprint: cfg.Fingerprint,
		Resources: total, Labels: labels}
	if !cfg.Head {
		mc.Join = []string{cfg.Join}
	}
	timeout := cfg.JoinTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	members, err := membership.Start(ctx, mc)
	if errors.Is(err, membership.ErrInvalidConfig) {
		n.stopNet(context.Background())
		return "", fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err != nil {
		n.stopNet(context.Background())
		return "", fmt.Errorf("%w: joining %s: %w", ErrNetwork, cfg.Join, err)
	}
	n.members = members
	stopTransport := n.stopNet
	n.stopNet = func(ctx context.Context) {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = members.Leave(lctx)
		_ = members.Shutdown()
		stopTransport(ctx)
	}
	n.address = members.Local().Addr.String()
	if cfg.Head {
		return n.System.Address(), nil
	}
	for {
		for _, m := range members.Members() {
			if m.Meta.Role == membership.RoleHead {
				n.headID = m.ID()
				return m.Meta.ActorAddr, nil
			}
		}
		select {
		case <-ctx.Done():
			n.stopNet(context.Background())
			return "", fmt.Errorf("%w: in the cluster at %s within %v: %w", ErrNoHead, cfg.Join, timeout, context.Cause(ctx))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// role returns the role the node announces.
func (cfg *Network) role() membership.Role {
	switch {
	case cfg.Head:
		return membership.RoleHead
	case cfg.Role == 0:
		return membership.RoleWorker
	}
	return cfg.Role
}

// nodeRole returns the role the node registers with the GCS.
func nodeRole(cfg *Network) pb.NodeRole {
	switch cfg.role() {
	case membership.RoleHead:
		return pb.NodeRole_NODE_ROLE_HEAD
	case membership.RoleDriver:
		return pb.NodeRole_NODE_ROLE_DRIVER
	}
	return pb.NodeRole_NODE_ROLE_WORKER
}

// rejoinHead calls at the gossip address of a head that is gone until a
// node answers there, which gossip alone would never do: a restarted head
// knows no member. It ends when the node stops. Whoever answers shares the
// cluster's token, so it is the head back; watchMembers then registers
// this node with its GCS.
func (n *Node) rejoinHead(addr string) {
	defer n.rejoining.Store(false)
	if _, err := n.members.Join(context.Background(), addr); err != nil {
		n.logger.Debug("goray: stopped waiting for the head", "address", addr, "error", err)
		return
	}
	n.logger.Info("goray: reached the head's address again", "address", addr)
}

// registerAgain registers the node with the GCS of a head that came back,
// until that GCS lists it: the first NodeInfo may be lost with the stream
// that still led to the old head. The raylet then tells the GCS the actors
// it hosts. It gives up when the node stops or the head changes again.
func (n *Node) registerAgain(head string) {
	wait := 50 * time.Millisecond
	for !n.System.IsStopped() && n.HeadReachable() {
		n.System.Root.Send(n.GCS, n.info)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		reply, err := actors.Request(ctx, n.System, n.GCS, &pb.ListNodes{})
		cancel()
		if r, ok := reply.(*pb.ListNodesReply); ok && err == nil && slices.ContainsFunc(r.Nodes, func(i *pb.NodeInfo) bool {
			return i.NodeId == n.ID && i.Alive
		}) {
			n.System.Root.Send(n.Raylet, restoreActors{})
			n.jobsMu.Lock()
			for _, job := range n.jobs {
				n.System.Root.Send(n.GCS, &pb.RegisterJob{Job: job})
			}
			n.jobsMu.Unlock()
			return
		}
		n.logger.Debug("goray: not yet registered with the head that came back", "head", head, "error", err)
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// DrivesJob records that this process drives job, which it registered with
// the GCS: it registers it again with a head that comes back, until
// JobFinished.
func (n *Node) DrivesJob(job *pb.JobInfo) {
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	if n.jobs == nil {
		n.jobs = map[string]*pb.JobInfo{}
	}
	n.jobs[job.JobId] = job
}

// JobFinished records that the job this process drove has finished.
func (n *Node) JobFinished(id string) {
	n.jobsMu.Lock()
	defer n.jobsMu.Unlock()
	delete(n.jobs, id)
}

// HeadReachable reports whether the node can reach the cluster's head: false
// from the moment gossip declares the head dead (or it leaves) until a head
// is back at its address.
func (n *Node) HeadReachable() bool { return !n.headGone.Load() }

// watchMembers feeds membership changes to the node: the head's GCS learns
// of every node that dies or leaves; any node re-registers with a head that
// comes back.
func (n *Node) watchMembers() {
	for ev := range n.members.Events() {
		m := ev.Member
		switch {
		case (ev.Kind == membership.EventDead || ev.Kind == membership.EventLeft) && n.head:
			n.System.Root.Send(n.GCS, &pb.NodeDied{NodeId: m.ID(), Left: ev.Kind == membership.EventLeft})
		case (ev.Kind == membership.EventDead || ev.Kind == membership.EventLeft) && m.Meta.Role == membership.RoleHead:
			if m.ID() != n.headID {
				// A head that a new one at its address already replaced,
				// declared dead late: nothing to wait for.
				continue
			}
			n.logger.Warn("goray: the head node is gone; this node keeps its work and waits for it", "head", m.ID(), "address", m.Addr)
			n.headGone.Store(true)
			if n.rejoining.CompareAndSwap(false, true) {
				go n.rejoinHead(m.Addr.String())
			}
		case ev.Kind == membership.EventJoined && m.Meta.Role == membership.RoleHead && !n.head && m.Meta.ActorAddr == n.GCS.Address:
			// A head back at its address: tell its new GCS about this node.
			n.logger.Info("goray: the head node is back", "head", m.ID())
			n.headID = m.ID()
			go n.registerAgain(m.ID())
			n.headGone.Store(false)
		}
	}
}
