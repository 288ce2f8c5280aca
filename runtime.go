package goray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	goruntime "runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/cluster"
	"github.com/goray-dev/goray/cluster/membership"
	"github.com/goray-dev/goray/cluster/transport"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// runtime is one process's connection to goray, its core: the node it runs
// on, the owner of the objects it creates, and the actor handles it holds.
// The context carries it into every call.
type runtime struct {
	node      *cluster.Node
	root      *actor.RootContext
	ids       *objects.IDGen
	owner     *objects.Owner
	ownerPID  *pb.Pid
	storePID  *pb.Pid // the local node's store
	jobID     string
	namespace string
	logger    *slog.Logger
	inline    int
	pool      *actors.Pool
	// ended holds why the runtime ended (Shutdown, or its node failed).
	ended   atomic.Pointer[error]
	stopped chan struct{} // closed by Shutdown

	handlesMu sync.Mutex
	handles   map[string]weak.Pointer[actorHandle] // by actor ID

	deadMu    sync.Mutex
	deadNodes map[string]struct{} // nodes known dead, to resubmit what reaches them late

	// table indexes the handles references inside values resolve to.
	table refTable

	// streams are the generator streams this process consumes, and
	// producers those whose generators run here, by stream ID.
	streams   sync.Map // objects.ID -> *streamState
	producers sync.Map // objects.ID -> *producer
	// ctorPins holds, by actor ID, the references inside the constructor
	// arguments of the actors this process created, until they die.
	ctorPins sync.Map // string -> []*handle
}

// err returns why the runtime ended, or nil while it runs.
func (rt *runtime) err() error {
	if p := rt.ended.Load(); p != nil {
		return *p
	}
	return nil
}

// end records why the runtime ended and fails every pending result; it
// reports false when the runtime had ended already.
func (rt *runtime) end(err error) bool {
	if !rt.ended.CompareAndSwap(nil, &err) {
		return false
	}
	rt.owner.Close(&pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: err.Error()})
	return true
}

type runtimeKey struct{}

// config collects Init's and StartNode's options.
type config struct {
	node      cluster.Config
	namespace string
	err       error
	// address is the head node's, for a driver or a worker node; head
	// makes this node the head of a new cluster.
	address   string
	head      bool
	host      string
	port      int
	gossip    int // the gossip port
	objects   int // the port of object streams
	tls       transport.TLSConfig
	cpusGiven bool
	token     string
	// release is how long the process may go without a garbage
	// collection while it runs goray (0: as long as Go lets it).
	release    time.Duration
	releaseSet bool
}

// defaultRelease bounds how long an idle process keeps what its user code
// dropped: Go collects such a process only every 2 minutes.
const defaultRelease = 10 * time.Second

// InitOption configures Init.
type InitOption func(*config)

// WithResources sets the node's resources by name: "CPU", "GPU", "memory"
// (bytes) or any custom name. CPU defaults to the machine's cores.
func WithResources(r map[string]float64) InitOption {
	return func(c *config) {
		if c.node.Resources == nil {
			c.node.Resources = map[string]float64{}
		}
		for k, v := range r {
			c.node.Resources[k] = v
		}
	}
}

// WithCPUs sets the node's CPUs.
func WithCPUs(n float64) InitOption {
	return func(c *config) {
		WithResources(map[string]float64{"CPU": n})(c)
		c.cpusGiven = true
	}
}

// WithAddress joins the cluster at addr (host:port): the gossip address of
// its head (Node.Address), or of any of its members. Init then runs this process as a driver: a node of the
// cluster without CPUs of its own (unless WithCPUs gives some), which holds
// the objects it creates and sends its work to the cluster. Without it,
// Init reads the GORAY_ADDRESS environment variable; when that is empty
// too, Init starts an embedded single-node cluster.
func WithAddress(addr string) InitOption { return func(c *config) { c.address = addr } }

// WithToken sets the cluster's secret token: every node and driver of a
// cluster presents it, and refuses peers that do not. Without it, Init and
// StartNode read the GORAY_TOKEN environment variable.
func WithToken(token string) InitOption { return func(c *config) { c.token = token } }

// WithListen sets the host and port this process's node listens on for
// other nodes' messages (port 0: a free one). By default it listens on the
// address it reaches the head from, on a free port.
func WithListen(host string, port int) InitOption {
	return func(c *config) { c.host, c.port = host, port }
}

