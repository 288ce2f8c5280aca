package cli

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goray-dev/goray"
)

// Defaults of start.
const (
	defaultHeadPort     = 6379 // Ray's
	defaultHeadHost     = "127.0.0.1"
	defaultStartTimeout = 30 * time.Second
	// childGrace is how much longer than --timeout start waits for the node
	// process, which gives up after --timeout, to say why it failed: a
	// gossip join attempt under way then takes up to 3 s more.
	childGrace = 4 * time.Second
	// nodeStopTimeout bounds a node's graceful stop once it is told to stop.
	nodeStopTimeout = 10 * time.Second
	// pollEvery is how often the CLI looks again for what it waits for.
	pollEvery = 20 * time.Millisecond
)

// startFlags are start's flags as given.
type startFlags struct {
	head              bool
	address           string
	port              int
	nodeManagerPort   int
	objectManagerPort int
	nodeIP            string
	numCPUs           float64
	numGPUs           int
	memory            string
	objectStoreMemory string
	resources         string
	labels            string
	tokenFile         string
	spillDir          string
	block             bool
	timeout           time.Duration
	// Set by a start that runs the node in the background, for its child.
	sessionDir string
	nodeName   string
}

// nodeSpec is a checked start request: the node to run.
type nodeSpec struct {
	head              bool
	address           string // the cluster's, for a worker
	host              string // to listen on; "" for a worker: the address it reaches the head from
	port              int    // for messages from other nodes
	gossipPort        int    // the head's: the port of the cluster's address
	objectPort        int    // for object streams to other nodes
	cpus              *float64
	gpus              *int
	memory            int64 // bytes; 0: no memory resource
	objectStoreMemory int64 // bytes; 0: goray's default
	resources         map[string]float64
	labels            map[string]string
	tokenFile         string
	spillDir          string
	timeout           time.Duration
}

func (f *startFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.head, "head", false, "start the head node of a new cluster")
	fs.StringVar(&f.address, "address", "", "join the cluster at HOST:PORT, its head's address (or any node's): a worker node")
	fs.IntVar(&f.port, "port", defaultHeadPort, "the node's gossip port: the head's is where the cluster is joined; a worker's is a free one unless given (0: a free one)")
	fs.IntVar(&f.nodeManagerPort, "node-manager-port", 0, "the port the node takes messages from other nodes on (head: default --port + 1, so that a restarted head is found again; worker: default a free one; 0: a free one)")
	fs.IntVar(&f.objectManagerPort, "object-manager-port", 0, "the port the node serves objects to other nodes on (default: a free one; nodes that cannot reach it pull objects as messages, more slowly)")
	fs.StringVar(&f.nodeIP, "node-ip-address", "", "the address other nodes reach this node at (head: "+defaultHeadHost+"; worker: the address it reaches the head from)")
	fs.Float64Var(&f.numCPUs, "num-cpus", 0, "CPUs the node offers (default: the machine's cores)")
	fs.IntVar(&f.numGPUs, "num-gpus", 0, "GPUs the node offers (default: the GPUs found)")
	fs.StringVar(&f.memory, "memory", "", "memory the node offers to tasks and actors, in bytes or with a unit (4GiB); used to place work, not enforced (default: none)")
	fs.StringVar(&f.objectStoreMemory, "object-store-memory", "", "bytes the object store keeps in memory before spilling to disk (default: 2GiB)")
	fs.StringVar(&f.resources, "resources", "", `custom resources, a JSON object: '{"TPU": 4}'`)
	fs.StringVar(&f.labels, "labels", "", `node labels: comma-separated key=value pairs (zone=a,disk=ssd) or a JSON object ('{"zone": "a"}')`)
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the cluster token (head: default a new token in the session directory; worker: default "+tokenEnv+", else this machine's session of that cluster)")
	fs.StringVar(&f.spillDir, "object-spilling-directory", "", "where the object store spills (default: a temporary directory)")
	fs.BoolVar(&f.block, "block", false, "run the node in the foreground until it is stopped (SIGTERM or Ctrl-C)")
	fs.DurationVar(&f.timeout, "timeout", defaultStartTimeout, "how long to wait for the node to be up")
	fs.StringVar(&f.sessionDir, "session-dir", "", "")
	fs.StringVar(&f.nodeName, "node-name", "", "")
	_ = fs.MarkHidden("session-dir")
	_ = fs.MarkHidden("node-name")
}

