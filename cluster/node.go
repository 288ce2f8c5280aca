package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/cluster/membership"
	"github.com/goray-dev/goray/cluster/transport"
	"github.com/goray-dev/goray/gpu"
	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// ErrInvalidConfig reports a node configuration that cannot work.
var ErrInvalidConfig = errors.New("invalid node config")

// Config describes one node.
type Config struct {
	// Resources is the node's capacity by name (CPU, GPU, memory in bytes,
	// custom names). CPU defaults to the machine's cores and GPU to the
	// devices GPUs discovers when absent.
	Resources map[string]float64
	// Labels are matched by label selectors. The node adds the defaults
	// of placement.DefaultLabels (node ID, host name, OS, architecture,
	// accelerator type); these labels override all of them but the node ID.
	Labels map[string]string
	// GPUs discovers accelerators (NVML when nil: 0 GPUs without a driver).
	GPUs gpu.Discoverer
	// ObjectStoreCapacity bounds the bytes the store holds in memory before
	// spilling; SpillDir is where it spills (a fresh temporary directory
	// when empty).
	ObjectStoreCapacity int64
	SpillDir            string
	// InlineLimit is the encoded size from which values go to the store.
	InlineLimit int
	// RestartBackoff is the delay before an actor's first restart.
	RestartBackoff time.Duration
	// HeapFloor is memory the node reserves so that Go's collector does
	// not run for every few megabytes allocated (see DefaultHeapFloor):
	// 0 means DefaultHeapFloor, a negative value none.
	HeapFloor int64
	Registry  *actors.Registry
	// Base is the context user code's contexts take their values from (the
	// runtime, for nested calls); context.Background when nil.
	Base   context.Context
	Logger *slog.Logger
	// Network makes the node a member of a cluster over the network; nil
	// gives an embedded cluster of this one node.
	Network *Network
}

// DefaultObjectStoreCapacity is the store's memory budget when unset: 30% of
// the machine's memory in Ray; a fixed 2 GiB keeps an embedded node modest.
const DefaultObjectStoreCapacity = 2 << 30

// DefaultHeapFloor is the heap floor of a node when unset: 16 MiB.
//
// A node allocates for every message it handles, and Go collects garbage
// whenever the heap doubles, from 4 MiB at least: a node with a small heap
// serving 100,000 calls a second collected dozens of times a second, and
// spent more time collecting than calling. The node keeps a ballast of
// HeapFloor bytes that nothing writes to, which the collector counts as
// live; taken from memory the process never used, as at its start, it
// costs address space, not memory. Collections then come about every
// HeapFloor bytes allocated; the process holds up to HeapFloor more garbage
// between them.
//
// 16 MiB is where the microbenchmarks peaked on a 2-core VM: every call
// benchmark ran 40-70% faster than without a floor. With 64 MiB and more
// they ran slower again: garbage spread over more memory than the caches
// hold, and fresh pages cost faults.
const DefaultHeapFloor = 16 << 20

// Node is one running node: its actor system and the PIDs of its system
// actors. The embedded runtime is a cluster of one such node.
type Node struct {
	ID        string
	System    *actor.ActorSystem
	GCS       *actor.PID
	Placement *actor.PID
	Raylet    *actor.PID
	Store     *actor.PID
	Directory *actor.PID
	OwnerPID  *actor.PID
	Owner     *objects.Owner
	Env       *actors.Env
	Total     placement.Resources
	Labels    map[string]string // defaults and user labels
	// GPUs are the discovered GPU units, by the node's GPU index; nil when
	// the GPU count was configured. Never changed once the node runs.
	GPUs []gpu.Unit

	spillDir  string
	ownsSpill bool
	ballast   []byte // see DefaultHeapFloor; never written
	logger    *slog.Logger
	head      bool                  // runs the GCS and the placement actor
	info      *pb.NodeInfo          // what the GCS was told of the node
	stopNet   func(context.Context) // stops messaging between processes, within ctx
	transport *transport.Transport
	members   *membership.Cluster
	address   string // the gossip address others join, for a node on the network
	// rejoining is set while the node calls at the address of a head that
	// is gone; headGone while the head is gone.
	rejoining atomic.Bool
	headGone  atomic.Bool
	// headID is the head this node registered with; only watchMembers
	// changes it once the node runs.
	headID string
	// jobs are the running jobs this process drives, which it registers
	// again with a head that comes back.
	jobsMu sync.Mutex
	jobs   map[string]*pb.JobInfo

	failOnce sync.Once
	failed   chan struct{}
	failErr  error
	stopOnce sync.Once
	stopErr  error
}

