package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/nodeproc"
)

// statusJSON runs status --output json and decodes it.
func statusJSON(t *testing.T, root string, args ...string) statusReport {
	t.Helper()
	r := mustCLI(t, append([]string{"status", "--output", "json", "--temp-dir", root}, args...)...)
	var s statusReport
	if err := json.Unmarshal([]byte(r.out), &s); err != nil {
		t.Fatalf("status --output json is not a status object: %v\n%s", err, r.out)
	}
	return s
}

// The whole life of a cluster through the command line: start a head and
// a worker in the background, see them with status, list and get while a
// driver runs work on them, stop them, and find the head gone.
func TestClusterLifecycle(t *testing.T) {
	root := hermetic(t)
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	// The head.
	// (The message port is a free one: the default, --port + 1, may be taken.)
	objPort := freePort(t)
	r := mustCLI(t, "start", "--head", "--port", itoaPort(port), "--node-manager-port", "0", "--object-manager-port", itoaPort(objPort),
		"--num-cpus", "1", "--labels", "zone=a", "--temp-dir", root)
	t.Logf("start --head took %v", r.took)
	// The head serves objects on the port it was given.
	if l, err := net.Listen("tcp", "127.0.0.1:"+itoaPort(objPort)); err == nil {
		_ = l.Close()
		t.Fatalf("nothing listens on --object-manager-port %d", objPort)
	}
	for _, want := range []string{
		"Started the head node", "at " + addr,
		"start --address " + addr + " --token-file " + root,
		"GORAY_ADDRESS=" + addr + ` GORAY_TOKEN="$(cat ` + root,
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("start --head output lacks %q:\n%s", want, r.out)
		}
	}
	sess, ok := latestSession(root)
	if !ok {
		t.Fatal("no session_latest after start --head")
	}
	if got := sess.headAddress(); got != addr {
		t.Fatalf("head_address %q, want %q", got, addr)
	}
	token, err := readTokenFile(sess.path(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	checkTokenFile(t, sess.path(tokenFile), token)
	head, err := sess.readRecord("head")
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := sess.readPID("head"); err != nil || pid != head.PID || !processAlive(pid) {
		t.Fatalf("head.pid %d (%v), record pid %d: want the running node's", pid, err, head.PID)
	}
	if head.Address != addr || head.Role != "head" || head.NodeID == "" {
		t.Fatalf("head record %+v", head)
	}

	// A worker: its token comes from this machine's session of the cluster.
	r = mustCLI(t, "start", "--address", addr, "--num-cpus", "1", "--resources", `{"slot": 1}`, "--memory", "1GiB", "--temp-dir", root)
	t.Logf("start --address took %v", r.took)
	if !strings.Contains(r.out, "Started worker node") || !strings.Contains(r.out, "Token: session "+sess.path(tokenFile)) {
		t.Fatalf("start --address output:\n%s", r.out)
	}
	worker, err := sess.readRecord("worker-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{head.PID, worker.PID} {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue // no /proc here
		}
		if strings.Contains(string(cmdline), token) {
			t.Fatalf("the token is on the command line of node process %d", pid)
		}
		if !strings.Contains(string(cmdline), "--block") {
			t.Fatalf("node process %d was not started with --block: %q", pid, cmdline)
		}
	}

	// status sees both nodes with what they were given.
	st := statusJSON(t, root)
	if len(st.Nodes) != 2 || st.HeadAddress != addr {
		t.Fatalf("status: %+v", st)
	}
	byID := map[string]nodeView{}
	for _, n := range st.Nodes {
		if n.State != "ALIVE" {
			t.Fatalf("node %s is %s", n.NodeID, n.State)
		}
		byID[n.NodeID] = n
	}
	if h := byID[head.NodeID]; h.Address != addr || h.Total["CPU"] != 1 || h.Labels["zone"] != "a" {
		t.Fatalf("head in status: %+v", h)
	}
	if w := byID[worker.NodeID]; w.Total["slot"] != 1 || w.Total["memory"] != 1<<30 || w.Total["CPU"] != 1 {
		t.Fatalf("worker in status: %+v", w)
	}

	// A driver, in a process of its own, runs work: one task holds the
	// worker's slot, another and an actor that need the slot wait, and a
	// named actor runs.
	driver := startDriver(t, addr, token)

	var demandsSeen statusReport
	defer func() {
		if t.Failed() {
			t.Logf("last status: %+v", demandsSeen)
		}
	}()
	pollUntil(t, "status to show the waiting task and actor", 20*time.Second, func() bool {
		demandsSeen = statusJSON(t, root)
		task, actor := false, false
		for _, d := range demandsSeen.Demands.Pending {
			task = task || (d.Kind == "task" && d.Resources["slot"] == 1 && d.Count == 1)
			actor = actor || (d.Kind == "actor" && d.Type == "cli.test.actor" && d.State == "PENDING")
		}
		return task && actor
	})
	if u := demandsSeen.Resources.Used; u["slot"] != 1 || u["CPU"] != 1 {
		t.Errorf("used resources %v, want the running task's slot and CPU", u)
	}

	// list nodes, as a table and as JSON.
	r = mustCLI(t, "list", "nodes", "--temp-dir", root)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NODE ID") || !strings.Contains(r.out, head.NodeID) || !strings.Contains(r.out, "zone=a") {
		t.Fatalf("list nodes:\n%s", r.out)
	}
	var nodes []listedNode
	r = mustCLI(t, "list", "nodes", "-o", "json", "--include-drivers", "--temp-dir", root)
	if err := json.Unmarshal([]byte(r.out), &nodes); err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	aliveDrivers := 0
	for _, n := range nodes {
		roles[n.Role]++
		if n.Role == "driver" && n.State == "ALIVE" {
			aliveDrivers++
		}
	}
	// The test's driver and this listing's are alive; the drivers of
	// earlier commands left.
	if roles["head"] != 1 || roles["worker"] != 1 || aliveDrivers != 2 || roles["driver"] < 3 {
		t.Fatalf("roles %v, %d drivers alive (want the test's and this listing's) in %s", roles, aliveDrivers, r.out)
	}

	// list actors and get actor.
	var actors []actorView
	r = mustCLI(t, "list", "actors", "--output", "json", "--temp-dir", root)
	if err := json.Unmarshal([]byte(r.out), &actors); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, a := range actors {
		states[a.Name] = a.State
	}
	if states["cli-test-actor"] != "ALIVE" || states["cli-pending"] != "PENDING" {
		t.Fatalf("actor states %v", states)
	}
	r = mustCLI(t, "list", "actors", "--temp-dir", root)
	if !strings.Contains(r.out, "cli-test-actor") || !strings.HasPrefix(r.out, "ACTOR ID") {
		t.Fatalf("list actors:\n%s", r.out)
	}
	r = mustCLI(t, "get", "actor", "cli-test-actor", "--temp-dir", root)
	if !strings.Contains(r.out, "actor_id:     "+driver.actorID) || !strings.Contains(r.out, "state:        ALIVE") {
		t.Fatalf("get actor:\n%s", r.out)
	}
	var one actorView
	r = mustCLI(t, "get", "actor", driver.actorID, "-o", "json", "--temp-dir", root)
	if err := json.Unmarshal([]byte(r.out), &one); err != nil || one.Name != "cli-test-actor" || one.Type != "cli.test.actor" {
		t.Fatalf("get actor by ID: %+v, %v\n%s", one, err, r.out)
	}
	failCLI(t, "no actor with the ID or name", "get", "actor", "no-such-actor", "--temp-dir", root)
	for _, a := range actors {
		if a.Name == "cli-pending" && a.Resources["slot"] != 1 {
			t.Fatalf("the pending actor's resources %v, want its slot", a.Resources)
		}
	}

	// Any node's address is one to ask the cluster at.
	if st := statusJSON(t, root, "--address", worker.Address); len(st.Nodes) != 2 || st.HeadAddress != worker.Address {
		t.Fatalf("status asked at the worker: %+v", st)
	}

	// A token that is not the cluster's is refused, with a clear error,
	// within the timeout.
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte(newToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = failCLI(t, "is the token the cluster's?", "status", "--token-file", wrong, "--timeout", "2s", "--temp-dir", root)
	if r.took > 8*time.Second {
		t.Errorf("status with a wrong token took %v", r.took)
	}
	r = failCLI(t, "is the token the cluster's?", "start", "--address", addr, "--token-file", wrong, "--timeout", "2s", "--temp-dir", root)
	if r.took > 10*time.Second {
		t.Errorf("start with a wrong token took %v", r.took)
	}

	// list tasks: the running one and the waiting one.
	var tasks []taskView
	r = mustCLI(t, "list", "tasks", "-o", "json", "--temp-dir", root)
	if err := json.Unmarshal([]byte(r.out), &tasks); err != nil {
		t.Fatal(err)
	}
	taskStates := map[string]int{}
	for _, tk := range tasks {
		if tk.Function == holdTask.Name() {
			taskStates[tk.State]++
		}
	}
	if taskStates["RUNNING"] != 1 || taskStates["RUNNING"]+taskStates["QUEUED"]+taskStates["WAITING_FOR_NODE"] != 2 {
		t.Fatalf("task states %v:\n%s", taskStates, r.out)
	}

	// list jobs: the test's driver runs; the CLI's own jobs are left out.
	var jobs []jobView
	r = mustCLI(t, "list", "jobs", "-o", "json", "--temp-dir", root)
	if err := json.Unmarshal([]byte(r.out), &jobs); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].DriverNode != driver.nodeID || jobs[0].Status != "RUNNING" {
		t.Fatalf("jobs %+v, want only the test driver's, running", jobs)
	}

	// list placement-groups: the driver's group no node can hold, and why.
	var groups []groupView
	r = mustCLI(t, "list", "placement-groups", "-o", "json", "--temp-dir", root)
	if err := json.Unmarshal([]byte(r.out), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Name != "cli-huge" || groups[0].State != "INFEASIBLE" || groups[0].Reason == "" ||
		groups[0].Strategy != "STRICT_PACK" || len(groups[0].Bundles) != 1 || groups[0].Bundles[0].Resources["CPU"] != 64 {
		t.Fatalf("placement groups %+v, want the driver's infeasible cli-huge with its reason", groups)
	}
	r = mustCLI(t, "list", "pgs", "--temp-dir", root)
	if !strings.HasPrefix(r.out, "GROUP ID") || !strings.Contains(r.out, "cli-huge") || !strings.Contains(r.out, "INFEASIBLE") {
		t.Fatalf("list pgs:\n%s", r.out)
	}

	// list objects: per-node store statistics.
	var stores []storeView
	r = mustCLI(t, "list", "objects", "-o", "json", "--temp-dir", root)
	if err := json.Unmarshal([]byte(r.out), &stores); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range stores {
		seen[s.NodeID] = s.Capacity > 0
	}
	if !seen[head.NodeID] || !seen[worker.NodeID] {
		t.Fatalf("object stores %+v lack the head's or the worker's", stores)
	}

	driver.finish(t)

	// stop: workers first, then the head; every process gone.
	r = mustCLI(t, "stop", "--temp-dir", root)
	t.Logf("stop took %v:\n%s", r.took, r.out)
	wi, hi := strings.Index(r.out, "stopped worker-1"), strings.Index(r.out, "stopped head")
	if wi < 0 || hi < wi || !strings.Contains(r.out, "Stopped 2 of 2 nodes.") {
		t.Fatalf("stop output:\n%s", r.out)
	}
	for _, pid := range []int{head.PID, worker.PID} {
		if processAlive(pid) {
			t.Fatalf("node process %d still runs after stop", pid)
		}
	}
	if names, _ := sess.nodeNames(); len(names) != 0 {
		t.Fatalf("pid files left after stop: %v", names)
	}
	if _, err := os.Stat(sess.path(logsDir, "head.log")); err != nil {
		t.Fatalf("the head's log is gone: %v", err)
	}

	// The head is gone: status says so at once, and stop finds nothing.
	r = failCLI(t, "cannot reach the goray head at "+addr, "status", "--temp-dir", root)
	if r.took > 3*time.Second {
		t.Fatalf("status against a stopped head took %v", r.took)
	}
	if r = mustCLI(t, "stop", "--temp-dir", root); !strings.Contains(r.out, "No goray nodes") {
		t.Fatalf("second stop:\n%s", r.out)
	}
}

