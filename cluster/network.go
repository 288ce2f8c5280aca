package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
)

// ErrNetwork reports a node that could not start messaging with others.
var ErrNetwork = errors.New("network")

// Network makes a node a member of a cluster over the network.
type Network struct {
	// Host and Port the node's actor system listens on (port 0: a free one).
	Host string
	Port int
	// Head runs the GCS and the placement actor on this node.
	Head bool
	// HeadAddress is the head node's actor system address (host:port),
	// for every other node.
	HeadAddress string
	// Token is the cluster's secret: messages between nodes carry it.
	Token string
	// Remote starts messaging between processes on sys, listening on host
	// and port; it returns how to stop it. Nil starts protoactor remote
	// without authentication.
	Remote func(sys *actor.ActorSystem, host string, port int) (stop func(), err error)
}

func (n *Node) startNetwork(cfg *Network) error {
	if !cfg.Head && cfg.HeadAddress == "" {
		return fmt.Errorf("%w: a node that is not the head needs the head's address", ErrInvalidConfig)
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	start := cfg.Remote
	if start == nil {
		start = plainRemote
	}
	stop, err := start(n.System, host, cfg.Port)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	n.stopNet = stop
	return nil
}

// plainRemote starts protoactor remote without authentication.
func plainRemote(sys *actor.ActorSystem, host string, port int) (func(), error) {
	// remote.Start panics when it cannot listen: find out first.
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	port = l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return nil, err
	}
	r := remote.NewRemote(sys, remote.Configure(host, port))
	r.Start()
	return func() { r.Shutdown(false) }, nil
}
