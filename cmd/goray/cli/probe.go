package cli

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goray-dev/goray"
)

// probeTimeout bounds the connection attempt to one node.
const probeTimeout = 500 * time.Millisecond

// Goray does not notice yet that a node is gone: membership is not in place,
// and the notice a stopping node sends the head can be lost when its process
// exits right after. The head then lists the node ALIVE, and ListTasks and
// ClusterStoreStats, which ask every live node, wait for it until their
// deadline. Until goray detects departed nodes itself, the CLI tries to
// connect to every node listed ALIVE first, and says which do not answer
// instead of waiting for them.

// silentNodes returns the nodes listed ALIVE that do not accept a
// connection at their address, sorted by ID; self (this driver) is skipped.
func silentNodes(ctx context.Context, nodes []goray.NodeInfo, self string) []goray.NodeInfo {
	var mu sync.Mutex
	var out []goray.NodeInfo
	var wg sync.WaitGroup
	for _, n := range nodes {
		if !n.Alive || n.ID == self {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", n.Address)
			if err == nil {
				_ = c.Close()
				return
			}
			mu.Lock()
			out = append(out, n)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b goray.NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// silentError explains why a listing that asks every live node is not
// attempted.
func silentError(what string, silent []goray.NodeInfo) error {
	var parts []string
	for _, n := range silent {
		parts = append(parts, n.ID+" at "+n.Address)
	}
	nodes := "nodes the cluster lists as ALIVE do not answer"
	if len(silent) == 1 {
		nodes = "node the cluster lists as ALIVE does not answer"
	}
	return fmt.Errorf("cannot list %s: %d %s (%s); goray does not yet notice nodes that are gone",
		what, len(silent), nodes, strings.Join(parts, ", "))
}

// askEveryNode checks that every node listed ALIVE answers, before a
// listing that asks each of them.
func askEveryNode(c cluster, what string) error {
	nodes, err := goray.Nodes(c.ctx)
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	self, err := goray.NodeID(c.ctx)
	if err != nil {
		return err
	}
	if silent := silentNodes(c.ctx, nodes, self); len(silent) > 0 {
		return silentError(what, silent)
	}
	return nil
}
