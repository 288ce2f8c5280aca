package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spf13/cobra"

	"github.com/goray-dev/goray"
	pb "github.com/goray-dev/goray/proto"
)

// The cross-node benchmarks run this process as a node without CPUs (a
// driver) in a cluster of node processes it starts from its own binary on
// 127.0.0.1, so work and objects cross process boundaries as they would
// between machines.

// benchEchoName names the bare protoactor actor the head process runs: the
// baseline an actor call across nodes is compared with.
const benchEchoName = "goray-bench-echo"

var (
	benchWhere  = goray.Task("goray.bench.where", func(ctx context.Context, _ int) (string, error) { return goray.NodeID(ctx) })
	benchBlob   = goray.Task("goray.bench.blob", func(ctx context.Context, n int) ([]byte, error) { return make([]byte, n), nil })
	benchClient = goray.Actor0("goray.bench.client", func(ctx context.Context) (*benchClientState, error) {
		return &benchClientState{}, nil
	})
	// benchClientRun submits no-op tasks in batches of 1000 from the
	// client's node for about ms milliseconds and returns how many ran.
	benchClientRun = goray.Method(benchClient, "run", (*benchClientState).run)
	benchWhereCall = goray.Method0(benchClient, "where", func(_ *benchClientState, ctx context.Context) (string, error) {
		return goray.NodeID(ctx)
	})
)

type benchClientState struct{}

func (*benchClientState) run(ctx context.Context, ms int) (int, error) {
	n, _, err := timed(ctx, time.Duration(ms)*time.Millisecond, func(ctx context.Context) (int, error) {
		return batch(ctx, 1000, func(i int) goray.Ref[int] { return benchNoop.Remote(ctx, i) })
	})
	return n, err
}

// benchNodeSpec is what a node process of the benchmark runs.
type benchNodeSpec struct {
	Head      bool               `json:"head,omitempty"`
	Join      string             `json:"join,omitempty"`
	Resources map[string]float64 `json:"resources"`
}

// benchProfileEnv names an environment variable: when set, every node
// process of a cross-node benchmark writes a CPU profile of its whole run
// to "$GORAY_BENCH_NODE_CPUPROFILE-head-PID.prof" (the head) or
// "...-node-PID.prof" (the others) when it stops, and a profile of its
// allocations beside it ("...-PID-allocs.prof"). The node processes
// inherit it from the benchmark's environment.
const benchProfileEnv = "GORAY_BENCH_NODE_CPUPROFILE"

// newBenchNode is the hidden command a benchmark's node process runs: it
// starts the node, prints "node ID ADDRESS" and runs until its standard
// input closes.
func newBenchNode() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-node SPEC",
		Short:  "Run a node of a cross-node microbenchmark (started by goray microbenchmark --cluster)",
		Long:   "Run a node of a cross-node microbenchmark (started by goray microbenchmark --cluster).\n\nWith " + benchProfileEnv + "=PREFIX set, the node writes a CPU profile of its run to PREFIX-head-PID.prof or PREFIX-node-PID.prof when it stops.",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBenchNode(cmd.Context(), args[0], cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

func runBenchNode(ctx context.Context, specJSON string, in io.Reader, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var spec benchNodeSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		return fmt.Errorf("bench-node: %w", err)
	}
	if prefix := os.Getenv(benchProfileEnv); prefix != "" {
		role := "node"
		if spec.Head {
			role = "head"
		}
		name := fmt.Sprintf("%s-%s-%d", prefix, role, os.Getpid())
		stop, err := startCPUProfile(name + ".prof")
		if err != nil {
			return fmt.Errorf("bench-node: %w", err)
		}
		defer stop()
		defer writeAllocsProfile(name + "-allocs.prof")
	}
	opts := []goray.InitOption{goray.WithListen("127.0.0.1", 0), goray.WithResources(spec.Resources)}
	if spec.Head {
		opts = append(opts, goray.AsHead())
	} else {
		opts = append(opts, goray.WithAddress(spec.Join))
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	n, err := goray.StartNode(sctx, opts...)
	cancel()
	if err != nil {
		return err
	}
	if spec.Head {
		_, err := n.ActorSystem().Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
			if m, ok := c.Message().(*pb.GetNodeStats); ok {
				c.Respond(m)
			}
		}), benchEchoName)
		if err != nil {
			return fmt.Errorf("bench-node: echo actor: %w", err)
		}
	}
	fmt.Fprintf(out, "node %s %s\n", n.ID(), n.Address())
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(closed)
	}()
	select {
	case <-closed:
	case <-n.Failed():
	}
	stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Stop(stop)
}