// WithTLS encrypts the messages between this process's node and the others
// with mutual TLS: certFile and keyFile hold the node's certificate (which
// must name the address other nodes dial) and key, caFile the cluster's CA.
// Every node and driver of a cluster must use it when one does. Without
// it, Init and StartNode read GORAY_USE_TLS=1 with GORAY_TLS_SERVER_CERT,
// GORAY_TLS_SERVER_KEY and GORAY_TLS_CA_CERT (Ray's variables, with goray's
// prefix), so nodes started by the command line take it from there.
func WithTLS(certFile, keyFile, caFile string) InitOption {
	return func(c *config) {
		c.tls = transport.TLSConfig{Enabled: true, CertFile: certFile, KeyFile: keyFile, CAFile: caFile}
	}
}

// tlsFromEnv is the TLS configuration the environment asks for.
func tlsFromEnv() transport.TLSConfig {
	switch strings.ToLower(os.Getenv("GORAY_USE_TLS")) {
	case "1", "true", "yes":
		return transport.TLSConfig{Enabled: true, CertFile: os.Getenv("GORAY_TLS_SERVER_CERT"),
			KeyFile: os.Getenv("GORAY_TLS_SERVER_KEY"), CAFile: os.Getenv("GORAY_TLS_CA_CERT")}
	}
	return transport.TLSConfig{}
}

// WithGossipPort sets the port this process's node gossips on, on the
// WithListen host: for a head, the port of the cluster's address, which
// the others join at (0, the default: a free one).
func WithGossipPort(port int) InitOption { return func(c *config) { c.gossip = port } }

// WithObjectManagerPort sets the port this process's node serves objects to
// other nodes on, on the WithListen host, as Ray's --object-manager-port
// does (0, the default: a free one). Objects move over byte streams there;
// a node that cannot reach that port pulls them as messages instead, which
// is slower.
func WithObjectManagerPort(port int) InitOption { return func(c *config) { c.objects = port } }

// WithGPUs sets the node's GPUs.
func WithGPUs(n int) InitOption { return WithResources(map[string]float64{"GPU": float64(n)}) }

// WithLabels sets the node's labels.
func WithLabels(l map[string]string) InitOption { return func(c *config) { c.node.Labels = l } }

// WithObjectStoreMemory bounds the bytes the object store keeps in memory;
// past it, objects spill to disk and come back on Get.
func WithObjectStoreMemory(bytes int64) InitOption {
	return func(c *config) {
		if bytes <= 0 {
			c.err = fmt.Errorf("%w: object store memory must be positive, got %d", ErrInvalidArgument, bytes)
		}
		c.node.ObjectStoreCapacity = bytes
	}
}

// WithSpillDir sets where the object store spills (default: a temporary
// directory removed at Shutdown).
func WithSpillDir(dir string) InitOption { return func(c *config) { c.node.SpillDir = dir } }

// WithInlineLimit sets the encoded size from which results and Put values go
// to the object store instead of inline (default 100 KiB).
func WithInlineLimit(bytes int) InitOption {
	return func(c *config) { c.node.InlineLimit = bytes }
}

// WithLogger sets the runtime's logger (default: discard).
func WithLogger(l *slog.Logger) InitOption { return func(c *config) { c.node.Logger = l } }

// WithNamespace sets the namespace named actors are created and looked up
// in when a call does not name one (default "default").
func WithNamespace(ns string) InitOption { return func(c *config) { c.namespace = ns } }

// WithReleaseInterval bounds how long Refs and actor handles that user code
// dropped stay held: goray lets them go when Go's garbage collector finds
// them unreachable, and it runs a collection whenever none ran for d, so
// that an idle process releases its objects and actors within about d
// (default 10s; 0 leaves it to Go, which collects an idle process every 2
// minutes).
func WithReleaseInterval(d time.Duration) InitOption {
	return func(c *config) { c.release, c.releaseSet = d, true }
}

// WithHeapFloor sets the memory this process's node reserves so that Go's
// garbage collector does not run for every few megabytes its messages
// allocate: a ballast that nothing writes to, which in a fresh process
// costs address space rather than memory (default cluster.DefaultHeapFloor,
// 16 MiB; 0 for none). The process may hold up to that much more garbage
// between collections.
func WithHeapFloor(bytes int64) InitOption {
	return func(c *config) {
		switch {
		case bytes < 0:
			c.err = fmt.Errorf("%w: heap floor must not be negative, got %d", ErrInvalidArgument, bytes)
		case bytes == 0:
			c.node.HeapFloor = -1
		default:
			c.node.HeapFloor = bytes
		}
	}
}

