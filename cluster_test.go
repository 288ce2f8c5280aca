package goray_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// Cluster tests run a real cluster: the head and the worker nodes are child
// processes (this test binary, re-executed with nodeEnv set), and the test
// process is the driver, as a user's program would be.
const nodeEnv = "GORAY_TEST_NODE"

func TestMain(m *testing.M) {
	if role := os.Getenv(nodeEnv); role != "" {
		os.Exit(runNode(role))
	}
	os.Exit(m.Run())
}

// runNode runs a node until its standard input closes: "head", or
// "worker HEADADDR CPUS". It prints "node ID ADDRESS" once it runs.
func runNode(role string) int {
	f := strings.Fields(role)
	opts := []goray.InitOption{goray.WithListen("127.0.0.1", 0)}
	switch {
	case f[0] == "head":
		opts = append(opts, goray.AsHead(), goray.WithCPUs(1))
	case f[0] == "worker" && len(f) == 3:
		var cpus float64
		fmt.Sscan(f[2], &cpus)
		opts = append(opts, goray.WithAddress(f[1]), goray.WithCPUs(cpus))
	default:
		fmt.Fprintln(os.Stderr, "bad node role", role)
		return 2
	}
	n, err := goray.StartNode(context.Background(), opts...)
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

// nodeProc is a node running in a child process.
type nodeProc struct {
	ID, Address string
	cmd         *exec.Cmd
	stdin       io.Closer
}

// startNodeProc starts a node process; it is killed when the test ends.
func startNodeProc(t *testing.T, role string) *nodeProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+role)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{cmd: cmd, stdin: stdin}
	t.Cleanup(p.kill)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("node process %q: %v", role, err)
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || fields[0] != "node" {
		t.Fatalf("node process %q said %q", role, line)
	}
	p.ID, p.Address = fields[1], fields[2]
	return p
}

// kill ends the node process at once, as a crash would.
func (p *nodeProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// startCluster starts a head and workers of one CPU each, and a driver
// joined to them; it waits until the cluster lists every node.
func startCluster(t *testing.T, workers int) (context.Context, *nodeProc, []*nodeProc) {
	t.Helper()
	head := startNodeProc(t, "head")
	var ws []*nodeProc
	for range workers {
		ws = append(ws, startNodeProc(t, "worker "+head.Address+" 1"))
	}
	ctx, err := goray.Init(context.Background(), goray.WithAddress(head.Address), goray.WithListen("127.0.0.1", 0))
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Cleanup(func() {
		if err := goray.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	pollUntil(t, "every node in the cluster", func() bool {
		nodes, err := goray.Nodes(ctx)
		return err == nil && len(nodes) == workers+2
	})
	return ctx, head, ws
}

var whereTask = goray.Task("test.where", func(ctx context.Context, _ int) (string, error) { return goray.NodeID(ctx) })

// Tasks from a driver run on the cluster's nodes, not on the driver, and
// spread over them; nested tasks run from worker nodes.
func TestClusterRunsTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	t0 := time.Now()
	ctx, head, workers := startCluster(t, 2)
	t.Logf("cluster up in %v", time.Since(t0))
	ran := map[string]int{}
	var refs []goray.Ref[string]
	for i := range 60 {
		refs = append(refs, whereTask.Remote(ctx, i))
	}
	for _, r := range refs {
		ran[mustGet(t, ctx, r)]++
	}
	driver, err := goray.NodeID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ran[driver] != 0 {
		t.Fatalf("%d tasks ran on the driver, which has no CPUs", ran[driver])
	}
	t.Logf("tasks per node: %v (head %s, workers %s %s)", ran, head.ID, workers[0].ID, workers[1].ID)
	t.Logf("tasks done at %v", time.Since(t0))
	if got := mustGet(t, ctx, sumN.Remote(ctx, 10)); got != 90 {
		t.Fatalf("nested tasks: %d", got)
	}
	t.Logf("nested done at %v", time.Since(t0))
	if _, err := goray.Get(ctx, double.Remote(ctx, 1, goray.CPUs(2))); !errors.Is(err, goray.ErrInfeasible) {
		t.Fatalf("2 CPUs on 1-CPU nodes: %v", err)
	}
	t.Logf("infeasible done at %v", time.Since(t0))
}