// benchProc is a node process of a benchmark.
type benchProc struct {
	ID, Address string
	cmd         *exec.Cmd
	stdin       io.Closer
	once        sync.Once
}

// kill ends the process at once, as a crash would.
func (p *benchProc) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	})
}

// stop asks the node to stop and waits a little for it, then kills it.
func (p *benchProc) stop() {
	p.once.Do(func() {
		_ = p.stdin.Close()
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	})
}

// benchCluster is the cluster of a cross-node run: the node processes it
// started and this process's node.
type benchCluster struct {
	exe, token string
	mu         sync.Mutex // guards procs: many_nodes starts nodes at once
	procs      []*benchProc
	head       *benchProc
	node       *goray.Node
	ctx        context.Context
}

// spawn starts a node process and waits until it runs.
func (bc *benchCluster) spawn(ctx context.Context, spec benchNodeSpec) (*benchProc, error) {
	arg, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bc.exe, "bench-node", string(arg))
	cmd.Env = append(os.Environ(), "GORAY_TOKEN="+bc.token, "GORAY_ADDRESS=")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a node process: %w", err)
	}
	p := &benchProc{cmd: cmd, stdin: stdin}
	bc.mu.Lock()
	bc.procs = append(bc.procs, p)
	bc.mu.Unlock()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 || f[0] != "node" {
		p.kill()
		return nil, fmt.Errorf("a node process did not start (it said %q): %v", line, err)
	}
	p.ID, p.Address = f[1], f[2]
	return p, nil
}

// close stops every node, this process's first.
func (bc *benchCluster) close() {
	if bc.node != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = bc.node.Stop(ctx)
		cancel()
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	for _, p := range slices.Backward(bc.procs) {
		p.stop()
	}
}

// alive reports which of ids the cluster lists as alive.
func (bc *benchCluster) alive(ctx context.Context, ids ...string) (map[string]bool, error) {
	nodes, err := goray.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	got := map[string]bool{}
	for _, n := range nodes {
		if slices.Contains(ids, n.ID) {
			got[n.ID] = n.Alive
		}
	}
	return got, nil
}