// WithRestartBackoff sets the delay before an actor's first restart; it
// doubles on each further restart (default 10ms).
func WithRestartBackoff(d time.Duration) InitOption {
	return func(c *config) { c.node.RestartBackoff = d }
}

// Init starts goray in this process and returns a context that carries the
// runtime: pass it (or contexts derived from it) to every goray call. Call
// Shutdown when done. Init starts an embedded single-node cluster, or joins
// a cluster as a driver (WithAddress, or GORAY_ADDRESS).
//
// Init fails when a registration failed (a duplicate or empty name, a nil
// function): such a program would fail later, at the first call.
func Init(ctx context.Context, opts ...InitOption) (context.Context, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: Init: nil context", ErrInvalidArgument)
	}
	cfg := config{namespace: "default"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.address == "" {
		cfg.address = getenvAddress()
	}
	if cfg.address != "" && !cfg.cpusGiven {
		// A driver runs no work of its own unless told to.
		WithResources(map[string]float64{"CPU": 0})(&cfg)
	}
	rt, err := startRuntime(ctx, cfg, true)
	if err != nil {
		return ctx, err
	}
	rt.jobID = cluster.NewNodeID()
	job := &pb.JobInfo{JobId: rt.jobID, DriverNode: rt.node.ID, StartUnixMs: time.Now().UnixMilli(), Core: rt.ownerPID}
	if _, err := rt.request(ctx, rt.node.GCS, &pb.RegisterJob{Job: job}); err != nil {
		rt.end(ErrShutdown)
		close(rt.stopped)
		_ = rt.node.Stop(context.WithoutCancel(ctx))
		return ctx, fmt.Errorf("goray: registering job: %w", err)
	}
	rt.node.DrivesJob(job)
	return context.WithValue(ctx, runtimeKey{}, rt), nil
}

// getenvAddress returns the head's address from the environment.
func getenvAddress() string { return os.Getenv("GORAY_ADDRESS") }

