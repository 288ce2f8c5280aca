package goray_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/internal/nodetest"
)

// Cluster tests run a real cluster: the head and the worker nodes are child
// processes (this test binary, re-executed with nodetest.Env set), and the test
// process is the driver, as a user's program would be.
func TestMain(m *testing.M) {
	if role := nodetest.Role(); role != "" {
		os.Exit(runNode(role))
	}
	os.Exit(m.Run())
}

// clusterToken is the token of the test clusters.
const clusterToken = "cluster-test-token-0123456789"

// runNode runs a node until its standard input closes: "head", "head-at
// GOSSIPPORT PORT" (a head at given ports), or "worker HEADADDR CPUS
// [TOKEN]" (the cluster's token by default; workers also have a "worker"
// resource that only they have). It prints "node ID ADDRESS" once it runs.
func runNode(role string) int {
	f := strings.Fields(role)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node-role", f[0])
	token, wait := clusterToken, 30*time.Second
	if len(f) == 4 {
		token, wait = f[3], 3*time.Second
	}
	opts := []goray.InitOption{goray.WithListen("127.0.0.1", 0), goray.WithToken(token), goray.WithLogger(logger)}
	switch {
	case f[0] == "head":
		opts = append(opts, goray.AsHead(), goray.WithCPUs(1))
	case f[0] == "head-at" && len(f) == 3:
		var gossip, port int
		fmt.Sscan(f[1], &gossip)
		fmt.Sscan(f[2], &port)
		opts = append(opts, goray.AsHead(), goray.WithCPUs(1), goray.WithGossipPort(gossip), goray.WithListen("127.0.0.1", port))
	case f[0] == "worker" && (len(f) == 3 || len(f) == 4):
		var cpus float64
		fmt.Sscan(f[2], &cpus)
		opts = append(opts, goray.WithAddress(f[1]), goray.WithCPUs(cpus), goray.WithResources(map[string]float64{"worker": 100}))
	default:
		fmt.Fprintln(os.Stderr, "bad node role", role)
		return 2
	}
	return nodetest.Serve(wait, opts...)
}

// nodeProc is a node running in a child process.
type nodeProc = nodetest.Proc

// startNodeProc starts a node process; it is killed when the test ends.
func startNodeProc(t *testing.T, role string) *nodeProc {
	t.Helper()
	p := nodetest.Launch(t, role)
	t.Cleanup(p.Kill)
	return p
}

// startCluster starts a head and workers of one CPU each, and a driver
// joined to them; it waits until the cluster lists every node. spawn starts
// another node process, killed only after the driver shut down.
func startCluster(t *testing.T, workers int) (ctx context.Context, head *nodeProc, ws []*nodeProc, spawn func(t *testing.T, role string) *nodeProc) {
	t.Helper()
	head = startNodeProc(t, "head")
	for range workers {
		ws = append(ws, startNodeProc(t, "worker "+head.Address+" 1"))
	}
	ctx, err := goray.Init(context.Background(), goray.WithAddress(head.Address), goray.WithListen("127.0.0.1", 0), goray.WithToken(clusterToken))
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	var late []*nodeProc
	var mu sync.Mutex
	spawn = func(t *testing.T, role string) *nodeProc {
		p := nodetest.Launch(t, role)
		mu.Lock()
		late = append(late, p)
		mu.Unlock()
		return p
	}
	t.Cleanup(func() {
		t0 := time.Now()
		if err := goray.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		t.Logf("shutdown took %v", time.Since(t0))
		mu.Lock()
		defer mu.Unlock()
		for _, p := range late {
			p.Kill()
		}
	})
	pollUntil(t, "every node in the cluster", func() bool {
		nodes, err := goray.Nodes(ctx)
		return err == nil && len(nodes) == workers+2
	})
	return ctx, head, ws, spawn
}

var (
	whereTask  = goray.Task("test.where", func(ctx context.Context, _ int) (string, error) { return goray.NodeID(ctx) })
	whereActor = goray.Actor0("test.where-actor", func(ctx context.Context) (*Recorder, error) { return &Recorder{}, nil })
	whereCall  = goray.Method0(whereActor, "where", func(r *Recorder, ctx context.Context) (string, error) { return goray.NodeID(ctx) })
	// spawnChild creates an actor the caller holds in its state.
	spawnChild = goray.Method0(whereActor, "spawn", func(r *Recorder, ctx context.Context) (string, error) {
		s, err := splitter.New(ctx, 0, goray.MaxRestarts(-1))
		r.child = s
		return s.ID(), err
	})
)

