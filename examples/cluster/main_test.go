package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The example's flow on a real cluster of three processes on 127.0.0.1: a
// head and two workers started with the example's own binary, the binary
// run again as the driver, then status and stop.
func TestClusterExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example and starts a cluster")
	}
	for _, k := range []string{"GORAY_ADDRESS", "GORAY_TOKEN", "GORAY_TEMP_DIR"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cluster")
	sessions := filepath.Join(dir, "sessions")
	t0 := time.Now()
	build := exec.Command(goTool(), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built in %v", time.Since(t0))
	t.Cleanup(func() { stopAll(t, bin, sessions) })

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cli := func(env []string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			err = errors.Join(err, errors.New(errb.String()))
		}
		return out.String(), err
	}
	must := func(env []string, args ...string) string {
		t.Helper()
		out, err := cli(env, args...)
		if err != nil {
			t.Fatalf("cluster %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	t0 = time.Now()
	must(nil, "start", "--head", "--port", "0", "--num-cpus", "1", "--temp-dir", sessions)
	addrBytes, err := os.ReadFile(filepath.Join(sessions, "session_latest", "head_address"))
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(string(addrBytes))
	for range 2 {
		must(nil, "start", "--address", addr, "--num-cpus", "1", "--temp-dir", sessions)
	}
	t.Logf("3 nodes up in %v", time.Since(t0))

	token, err := os.ReadFile(filepath.Join(sessions, "session_latest", "token"))
	if err != nil {
		t.Fatal(err)
	}
	const limit, chunks = 2_000_000, 24
	t0 = time.Now()
	out := must([]string{"GORAY_ADDRESS=" + addr, "GORAY_TOKEN=" + strings.TrimSpace(string(token))},
		"run", "--json", "--limit", strconv.Itoa(limit), "--chunks", strconv.Itoa(chunks))
	t.Logf("driver ran in %v", time.Since(t0))
	var res Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("run --json: %v\n%s", err, out)
	}

	// Every chunk's count, against a sieve; the chunks cover [0, limit).
	below := primesBelow(limit)
	if len(res.Counts) != chunks {
		t.Fatalf("%d results, want %d", len(res.Counts), chunks)
	}
	next, total := 0, 0
	perNode := map[string]int{}
	for _, c := range res.Counts {
		if c.Lo != next || c.Hi <= c.Lo {
			t.Fatalf("chunk [%d, %d) does not follow %d", c.Lo, c.Hi, next)
		}
		next = c.Hi
		if want := below[c.Hi] - below[c.Lo]; c.Primes != want {
			t.Errorf("chunk [%d, %d): %d primes, want %d", c.Lo, c.Hi, c.Primes, want)
		}
		total += c.Primes
		perNode[c.NodeID]++
	}
	if next != limit || total != 148933 { // π(2·10⁶)
		t.Fatalf("chunks end at %d with %d primes; want %d and 148933", next, total, limit)
	}
	if res.Tally.Chunks != chunks || res.Tally.Primes != total {
		t.Fatalf("the tally actor saw %d chunks and %d primes, want %d and %d", res.Tally.Chunks, res.Tally.Primes, chunks, total)
	}

	// The tasks ran on the cluster's nodes, more than one of them, and not
	// on the driver.
	var status struct {
		Nodes []struct {
			NodeID string `json:"node_id"`
			State  string `json:"state"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(must(nil, "status", "--output", "json", "--temp-dir", sessions)), &status); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, n := range status.Nodes {
		nodes[n.NodeID] = n.State == "ALIVE"
	}
	if len(nodes) != 3 {
		t.Fatalf("status lists %d nodes, want 3: %+v", len(nodes), status.Nodes)
	}
	for id, n := range perNode {
		if !nodes[id] {
			t.Errorf("%d tasks ran on %s, not a live node of the cluster", n, id)
		}
	}
	if perNode[res.DriverNode] != 0 {
		t.Errorf("%d tasks ran on the driver, which has no CPUs", perNode[res.DriverNode])
	}
	if len(perNode) < 2 {
		t.Fatalf("every task ran on one node: %v", perNode)
	}
	t.Logf("tasks per node: %v", perNode)

	t0 = time.Now()
	out = must(nil, "stop", "--temp-dir", sessions)
	t.Logf("stopped in %v:\n%s", time.Since(t0), out)
	if !strings.Contains(out, "Stopped 3 of 3 nodes.") {
		t.Fatalf("stop:\n%s", out)
	}
	if left := pidFiles(t, sessions); len(left) != 0 {
		t.Fatalf("pid files left after stop: %v", left)
	}
}

// goTool returns the go command: go test puts its own first on PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func pidFiles(t *testing.T, sessions string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(sessions, "session_*", "*.pid"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// stopAll stops whatever nodes the test started, and kills any that
// remain, even when the test failed half-way.
func stopAll(t *testing.T, bin, sessions string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "stop", "--temp-dir", sessions, "--grace-period", "5s").CombinedOutput(); err != nil {
		t.Logf("stop: %v\n%s", err, out)
	}
	for _, f := range pidFiles(t, sessions) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if p, err := os.FindProcess(pid); err == nil && p.Kill() == nil {
				t.Errorf("node process %d outlived stop; killed it", pid)
			}
		}
	}
}