// startRuntime starts this process's node, as cfg says, and its core; a
// driver's node announces itself as one.
func startRuntime(ctx context.Context, cfg config, driver bool) (*runtime, error) {
	if err := registrationError(actors.Default.Err()); err != nil {
		return nil, fmt.Errorf("goray: %w", err)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	if cfg.head || cfg.address != "" {
		host := cfg.host
		if host == "" {
			host = hostToward(cfg.address)
		}
		if cfg.token == "" {
			cfg.token = os.Getenv("GORAY_TOKEN")
		}
		role := membership.RoleWorker
		if driver {
			role = membership.RoleDriver
		}
		if !cfg.tls.Enabled {
			cfg.tls = tlsFromEnv()
		}
		cfg.node.Network = &cluster.Network{Host: host, Port: cfg.port, GossipPort: cfg.gossip, ObjectPort: cfg.objects, Head: cfg.head, Join: cfg.address,
			Token: cfg.token, Role: role, TLS: cfg.tls}
	}
	rt := &runtime{ids: objects.NewIDGen(), namespace: cfg.namespace,
		stopped: make(chan struct{}), handles: map[string]weak.Pointer[actorHandle]{},
		table: refTable{refs: map[objects.ID]weak.Pointer[handle]{}, lent: map[objects.ID]*lending{}}}
	cfg.node.Registry = actors.Default
	cfg.node.Base = context.WithValue(context.Background(), runtimeKey{}, rt)
	node, err := cluster.Start(ctx, cfg.node)
	switch {
	case errors.Is(err, cluster.ErrInvalidConfig):
		return nil, fmt.Errorf("%w: goray: starting node: %w", ErrInvalidArgument, err)
	case err != nil:
		return nil, fmt.Errorf("%w: goray: starting node: %w", ErrSystem, err)
	}
	rt.node, rt.root, rt.owner = node, node.System.Root, node.Owner
	rt.ownerPID = actors.WirePID(node.OwnerPID)
	rt.storePID = actors.WirePID(node.Store)
	rt.logger = node.Env.Logger
	rt.inline = node.Env.InlineLimit
	rt.pool = node.Env.Pool
	rt.owner.Stored = func(s *objects.Slot) {
		if h, ok := s.Holder().(*handle); ok && h.owner != nil {
			return // borrowed: its owner counts it
		}
		_, storeNode, size, _, _ := s.Value()
		store := s.Store()
		if store == nil && storeNode == node.ID {
			store = rt.storePID
		}
		rt.root.Send(node.Directory, &pb.AddObject{ObjectId: s.ID[:], Size: size, NodeId: storeNode, Store: store})
		rt.storedHandle(s)
	}
	rt.owner.Abandoned = func(id objects.ID) {
		rt.root.Send(node.Store, &pb.DeleteObjects{ObjectIds: [][]byte{id[:]}})
	}
	rt.owner.Notify = rt.notify
	rt.owner.Contained = rt.contained
	go rt.watchNode()
	release := defaultRelease
	if cfg.releaseSet {
		release = cfg.release
	}
	if release > 0 {
		go rt.collectWhenIdle(release)
	}
	return rt, nil
}

// collectWhenIdle runs a garbage collection whenever none ran for every,
// until the runtime stops: what user code dropped is released by the
// collector's cleanups only.
func (rt *runtime) collectWhenIdle(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	cycles := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(cycles)
	last := cycles[0].Value.Uint64()
	for {
		select {
		case <-rt.stopped:
			return
		case <-t.C:
		}
		metrics.Read(cycles)
		if cycles[0].Value.Uint64() == last {
			goruntime.GC()
			metrics.Read(cycles)
		}
		last = cycles[0].Value.Uint64()
	}
}

// hostToward returns the local address this machine reaches addr from,
// so that the nodes of a cluster on several machines can reach this one;
// 127.0.0.1 when addr is empty or on this machine.
func hostToward(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return "127.0.0.1"
	}
	c, err := net.Dial("udp", addr) // no packet is sent
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// watchNode ends the runtime if its node fails.
func (rt *runtime) watchNode() {
	select {
	case <-rt.node.Failed():
		if rt.end(fmt.Errorf("%w: %w: %w", ErrShutdown, ErrSystem, rt.node.Err())) {
			rt.logger.Error("goray: the runtime ended because its node failed", "error", rt.node.Err())
		}
	case <-rt.stopped:
	}
}

// registrationError classifies the registry's errors by this package's
// sentinels.
func registrationError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, actors.ErrDuplicate):
		return fmt.Errorf("%w: %w", ErrAlreadyExists, err)
	default:
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
}

// notify handles what the GCS tells this core: an actor died, or where an
// actor it waits for runs.
func (rt *runtime) notify(msg any, sender *actor.PID) {
	switch m := msg.(type) {
	case *pb.BorrowObjects:
		rt.lendMessage(m, sender)
	case *pb.BorrowObjectsReply:
		rt.borrowReply(m)
	case *pb.ObjectReady:
		rt.owner.Settle(m.Result)
	case *pb.ReleaseObjects:
		rt.releaseMessage(m)
	case *pb.ActorDied:
		rt.actorDied(m.ActorId, m.Error)
	case *pb.LookupActorReply:
		rt.actorResolved(m)
	case *pb.ActorMoved:
		rt.actorMoved(m.ActorId, m.FromNode)
	case *pb.StreamItem:
		rt.streamItem(m)
	case *pb.StreamAck:
		rt.streamAck(m)
	case *pb.TaskAccepted:
		if id, err := objects.IDFromBytes(m.TaskId); err == nil {
			rt.owner.Accepted(id, m.NodeId)
			if rt.isDead(m.NodeId) {
				// Sent to a node that had died already: it never ran
				// there, so this costs none of its retries.
				if h, ok := rt.owner.PendingHolder(id).(*handle); ok {
					rt.resubmit(h, m.NodeId, false)
				}
			}
		}
	case *pb.NodeDied:
		rt.markDead(m.NodeId)
		rt.nodeDied(m.NodeId)
		if m.Address != "" {
			rt.borrowerDied(m.Address)
		}
	}
}

// maxDeadNodes bounds the dead nodes a core remembers.
const maxDeadNodes = 1024

func (rt *runtime) markDead(node string) {
	rt.deadMu.Lock()
	defer rt.deadMu.Unlock()
	if rt.deadNodes == nil {
		rt.deadNodes = map[string]struct{}{}
	}
	if len(rt.deadNodes) >= maxDeadNodes {
		clear(rt.deadNodes)
	}
	rt.deadNodes[node] = struct{}{}
}