// waitNodes polls until every node of ids is alive (want true) or dead
// (want false) in the cluster's view, and returns how long that took.
func (bc *benchCluster) waitNodes(ctx context.Context, want bool, ids ...string) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		got, err := bc.alive(ctx, ids...)
		if err == nil {
			n := 0
			for _, id := range ids {
				if a, ok := got[id]; ok && a == want {
					n++
				}
			}
			if n == len(ids) {
				return time.Since(start), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %d node(s) to be alive=%v: %w", len(ids), want, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ClusterMicrobenchmark runs the cross-node benchmarks whose names match
// filter (all when nil), each for about d, reporting each result as it is
// measured. manyNodes is how many one-CPU node processes many_nodes starts
// (0 skips it).
func ClusterMicrobenchmark(ctx context.Context, d time.Duration, filter *regexp.Regexp, manyNodes int, report func(Result)) ([]Result, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	bc := &benchCluster{exe: exe, token: hex.EncodeToString(secret)}
	defer bc.close()
	cpus := float64(goruntime.NumCPU())
	if bc.head, err = bc.spawn(ctx, benchNodeSpec{Head: true, Resources: map[string]float64{"CPU": cpus, "bench_head": 1}}); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	bc.node, err = goray.StartNode(sctx, goray.WithAddress(bc.head.Address), goray.WithListen("127.0.0.1", 0),
		goray.WithToken(bc.token), goray.WithCPUs(0))
	cancel()
	if err != nil {
		return nil, err
	}
	bc.ctx = bc.node.Context()

	c := collector{report: report}
	for _, b := range clusterBenchmarks(bc, manyNodes) {
		if filter != nil && !filter.MatchString(b.name) {
			continue
		}
		rs, err := b.run(bc.ctx, d)
		if err != nil {
			return c.results, fmt.Errorf("%s: %w", b.name, err)
		}
		for _, r := range rs {
			c.add(r)
		}
	}
	c.ratio("cross_node_actor_call_ratio", "cross_node_1_1_actor_calls_sync", "cross_node_protoactor_round_trip")
	return c.results, nil
}

// clusterBench is a cross-node benchmark, which may report several values.
type clusterBench struct {
	name string
	run  func(ctx context.Context, d time.Duration) ([]Result, error)
}

// one adapts a benchmark with a single value.
func one(name, unit string, f func(ctx context.Context, d time.Duration) (float64, error)) clusterBench {
	return clusterBench{name: name, run: func(ctx context.Context, d time.Duration) ([]Result, error) {
		v, err := f(ctx, d)
		if err != nil {
			return nil, err
		}
		return []Result{{Name: name, Value: v, Unit: unit}}, nil
	}}
}

func clusterBenchmarks(bc *benchCluster, manyNodes int) []clusterBench {
	onHead := goray.Resource("bench_head", 0.001)
	headActor := func(f func(ctx context.Context, a goray.ActorRef[benchState]) (int, error)) func(context.Context, time.Duration) (float64, error) {
		return func(ctx context.Context, d time.Duration) (float64, error) {
			a, err := benchActor.New(ctx, onHead)
			if err != nil {
				return 0, err
			}
			defer func() { _ = goray.Kill(ctx, a) }()
			return rate(func(ctx context.Context) (int, error) { return f(ctx, a) })(ctx, d)
		}
	}
	bs := []clusterBench{
		one("cross_node_protoactor_round_trip", "calls/s", bc.echoRoundTrips),
		one("cross_node_1_1_actor_calls_sync", "calls/s", headActor(func(ctx context.Context, a goray.ActorRef[benchState]) (int, error) {
			_, err := goray.Get(ctx, benchCall.Remote(ctx, a, 1))
			return 1, err
		})),
		one("cross_node_1_1_actor_calls_async", "calls/s", headActor(func(ctx context.Context, a goray.ActorRef[benchState]) (int, error) {
			return batch(ctx, 1000, func(i int) goray.Ref[int] { return benchCall.Remote(ctx, a, i) })
		})),
		one("multi_client_tasks_async", "tasks/s", bc.multiClientTasks),
		one("object_transfer_gigabytes", "GB/s", bc.objectTransfer),
		one("memory_first_touch_gigabytes", "GB/s", firstTouch),
		one("node_death_detect_seconds", "s", bc.deathDetect),
		one("actor_restart_elsewhere_seconds", "s", bc.restartElsewhere),
		one("many_placement_groups_seconds", "s", bc.manyGroups),
	}
	if manyNodes > 0 {
		bs = append(bs, clusterBench{name: "many_nodes", run: func(ctx context.Context, _ time.Duration) ([]Result, error) {
			return bc.manyNodes(ctx, manyNodes)
		}})
	}
	return bs
}

// echoRoundTrips measures bare protoactor request-response round trips
// from this process to the head process's echo actor, over the same
// transport goray's messages take.
func (bc *benchCluster) echoRoundTrips(ctx context.Context, d time.Duration) (float64, error) {
	nodes, err := goray.Nodes(ctx)
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(nodes, func(n goray.NodeInfo) bool { return n.ID == bc.head.ID })
	if i < 0 {
		return 0, errors.New("the head is not in the cluster's node list")
	}
	pid := actor.NewPID(nodes[i].Address, benchEchoName)
	root := bc.node.ActorSystem().Root
	return rate(func(context.Context) (int, error) {
		_, err := root.RequestFuture(pid, &pb.GetNodeStats{}, 5*time.Second).Result()
		return 1, err
	})(ctx, d)
}

// multiClientTasks runs a client actor on each of two nodes (the head and
// a second node started for it); each submits no-op tasks from its node in
// batches of 1000. It returns the tasks per second of both together.
func (bc *benchCluster) multiClientTasks(ctx context.Context, d time.Duration) (float64, error) {
	worker, err := bc.spawn(ctx, benchNodeSpec{Join: bc.head.Address,
		Resources: map[string]float64{"CPU": float64(goruntime.NumCPU()), "bench_worker": 1}})
	if err != nil {
		return 0, err
	}
	defer worker.stop()
	if _, err := bc.waitNodes(ctx, true, worker.ID); err != nil {
		return 0, err
	}
	var clients []goray.ActorRef[benchClientState]
	for _, where := range []string{"bench_head", "bench_worker"} {
		c, err := benchClient.New(ctx, goray.Resource(where, 0.001))
		if err != nil {
			return 0, err
		}
		defer func() { _ = goray.Kill(ctx, c) }()
		clients = append(clients, c)
	}
	ms := int(d / time.Millisecond)
	start := time.Now()
	var refs []goray.Ref[int]
	for _, c := range clients {
		refs = append(refs, benchClientRun.Remote(ctx, c, ms))
	}
	total := 0
	for _, r := range refs {
		n, err := goray.Get(ctx, r)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// objectTransfer measures pulling a 1 GiB object made on the head to this
// process: once to warm up, then the median of three pulls.
func (bc *benchCluster) objectTransfer(ctx context.Context, _ time.Duration) (float64, error) {
	const size = 1 << 30
	var rates []float64
	for i := range 4 {
		ref := benchBlob.Remote(ctx, size, goray.Resource("bench_head", 0.001))
		if _, _, err := goray.Wait(ctx, []goray.AnyRef{ref}, 1, time.Minute); err != nil {
			return 0, err
		}
		start := time.Now()
		b, err := goray.Get(ctx, ref)
		el := time.Since(start)
		if err != nil {
			return 0, err
		}
		if len(b) != size {
			return 0, fmt.Errorf("pulled %d bytes, want %d", len(b), size)
		}
		if err := goray.Free(ctx, ref); err != nil {
			return 0, err
		}
		if i > 0 {
			rates = append(rates, size/el.Seconds()/1e9)
		}
	}
	slices.Sort(rates)
	return rates[len(rates)/2], nil
}

// deathDetect starts a node, kills it and measures how long the cluster
// takes to declare it dead.
func (bc *benchCluster) deathDetect(ctx context.Context, _ time.Duration) (float64, error) {
	p, err := bc.spawn(ctx, benchNodeSpec{Join: bc.head.Address, Resources: map[string]float64{"CPU": 1}})
	if err != nil {
		return 0, err
	}
	if _, err := bc.waitNodes(ctx, true, p.ID); err != nil {
		return 0, err
	}
	p.kill()
	el, err := bc.waitNodes(ctx, false, p.ID)
	return el.Seconds(), err
}

// restartElsewhere places an actor on one of two nodes, kills that node and
// measures how long until the actor answers from the other.
func (bc *benchCluster) restartElsewhere(ctx context.Context, _ time.Duration) (float64, error) {
	var procs []*benchProc
	for range 2 {
		p, err := bc.spawn(ctx, benchNodeSpec{Join: bc.head.Address, Resources: map[string]float64{"CPU": 1, "bench_slot": 1}})
		if err != nil {
			return 0, err
		}
		defer p.stop()
		procs = append(procs, p)
	}
	if _, err := bc.waitNodes(ctx, true, procs[0].ID, procs[1].ID); err != nil {
		return 0, err
	}
	a, err := benchClient.New(ctx, goray.Resource("bench_slot", 1), goray.MaxRestarts(1))
	if err != nil {
		return 0, err
	}
	defer func() { _ = goray.Kill(ctx, a) }()
	first, err := goray.Get(ctx, benchWhereCall.Remote(ctx, a))
	if err != nil {
		return 0, err
	}
	i := slices.IndexFunc(procs, func(p *benchProc) bool { return p.ID == first })
	if i < 0 {
		return 0, fmt.Errorf("the actor runs on %s, not on a node started for it", first)
	}
	procs[i].kill()
	start := time.Now()
	deadline, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(deadline, time.Second)
		where, err := goray.Get(cctx, benchWhereCall.Remote(cctx, a))
		ccancel()
		if err == nil && where != first {
			return time.Since(start).Seconds(), nil
		}
		if deadline.Err() != nil {
			return 0, fmt.Errorf("the actor did not answer from another node within a minute: %w", err)
		}
		if err != nil && !errors.Is(err, goray.ErrActorDied) && !errors.Is(err, context.DeadlineExceeded) {
			return 0, err
		}
	}
}

// manyGroups creates 1,000 placement groups of two bundles each, spread
// over a 3-node cluster (the head and two nodes started for it), and
// returns the seconds until all are ready, as Ray's many_pgs test does. The
// groups are removed afterwards.
func (bc *benchCluster) manyGroups(ctx context.Context, _ time.Duration) (float64, error) {
	const groups = 1000
	var ids []string
	for range 2 {
		p, err := bc.spawn(ctx, benchNodeSpec{Join: bc.head.Address, Resources: map[string]float64{"CPU": 1, "bench_pg": groups}})
		if err != nil {
			return 0, err
		}
		defer p.stop()
		ids = append(ids, p.ID)
	}
	if _, err := bc.waitNodes(ctx, true, ids...); err != nil {
		return 0, err
	}
	bundle := goray.Bundle{Resources: map[string]float64{"bench_pg": 0.5}}
	start := time.Now()
	pgs := make([]*goray.PlacementGroup, 0, groups)
	defer func() {
		for _, pg := range pgs {
			_ = pg.Remove(ctx)
		}
	}()
	for range groups {
		pg, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{bundle, bundle}, goray.SpreadBundles)
		if err != nil {
			return 0, err
		}
		pgs = append(pgs, pg)
	}
	for _, pg := range pgs {
		if err := pg.Ready(ctx); err != nil {
			return 0, err
		}
	}
	return time.Since(start).Seconds(), nil
}

// manyNodes starts n one-CPU node processes, runs 10,000 tasks that only
// they can run, and kills four of them (fewer when n is under 5). It
// reports the seconds until all n were alive, the tasks' rate and spread,
// and the seconds until the killed were declared dead.
func (bc *benchCluster) manyNodes(ctx context.Context, n int) ([]Result, error) {
	const tasks = 10_000
	killed := min(4, n-1)
	start := time.Now()
	procs := make([]*benchProc, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			procs[i], errs[i] = bc.spawn(ctx, benchNodeSpec{Join: bc.head.Address, Resources: map[string]float64{"CPU": 1, "bench_many": 1}})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i, p := range procs {
		ids[i] = p.ID
		defer p.stop()
	}
	if _, err := bc.waitNodes(ctx, true, ids...); err != nil {
		return nil, err
	}
	formed := time.Since(start)

	start = time.Now()
	refs := make([]goray.Ref[string], tasks)
	for i := range refs {
		refs[i] = benchWhere.Remote(ctx, i, goray.Resource("bench_many", 1), goray.CPUs(0))
	}
	per := map[string]int{}
	for _, r := range refs {
		where, err := goray.Get(ctx, r)
		if err != nil {
			return nil, err
		}
		per[where]++
	}
	ran := time.Since(start)
	least, most := tasks, 0
	for _, id := range ids {
		least, most = min(least, per[id]), max(most, per[id])
	}

	rs := []Result{
		{Name: "many_nodes_form_seconds", Value: formed.Seconds(), Unit: "s"},
		{Name: "many_nodes_tasks_per_second", Value: tasks / ran.Seconds(), Unit: "tasks/s"},
		{Name: "many_nodes_tasks_least_per_node", Value: float64(least), Unit: "tasks"},
		{Name: "many_nodes_tasks_most_per_node", Value: float64(most), Unit: "tasks"},
	}
	if killed == 0 {
		return rs, nil
	}
	for _, p := range procs[:killed] {
		p.kill()
	}
	dead, err := bc.waitNodes(ctx, false, ids[:killed]...)
	if err != nil {
		return nil, err
	}
	return append(rs, Result{Name: "many_nodes_death_detect_seconds", Value: dead.Seconds(), Unit: "s"}), nil
}