// ErrNodeFailed reports that a system actor of the node failed and the node
// stopped.
var ErrNodeFailed = errors.New("node failed")

// Failed is closed when a system actor failed and the node is stopping;
// Err then says why.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err returns why the node failed, or nil.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

// fatal stops the node loudly: a system actor panicked, so its state can no
// longer be trusted. Work in flight fails with the reason.
func (n *Node) fatal(component string, reason any) {
	n.fail(fmt.Errorf("%w: %s panicked: %v", ErrNodeFailed, component, reason),
		"goray: a system actor failed; the node stops", "component", component, "panic", fmt.Sprint(reason))
}

// declaredDead stops the node loudly: the cluster declared it dead (it was
// unreachable too long) and has moved its actors and tasks elsewhere.
func (n *Node) declaredDead() {
	n.fail(fmt.Errorf("%w: the cluster declared it dead; its work runs on other nodes", ErrNodeFailed),
		"goray: the cluster declared this node dead (unreachable too long); the node stops")
}

// fail records err as the node's failure, logs msg and stops the node.
func (n *Node) fail(err error, msg string, attrs ...any) {
	n.failOnce.Do(func() {
		n.failErr = err
		n.logger.Error(msg, append([]any{"node", n.ID}, attrs...)...)
		close(n.failed)
		go func() { _ = n.Stop(context.Background()) }()
	})
}

// guard returns the guard of a system actor of this node: a panic stops
// the node.
func (n *Node) guard(component string) *actors.Guard {
	return &actors.Guard{Component: component, Logger: n.logger,
		OnPanic: func(_ actor.Context, reason any) { n.fatal(component, reason) }}
}

// guarded returns the props of a system actor of this node behind its guard.
func (n *Node) guarded(component string, a actor.Actor) *actor.Props {
	g := n.guard(component)
	return n.Env.Props(func() actor.Actor { return g.Actor(a) })
}

// NewNodeID returns a fresh random node ID.
func NewNodeID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Resources validates cfg.Resources and fills in the CPU and GPU defaults;
// it also returns the accelerator type of the GPUs it discovered and the
// GPU units the node schedules (a MIG instance is a GPU of its own).
func (cfg *Config) resources() (placement.Resources, string, []gpu.Unit, error) {
	m := map[string]float64{}
	for k, v := range cfg.Resources {
		m[k] = v
	}
	if _, ok := m[placement.CPU]; !ok {
		m[placement.CPU] = float64(runtime.NumCPU())
	}
	accelerator := ""
	var units []gpu.Unit
	if _, ok := m[placement.GPU]; !ok {
		disc := cfg.GPUs
		if disc == nil {
			disc = gpu.NewNVML(cfg.Logger)
		}
		if devs, err := disc.Devices(context.Background()); err == nil && len(devs) > 0 {
			units = gpu.Units(devs)
			m[placement.GPU] = float64(len(units))
			accelerator = gpu.AcceleratorType(devs[0].Name)
		}
		if c, ok := disc.(interface{ Close() error }); ok && cfg.GPUs == nil {
			_ = c.Close()
		}
	}
	r, err := placement.FromFloats(m)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w: resources: %w", ErrInvalidConfig, err)
	}
	if g := r[placement.GPU]; g%placement.Unit != 0 {
		return nil, "", nil, fmt.Errorf("%w: a node has a whole number of GPUs, not %v", ErrInvalidConfig, g)
	}
	return r, accelerator, units, nil
}

// quietLogger keeps protoactor's own logging to warnings and errors.
func quietLogger(l *slog.Logger) func(*actor.ActorSystem) *slog.Logger {
	return func(*actor.ActorSystem) *slog.Logger {
		return slog.New(levelFilter{h: l.Handler(), min: slog.LevelWarn}).With("component", "protoactor")
	}
}