func (rt *runtime) isDead(node string) bool {
	rt.deadMu.Lock()
	defer rt.deadMu.Unlock()
	_, ok := rt.deadNodes[node]
	return ok
}

// nodeDied resubmits the tasks that ran on a node that died, as their
// retries allow, and fails the others.
func (rt *runtime) nodeDied(node string) {
	for _, holder := range rt.owner.PendingOn(node) {
		if h, ok := holder.(*handle); ok {
			rt.resubmit(h, node, true)
		}
	}
}

// resubmit sends a task its dead node held to the local raylet again, as
// its retries allow when it counts as a retry, or fails it.
func (rt *runtime) resubmit(h *handle, node string, retry bool) {
	spec := h.spec.Load()
	if spec == nil {
		return
	}
	if retry && spec.MaxRetries >= 0 && spec.Attempt >= spec.MaxRetries {
		rt.owner.Fail(h.slot.ID, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Function: spec.Function,
			Message: fmt.Sprintf("task %s: node %s died while it held the task, and its %d retries are used up", spec.Function, node, spec.MaxRetries)})
		return
	}
	again := proto.Clone(spec).(*pb.TaskSpec)
	if retry {
		again.Attempt++
	}
	again.Hops, again.GpuIds = 0, nil
	if !h.spec.CompareAndSwap(spec, again) {
		return // resubmitted already, for the same death
	}
	rt.owner.Accepted(h.slot.ID, "")
	rt.root.Send(rt.node.Raylet, again)
}

// Shutdown ends the job: its actors that are not detached are killed, and
// the embedded node stops. Calls on the runtime's Refs and handles fail with
// ErrShutdown after, and so does a Get waiting when Shutdown runs.
func Shutdown(ctx context.Context) error {
	rt, err := runtimeOf(ctx)
	if err != nil {
		if errors.Is(err, ErrShutdown) {
			return nil
		}
		return err
	}
	rt.node.JobFinished(rt.jobID)
	_, ferr := rt.request(ctx, rt.node.GCS, &pb.FinishJob{JobId: rt.jobID})
	if !rt.end(ErrShutdown) {
		return nil
	}
	close(rt.stopped)
	if err := rt.node.Stop(ctx); err != nil {
		return fmt.Errorf("goray: shutdown: %w", err)
	}
	if ferr != nil {
		return fmt.Errorf("goray: shutdown: finishing job: %w", ferr)
	}
	return nil
}

func runtimeOf(ctx context.Context) (*runtime, error) {
	if ctx == nil {
		return nil, ErrNotInitialized
	}
	rt, _ := ctx.Value(runtimeKey{}).(*runtime)
	if rt == nil {
		return nil, ErrNotInitialized
	}
	if err := rt.err(); err != nil {
		return nil, err
	}
	return rt, nil
}

func callOf(ctx context.Context) *actors.CallInfo { return actors.CallInfoOf(ctx) }

// jobOf returns the job work submitted from ctx belongs to: the job of the
// call ctx belongs to, or the runtime's own.
func (rt *runtime) jobOf(ctx context.Context) string {
	if info := callOf(ctx); info != nil && info.JobID != "" {
		return info.JobID
	}
	return rt.jobID
}

// GPUIDs returns the GPU device indices assigned to the running task or
// actor (empty outside one, or when it asked for no GPU).
func GPUIDs(ctx context.Context) []int {
	info := callOf(ctx)
	if info == nil {
		return nil
	}
	out := make([]int, len(info.GPUIDs))
	for i, g := range info.GPUIDs {
		out[i] = int(g)
	}
	return out
}

// RuntimeContext describes where the code of a context runs, as Ray's
// get_runtime_context does. IDs are in hex; those that do not apply are
// empty (a driver runs no task; a task is no actor).
type RuntimeContext struct {
	JobID, NodeID string
	// TaskID identifies the running task or actor call.
	TaskID string
	// ActorID is the actor whose constructor or method runs.
	ActorID string
	// Resources is what the task or actor was scheduled with.
	Resources map[string]float64
	// GPUIDs are the GPU devices assigned to it.
	GPUIDs []int
	// Restarts is how often the actor restarted before the incarnation
	// that runs (0 for its first).
	Restarts int
}

