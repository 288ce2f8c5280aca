// Package nodeproc runs nodes in child processes of a test binary: the
// binary runs itself again with an environment variable naming the node to
// serve, and the child prints "node ID ADDRESS" once its node runs.
package nodeproc

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a node running in a child process.
type Proc struct {
	ID, Address string
	cmd         *exec.Cmd
	stdin       io.Closer // closing it stops the node
}

// Launch runs the test binary again with env set to role, and waits until
// the node it starts runs (it prints "node ID ADDRESS"); ending it is up
// to the caller (Kill or Stop).
func Launch(t testing.TB, env, role string) *Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+role)
	cmd.Stderr = os.Stderr
	stdin, stdout := StartPiped(t, cmd)
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

// StartPiped starts cmd with pipes to its standard input and from its
// standard output, failing the test if it cannot. Set cmd.Stderr (or take
// its pipe) before.
func StartPiped(t testing.TB, cmd *exec.Cmd) (stdin io.WriteCloser, stdout io.ReadCloser) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if stdout, err = cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return stdin, stdout
}