// TestCluster runs its cases against one cluster: a head and four workers
// in child processes, this process their driver. (A process starts one
// network stack: protoactor's remote sets gRPC's process-wide logger.)
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	ctx, head, workers, spawn := startCluster(t, 4)
	nodes := []string{head.ID, workers[0].ID, workers[1].ID, workers[2].ID, workers[3].ID}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, ctx context.Context, nodes []string)
	}{
		{"tasks", clusterRunsTasks},
		{"actors", clusterRunsActors},
		{"objects", clusterMovesObjects},
		{"state", clusterState},
		{"actor lifetimes", clusterActorLifetime},
		{"multiple returns", clusterMultipleReturns},
		{"streaming generator", func(t *testing.T, ctx context.Context, _ []string) {
			for _, opts := range [][]goray.Option{nil, {goray.Backpressure(2)}} {
				got, err := collect(t, ctx, countUp.Remote(ctx, genParams{N: 40, FailAt: 30, PanicAt: -1}, opts...))
				if len(got) != 30 || got[29] != 29 || !strings.Contains(fmt.Sprint(err), "failed at 30") {
					t.Fatalf("stream from another process: %d items, %v", len(got), err)
				}
			}
		}},
		{"registered errors", func(t *testing.T, ctx context.Context, _ []string) {
			var q *QuotaError
			if err := get(ctx, failWith.Remote(ctx, "quota")); !errors.As(err, &q) || q.Limit != 2 {
				t.Fatalf("error from another process: %v (%+v)", err, q)
			}
		}},
		{"a node with the wrong token is refused", func(t *testing.T, ctx context.Context, _ []string) {
			clusterRefusesWrongToken(t, ctx, head)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, ctx, nodes) })
	}
	// The cases that kill nodes come last.
	stopped := startNodeProc(t, "worker "+head.Address+" 1")
	t.Run("unresponsive node", func(t *testing.T) { clusterAsksAroundUnresponsiveNode(t, ctx, stopped) })
	t.Run("node killed during a workload", func(t *testing.T) { clusterSurvivesNodeKill(t, ctx, workers[2]) })
	t.Run("actor's node killed", func(t *testing.T) { clusterMovesActors(t, ctx, workers[3]) })
	borrower := startNodeProc(t, "worker "+head.Address+" 1")
	t.Run("borrowing across processes", func(t *testing.T) { clusterBorrowing(t, ctx, borrower) })
	// Placement across the nodes left: it kills workers[1].
	t.Run("placement", func(t *testing.T) { clusterPlacement(t, ctx, head, workers[0], workers[1]) })
	// Large copies and saturated CPUs stall no node long enough for gossip
	// to declare it dead: the killed nodes are the only dead ones.
	t.Run("no false deaths", func(t *testing.T) {
		all, err := goray.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var dead []string
		for _, n := range all {
			if !n.Alive {
				dead = append(dead, n.ID)
			}
		}
		slices.Sort(dead)
		want := []string{workers[1].ID, workers[2].ID, workers[3].ID, stopped.ID, borrower.ID}
		slices.Sort(want)
		if !slices.Equal(dead, want) {
			t.Fatalf("dead nodes %v, want only the killed %v", dead, want)
		}
	})
	// The head goes last: the cluster runs on without it and re-forms
	// around it when it comes back at its address.
	// (The new head outlives the driver, whose Shutdown finishes its job
	// there.)
	t.Run("head restarted", func(t *testing.T) {
		clusterSurvivesHeadRestart(t, ctx, head, workers[:1], func(role string) *nodeProc { return spawn(t, role) })
	})
}

