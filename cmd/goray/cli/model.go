package cli

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/goray-dev/goray"
)

// The JSON shapes of status, list and get. Field names are part of the
// command line's interface: scripts read them.

// nodeView is a node as status shows it.
type nodeView struct {
	NodeID string `json:"node_id"`
	// Address is where the node gossips: any node's is an address to join
	// the cluster at, or to ask it (--address).
	Address   string             `json:"address"`
	State     string             `json:"state"` // ALIVE or DEAD
	Total     map[string]float64 `json:"total"`
	Available map[string]float64 `json:"available"`
	Labels    map[string]string  `json:"labels"`
	head      bool               // the node is (or was) a head
}

// listedNode is a node as list nodes shows it: with its role.
type listedNode struct {
	nodeView
	Role string `json:"role"` // head, worker or driver
}

// demand is work waiting for resources: tasks of one resource shape in one
// state, pending actors of one type, or a placement group, each with the
// reason it waits.
type demand struct {
	Kind      string             `json:"kind"`                // task, actor or placement_group
	Resources map[string]float64 `json:"resources,omitempty"` // what it asks (a group: its bundles' sum)
	Type      string             `json:"type,omitempty"`      // an actor's type, a group's name or ID
	State     string             `json:"state"`               // QUEUED, WAITING_FOR_NODE, PENDING, RESCHEDULING or INFEASIBLE
	Reason    string             `json:"reason,omitempty"`
	Count     int                `json:"count"`
}

// demands splits waiting work into what may run once resources free up,
// and what no live node has the resources for.
type demands struct {
	Pending    []demand `json:"pending"`
	Infeasible []demand `json:"infeasible"`
}

// usage sums the resources of the live nodes.
type usage struct {
	Total map[string]float64 `json:"total"`
	Used  map[string]float64 `json:"used"`
}

// statusReport is what status shows.
type statusReport struct {
	// HeadAddress is the address status asked the cluster at.
	HeadAddress string     `json:"head_address"`
	Nodes       []nodeView `json:"nodes"`
	Resources   usage      `json:"resources"`
	Demands     demands    `json:"demands"`
	// Unreachable lists live nodes that did not say what tasks they hold
	// in time; the task demands leave theirs out.
	Unreachable []unreachableNode `json:"unreachable"`
	Warnings    []string          `json:"warnings"`
}

// unreachableNode is a live node that did not answer.
type unreachableNode struct {
	NodeID  string `json:"node_id"`
	Address string `json:"address"`
	Role    string `json:"role"` // head, worker or driver
	Error   string `json:"error"`
}

