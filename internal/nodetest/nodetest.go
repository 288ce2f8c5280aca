// Package nodetest runs goray nodes in child processes of a test binary,
// for tests of real multi-process clusters: the binary runs itself again
// with Env naming the node's role, and its TestMain serves that node
// (Serve) instead of running the tests.
package nodetest

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/internal/nodeproc"
)

// Env names the role of the node a child process runs.
const Env = "GORAY_TEST_NODE"

// Role returns the role this process was started to serve, or "" in the
// test process itself.
func Role() string { return os.Getenv(Env) }

// Serve starts a node with opts, waiting at most start for it to join,
// prints "node ID ADDRESS" once it runs, serves until its standard input
// closes, and stops it. It returns the process's exit code.
func Serve(start time.Duration, opts ...goray.InitOption) int {
	sctx, cancel := context.WithTimeout(context.Background(), start)
	n, err := goray.StartNode(sctx, opts...)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("node %s %s\n", n.ID(), n.Address())
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// Proc is a node running in a child process.
type Proc = nodeproc.Proc

// Launch starts a node process for role and waits until it runs; ending
// it is up to the caller (Kill or Stop).
func Launch(t testing.TB, role string) *Proc {
	t.Helper()
	return nodeproc.Launch(t, Env, role)
}
