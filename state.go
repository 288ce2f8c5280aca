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
	ID, Address string
	Alive       bool
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
		info := NodeInfo{ID: n.NodeId, Address: n.Address, Alive: n.Alive, Total: floats(n.Total), Labels: maps.Clone(n.Labels)}
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
// and waiting to run. Finished tasks are not kept.
func ListTasks(ctx context.Context) ([]TaskInfo, error) {
	rt, err := runtimeOf(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := listNodes(ctx, rt, rt.node.GCS)
	if err != nil {
		return nil, err
	}
	var out []TaskInfo
	for _, n := range nodes {
		if !n.Alive || n.Raylet == nil {
			continue
		}
		reply, err := rt.request(ctx, actors.PID(n.Raylet), &pb.ListTasks{})
		if err != nil {
			return nil, fmt.Errorf("listing the tasks of node %s: %w", n.NodeId, err)
		}
		r, ok := reply.(*pb.ListTasksReply)
		if !ok {
			return nil, fmt.Errorf("%w: listing tasks: unexpected reply %T", ErrSystem, reply)
		}
		for _, t := range r.Tasks {
			out = append(out, TaskInfo{ID: fmt.Sprintf("%x", t.TaskId), Function: t.Function, Name: t.Name, NodeID: t.NodeId,
				JobID: t.JobId, State: strings.TrimPrefix(t.State.String(), "TASK_STATE_"), Resources: floats(t.Resources), Attempt: int(t.Attempt), Reason: t.Reason})
		}
	}
	return out, nil
}