// WasRestarted reports whether the running actor is a restarted one.
func (c RuntimeContext) WasRestarted() bool { return c.Restarts > 0 }

// GetRuntimeContext returns the runtime context of ctx: inside a task or
// actor method, the job, node, task and actor IDs, the resources and GPUs
// assigned and the actor's restarts; in a driver, its job and node.
func GetRuntimeContext(ctx context.Context) (RuntimeContext, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return RuntimeContext{}, err
	}
	out := RuntimeContext{JobID: rt.jobOf(ctx), NodeID: rt.node.ID}
	info := callOf(ctx)
	if info == nil {
		return out, nil
	}
	if info.NodeID != "" {
		out.NodeID = info.NodeID
	}
	if len(info.TaskID) > 0 {
		out.TaskID = fmt.Sprintf("%x", info.TaskID)
	}
	if len(info.ActorID) > 0 {
		out.ActorID = fmt.Sprintf("%x", info.ActorID)
	}
	if info.Resources != nil {
		out.Resources = floats(info.Resources)
	}
	out.GPUIDs = GPUIDs(ctx)
	out.Restarts = int(info.Restarts)
	return out, nil
}

// NodeID returns the ID of the node the context's code runs on.
func NodeID(ctx context.Context) (string, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return "", err
	}
	return rt.node.ID, nil
}

// StoreStats describes the local node's object store.
type StoreStats struct {
	Objects, InMemory, Spilled        int64
	UsedBytes, SpilledBytes, Capacity int64
	SpillCount, RestoreCount          uint64
	// StreamChunks counts the chunks of objects this node pulled from
	// other nodes over byte streams (the rest travel as messages).
	StreamChunks uint64
}

// ObjectStoreStats returns the local node's object store counters.
func ObjectStoreStats(ctx context.Context) (StoreStats, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return StoreStats{}, err
	}
	return rt.storeStats(ctx, rt.node.Store)
}

// ClusterStoreStats returns the object store counters of every live node
// of the cluster, by node ID. The nodes are asked in parallel; when some
// fail or do not answer before ctx ends, it returns the others' counters and
// a NodeErrors naming those nodes.
func ClusterStoreStats(ctx context.Context) (map[string]StoreStats, error) {
	replies, err := askLiveNodes[*pb.StoreStats](ctx, func(n *pb.NodeInfo) *pb.Pid { return n.Store }, &pb.GetStoreStats{})
	if replies == nil {
		return nil, err
	}
	out := make(map[string]StoreStats, len(replies))
	for id, s := range replies {
		out[id] = storeStatsOf(s)
	}
	return out, err
}

func (rt *runtime) storeStats(ctx context.Context, store *actor.PID) (StoreStats, error) {
	reply, err := rt.request(ctx, store, &pb.GetStoreStats{})
	if err != nil {
		return StoreStats{}, err
	}
	s, ok := reply.(*pb.StoreStats)
	if !ok {
		return StoreStats{}, fmt.Errorf("%w: unexpected reply %T", ErrSystem, reply)
	}
	return storeStatsOf(s), nil
}

func storeStatsOf(s *pb.StoreStats) StoreStats {
	return StoreStats{
		Objects: s.Objects, InMemory: s.InMemory, Spilled: s.Spilled,
		UsedBytes: s.UsedBytes, SpilledBytes: s.SpilledBytes, Capacity: s.Capacity,
		SpillCount: s.SpillCount, RestoreCount: s.RestoreCount, StreamChunks: s.StreamChunks,
	}
}

// request sends a request to a system actor and waits for the reply until
// ctx ends: the caller's context is the only deadline.
func (rt *runtime) request(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	if (pid == rt.node.GCS || pid == rt.node.Placement) && !rt.node.HeadReachable() {
		return nil, fmt.Errorf("%w: %T needs it", ErrHeadUnavailable, msg)
	}
	v, err := actors.Request(ctx, rt.node.System, pid, msg)
	if err == nil {
		return v, nil
	}
	var re *actors.RemoteError
	switch {
	case ctx.Err() != nil:
		return nil, ctxError(ctx)
	case errors.As(err, &re):
		return nil, fromWire(re.E)
	default:
		return nil, fmt.Errorf("%w: %w", ErrSystem, err)
	}
}

func ctxError(ctx context.Context) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return fmt.Errorf("goray: %w", context.Cause(ctx))
}