type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(n), min: f.min}
}

// StartEmbedded starts a node that runs every system actor in this process:
// GCS, placement, raylet, object store and directory.
func StartEmbedded(cfg Config) (*Node, error) {
	cfg.Network = nil
	return Start(context.Background(), cfg)
}

// Start starts a node: an embedded cluster of one node when cfg.Network is
// nil, else a head node (GCS and placement here) or a node that joins the
// head named in cfg.Network. Messaging between processes starts before any
// PID is built, so every PID the node hands out carries its real address.
// ctx bounds the start: joining the cluster and finding its head.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Registry == nil {
		return nil, fmt.Errorf("%w: a Registry is required", ErrInvalidConfig)
	}
	if cfg.Base == nil {
		cfg.Base = context.Background()
	}
	total, accelerator, units, err := cfg.resources()
	if err != nil {
		return nil, err
	}
	for k := range cfg.Labels {
		if k == "" {
			return nil, fmt.Errorf("%w: a label with an empty key", ErrInvalidConfig)
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{ID: NewNodeID(), Total: total, GPUs: units, logger: logger, failed: make(chan struct{})}
	switch floor := cfg.HeapFloor; {
	case floor == 0:
		n.ballast = make([]byte, DefaultHeapFloor)
	case floor > 0:
		n.ballast = make([]byte, floor)
	}
	hostname, _ := os.Hostname()
	labels := placement.DefaultLabels(n.ID, hostname, accelerator)
	for k, v := range cfg.Labels {
		if k != placement.LabelNodeID {
			labels[k] = v
		}
	}
	cfg.Labels = labels
	n.Labels = labels
	n.spillDir = cfg.SpillDir
	if n.spillDir == "" {
		n.spillDir = filepath.Join(os.TempDir(), "goray-spill-"+n.ID)
		n.ownsSpill = true
	}
	capacity := cfg.ObjectStoreCapacity
	if capacity <= 0 {
		capacity = DefaultObjectStoreCapacity
	}
	store, err := objects.NewStore(objects.StoreConfig{Capacity: capacity, SpillDir: n.spillDir, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("%w: object store: %w", ErrInvalidConfig, err)
	}
	inline := cfg.InlineLimit
	if inline <= 0 {
		inline = actors.DefaultInlineLimit
	}

	n.System = actor.NewActorSystem(actor.WithLoggerFactory(quietLogger(logger)), actor.WithDeadLetterRequestLogging(false))
	net := cfg.Network
	head := net == nil || net.Head
	addr := n.System.Address()
	headAddr := addr
	if net != nil {
		if net.Fingerprint == "" {
			net.Fingerprint = cfg.Registry.Fingerprint()
		}
		headAddr, err = n.startNetwork(ctx, net, placement.ToWire(total), cfg.Labels)
		if err != nil {
			n.System.Shutdown()
			return nil, err
		}
		addr = n.System.Address()
	}
	n.GCS = actor.NewPID(headAddr, GCSProcessID)
	n.Placement = actor.NewPID(headAddr, placement.ProcessID)
	n.Raylet = actor.NewPID(addr, RayletProcessID)
	n.Store = actor.NewPID(addr, objects.StoreProcessID)
	n.Directory = actor.NewPID(addr, objects.DirectoryProcessID)
	n.Env = &actors.Env{
		Registry: cfg.Registry, NodeID: n.ID, System: n.System,
		Raylet: n.Raylet, Store: n.Store, Directory: n.Directory, GCS: n.GCS,
		InlineLimit: inline, Base: cfg.Base,
		RestartBackoff: cfg.RestartBackoff, Logger: logger,
		Pool: actors.NewPool(256),
	}
	n.Owner = objects.NewOwner()
	pid, ok := n.System.ProcessRegistry.Add(n.Owner, objects.OwnerProcessID)
	if !ok {
		return nil, fmt.Errorf("registering owner process %v", pid)
	}
	n.OwnerPID = pid

	root := n.System.Root
	type spawn struct {
		id    string
		props *actor.Props
	}
	var spawns []spawn
	if head {
		spawns = append(spawns,
			spawn{placement.ProcessID, n.guarded("placement", placement.New(uint64(time.Now().UnixNano())))},
			spawn{GCSProcessID, NewGCS(n.Placement, n.guard("gcs"))})
	}
	var storeOpts []objects.StoreActorOption
	if n.transport != nil {
		storeOpts = append(storeOpts, objects.WithStreams(n.transport))
	}
	spawns = append(spawns,
		spawn{objects.StoreProcessID, n.guarded("store", objects.StoreActorFor(store, n.ID, storeOpts...))},
		spawn{objects.DirectoryProcessID, n.guarded("directory", objects.DirectoryFor(nil))},
		spawn{RayletProcessID, NewRaylet(n.Env, total, n.Placement, n.GCS, n.guard("raylet"), n.declaredDead)})
	n.head = head
	abort := func(err error) (*Node, error) {
		if n.stopNet != nil {
			n.stopNet(context.Background())
		}
		n.System.Shutdown()
		return nil, err
	}
	for _, s := range spawns {
		if _, err := root.SpawnNamed(s.props, s.id); err != nil {
			return abort(fmt.Errorf("starting %s: %w", s.id, err))
		}
	}
	if n.transport != nil {
		// Other stores pull chunks of this node's objects over streams.
		if err := n.transport.ServeStreams(objects.ServeChunks(root, n.Store)); err != nil {
			return abort(fmt.Errorf("serving object streams: %w", err))
		}
	}
	// A call sent to a host that has stopped reaches no process: the raylet
	// answers it, so its caller is never left waiting.
	// (Not when the raylet itself has stopped: its dead letter would come
	// straight back here.)
	n.System.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok && !n.Raylet.Equal(dl.PID) {
			if call, ok := dl.Message.(*pb.ActorCall); ok {
				root.Send(n.Raylet, call)
			}
		}
	})
	n.info = &pb.NodeInfo{
		NodeId: n.ID, Address: addr, Total: placement.ToWire(total), Available: placement.ToWire(total),
		Labels: cfg.Labels, Raylet: actors.WirePID(n.Raylet), Store: actors.WirePID(n.Store),
		Directory: actors.WirePID(n.Directory), Core: actors.WirePID(n.OwnerPID), Alive: true,
	}
	n.info.Role = pb.NodeRole_NODE_ROLE_HEAD
	if net != nil {
		n.info.Fingerprint = net.Fingerprint
		n.info.Gossip = n.address
		n.info.Role = nodeRole(net)
		go n.watchMembers()
	}
	root.Send(n.GCS, n.info)
	return n, nil
}

