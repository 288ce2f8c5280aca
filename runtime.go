package goray

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/cluster"
	"github.com/goray-dev/goray/objects"
	pb "github.com/goray-dev/goray/proto"
)

// runtime is one process's connection to goray: its node and the owner of
// the objects it creates. The context carries it into every call.
type runtime struct {
	node      *cluster.Node
	root      *actor.RootContext
	ids       *objects.IDGen
	owner     *objects.Owner
	ownerPID  *pb.Pid
	jobID     string
	namespace string
	logger    *slog.Logger
	inline    int
	closed    atomic.Bool
}

type runtimeKey struct{}
type callKey struct{}

// config collects Init's options.
type config struct {
	node      cluster.Config
	namespace string
	err       error
}

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
func WithCPUs(n float64) InitOption { return WithResources(map[string]float64{"CPU": n}) }

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

// WithRestartBackoff sets the delay before an actor's first restart; it
// doubles on each further restart (default 10ms).
func WithRestartBackoff(d time.Duration) InitOption {
	return func(c *config) { c.node.RestartBackoff = d }
}

// Init starts goray in this process as an embedded single-node cluster and
// returns a context that carries the runtime: pass it (or contexts derived
// from it) to every goray call. Call Shutdown when done.
//
// A registration that failed (a duplicate name, say) is logged here as a
// warning; every call of that definition fails with the registration error.
func Init(ctx context.Context, opts ...InitOption) (context.Context, error) {
	cfg := config{namespace: "default"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		return ctx, cfg.err
	}
	rt := &runtime{ids: objects.NewIDGen(), namespace: cfg.namespace, jobID: cluster.NewNodeID()}
	cfg.node.Registry = actors.Default
	cfg.node.WrapContext = rt.wrapContext
	node, err := cluster.StartEmbedded(cfg.node)
	if err != nil {
		return ctx, fmt.Errorf("goray: starting node: %w", err)
	}
	rt.node, rt.root, rt.owner = node, node.System.Root, node.Owner
	rt.ownerPID = actors.WirePID(node.OwnerPID)
	rt.logger = node.Env.Logger
	rt.inline = node.Env.InlineLimit
	if err := actors.Default.Err(); err != nil {
		rt.logger.Warn("goray: some registrations failed; calling them fails", "error", err)
	}
	rt.owner.Stored = func(s *objects.Slot) {
		_, storeNode, size, _, _ := s.Value()
		rt.root.Send(node.Directory, &pb.AddObject{ObjectId: s.ID[:], Size: size, NodeId: storeNode})
		rt.storedHandle(s)
	}
	rt.owner.Abandoned = func(id objects.ID) {
		rt.root.Send(node.Store, &pb.DeleteObjects{ObjectIds: [][]byte{id[:]}})
	}
	job := &pb.JobInfo{JobId: rt.jobID, DriverNode: node.ID, StartUnixMs: time.Now().UnixMilli()}
	if _, err := rt.request(ctx, node.GCS, &pb.RegisterJob{Job: job}); err != nil {
		_ = node.Stop(ctx)
		return ctx, fmt.Errorf("goray: registering job: %w", err)
	}
	return context.WithValue(ctx, runtimeKey{}, rt), nil
}

// Shutdown ends the job: its actors that are not detached are killed, and
// the embedded node stops. Refs of this runtime fail with ErrShutdown after.
func Shutdown(ctx context.Context) error {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return err
	}
	if !rt.closed.CompareAndSwap(false, true) {
		return nil
	}
	_, ferr := rt.request(ctx, rt.node.GCS, &pb.FinishJob{JobId: rt.jobID})
	rt.owner.FailAll(&pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: "runtime shut down before the result arrived"})
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
	if rt.closed.Load() {
		return nil, ErrShutdown
	}
	return rt, nil
}

// callContext is the context user code runs with: its parent plus the
// runtime and the call, in one allocation.
type callContext struct {
	context.Context
	rt   *runtime
	info actors.CallInfo
}

func (c *callContext) Value(key any) any {
	switch key.(type) {
	case runtimeKey:
		return c.rt
	case callKey:
		return &c.info
	}
	return c.Context.Value(key)
}

// wrapContext gives user code a context with the runtime and its call.
func (rt *runtime) wrapContext(ctx context.Context, info actors.CallInfo) context.Context {
	return &callContext{Context: ctx, rt: rt, info: info}
}

func callOf(ctx context.Context) *actors.CallInfo {
	info, _ := ctx.Value(callKey{}).(*actors.CallInfo)
	return info
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
}

// ObjectStoreStats returns the local node's object store counters.
func ObjectStoreStats(ctx context.Context) (StoreStats, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return StoreStats{}, err
	}
	reply, err := rt.request(ctx, rt.node.Store, &pb.GetStoreStats{})
	if err != nil {
		return StoreStats{}, err
	}
	s, ok := reply.(*pb.StoreStats)
	if !ok {
		return StoreStats{}, fmt.Errorf("%w: unexpected reply %T", ErrSystem, reply)
	}
	return StoreStats{
		Objects: s.Objects, InMemory: s.InMemory, Spilled: s.Spilled,
		UsedBytes: s.UsedBytes, SpilledBytes: s.SpilledBytes, Capacity: s.Capacity,
		SpillCount: s.SpillCount, RestoreCount: s.RestoreCount,
	}, nil
}

// request sends a request to a system actor and waits for the reply, within
// ctx's deadline (a minute when it has none) and its cancellation.
func (rt *runtime) request(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	timeout := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
		}
	}
	f := rt.root.RequestFuture(pid, msg, timeout)
	if ctx.Done() == nil {
		return rt.futureResult(f)
	}
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := rt.futureResult(f)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctxError(ctx)
	}
}

func (rt *runtime) futureResult(f *actor.Future) (any, error) {
	v, err := f.Result()
	switch {
	case err == actor.ErrTimeout:
		return nil, fmt.Errorf("%w: waiting for %s", ErrTimeout, f.PID())
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrSystem, err)
	}
	return v, nil
}

func ctxError(ctx context.Context) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
	return fmt.Errorf("goray: %w", context.Cause(ctx))
}
