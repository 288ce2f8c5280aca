package goray

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// NodeInfo describes a node of the cluster.
type NodeInfo struct {
	// Address is where the node's actor system listens; GossipAddress is
	// where it gossips: the address others join the cluster at (what
	// WithAddress takes; empty for an embedded node).
	ID, Address, GossipAddress string
	// Role is "head", "worker" or "driver" (a process that joined with
	// Init to submit work).
	Role  string
	Alive bool
	// Total is what the node has; Available what it has free now (for a
	// live node, as its last report said).
	Total, Available map[string]float64
	Labels           map[string]string
}

// Nodes returns every node the cluster knows, dead ones included, sorted by
// ID (Ray's ray.nodes()).
func Nodes(ctx context.Context) ([]NodeInfo, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return nil, err
	}
	known, err := listNodes(ctx, rt, rt.node.GCS)
	if err != nil {
		return nil, err
	}
	live, err := listNodes(ctx, rt, rt.node.Placement)
	if err != nil {
		return nil, err
	}
	free := map[string]map[string]int64{}
	for _, n := range live {
		free[n.NodeId] = n.Available
	}
	out := make([]NodeInfo, 0, len(known))
	for _, n := range known {
		info := NodeInfo{ID: n.NodeId, Address: n.Address, GossipAddress: n.Gossip, Role: roleName(n.Role), Alive: n.Alive,
			Total: floats(n.Total), Labels: maps.Clone(n.Labels)}
		if a, ok := free[n.NodeId]; ok && n.Alive {
			info.Available = floats(a)
		} else {
			info.Available = map[string]float64{}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b NodeInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// roleName returns a node role as NodeInfo.Role has it.
func roleName(r pb.NodeRole) string {
	if r == pb.NodeRole_NODE_ROLE_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(r.String(), "NODE_ROLE_"))
}

// ClusterResources returns the total resources of the cluster's live nodes
// (Ray's cluster_resources()).
func ClusterResources(ctx context.Context) (map[string]float64, error) {
	return sumNodes(ctx, func(n NodeInfo) map[string]float64 { return n.Total })
}

// AvailableResources returns the resources the cluster's live nodes have
// free now (Ray's available_resources()).
func AvailableResources(ctx context.Context) (map[string]float64, error) {
	return sumNodes(ctx, func(n NodeInfo) map[string]float64 { return n.Available })
}

func sumNodes(ctx context.Context, of func(NodeInfo) map[string]float64) (map[string]float64, error) {
	nodes, err := Nodes(ctx)
	if err != nil {
		return nil, err
	}
	sum := map[string]float64{}
	for _, n := range nodes {
		if n.Alive {
			for k, v := range of(n) {
				sum[k] += v
			}
		}
	}
	return sum, nil
}

// listNodes asks a GCS or placement actor for the nodes it knows.
func listNodes(ctx context.Context, rt *runtime, pid *actor.PID) ([]*pb.NodeInfo, error) {
	reply, err := rt.request(ctx, pid, &pb.ListNodes{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	r, ok := reply.(*pb.ListNodesReply)
	if !ok {
		return nil, fmt.Errorf("%w: listing nodes: unexpected reply %T", ErrSystem, reply)
	}
	return r.Nodes, nil
}

// floats converts wire amounts to natural units.
func floats(m map[string]int64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = placement.Quantity(v).Float()
	}
	return out
}

// JobInfo describes a job: a driver's run.
type JobInfo struct {
	ID, DriverNode string
	Start, End     time.Time // End is zero while the job runs
}

// ListJobs returns every job the cluster knows.
func ListJobs(ctx context.Context) ([]JobInfo, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return nil, err
	}
	reply, err := rt.request(ctx, rt.node.GCS, &pb.ListJobs{})
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	r, ok := reply.(*pb.ListJobsReply)
	if !ok {
		return nil, fmt.Errorf("%w: listing jobs: unexpected reply %T", ErrSystem, reply)
	}
	out := make([]JobInfo, 0, len(r.Jobs))
	for _, j := range r.Jobs {
		info := JobInfo{ID: j.JobId, DriverNode: j.DriverNode, Start: time.UnixMilli(j.StartUnixMs)}
		if j.EndUnixMs != 0 {
			info.End = time.UnixMilli(j.EndUnixMs)
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b JobInfo) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// TaskInfo describes a task a node holds.
type TaskInfo struct {
	ID, Function, Name, NodeID, JobID string
	// State is RUNNING, QUEUED (waiting for resources on its node) or
	// WAITING_FOR_NODE (only another node could run it; none has room).
	State     string
	Resources map[string]float64
	Attempt   int
	// Reason says why a task that is not running waits.
	Reason string
}

// ListTasks returns the tasks the cluster's live nodes hold now: running,
// and waiting to run. Finished tasks are not kept. The nodes are asked in
// parallel; when some fail or do not answer before ctx ends, ListTasks
// returns the others' tasks and a NodeErrors naming those nodes.
func ListTasks(ctx context.Context) ([]TaskInfo, error) {
	replies, err := askLiveNodes[*pb.ListTasksReply](ctx, func(n *pb.NodeInfo) *pb.Pid { return n.Raylet }, &pb.ListTasks{})
	if replies == nil {
		return nil, err
	}
	var out []TaskInfo
	for _, reply := range replies {
		for _, t := range reply.Tasks {
			out = append(out, TaskInfo{ID: fmt.Sprintf("%x", t.TaskId), Function: t.Function, Name: t.Name, NodeID: t.NodeId,
				JobID: t.JobId, State: strings.TrimPrefix(t.State.String(), "TASK_STATE_"), Resources: floats(t.Resources), Attempt: int(t.Attempt), Reason: t.Reason})
		}
	}
	return out, err
}

// NodeErrors reports the nodes that failed or did not answer a question put
// to every live node (ListTasks, ClusterStoreStats), by node ID. The
// question's result still holds what the other nodes said. Each error wraps
// a sentinel (ErrTimeout for a node that did not answer in time).
type NodeErrors map[string]error

func (e NodeErrors) Error() string {
	parts := make([]string, 0, len(e))
	for _, id := range slices.Sorted(maps.Keys(e)) {
		parts = append(parts, "node "+id+": "+e[id].Error())
	}
	noun := "nodes"
	if len(e) == 1 {
		noun = "node"
	}
	return fmt.Sprintf("goray: %d %s did not answer: %s", len(e), noun, strings.Join(parts, "; "))
}

// Unwrap returns the nodes' errors, so that errors.Is sees their sentinels.
func (e NodeErrors) Unwrap() []error {
	out := make([]error, 0, len(e))
	for _, id := range slices.Sorted(maps.Keys(e)) {
		out = append(out, e[id])
	}
	return out
}

// askLiveNodes asks every live node the GCS knows, in parallel, through the
// actor pidOf names (nodes without one are skipped), and returns the replies
// by node ID. A node whose request fails or outlasts ctx gets an entry in
// the NodeErrors returned beside the others' replies; the replies are nil
// only when the GCS could not be asked. msg is only read.
func askLiveNodes[R any](ctx context.Context, pidOf func(*pb.NodeInfo) *pb.Pid, msg any) (map[string]R, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := listNodes(ctx, rt, rt.node.GCS)
	if err != nil {
		return nil, err
	}
	type answer struct {
		node  string
		reply any
		err   error
	}
	answers := make(chan answer)
	asked := 0
	for _, n := range nodes {
		pid := pidOf(n)
		if !n.Alive || pid == nil {
			continue
		}
		asked++
		go func() {
			reply, err := rt.request(ctx, actors.PID(pid), msg)
			answers <- answer{n.NodeId, reply, err}
		}()
	}
	replies := make(map[string]R, asked)
	errs := NodeErrors{}
	for range asked {
		a := <-answers
		r, ok := a.reply.(R)
		switch {
		case a.err != nil:
			errs[a.node] = a.err
		case !ok:
			errs[a.node] = fmt.Errorf("%w: unexpected reply %T", ErrSystem, a.reply)
		default:
			replies[a.node] = r
		}
	}
	if len(errs) > 0 {
		return replies, errs
	}
	return replies, nil
}
