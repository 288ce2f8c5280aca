package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray"
)

// The node processes the tests start are this test binary, run as the
// command line: start runs os.Executable again, and asCLIEnv, inherited,
// makes the binary the CLI instead of the tests. The cross-node
// microbenchmarks start theirs with the bench-node command.
const asCLIEnv = "GORAY_CLI_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) == "1" || (len(os.Args) > 1 && os.Args[1] == "bench-node") {
		os.Exit(Main(os.Args, testDriverCommand()))
	}
	if err := os.Setenv(asCLIEnv, "1"); err != nil {
		panic(err)
	}
	// Under the race detector a process waits a second at exit, for late
	// reports; the many short processes the tests run need not.
	if g := os.Getenv("GORACE"); !strings.Contains(g, "atexit_sleep_ms") {
		if err := os.Setenv("GORACE", strings.TrimSpace(g+" atexit_sleep_ms=0")); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// hermetic clears the environment the CLI reads and returns a fresh
// temporary root for session directories; whatever nodes it records are
// stopped, and killed if need be, when the test ends.
func hermetic(t *testing.T) string {
	t.Helper()
	for _, k := range []string{tokenEnv, addressEnv, tempDirEnv} {
		t.Setenv(k, "")
	}
	root := t.TempDir()
	t.Cleanup(func() { killAll(t, root) })
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, root)
		}
	})
	return root
}

// dumpLogs prints the end of every node log under root, for a failed test.
func dumpLogs(t *testing.T, root string) {
	logs, _ := filepath.Glob(filepath.Join(root, sessionPrefix+"*", logsDir, "*.log"))
	for _, name := range logs {
		if strings.Contains(name, latestLink) {
			continue // the same files by their session's own name
		}
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		t.Logf("--- the last lines of %s:\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}

// killAll stops every node recorded under root: gracefully first, then
// with SIGKILL for any that remain.
func killAll(t *testing.T, root string) {
	var out, errb bytes.Buffer
	run(context.Background(), []string{"goray", "stop", "--temp-dir", root, "--grace-period", "5s"}, &out, &errb)
	sessions, _ := allSessions(root)
	for _, s := range sessions {
		names, _ := s.nodeNames()
		for _, n := range names {
			if pid, err := s.readPID(n); err == nil && pid > 0 && processAlive(pid) {
				t.Errorf("node %s (pid %d) outlived stop; killing it", n, pid)
				_ = kill(pid)
			}
		}
	}
}

// cliResult is what one run of the command line did.
type cliResult struct {
	out, err string
	code     int
	took     time.Duration
}

// runCLI runs the command line in this process. Only commands that start
// no networked goray runtime run here: a process runs one such runtime in
// its life (protoactor's remote sets gRPC's process-wide logger each time one
// starts, racing with the gRPC goroutines of any other); the rest run in a
// child process (execCLI).
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	t0 := time.Now()
	code := run(t.Context(), append([]string{"goray"}, args...), &out, &errb)
	return cliResult{out: out.String(), err: errb.String(), code: code, took: time.Since(t0)}
}

// execCLI runs the command line in a child process: this binary, as the CLI.
func execCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err = cmd.Run()
	r := cliResult{out: out.String(), err: errb.String(), took: time.Since(t0)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running goray %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustCLI runs the command line in a child process and fails the test
// unless it succeeds.
func mustCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return mustSucceed(t, execCLI(t, args...), args)
}

func mustSucceed(t *testing.T, r cliResult, args []string) cliResult {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("goray %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r
}

// failCLI runs the command line in a child process, expects it to fail with
// one line on standard error that contains want, and returns what it did.
func failCLI(t *testing.T, want string, args ...string) cliResult {
	t.Helper()
	return mustFail(t, execCLI(t, args...), want, args)
}

func mustFail(t *testing.T, r cliResult, want string, args []string) cliResult {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("goray %s succeeded; want an error containing %q\nstdout:\n%s", strings.Join(args, " "), want, r.out)
	}
	if !strings.Contains(r.err, want) {
		t.Fatalf("goray %s: stderr %q lacks %q", strings.Join(args, " "), r.err, want)
	}
	if lines := strings.Count(strings.TrimRight(r.err, "\n"), "\n") + 1; lines != 1 {
		t.Fatalf("goray %s: the error takes %d lines, want 1:\n%s", strings.Join(args, " "), lines, r.err)
	}
	return r
}

// freePort returns a port of 127.0.0.1 that nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pollUntil polls cond until it holds, failing the test after limit.
func pollUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(pollEvery)
	}
}

func itoaPort(p int) string { return strconv.Itoa(p) }

// What the cluster tests run on their nodes; the node processes are this
// binary, so they know these too.
type testState struct{ calls int }

var (
	holdTask = goray.Task("cli.test.hold", func(ctx context.Context, d time.Duration) (bool, error) {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(d):
			return true, nil
		}
	})
	testActor = goray.Actor0("cli.test.actor", func(ctx context.Context) (*testState, error) { return &testState{}, nil })
	testPing  = goray.Method0(testActor, "ping", func(s *testState, _ context.Context) (int, error) {
		s.calls++
		return s.calls, nil
	})
)

// testDriverCommand is a driver for the cluster tests, run in a child
// process: it joins the cluster of GORAY_ADDRESS, creates and calls a named
// actor, submits two tasks that each hold the cluster's one "slot" (so one
// runs and one waits) and an actor that needs the slot too (it stays
// pending), prints "ready DRIVER_NODE_ID ACTOR_ID", and ends its job when its
// standard input closes.
func testDriverCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "test-driver",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			ctx, err := goray.Init(cmd.Context())
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, goray.Shutdown(ctx)) }()
			named, err := testActor.New(ctx, goray.Name("cli-test-actor"))
			if err != nil {
				return err
			}
			if _, err := goray.Get(ctx, testPing.Remote(ctx, named)); err != nil {
				return err
			}
			running := holdTask.Remote(ctx, time.Minute, goray.Resource("slot", 1))
			// Only once it holds the slot do the others come, so that they
			// are the ones that wait.
			for {
				tasks, err := goray.ListTasks(ctx)
				if err != nil {
					return err
				}
				if slices.ContainsFunc(tasks, func(t goray.TaskInfo) bool { return t.Function == holdTask.Name() && t.State == "RUNNING" }) {
					break
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(pollEvery):
				}
			}
			waiting := holdTask.Remote(ctx, time.Minute, goray.Resource("slot", 1))
			pendingCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() { _, _ = testActor.New(pendingCtx, goray.Resource("slot", 1), goray.Name("cli-pending")) }()
			// A group no node could ever hold, listed as infeasible.
			if _, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{{Resources: map[string]float64{"CPU": 64}}},
				goray.StrictPack, goray.GroupName("cli-huge")); err != nil {
				return err
			}
			self, err := goray.NodeID(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ready %s %s\n", self, named.ID())
			_, _ = io.Copy(io.Discard, cmd.InOrStdin())
			// The actor lives as long as a handle to it (Ray's lifetimes):
			// this driver holds one until the test is done with it.
			runtime.KeepAlive(named)
			cancel()
			return errors.Join(goray.Cancel(ctx, running), goray.Cancel(ctx, waiting))
		},
	}
}