// The head is killed and started again at the same ports: the workers keep
// running their actors meanwhile, the operations that need the head fail
// with an error instead of hanging, and every node registers with the new
// head once it is back, with the actors it hosts.
func clusterSurvivesHeadRestart(t *testing.T, ctx context.Context, head *nodeProc, workers []*nodeProc, start func(role string) *nodeProc) {
	name := uniqueKey(t)
	a, err := whereActor.New(ctx, goray.Resource("worker", 1), goray.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	on := mustGet(t, ctx, whereCall.Remote(ctx, a))
	nodes, err := goray.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(nodes, func(n goray.NodeInfo) bool { return n.ID == head.ID })
	if i < 0 {
		t.Fatal("the head is not in the cluster's list")
	}
	_, gossipPort, _ := strings.Cut(head.Address, ":")
	_, port, _ := strings.Cut(nodes[i].Address, ":")

	head.Kill()
	if got := mustGet(t, ctx, whereCall.Remote(ctx, a)); got != on {
		t.Fatalf("the actor answered from %s, then from %s with the head gone", on, got)
	}
	// Until gossip declares the head dead, a call to it ends with its
	// context; from then on at once, with ErrHeadUnavailable.
	pollUntil(t, "the driver to know the head is gone", func() bool {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		t0 := time.Now()
		_, err := goray.ListActors(qctx)
		if time.Since(t0) > 2*time.Second {
			t.Fatalf("ListActors took %v with the head gone, past its 1 s context", time.Since(t0))
		}
		if err == nil {
			t.Fatal("ListActors succeeded with the head gone")
		}
		return errors.Is(err, goray.ErrHeadUnavailable)
	})
	if _, err := whereActor.New(ctx); !errors.Is(err, goray.ErrHeadUnavailable) {
		t.Fatalf("creating an actor with the head gone: %v, want ErrHeadUnavailable", err)
	}

	back := start("head-at " + gossipPort + " " + port)
	// Gossip first declares the head dead (longer under the race
	// detector), then the nodes reach the new one.
	var last any
	defer func() {
		if t.Failed() {
			t.Logf("the cluster's nodes when the wait ended: %+v", last)
		}
	}()
	pollFor(t, time.Minute, "every node registered with the new head", func() bool {
		nodes, err := goray.Nodes(ctx)
		if err != nil {
			last = err
			return false
		}
		last = nodes
		alive := map[string]bool{}
		for _, n := range nodes {
			alive[n.ID] = n.Alive
		}
		for _, w := range workers {
			if !alive[w.ID] {
				return false
			}
		}
		return alive[back.ID]
	})
	if got := mustGet(t, ctx, whereCall.Remote(ctx, a)); got != on {
		t.Fatalf("the actor answered from %s after the head came back, from %s before", got, on)
	}
	// The new head knows the actor again: by name, and in its listing.
	pollUntil(t, "the new head to know the actor by name", func() bool {
		named, err := goray.GetActor[Recorder](ctx, name)
		return err == nil && mustGet(t, ctx, whereCall.Remote(ctx, named)) == on
	})
	listed, err := goray.ListActors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(listed, func(s goray.ActorInfo) bool { return s.Name == name }); i < 0 || !strings.Contains(listed[i].State, "ALIVE") || listed[i].NodeID != on {
		t.Fatalf("the new head lists %+v, want %s alive on %s", listed, name, on)
	}
	// The driver's job is registered with the new head too.
	rc, err := goray.GetRuntimeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "the new head to list the driver's job", func() bool {
		jobs, err := goray.ListJobs(ctx)
		return err == nil && slices.ContainsFunc(jobs, func(j goray.JobInfo) bool { return j.ID == rc.JobID && j.End.IsZero() })
	})
	// The actor lives as long as a handle to it: this one, until here.
	runtime.KeepAlive(a)
	for i := range 20 {
		if _, err := getWithin(t, ctx, whereTask.Remote(ctx, i), 20*time.Second); err != nil {
			t.Fatalf("task %d after the head came back: %v", i, err)
		}
	}
}

// A node that presents another token cannot join: its start fails with a
// clear error and the cluster does not list it.
func clusterRefusesWrongToken(t *testing.T, ctx context.Context, head *nodeProc) {
	before, err := goray.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodetest.Env+"=worker "+head.Address+" 1 another-token-0123456789")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("node with the wrong token: %v, want exit status 1; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("a node with the wrong token did not give up")
	}
	msg := stderr.String()
	t.Logf("refused node said: %s", strings.TrimSpace(msg))
	if !strings.Contains(msg, "starting node") {
		t.Fatalf("the refused node's error does not say what failed: %q", msg)
	}
	after, err := goray.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("the cluster lists %d nodes after the refusal, %d before", len(after), len(before))
	}
}