// Address returns where other nodes join this node's cluster (its gossip
// address), or "" for an embedded node.
func (n *Node) Address() string { return n.address }

// Stop stops every actor of the node and removes its spill files. The GCS
// stops first, so no new actor is placed while the raylet stops. A node on
// the network then leaves the cluster and stops messaging, within ctx: past
// it, the others may see the node dead rather than gone. Stopping again
// returns the first stop's outcome.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() { n.stopErr = n.stop(ctx) })
	return n.stopErr
}

func (n *Node) stop(ctx context.Context) error {
	root := n.System.Root
	var errs []error
	pids := []*actor.PID{n.Raylet, n.Directory, n.Store}
	if n.head {
		pids = append([]*actor.PID{n.GCS, n.Placement}, pids...)
	} else if n.info != nil {
		// The head forgets this node at once, rather than when its
		// membership notices.
		left := proto.Clone(n.info).(*pb.NodeInfo)
		left.Alive = false
		root.Send(n.GCS, left)
	}
	for _, pid := range pids {
		if err := waitFuture(ctx, root.StopFuture(pid)); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", pid.Id, err))
		}
	}
	if n.stopNet != nil {
		n.stopNet(ctx)
	}
	n.System.Shutdown()
	n.Env.Pool.Close()
	n.ballast = nil
	if n.ownsSpill {
		if err := os.RemoveAll(n.spillDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitFuture waits for f within ctx (f has its own 10 s limit too).
func waitFuture(ctx context.Context, f *actor.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