// spec checks the flags; changed says which flags were given.
func (f *startFlags) spec(changed func(string) bool) (nodeSpec, error) {
	s := nodeSpec{head: f.head, address: f.address, tokenFile: f.tokenFile, spillDir: f.spillDir, timeout: f.timeout}
	switch {
	case f.head && f.address != "":
		return s, errors.New("--head and --address exclude each other: a node starts a cluster or joins one")
	case !f.head && f.address == "":
		return s, errors.New("pass --head to start a cluster's head node, or --address HOST:PORT to join a cluster")
	case f.timeout <= 0:
		return s, fmt.Errorf("--timeout must be positive, got %v", f.timeout)
	}
	s.port = f.nodeManagerPort
	if f.head {
		s.host, s.gossipPort = defaultHeadHost, f.port
		if !changed("node-manager-port") && f.port != 0 && f.port < 65535 {
			// A fixed port, so that a head restarted with the same flags is
			// back at the address its nodes wait for.
			s.port = f.port + 1
		}
	} else {
		if err := checkAddress(f.address); err != nil {
			return s, fmt.Errorf("--address: %w", err)
		}
		if changed("port") {
			s.gossipPort = f.port
		}
	}
	s.objectPort = f.objectManagerPort
	for _, p := range []int{s.port, s.gossipPort, s.objectPort} {
		if p < 0 || p > 65535 {
			return s, fmt.Errorf("port %d is out of range (0 to 65535)", p)
		}
	}
	if s.port != 0 && s.port == s.gossipPort {
		return s, fmt.Errorf("--port and --node-manager-port are both %d: the node needs two ports", s.port)
	}
	if s.objectPort != 0 && (s.objectPort == s.port || s.objectPort == s.gossipPort) {
		return s, fmt.Errorf("--object-manager-port %d is also the node's --port or --node-manager-port: the node needs a port for each", s.objectPort)
	}
	if f.nodeIP != "" {
		if strings.ContainsAny(f.nodeIP, ":/ ") && net.ParseIP(f.nodeIP) == nil {
			return s, fmt.Errorf("--node-ip-address %q is not a host name or IP address", f.nodeIP)
		}
		s.host = f.nodeIP
	}
	if changed("num-cpus") {
		if f.numCPUs < 0 {
			return s, fmt.Errorf("--num-cpus must be 0 or more, got %v", f.numCPUs)
		}
		s.cpus = &f.numCPUs
	}
	if changed("num-gpus") {
		if f.numGPUs < 0 {
			return s, fmt.Errorf("--num-gpus must be 0 or more, got %d", f.numGPUs)
		}
		s.gpus = &f.numGPUs
	}
	var err error
	if f.memory != "" {
		if s.memory, err = parseBytes(f.memory); err != nil {
			return s, fmt.Errorf("--memory: %w", err)
		}
	}
	if f.objectStoreMemory != "" {
		if s.objectStoreMemory, err = parseBytes(f.objectStoreMemory); err != nil {
			return s, fmt.Errorf("--object-store-memory: %w", err)
		}
		if s.objectStoreMemory <= 0 {
			return s, errors.New("--object-store-memory must be positive")
		}
	}
	if s.resources, err = parseResources(f.resources); err != nil {
		return s, err
	}
	if s.labels, err = parseLabels(f.labels); err != nil {
		return s, err
	}
	if s.tokenFile != "" {
		if s.tokenFile, err = filepath.Abs(s.tokenFile); err != nil {
			return s, fmt.Errorf("--token-file: %w", err)
		}
	}
	return s, nil
}