// Tasks from a driver run on the cluster's nodes, not on the driver, and
// spread over them; nested tasks run from worker nodes.
func clusterRunsTasks(t *testing.T, ctx context.Context, nodes []string) {
	ran := map[string]int{}
	var refs []goray.Ref[string]
	for i := range 60 {
		refs = append(refs, whereTask.Remote(ctx, i))
	}
	for _, r := range refs {
		ran[mustGet(t, ctx, r)]++
	}
	for node := range ran {
		if !slices.Contains(nodes, node) {
			t.Fatalf("a task ran on %s, not a node of the cluster (the driver has no CPUs)", node)
		}
	}
	if len(ran) < 2 {
		t.Fatalf("60 tasks ran on %d node(s): %v", len(ran), ran)
	}
	if got := mustGet(t, ctx, sumN.Remote(ctx, 10)); got != 90 {
		t.Fatalf("nested tasks: %d", got)
	}
	if _, err := goray.Get(ctx, double.Remote(ctx, 1, goray.CPUs(2))); !errors.Is(err, goray.ErrInfeasible) {
		t.Fatalf("2 CPUs on 1-CPU nodes: %v", err)
	}
}

// Actors created by the driver run on the cluster's nodes; their calls, by
// handle or by name, reach them there.
func clusterRunsActors(t *testing.T, ctx context.Context, nodes []string) {
	name := uniqueKey(t)
	var refs []goray.ActorRef[Recorder]
	on := map[string]bool{}
	for i := range 3 {
		opts := []goray.Option{goray.CPUs(1)}
		if i == 0 {
			opts = append(opts, goray.Name(name))
		}
		nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		a, err := whereActor.New(nctx, opts...)
		cancel()
		if err != nil {
			dumpCluster(t, ctx)
			t.Fatal(err)
		}
		refs = append(refs, a)
		on[mustGet(t, ctx, whereCall.Remote(ctx, a))] = true
	}
	if len(on) != 3 {
		t.Fatalf("three 1-CPU actors on 1-CPU nodes ran on %v", on)
	}
	for node := range on {
		if !slices.Contains(nodes, node) {
			t.Fatalf("an actor ran on %s", node)
		}
	}
	named, err := goray.GetActor[Recorder](ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, ctx, whereCall.Remote(ctx, named)); !on[got] {
		t.Fatalf("call by name answered from %s", got)
	}
	for _, a := range refs {
		if err := goray.Kill(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := goray.Get(ctx, whereCall.Remote(ctx, refs[1])); !errors.Is(err, goray.ErrActorDied) {
		t.Fatalf("call after kill: %v", err)
	}
	// Their CPUs are free again: a task fits.
	if _, err := getWithin(t, ctx, whereTask.Remote(ctx, 0), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// The cluster's state as operators see it: every node's role and gossip
// address, and an actor's state and resources.
func clusterState(t *testing.T, ctx context.Context, nodes []string) {
	infos, err := goray.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	self, err := goray.NodeID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, n := range infos {
		roles[n.ID] = n.Role
		if n.GossipAddress == "" || n.GossipAddress == n.Address {
			t.Errorf("node %s: gossip address %q beside actor address %q", n.ID, n.GossipAddress, n.Address)
		}
	}
	want := map[string]string{nodes[0]: "head", self: "driver"}
	for _, w := range nodes[1:] {
		want[w] = "worker"
	}
	for id, role := range want {
		if roles[id] != role {
			t.Errorf("node %s has role %q, want %q (all: %v)", id, roles[id], role, roles)
		}
	}

	a, err := whereActor.New(ctx, goray.CPUs(0.5))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = goray.Kill(ctx, a) }()
	mustGet(t, ctx, whereCall.Remote(ctx, a))
	actors, err := goray.ListActors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(actors, func(info goray.ActorInfo) bool { return info.ID == a.ID() })
	if i < 0 {
		t.Fatalf("actor %s not listed", a.ID())
	}
	if got := actors[i]; got.State != "ALIVE" || got.Resources["CPU"] != 0.5 {
		t.Fatalf("actor listed as %+v, want ALIVE holding 0.5 CPU", got)
	}
}

// A node that stops answering (SIGSTOP) costs ListTasks and
// ClusterStoreStats an error entry for that node when their deadline
// passes, beside the other nodes' answers; it never makes them hang.
func clusterAsksAroundUnresponsiveNode(t *testing.T, ctx context.Context, victim *nodeProc) {
	pollUntil(t, "the cluster lists the new node", func() bool {
		stats, err := goray.ClusterStoreStats(ctx)
		_, ok := stats[victim.ID]
		return err == nil && ok
	})
	if err := victim.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The signal stops every thread of the process a moment later: until
	// then, the node may still answer. (Without /proc, go on at once.)
	pollUntil(t, "the node process stopped", func() bool {
		st := processState(victim.Pid())
		return st == 'T' || st == 0
	})
	defer func() {
		victim.Kill()
		pollUntil(t, "the cluster sees the stopped node dead", func() bool {
			nodes, err := goray.Nodes(ctx)
			return err == nil && slices.ContainsFunc(nodes, func(n goray.NodeInfo) bool { return n.ID == victim.ID && !n.Alive })
		})
	}()
	// Long enough for every live node to answer on a loaded machine, and
	// short enough that both questions end before gossip declares the
	// stopped node dead (about 1.5 s, stretched as much under the race
	// detector); the stopped one never answers.
	const deadline = raceScale * 500 * time.Millisecond
	check := func(what string, ask func(context.Context) (answered int, err error)) {
		qctx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		t0 := time.Now()
		n, err := ask(qctx)
		took := time.Since(t0)
		var ne goray.NodeErrors
		if !errors.As(err, &ne) || ne[victim.ID] == nil || len(ne) != 1 || !errors.Is(err, goray.ErrTimeout) {
			dumpCluster(t, ctx)
			t.Fatalf("%s after %v: %v; want a NodeErrors with a timeout of the stopped node %s alone", what, took, err, victim.ID)
		}
		if took > deadline+time.Second {
			t.Fatalf("%s took %v with a %v deadline", what, took, deadline)
		}
		if n < 0 {
			t.Fatalf("%s: nothing from the nodes that answered", what)
		}
	}
	check("ClusterStoreStats", func(ctx context.Context) (int, error) {
		stats, err := goray.ClusterStoreStats(ctx)
		if _, ok := stats[victim.ID]; ok || len(stats) == 0 {
			return -1, err
		}
		return len(stats), err
	})
	check("ListTasks", func(ctx context.Context) (int, error) {
		_, err := goray.ListTasks(ctx)
		return 0, err
	})
}

// processState returns the state of process pid as /proc tells it ('R',
// 'S', 'T' for stopped...), or 0 where there is no /proc.
func processState(pid int) byte {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The state follows the command name, which is in parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2]
	}
	return 0
}

// dumpCluster logs what the cluster holds, to explain a failure.
func dumpCluster(t *testing.T, ctx context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nodes, err := goray.Nodes(ctx)
	t.Logf("nodes: %+v (%v)", nodes, err)
	actors, err := goray.ListActors(ctx)
	t.Logf("actors: %+v (%v)", actors, err)
	tasks, err := goray.ListTasks(ctx)
	t.Logf("tasks: %+v (%v)", tasks, err)
}

var napTask = goray.Task("test.nap", func(ctx context.Context, x int) (int, error) {
	select {
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return 2 * x, nil
})

// A worker node killed in the middle of a workload: every task it held is
// run again elsewhere, and every result is right.
func clusterSurvivesNodeKill(t *testing.T, ctx context.Context, victim *nodeProc) {
	const n = 10_000
	refs := make([]goray.Ref[int], n)
	for i := range refs {
		refs[i] = napTask.Remote(ctx, i)
	}
	t0 := time.Now()
	for i, r := range refs {
		if i == n/5 {
			victim.Kill()
		}
		got, err := getWithin(t, ctx, r, time.Minute)
		if err != nil || got != 2*i {
			t.Fatalf("task %d: %d, %v", i, got, err)
		}
	}
	t.Logf("%d tasks, one node killed after %d results: all done in %v", n, n/5, time.Since(t0))
	pollUntil(t, "the cluster sees the node dead", func() bool {
		nodes, err := goray.Nodes(ctx)
		if err != nil {
			return false
		}
		for _, node := range nodes {
			if node.ID == victim.ID {
				return !node.Alive
			}
		}
		return false
	})
}

var (
	bigResult = goray.Task("test.big", func(ctx context.Context, n int) ([]byte, error) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i % 251)
		}
		return b, nil
	})
	checksum = goray.Task("test.checksum", func(ctx context.Context, b []byte) (int, error) {
		sum := 0
		for i, v := range b {
			if v != byte(i%251) {
				return 0, fmt.Errorf("byte %d is %d", i, v)
			}
			sum += int(v)
		}
		return sum, nil
	})
)

