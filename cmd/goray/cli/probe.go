package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goray-dev/goray"
)

// nodeQueryTimeout bounds a question every live node answers (the tasks it
// holds, its object store), within --timeout: a node that does not answer
// in time is named, and the others' answers are shown.
const nodeQueryTimeout = 2 * time.Second

// askNodes asks every live node through ask (ListTasks, ClusterStoreStats)
// within nodeQueryTimeout. It returns what the nodes that answered said, and
// the errors of those that did not; err is for a question that failed as a
// whole.
func askNodes[T any](c cluster, ask func(context.Context) (T, error)) (answers T, silent goray.NodeErrors, err error) {
	ctx, cancel := context.WithTimeout(c.ctx, nodeQueryTimeout)
	defer cancel()
	answers, err = ask(ctx)
	if errors.As(err, &silent) {
		return answers, silent, nil
	}
	return answers, nil, err
}

// unreachable describes the nodes that did not answer, sorted by ID.
func unreachable(nodes []goray.NodeInfo, silent goray.NodeErrors) []unreachableNode {
	out := []unreachableNode{}
	for _, n := range nodes {
		if err, ok := silent[n.ID]; ok {
			out = append(out, unreachableNode{NodeID: n.ID, Address: viewNode(n).Address, Role: n.Role, Error: err.Error()})
		}
	}
	slices.SortFunc(out, func(a, b unreachableNode) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out
}

// silentError reports the nodes that did not answer a listing, which shows
// what the others said.
func silentError(what string, silent goray.NodeErrors) error {
	return fmt.Errorf("the %s of %s are missing: %w", what, nodesNoun(len(silent)), silent)
}

// nodesNoun says "1 node" or "N nodes".
func nodesNoun(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}