type actorView struct {
	ActorID    string `json:"actor_id"`
	Type       string `json:"type"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	NodeID     string `json:"node_id"`
	State      string `json:"state"` // PENDING, ALIVE, RESTARTING or DEAD
	Restarts   int    `json:"restarts"`
	Detached   bool   `json:"detached"`
	DeathCause string `json:"death_cause"`
	// Resources is what the actor holds of its node while it lives.
	Resources map[string]float64 `json:"resources"`
}

type taskView struct {
	TaskID    string             `json:"task_id"`
	Function  string             `json:"function"`
	Name      string             `json:"name"`
	NodeID    string             `json:"node_id"`
	JobID     string             `json:"job_id"`
	State     string             `json:"state"` // RUNNING, QUEUED or WAITING_FOR_NODE
	Resources map[string]float64 `json:"resources"`
	Attempt   int                `json:"attempt"`
}

type jobView struct {
	JobID      string     `json:"job_id"`
	DriverNode string     `json:"driver_node_id"`
	Status     string     `json:"status"` // RUNNING or FINISHED
	Start      time.Time  `json:"start_time"`
	End        *time.Time `json:"end_time"`
}

// groupView is a placement group as listed.
type groupView struct {
	GroupID     string       `json:"placement_group_id"`
	Name        string       `json:"name"`
	Namespace   string       `json:"namespace"`
	Strategy    string       `json:"strategy"` // PACK, SPREAD, STRICT_PACK or STRICT_SPREAD
	State       string       `json:"state"`    // PENDING, CREATED, RESCHEDULING, INFEASIBLE or REMOVED
	Reason      string       `json:"reason,omitempty"`
	Bundles     []bundleView `json:"bundles"`
	Detached    bool         `json:"detached"`
	Reschedules int          `json:"reschedules"`
}

type bundleView struct {
	Resources map[string]float64 `json:"resources"`
	Node      string             `json:"node_id"` // "" while unplaced
}

type storeView struct {
	NodeID       string `json:"node_id"`
	Objects      int64  `json:"objects"`
	InMemory     int64  `json:"in_memory"`
	Spilled      int64  `json:"spilled"`
	UsedBytes    int64  `json:"used_bytes"`
	SpilledBytes int64  `json:"spilled_bytes"`
	Capacity     int64  `json:"capacity"`
	SpillCount   uint64 `json:"spill_count"`
	RestoreCount uint64 `json:"restore_count"`
}

// isCLI reports whether a node is one of the CLI's own short-lived drivers.
func isCLI(n goray.NodeInfo) bool { return n.Labels[cliLabel] != "" }

func viewNode(n goray.NodeInfo) nodeView {
	state := "DEAD"
	if n.Alive {
		state = "ALIVE"
	}
	return nodeView{NodeID: n.ID, Address: cmp.Or(n.GossipAddress, n.Address), State: state,
		Total: orEmpty(n.Total), Available: orEmpty(n.Available), Labels: orEmptyLabels(n.Labels), head: n.Role == "head"}
}

// used returns total − available per resource of a live node.
func (v nodeView) used() map[string]float64 {
	u := map[string]float64{}
	for k, t := range v.Total {
		u[k] = max(t-v.Available[k], 0)
	}
	return u
}

// buildStatus makes status's report from what the cluster said. Drivers
// are left out: they offer no resources.
func buildStatus(head string, nodes []goray.NodeInfo, tasks []goray.TaskInfo, actors []goray.ActorInfo, groups []goray.PlacementGroupInfo) statusReport {
	r := statusReport{HeadAddress: head, Nodes: []nodeView{},
		Resources: usage{Total: map[string]float64{}, Used: map[string]float64{}},
		Demands:   demands{Pending: []demand{}, Infeasible: []demand{}}, Unreachable: []unreachableNode{}, Warnings: []string{}}
	var live []nodeView
	for _, n := range nodes {
		if n.Role == "driver" {
			continue
		}
		v := viewNode(n)
		r.Nodes = append(r.Nodes, v)
		if n.Alive {
			live = append(live, v)
			for k, t := range v.Total {
				r.Resources.Total[k] += t
			}
			for k, u := range v.used() {
				r.Resources.Used[k] += u
			}
		}
	}
	// Live nodes first, the head first among them, then by address.
	slices.SortStableFunc(r.Nodes, func(a, b nodeView) int {
		return cmp.Or(cmp.Compare(a.State, b.State), -cmpBool(a.head, b.head), cmp.Compare(a.Address, b.Address))
	})

	byKey := map[string]*demand{}
	infeasible := map[string]bool{}
	var keys []string
	add := func(key string, d demand, inf bool) {
		if e := byKey[key]; e != nil {
			e.Count++
			return
		}
		d.Count = 1
		byKey[key] = &d
		infeasible[key] = inf
		keys = append(keys, key)
	}
	for _, t := range tasks {
		if t.State != "QUEUED" && t.State != "WAITING_FOR_NODE" {
			continue
		}
		shape := orEmpty(t.Resources)
		add("task "+formatResources(shape)+" "+t.State+" "+t.Reason, demand{Kind: "task", Resources: shape, State: t.State, Reason: t.Reason}, !fitsAny(shape, live))
	}
	for _, a := range actors {
		if a.State == "PENDING" {
			shape := orEmpty(a.Resources)
			add("actor "+a.TypeName+" "+formatResources(shape)+" "+a.PendingReason,
				demand{Kind: "actor", Type: a.TypeName, Resources: shape, State: a.State, Reason: a.PendingReason}, !fitsAny(shape, live))
		}
	}
	for _, g := range groups {
		if g.State != goray.GroupPending && g.State != goray.GroupRescheduling && g.State != goray.GroupInfeasible {
			continue
		}
		sum := map[string]float64{}
		for _, b := range g.Bundles {
			for k, v := range b {
				sum[k] += v
			}
		}
		add("placement_group "+g.ID, demand{Kind: "placement_group", Type: cmp.Or(g.Name, g.ID), Resources: sum, State: string(g.State), Reason: g.Reason},
			g.State == goray.GroupInfeasible)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if infeasible[k] {
			r.Demands.Infeasible = append(r.Demands.Infeasible, *byKey[k])
		} else {
			r.Demands.Pending = append(r.Demands.Pending, *byKey[k])
		}
	}
	return r
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// fitsAny reports whether some live node has in total what shape asks.
func fitsAny(shape map[string]float64, live []nodeView) bool {
	for _, n := range live {
		fits := true
		for k, v := range shape {
			if v > n.Total[k]+1e-9 {
				fits = false
				break
			}
		}
		if fits {
			return true
		}
	}
	return false
}

func viewActor(a goray.ActorInfo) actorView {
	return actorView{ActorID: a.ID, Type: a.TypeName, Name: a.Name, Namespace: a.Namespace, NodeID: a.NodeID,
		State: a.State, Restarts: a.Restarts, Detached: a.Detached, DeathCause: a.DeathCause, Resources: orEmpty(a.Resources)}
}

func viewTask(t goray.TaskInfo) taskView {
	return taskView{TaskID: t.ID, Function: t.Function, Name: t.Name, NodeID: t.NodeID, JobID: t.JobID,
		State: t.State, Resources: orEmpty(t.Resources), Attempt: t.Attempt}
}

func viewJob(j goray.JobInfo) jobView {
	v := jobView{JobID: j.ID, DriverNode: j.DriverNode, Status: "RUNNING", Start: j.Start}
	if !j.End.IsZero() {
		end := j.End
		v.End, v.Status = &end, "FINISHED"
	}
	return v
}

func viewGroup(g goray.PlacementGroupInfo) groupView {
	v := groupView{GroupID: g.ID, Name: g.Name, Namespace: g.Namespace, Strategy: g.Strategy.String(), State: string(g.State),
		Reason: g.Reason, Detached: g.Detached, Reschedules: g.Reschedules, Bundles: make([]bundleView, len(g.Bundles))}
	for i, b := range g.Bundles {
		v.Bundles[i].Resources = b
		if i < len(g.BundleNodes) {
			v.Bundles[i].Node = g.BundleNodes[i]
		}
	}
	return v
}

func viewStores(stats map[string]goray.StoreStats) []storeView {
	out := []storeView{}
	for _, id := range slices.Sorted(maps.Keys(stats)) {
		s := stats[id]
		out = append(out, storeView{NodeID: id, Objects: s.Objects, InMemory: s.InMemory, Spilled: s.Spilled,
			UsedBytes: s.UsedBytes, SpilledBytes: s.SpilledBytes, Capacity: s.Capacity,
			SpillCount: s.SpillCount, RestoreCount: s.RestoreCount})
	}
	return out
}

func orEmpty(m map[string]float64) map[string]float64 {
	if m == nil {
		return map[string]float64{}
	}
	return m
}

func orEmptyLabels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