// Large objects move between nodes: a result made on a worker is read by
// the driver, and a value the driver put is read by a task on a worker.
func clusterMovesObjects(t *testing.T, ctx context.Context, nodes []string) {
	const size = 100 << 20
	b, err := getWithin(t, ctx, bigResult.Remote(ctx, size), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != size || b[size-1] != byte((size-1)%251) {
		t.Fatalf("driver read %d bytes", len(b))
	}
	// Its chunks came over a byte stream, not as messages.
	if s, err := goray.ObjectStoreStats(ctx); err != nil || s.StreamChunks == 0 {
		t.Fatalf("the driver's store pulled %d chunks over streams (%v), want some", s.StreamChunks, err)
	}
	ref, err := goray.Put(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, v := range b {
		want += int(v)
	}
	if got, err := getWithin(t, ctx, checksum.Submit(ctx, ref), time.Minute); err != nil || got != want {
		t.Fatalf("a worker read the driver's object: %d, %v", got, err)
	}
}

// An actor on a node that dies restarts on another within its budget; its
// restart shows in ListActors.
func clusterMovesActors(t *testing.T, ctx context.Context, victim *nodeProc) {
	// One actor per node's CPU: one of them lands on the victim.
	var refs []goray.ActorRef[Recorder]
	var moving goray.ActorRef[Recorder]
	for range 4 {
		nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		a, err := whereActor.New(nctx, goray.CPUs(1), goray.MaxRestarts(1))
		cancel()
		if err != nil {
			dumpCluster(t, ctx)
			t.Fatal(err)
		}
		refs = append(refs, a)
		if mustGet(t, ctx, whereCall.Remote(ctx, a)) == victim.ID {
			moving = a
		}
	}
	if moving == (goray.ActorRef[Recorder]{}) {
		t.Fatal("no actor landed on the victim node")
	}
	// An actor the moving one created and holds is owned by the victim's
	// process: it dies with it, wherever it runs, restarts left or not.
	child := mustGet(t, ctx, spawnChild.Remote(ctx, moving))
	victim.Kill()
	// Free a CPU elsewhere for it.
	for _, a := range refs {
		if a != moving {
			if err := goray.Kill(ctx, a); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	// Calls that reach the dead node before its death is known fail as
	// ActorDied; once the actor restarts elsewhere, calls succeed there.
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		got, err = getWithin(t, ctx, whereCall.Remote(ctx, moving), 10*time.Second)
		if err == nil {
			break
		}
		if !errors.Is(err, goray.ErrActorDied) || time.Now().After(deadline) {
			dumpCluster(t, ctx)
			t.Fatalf("call after its node died: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got == victim.ID {
		t.Fatalf("the actor still answers from the dead node %s", got)
	}
	pollUntil(t, "the child of the actor on the dead node dead", func() bool { st, _ := actorState(t, ctx, child); return st == "DEAD" })
	if _, cause := actorState(t, ctx, child); !strings.Contains(cause, "owner died") {
		t.Fatalf("child: death cause %q", cause)
	}
	actors, err := goray.ListActors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actors {
		if a.ID == moving.ID() && (a.Restarts != 1 || a.NodeID != got) {
			t.Fatalf("ListActors says %+v, want one restart on %s", a, got)
		}
	}
	for _, a := range refs {
		_ = goray.Kill(ctx, a)
	}
}