// options returns the goray options that start the node s describes.
func (s nodeSpec) options(token string, logger *slog.Logger) []goray.InitOption {
	opts := []goray.InitOption{goray.WithListen(s.host, s.port), goray.WithGossipPort(s.gossipPort), goray.WithToken(token), goray.WithLogger(logger)}
	if s.head {
		opts = append(opts, goray.AsHead())
	} else {
		opts = append(opts, goray.WithAddress(s.address))
	}
	if s.objectPort != 0 {
		opts = append(opts, goray.WithObjectManagerPort(s.objectPort))
	}
	if s.cpus != nil {
		opts = append(opts, goray.WithCPUs(*s.cpus))
	}
	if s.gpus != nil {
		opts = append(opts, goray.WithGPUs(*s.gpus))
	}
	res := map[string]float64{}
	for k, v := range s.resources {
		res[k] = v
	}
	if s.memory > 0 {
		res["memory"] = float64(s.memory)
	}
	if len(res) > 0 {
		opts = append(opts, goray.WithResources(res))
	}
	if len(s.labels) > 0 {
		opts = append(opts, goray.WithLabels(s.labels))
	}
	if s.objectStoreMemory > 0 {
		opts = append(opts, goray.WithObjectStoreMemory(s.objectStoreMemory))
	}
	if s.spillDir != "" {
		opts = append(opts, goray.WithSpillDir(s.spillDir))
	}
	return opts
}

