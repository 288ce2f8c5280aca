package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goray-dev/goray/cluster/transport"
)

// ErrNetwork reports a node that could not start messaging with others.
var ErrNetwork = errors.New("network")

// Network makes a node a member of a cluster over the network.
type Network struct {
	// Host and Port the node's actor system listens on (port 0: a free
	// one); AdvertiseHost is how other nodes reach it (Host by default).
	Host          string
	Port          int
	AdvertiseHost string
	// Head runs the GCS and the placement actor on this node.
	Head bool
	// HeadAddress is the head node's actor system address (host:port),
	// for every other node.
	HeadAddress string
	// Token is the cluster's secret: every message between nodes presents
	// it, and a node refuses peers without it. Required.
	Token string
	// TLS encrypts the traffic between nodes (off by default).
	TLS transport.TLSConfig
}

func (n *Node) startNetwork(cfg *Network) error {
	if !cfg.Head && cfg.HeadAddress == "" {
		return fmt.Errorf("%w: a node that is not the head needs the head's address", ErrInvalidConfig)
	}
	tc := transport.DefaultConfig()
	if cfg.Host != "" {
		tc.BindHost = cfg.Host
	}
	tc.BindPort, tc.AdvertisedHost, tc.Token, tc.TLS, tc.Logger = cfg.Port, cfg.AdvertiseHost, cfg.Token, cfg.TLS, n.logger
	tr, err := transport.Start(n.System, tc)
	switch {
	case errors.Is(err, transport.ErrNoToken), errors.Is(err, transport.ErrInvalidConfig), errors.Is(err, transport.ErrTLS):
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrNetwork, err)
	}
	n.transport = tr
	n.stopNet = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tr.Stop(ctx)
	}
	return nil
}
