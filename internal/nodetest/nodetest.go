// Package nodetest runs goray nodes in child processes of a test binary,
// for tests of real multi-process clusters: the binary runs itself again
// with Env naming the node's role, and its TestMain serves that node
// instead of running the tests.
package nodetest

import (
	"bufio"
	"context"
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
type Proc struct {
	ID, Address string
	cmd         *exec.Cmd
	stdin       io.Closer // closing it stops the node
}

// Launch starts a node process for role and waits until it runs; ending
// it is up to the caller (Kill or Stop).
func Launch(t testing.TB, role string) *Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), Env+"="+role)
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
	p := &Proc{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		p.Kill()
		t.Fatalf("node process %q: %v", role, err)
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || fields[0] != "node" {
		p.Kill()
		t.Fatalf("node process %q said %q", role, line)
	}
	p.ID, p.Address = fields[1], fields[2]
	return p
}

// Pid returns the node process's ID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends the node process sig.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill ends the node process at once, as a crash would.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// Stop asks the node to stop (its standard input closes) and kills it if
// it still runs after grace.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}