// Nodes started with --block run in the foreground; stop (SIGTERM) makes
// them drain and exit cleanly.
func TestStartBlock(t *testing.T) {
	root := hermetic(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	type proc struct {
		cmd    *exec.Cmd
		out    string
		exited chan error
	}
	startProc := func(name string, args ...string) *proc {
		out := filepath.Join(t.TempDir(), name+".out")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := exec.Command(exe, append([]string{"start", "--block", "--temp-dir", root, "--num-cpus", "1"}, args...)...)
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, out: out, exited: make(chan error, 1)}
		go func() { p.exited <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return p
	}
	t0 := time.Now()
	head := startProc("head", "--head", "--port", "0")
	var sess session
	var rec nodeRecord
	pollUntil(t, "the head's record", 30*time.Second, func() bool {
		var ok bool
		if sess, ok = latestSession(root); !ok {
			return false
		}
		var err error
		rec, err = sess.readRecord("head")
		return err == nil
	})
	t.Logf("head up in %v", time.Since(t0))
	t1 := time.Now()
	worker := startProc("worker", "--address", rec.Address)
	pollUntil(t, "the worker's record", 30*time.Second, func() bool {
		_, err := sess.readRecord("worker-1")
		return err == nil
	})
	t.Logf("worker up in %v", time.Since(t1))
	if b, _ := os.ReadFile(head.out); !strings.Contains(string(b), "Running in the foreground") {
		t.Errorf("the head's output lacks the foreground notice:\n%s", b)
	}

	r := mustCLI(t, "stop", "--temp-dir", root)
	t.Logf("stop took %v:\n%s", r.took, r.out)
	for _, p := range []*proc{worker, head} {
		select {
		case err := <-p.exited:
			if err != nil {
				b, _ := os.ReadFile(p.out)
				t.Fatalf("node exited with %v:\n%s", err, b)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a node still runs 10s after stop returned")
		}
	}
	if b, _ := os.ReadFile(worker.out); !strings.Contains(string(b), "node stopped") {
		t.Errorf("the worker did not stop gracefully:\n%s", b)
	}
	if names, _ := sess.nodeNames(); len(names) != 0 {
		t.Fatalf("pid files left: %v", names)
	}
}

// Bad input ends with a clear one-line error and a non-zero exit, never a
// hang.
func TestErrors(t *testing.T) {
	root := hermetic(t)
	tokenPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenPath, []byte(newToken()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := "127.0.0.1:" + strconv.Itoa(freePort(t))

	// A listener that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	t.Run("port in use", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		port := busy.Addr().(*net.TCPAddr).Port
		r := failCLI(t, fmt.Sprintf("port %d on 127.0.0.1 is in use", port), "start", "--head", "--port", itoaPort(port), "--temp-dir", root)
		if !strings.Contains(r.err, "(log: "+root) {
			t.Errorf("the error does not name the node's log: %s", r.err)
		}
		if _, ok := latestSession(root); ok {
			t.Errorf("a failed first start left session_latest pointing at its session")
		}
		if names := allNodeNames(t, root); len(names) != 0 {
			t.Errorf("a failed start left pid files: %v", names)
		}
	})
	t.Run("worker without a head", func(t *testing.T) {
		r := failCLI(t, "cannot reach the goray head at "+closed, "start", "--address", closed, "--token-file", tokenPath, "--temp-dir", root)
		if r.took > 10*time.Second {
			t.Errorf("took %v", r.took)
		}
	})
	t.Run("worker joining what is not a head", func(t *testing.T) {
		// The address answers, so the node starts; start reports that the
		// head never lists it, and kills it.
		r := failCLI(t, "the goray node at "+silent.Addr().String()+" did not let this process join within 2s",
			"start", "--address", silent.Addr().String(), "--token-file", tokenPath, "--timeout", "2s", "--temp-dir", root)
		if r.took > 10*time.Second {
			t.Errorf("took %v", r.took)
		}
		if names := allNodeNames(t, root); len(names) != 0 {
			t.Errorf("a failed start left pid files: %v", names)
		}
	})
	t.Run("worker without a token", func(t *testing.T) {
		failCLI(t, "no cluster token for "+closed, "start", "--address", closed, "--temp-dir", root)
	})
	t.Run("status without a head", func(t *testing.T) {
		failCLI(t, "cannot reach the goray head at "+closed, "status", "--address", closed, "--token-file", tokenPath, "--temp-dir", root)
	})
	t.Run("head that does not answer", func(t *testing.T) {
		// Refused attempts, or none finished in time (a slow machine).
		r := failCLI(t, "within 1s", "status", "--address", silent.Addr().String(), "--token-file", tokenPath, "--timeout", "1s", "--temp-dir", root)
		if r.took > 5*time.Second {
			t.Errorf("a 1s timeout took %v", r.took)
		}
	})
	t.Run("GORAY_ADDRESS", func(t *testing.T) {
		t.Setenv(addressEnv, closed)
		failCLI(t, "cannot reach the goray head at "+closed, "list", "nodes", "--token-file", tokenPath, "--temp-dir", root)
	})
	t.Run("GORAY_TOKEN", func(t *testing.T) {
		t.Setenv(tokenEnv, "x y")
		failCLI(t, "the cluster token in GORAY_TOKEN has spaces", "status", "--address", closed, "--temp-dir", root)
	})
	for _, c := range []struct {
		name, want string
		args       []string
	}{
		{"no token", "no cluster token", []string{"status", "--address", closed}},
		{"empty token file", "is empty", []string{"status", "--address", closed, "--token-file", os.DevNull}},
		{"missing token file", "reading the token file", []string{"status", "--address", closed, "--token-file", filepath.Join(root, "nope")}},
		{"no address", "no cluster address", []string{"status", "--temp-dir", t.TempDir()}},
		{"bad address", "not HOST:PORT", []string{"get", "actor", "x", "--address", "nohost"}},
		{"bad output", `--output "yaml"`, []string{"list", "nodes", "-o", "yaml", "--address", closed}},
		{"bad timeout", "--timeout must be positive", []string{"status", "--timeout", "0s", "--address", closed}},
		{"list what", "say what to list", []string{"list"}},
		{"list unknown", "unknown command", []string{"list", "things"}},
		{"get usage", "usage: get actor NAME|ID", []string{"get", "actor"}},
		{"get what", "usage: get actor NAME|ID", []string{"get", "node", "x"}},
		{"start neither", "pass --head", []string{"start"}},
		{"start flag", "unknown flag: --num-cpu", []string{"start", "--head", "--num-cpu", "2"}},
		{"stop grace", "--grace-period", []string{"stop", "--grace-period", "0s"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if !strings.Contains(strings.Join(args, " "), "--temp-dir") {
				args = append(args, "--temp-dir", root)
			}
			// These fail before joining a cluster: in this process.
			mustFail(t, runCLI(t, args...), c.want, args)
		})
	}
	if r := runCLI(t, "stop", "--temp-dir", t.TempDir()); r.code != 0 || !strings.Contains(r.out, "No goray nodes") {
		t.Errorf("stop with nothing to stop:\n%s", r.out)
	}
}

// allNodeNames returns the nodes of every session under root.
func allNodeNames(t *testing.T, root string) []string {
	t.Helper()
	sessions, err := allSessions(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sessions {
		n, _ := s.nodeNames()
		names = append(names, n...)
	}
	return names
}

// A node process that was killed leaves its files; stop says so and
// removes them.
func TestStopStale(t *testing.T) {
	root := hermetic(t)
	s, err := newSession(root, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` to make a finished process:", err)
	}
	if err := s.writePID("worker-1", cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	r := mustSucceed(t, runCLI(t, "stop", "--temp-dir", root), nil)
	if !strings.Contains(r.out, "removed the files of worker-1") || !strings.Contains(r.out, "No goray nodes") {
		t.Fatalf("stop:\n%s", r.out)
	}
	if _, err := os.Stat(s.path("worker-1.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the stale pid file remains: %v", err)
	}
}

// testDriver is a driver process running testDriverCommand.
type testDriver struct {
	nodeID, actorID string
	stdin           io.Closer
	exited          chan error
	stderr          *bytes.Buffer
}

// startDriver starts a test driver against the cluster at addr and waits
// until it is ready; it is stopped when the test ends, if not before.
func startDriver(t *testing.T, addr, token string) *testDriver {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "test-driver")
	cmd.Env = append(os.Environ(), addressEnv+"="+addr, tokenEnv+"="+token)
	d := &testDriver{exited: make(chan error, 1), stderr: &bytes.Buffer{}}
	cmd.Stderr = d.stderr
	var stdout io.ReadCloser
	d.stdin, stdout = nodeproc.StartPiped(t, cmd)
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		d.exited <- cmd.Wait()
	}()
	select {
	case l := <-line:
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "ready" {
			t.Fatalf("the test driver said %q", l)
		}
		d.nodeID, d.actorID = f[1], f[2]
	case <-time.After(30 * time.Second):
		t.Fatal("the test driver was not ready within 30s")
	}
	return d
}

// finish ends the driver's job and waits for its process.
func (d *testDriver) finish(t *testing.T) {
	t.Helper()
	_ = d.stdin.Close()
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("the test driver failed: %v\n%s", err, d.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the test driver did not end within 20s")
	}
}

// A node that stops answering is named by status (which still reports the
// rest) and by the listings that ask every node, within their deadline;
// once it is killed, status shows it DEAD.
func TestSilentThenDeadNode(t *testing.T) {
	root := hermetic(t)
	mustCLI(t, "start", "--head", "--port", "0", "--num-cpus", "1", "--temp-dir", root)
	sess, _ := latestSession(root)
	mustCLI(t, "start", "--address", sess.headAddress(), "--num-cpus", "1", "--temp-dir", root)
	worker, err := sess.readRecord("worker-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(worker.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(worker.PID, syscall.SIGKILL) }()
	// Every thread of the process stops a moment after the signal.
	pollUntil(t, "the worker process stopped", 5*time.Second, func() bool {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(worker.PID) + "/stat")
		if err != nil {
			return true // no /proc: go on
		}
		i := bytes.LastIndexByte(stat, ')')
		return i >= 0 && i+2 < len(stat) && stat[i+2] == 'T'
	})

	// Both at once, before gossip declares the worker dead (about 1.5 s).
	statusArgs := []string{"status", "-o", "json", "--temp-dir", root}
	tasksArgs := []string{"list", "tasks", "--temp-dir", root}
	results := make(chan cliResult, 1)
	go func() { results <- execCLI(t, tasksArgs...) }()
	r := mustSucceed(t, execCLI(t, statusArgs...), statusArgs)
	var st statusReport
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		t.Fatal(err)
	}
	// On a slow machine gossip may have declared the worker dead already:
	// it is then listed DEAD, and nothing is unreachable.
	declared := slices.ContainsFunc(st.Nodes, func(n nodeView) bool { return n.NodeID == worker.NodeID && n.State == "DEAD" })
	switch {
	case len(st.Nodes) != 2:
		t.Fatalf("status with a stopped worker:\n%s", r.out)
	case declared && (len(st.Unreachable) != 0 || len(st.Warnings) != 0):
		t.Fatalf("status with a worker declared dead lists it unreachable:\n%s", r.out)
	case !declared && (len(st.Unreachable) != 1 || st.Unreachable[0].NodeID != worker.NodeID || st.Unreachable[0].Role != "worker" || len(st.Warnings) != 1):
		t.Fatalf("status with a stopped worker:\n%s", r.out)
	}
	if declared {
		t.Log("gossip declared the stopped worker dead before status asked")
	}
	if r.took > 10*time.Second {
		t.Fatalf("status with a stopped worker took %v", r.took)
	}
	// On a slow machine (the race detector on two cores) gossip may have
	// declared the worker dead before list asked: it then lists the head's
	// tasks alone, rightly.
	if r = <-results; r.code == 0 {
		t.Logf("list tasks asked after the worker was declared dead (took %v)", r.took)
	} else {
		r = mustFail(t, r, "the tasks of 1 node are missing", tasksArgs)
	}
	if (r.code != 0 && !strings.Contains(r.err, worker.NodeID)) || !strings.HasPrefix(r.out, "TASK ID") || r.took > 10*time.Second {
		t.Fatalf("list tasks with a stopped worker took %v:\nstdout %s\nstderr %s", r.took, r.out, r.err)
	}

	if err := syscall.Kill(worker.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "status to show the killed worker DEAD", 15*time.Second, func() bool {
		for _, n := range statusJSON(t, root).Nodes {
			if n.NodeID == worker.NodeID {
				return n.State == "DEAD"
			}
		}
		return false
	})
	r = mustCLI(t, "status", "--temp-dir", root)
	if !strings.Contains(r.out, "1 nodes alive, 1 dead") || !strings.Contains(r.out, "DEAD") {
		t.Fatalf("status:\n%s", r.out)
	}
	r = mustCLI(t, "stop", "--temp-dir", root)
	if !strings.Contains(r.out, "removed the files of worker-1") || !strings.Contains(r.out, "Stopped 1 of 1 nodes.") {
		t.Fatalf("stop:\n%s", r.out)
	}
}

// A head killed and started again with the same ports and the cluster's
// token (as the README says) gets its worker back: the worker registers
// with the new head, which lists it alive.
func TestHeadRestart(t *testing.T) {
	root := hermetic(t)
	port, nmPort := itoaPort(freePort(t)), itoaPort(freePort(t))
	mustCLI(t, "start", "--head", "--port", port, "--node-manager-port", nmPort, "--num-cpus", "1", "--temp-dir", root)
	old, _ := latestSession(root)
	mustCLI(t, "start", "--address", old.headAddress(), "--num-cpus", "1", "--temp-dir", root)
	head, err := old.readRecord("head")
	if err != nil {
		t.Fatal(err)
	}
	worker, err := old.readRecord("worker-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(head.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The port is free again once the killed head's process is gone.
	pollUntil(t, "the killed head to exit", 10*time.Second, func() bool { return syscall.Kill(head.PID, 0) != nil })

	mustCLI(t, "start", "--head", "--port", port, "--node-manager-port", nmPort, "--num-cpus", "1",
		"--token-file", old.path(tokenFile), "--temp-dir", root)
	pollUntil(t, "the worker to register with the restarted head", time.Minute, func() bool {
		r := execCLI(t, "status", "--output", "json", "--temp-dir", root)
		var st statusReport
		return r.code == 0 && json.Unmarshal([]byte(r.out), &st) == nil &&
			slices.ContainsFunc(st.Nodes, func(n nodeView) bool { return n.NodeID == worker.NodeID && n.State == "ALIVE" })
	})
	mustCLI(t, "stop", "--temp-dir", root)
}