func newStart(tempDir *string) *cobra.Command {
	var f startFlags
	cmd := &cobra.Command{
		Use:   "start (--head | --address HOST:PORT) [flags]",
		Short: "Start a node: the head of a new cluster, or a worker that joins one",
		Long: `Start a node on this machine and leave it running in the background
(or in the foreground with --block).

With --head the node is the head of a new cluster, joined at its --port
(6379 by default) on --node-ip-address (127.0.0.1 by default: give this
machine's address for nodes on other machines). It makes a cluster token,
saved in the session directory readable only by you (unless --token-file
names one; ` + tokenEnv + ` is used when set), and prints how other nodes and
drivers join. With --address HOST:PORT the node joins the cluster there (the
head's address, or any node's); it presents the token from --token-file,
else ` + tokenEnv + `, else the token of this machine's session of that cluster.

Every node gossips on --port (a worker: a free port unless given) and takes
messages from other nodes on --node-manager-port (a free port unless given).

start returns once the node runs and, for a worker, once the head lists it.

Every node runs this same program, so its registered tasks and actors exist
on every node. Logs and process IDs go to the session directory under
--temp-dir; 'stop' stops every node this machine started.`,
		Example: `  goray start --head --num-cpus 4
  goray start --head --node-ip-address 10.0.0.1
  goray start --address 10.0.0.1:6379 --token-file ./token --labels zone=a
  goray start --head --port 0 --block`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := f.spec(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			if f.block {
				return runNode(cmd.Context(), cmd, spec, *tempDir, f.sessionDir, f.nodeName)
			}
			return startBackground(cmd.Context(), cmd, spec, *tempDir)
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// prepared is a node's place in a session, and its token.
type prepared struct {
	sess  session
	name  string
	token tokenSource
	// prevLatest is what session_latest pointed at before this start made
	// a new session, so that a failed start can point it back.
	prevLatest string
	newSession bool
}

// undo releases the node's name and, if this start made a new session,
// points session_latest back where it was (or removes it); the new session
// stays, for its log.
func (p prepared) undo(root string) {
	p.sess.removeNode(p.name)
	if !p.newSession || latestTarget(root) != filepath.Base(p.sess.dir) {
		return
	}
	if p.prevLatest != "" {
		_ = linkLatest(root, p.prevLatest)
	} else {
		_ = os.Remove(filepath.Join(root, latestLink))
	}
}

// prepare finds or makes the node's session, its token and its name. A
// head makes a new session and, unless it was given a token file, a token
// file in it; a worker joins the session of its head when this machine has
// one.
func prepare(spec nodeSpec, root string) (prepared, error) {
	p := prepared{prevLatest: latestTarget(root)}
	var err error
	if spec.head {
		if p.sess, err = newSession(root, time.Now()); err != nil {
			return p, err
		}
		p.newSession = true
		if p.token, err = headToken(spec, p.sess); err != nil {
			p.undo(root)
			return p, err
		}
	} else {
		if p.token, err = resolveToken(spec.tokenFile, root, spec.address); err != nil {
			return p, err
		}
		var ok bool
		if p.sess, ok = sessionFor(root, spec.address); !ok {
			if p.sess, err = newSession(root, time.Now()); err != nil {
				return p, err
			}
			p.newSession = true
			if err := p.sess.setHeadAddress(spec.address); err != nil {
				p.undo(root)
				return p, err
			}
		}
	}
	if p.name, err = p.sess.reserveNode(spec.head); err != nil {
		p.undo(root)
	}
	return p, err
}

// headToken returns the head's token: from --token-file, else GORAY_TOKEN,
// else a new one; the last two are saved in the session's token file.
func headToken(spec nodeSpec, sess session) (tokenSource, error) {
	if spec.tokenFile != "" {
		t, err := readTokenFile(spec.tokenFile)
		return tokenSource{token: t, from: "--token-file " + spec.tokenFile, file: spec.tokenFile}, err
	}
	from, t := "a new token", newToken()
	if env := os.Getenv(tokenEnv); env != "" {
		var err error
		if t, err = checkToken(env, tokenEnv); err != nil {
			return tokenSource{}, err
		}
		from = tokenEnv
	}
	p := sess.path(tokenFile)
	if err := writeTokenFile(p, t); err != nil {
		return tokenSource{}, err
	}
	return tokenSource{token: t, from: from + " saved in " + p, file: p}, nil
}

// startBackground runs the node in a child process — this program again,
// with --block, in a session of its own — and returns once it runs.
func startBackground(ctx context.Context, cmd *cobra.Command, spec nodeSpec, root string) (err error) {
	p, err := prepare(spec, root)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			p.undo(root)
		}
	}()
	logPath := p.sess.path(logsDir, p.name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the node's log: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		_ = logFile.Close()
		return fmt.Errorf("finding this program to run the node: %w", err)
	}
	child := exec.Command(exe, childArgs(cmd, p)...)
	child.Stdout, child.Stderr = logFile, logFile
	detach(child)
	t0 := time.Now()
	err = child.Start()
	_ = logFile.Close()
	if err != nil {
		return fmt.Errorf("starting the node process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }() // reaps the child whenever it ends

	// Interrupted while it waits, start takes the node down with it.
	ctx, release := signal.NotifyContext(ctx, stopSignals()...)
	defer release()
	rec, err := waitReady(ctx, p.sess, p.name, filepath.Base(exe), spec.timeout, exited)
	if err != nil {
		_ = kill(child.Process.Pid)
		return fmt.Errorf("%w (log: %s)", err, logPath)
	}
	printStarted(cmd.OutOrStdout(), cmd, rec, p, time.Since(t0))
	return nil
}

// childArgs returns the arguments that run the same start in the
// foreground: the command's path, the flags as given, and where the node
// goes.
func childArgs(cmd *cobra.Command, p prepared) []string {
	args := strings.Fields(cmd.CommandPath())[1:]
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case "block", "session-dir", "node-name", "token-file":
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	args = append(args, "--block", "--session-dir="+p.sess.dir, "--node-name="+p.name)
	if p.token.file != "" {
		// The token travels in a file, never on the command line.
		args = append(args, "--token-file="+p.token.file)
	}
	return args
}

// waitReady waits until node name of sess has written its record, its
// process exited, ctx ended or the timeout passed. The node process gives
// up after the timeout itself: it gets a little longer, to say why. prog is
// the program's name, which the process puts before its error.
func waitReady(ctx context.Context, sess session, name, prog string, timeout time.Duration, exited <-chan error) (nodeRecord, error) {
	deadline := time.NewTimer(timeout + childGrace)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if rec, err := sess.readRecord(name); err == nil {
			return rec, nil
		}
		select {
		case err := <-exited:
			reason := strings.TrimPrefix(lastLine(sess.path(logsDir, name+".log")), prog+": ")
			if reason == "" && err != nil {
				reason = err.Error()
			}
			return nodeRecord{}, fmt.Errorf("the node failed to start: %s", reason)
		case <-deadline.C:
			return nodeRecord{}, fmt.Errorf("the node did not start within %v", timeout)
		case <-ctx.Done():
			return nodeRecord{}, fmt.Errorf("stopped waiting for the node: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// lastLine returns the last line of a file that is not empty, or "".
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			last = t
		}
	}
	return last
}

// printStarted tells the user the node runs and, for a head, how to join.
func printStarted(w io.Writer, cmd *cobra.Command, rec nodeRecord, p prepared, took time.Duration) {
	prog := programName(cmd)
	if rec.Role == "head" {
		fmt.Fprintf(w, "Started the head node %s at %s (pid %d) in %v.\n", rec.NodeID, rec.Address, rec.PID, took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "Started worker node %s at %s (pid %d), joined the head at %s in %v.\n", rec.NodeID, rec.Address, rec.PID, rec.HeadAddress, took.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "Session: %s\nLog: %s\nToken: %s\n", p.sess.dir, rec.Log, p.token.from)
	if rec.Role == "head" {
		if host, _, err := net.SplitHostPort(rec.Address); err == nil {
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
				fmt.Fprintf(w, "\nThe head listens on %s: only this machine can join. For nodes on other machines,\nstart it with --node-ip-address set to this machine's address.\n", host)
			}
		}
		tokenArg, tokenEnvCmd := "", ""
		if p.token.file != "" {
			tokenArg = " --token-file " + shellQuote(p.token.file)
			tokenEnvCmd = tokenEnv + `="$(cat ` + shellQuote(p.token.file) + `)" `
		}
		fmt.Fprintf(w, "\nTo add a worker node (copy the token file to other machines):\n  %s start --address %s%s\n", prog, rec.Address, tokenArg)
		fmt.Fprintf(w, "To run a driver against this cluster:\n  GORAY_ADDRESS=%s %s<your program>\n", rec.Address, tokenEnvCmd)
		fmt.Fprintf(w, "To see it, and to stop every node this machine started:\n  %s status\n  %s stop\n", prog, prog)
	}
}

// programName returns how to run this program's commands: the program as
// it was run, and the commands above start.
func programName(cmd *cobra.Command) string {
	path := strings.Fields(cmd.CommandPath())
	parts := append([]string{os.Args[0]}, path[1:len(path)-1]...)
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runNode runs a node in this process until it is told to stop (SIGTERM,
// Ctrl-C) or fails. sessionDir and name come from a start that runs it in
// the background; without them the node finds its own.
func runNode(ctx context.Context, cmd *cobra.Command, spec nodeSpec, root, sessionDir, name string) (err error) {
	var p prepared
	ready := false
	if sessionDir != "" && name != "" {
		p.sess, p.name = session{dir: sessionDir}, name
		if p.token, err = nodeToken(spec, root); err != nil {
			return err
		}
	} else {
		if p, err = prepare(spec, root); err != nil {
			return err
		}
		defer func() {
			if err != nil && !ready {
				p.undo(root)
			}
		}()
	}
	if err := p.sess.writePID(p.name, os.Getpid()); err != nil {
		return fmt.Errorf("writing the pid file: %w", err)
	}
	defer p.sess.removeNode(p.name)

	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, release := signal.NotifyContext(ctx, stopSignals()...)
	defer release()
	t0 := time.Now()
	node, err := startNode(ctx, spec, p.token.token, logger)
	if err != nil {
		return err
	}
	role := "worker"
	headAddr := spec.address
	if spec.head {
		role, headAddr = "head", node.Address()
		if err := p.sess.setHeadAddress(node.Address()); err != nil {
			_ = node.Stop(context.WithoutCancel(ctx))
			return fmt.Errorf("recording the head's address: %w", err)
		}
	}
	rec := nodeRecord{Name: p.name, Role: role, PID: os.Getpid(), NodeID: node.ID(), Address: node.Address(),
		HeadAddress: headAddr, Log: p.sess.path(logsDir, p.name+".log"), TokenFile: p.token.file, Started: time.Now()}
	if sessionDir == "" {
		rec.Log = "(this terminal)"
	}
	if err := p.sess.writeRecord(rec); err != nil {
		_ = node.Stop(context.WithoutCancel(ctx))
		return fmt.Errorf("writing the node's record: %w", err)
	}
	ready = true
	logger.Info("node running", "name", p.name, "role", role, "node_id", node.ID(), "address", node.Address(), "head", headAddr, "took", time.Since(t0))
	if sessionDir == "" {
		printStarted(cmd.OutOrStdout(), cmd, rec, p, time.Since(t0))
		fmt.Fprintln(cmd.OutOrStdout(), "\nRunning in the foreground: Ctrl-C or SIGTERM stops the node.")
	}

	var failed error
	select {
	case <-ctx.Done():
		logger.Info("stopping the node", "cause", context.Cause(ctx))
	case <-node.Failed():
		failed = errors.New("the node failed (see the log above)")
	}
	_ = os.Remove(p.sess.path(p.name + ".json")) // no longer ready
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), nodeStopTimeout)
	defer cancel()
	t1 := time.Now()
	if err := node.Stop(stopCtx); err != nil {
		return errors.Join(failed, fmt.Errorf("stopping the node: %w", err))
	}
	logger.Info("node stopped", "node_id", node.ID(), "took", time.Since(t1))
	return failed
}

// nodeToken returns the token of a node started in the background, which
// its parent resolved already: the token file it passed, or GORAY_TOKEN.
func nodeToken(spec nodeSpec, root string) (tokenSource, error) {
	if spec.head && spec.tokenFile == "" {
		return tokenSource{}, errors.New("internal: a head started in the background needs its token file")
	}
	return resolveToken(spec.tokenFile, root, spec.address)
}

// startNode starts the node and returns once it runs: a worker once the
// head lists it, so that a driver started next finds it. All within
// --timeout.
func startNode(ctx context.Context, spec nodeSpec, token string, logger *slog.Logger) (*goray.Node, error) {
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	if err := spec.checkPorts(); err != nil {
		return nil, err
	}
	if !spec.head {
		if err := dialHead(ctx, spec.address); err != nil {
			return nil, err
		}
	}
	node, err := goray.StartNode(ctx, spec.options(token, logger)...)
	switch {
	case err == nil:
	case errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use"):
		return nil, fmt.Errorf("a port of the node is in use (choose others with --port, --node-manager-port and --object-manager-port): %w", err)
	case spec.head:
		return nil, fmt.Errorf("starting the node: %w", err)
	default:
		return nil, joinError(spec.address, spec.timeout, err)
	}
	if !spec.head {
		if err := awaitListed(ctx, node, spec); err != nil {
			_ = node.Stop(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	return node, nil
}

// checkPorts checks that the ports the node was given are free, to name the
// flag when one is not: the gossip port for TCP and UDP, the message and
// object ports for TCP.
func (s nodeSpec) checkPorts() error {
	check := func(network string, port int, flag string) error {
		if port == 0 {
			return nil
		}
		addr := net.JoinHostPort(s.host, strconv.Itoa(port))
		var c io.Closer
		var err error
		if network == "udp" {
			c, err = net.ListenPacket(network, addr)
		} else {
			c, err = net.Listen(network, addr)
		}
		if err != nil {
			return fmt.Errorf("port %d on %s is in use (choose another with %s): %w", port, cmp.Or(s.host, "this machine"), flag, err)
		}
		return c.Close()
	}
	return errors.Join(check("tcp", s.gossipPort, "--port"), check("udp", s.gossipPort, "--port"), check("tcp", s.port, "--node-manager-port"),
		check("tcp", s.objectPort, "--object-manager-port"))
}

// dialHead checks that something listens at the address of the cluster.
func dialHead(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot reach the goray head at %s (is it running?): %w", addr, err)
	}
	return c.Close()
}

// awaitListed waits until the head lists the node alive: StartNode of a
// worker returns once it has joined, before the head has its registration.
func awaitListed(ctx context.Context, node *goray.Node, spec nodeSpec) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		// The node's context carries its runtime; ctx bounds the question.
		qctx, cancel := context.WithTimeout(node.Context(), time.Second)
		unlink := context.AfterFunc(ctx, cancel)
		nodes, err := goray.Nodes(qctx)
		unlink()
		cancel()
		if err == nil && slices.ContainsFunc(nodes, func(n goray.NodeInfo) bool { return n.ID == node.ID() && n.Alive }) {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("the head of the cluster at %s did not list this node within %v: %w", spec.address, spec.timeout, err)
			}
			return fmt.Errorf("the head of the cluster at %s did not list this node within %v", spec.address, spec.timeout)
		case <-tick.C:
		}
	}
}
