package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// A cluster as the root API describes it: a head, a worker, a dead worker,
// the node of a job's driver and that of a CLI query.
func fixture() ([]goray.NodeInfo, []goray.TaskInfo, []goray.ActorInfo) {
	nodes := []goray.NodeInfo{
		{ID: "aa", Role: "worker", Address: "10.0.0.2:5001", GossipAddress: "10.0.0.2:5000", Alive: true, Total: map[string]float64{"CPU": 4, "slot": 1},
			Available: map[string]float64{"CPU": 1, "slot": 0}, Labels: map[string]string{"zone": "b"}},
		{ID: "cc", Role: "worker", Address: "10.0.0.1:5001", GossipAddress: "10.0.0.1:5000", Alive: false, Total: map[string]float64{"CPU": 8}, Available: map[string]float64{}},
		{ID: "bb", Role: "head", Address: "10.0.0.1:4000", GossipAddress: "10.0.0.1:6379", Alive: true, Total: map[string]float64{"CPU": 2}, Available: map[string]float64{"CPU": 2}},
		{ID: "dd", Role: "driver", Address: "10.0.0.9:4000", GossipAddress: "10.0.0.9:4002", Alive: true, Total: map[string]float64{}, Available: map[string]float64{}},
		{ID: "ee", Role: "driver", Address: "10.0.0.9:4001", GossipAddress: "10.0.0.9:4003", Alive: true, Labels: map[string]string{cliLabel: "true"}},
	}
	tasks := []goray.TaskInfo{
		{ID: "t1", State: "RUNNING", Resources: map[string]float64{"CPU": 1, "slot": 1}},
		{ID: "t2", State: "QUEUED", Resources: map[string]float64{"CPU": 1, "slot": 1}},
		{ID: "t3", State: "QUEUED", Resources: map[string]float64{"CPU": 1, "slot": 1}},
		{ID: "t4", State: "WAITING_FOR_NODE", Resources: map[string]float64{"CPU": 1, "slot": 1}},
		{ID: "t5", State: "WAITING_FOR_NODE", Resources: map[string]float64{"CPU": 6}}, // only the dead node had 8
	}
	actors := []goray.ActorInfo{
		{ID: "a1", TypeName: "counter", State: "PENDING", Resources: map[string]float64{"slot": 1}},
		{ID: "a2", TypeName: "counter", State: "PENDING", Resources: map[string]float64{"slot": 1}},
		{ID: "a3", TypeName: "counter", State: "ALIVE"},
		{ID: "a4", TypeName: "ps", State: "PENDING"},
		{ID: "a5", TypeName: "ps", State: "PENDING", Resources: map[string]float64{"GPU": 1}}, // no node has one
	}
	return nodes, tasks, actors
}

// status --output json: field names are an interface; check them exactly.
func TestStatusJSON(t *testing.T) {
	nodes, tasks, actors := fixture()
	r := buildStatus("10.0.0.1:6379", nodes, tasks, actors, nil)
	var buf bytes.Buffer
	if err := writeJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(top)), []string{"demands", "head_address", "nodes", "resources", "unreachable", "warnings"}; !slices.Equal(got, want) {
		t.Fatalf("top-level keys %v, want %v", got, want)
	}
	var views []map[string]any
	if err := json.Unmarshal(top["nodes"], &views); err != nil {
		t.Fatal(err)
	}
	if len(views) != 3 {
		t.Fatalf("%d nodes, want head, worker and dead worker (no drivers):\n%s", len(views), buf.String())
	}
	for _, n := range views {
		if got, want := slices.Sorted(maps.Keys(n)), []string{"address", "available", "labels", "node_id", "state", "total"}; !slices.Equal(got, want) {
			t.Fatalf("node keys %v, want %v", got, want)
		}
	}
	var ids, states []string
	for _, n := range views {
		ids = append(ids, n["node_id"].(string))
		states = append(states, n["state"].(string))
	}
	if !slices.Equal(ids, []string{"bb", "aa", "cc"}) || !slices.Equal(states, []string{"ALIVE", "ALIVE", "DEAD"}) {
		t.Fatalf("nodes %v %v, want the head first, then alive, then dead", ids, states)
	}
	if addr := views[0]["address"]; addr != "10.0.0.1:6379" {
		t.Fatalf("the head's address %v, want its gossip address", addr)
	}
	if lbl := views[1]["labels"].(map[string]any); lbl["zone"] != "b" {
		t.Fatalf("labels %v", lbl)
	}
	if lbl, ok := views[0]["labels"].(map[string]any); !ok || len(lbl) != 0 {
		t.Fatalf("a node without labels has labels %v, want {}", views[0]["labels"])
	}

	// Usage sums the live nodes: used = total − available.
	if want := (usage{Total: map[string]float64{"CPU": 6, "slot": 1}, Used: map[string]float64{"CPU": 3, "slot": 1}}); !maps.Equal(r.Resources.Total, want.Total) || !maps.Equal(r.Resources.Used, want.Used) {
		t.Fatalf("resources %+v, want %+v", r.Resources, want)
	}

	var d map[string][]map[string]any
	if err := json.Unmarshal(top["demands"], &d); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(d)); !slices.Equal(got, []string{"infeasible", "pending"}) {
		t.Fatalf("demand keys %v", got)
	}
	type row struct {
		kind, what, state string
		count             int
	}
	rows := func(ds []demand) []row {
		var out []row
		for _, x := range ds {
			what := x.Type
			if x.Kind == "task" {
				what = formatResources(x.Resources)
			}
			out = append(out, row{x.Kind, what, x.State, x.Count})
		}
		return out
	}
	wantPending := []row{
		{"actor", "counter", "PENDING", 2},
		{"actor", "ps", "PENDING", 1},
		{"task", "CPU 1, slot 1", "QUEUED", 2},
		{"task", "CPU 1, slot 1", "WAITING_FOR_NODE", 1},
	}
	if got := rows(r.Demands.Pending); !slices.Equal(got, wantPending) {
		t.Fatalf("pending %v\nwant %v", got, wantPending)
	}
	if got := rows(r.Demands.Infeasible); !slices.Equal(got, []row{{"actor", "ps", "PENDING", 1}, {"task", "CPU 6", "WAITING_FOR_NODE", 1}}) {
		t.Fatalf("infeasible %v", got)
	}
	for _, x := range d["pending"] {
		if got := slices.Sorted(maps.Keys(x)); !slices.Equal(got, []string{"count", "kind", "state", "type"}) &&
			!slices.Equal(got, []string{"count", "kind", "resources", "state", "type"}) && !slices.Equal(got, []string{"count", "kind", "resources", "state"}) {
			t.Fatalf("demand keys %v", got)
		}
	}

	// An empty cluster gives arrays, not nulls.
	buf.Reset()
	if err := writeJSON(&buf, buildStatus("h:1", nil, nil, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); strings.Contains(s, "null") {
		t.Fatalf("empty status has nulls:\n%s", s)
	}
}

func TestStatusTable(t *testing.T) {
	nodes, tasks, actors := fixture()
	r := buildStatus("10.0.0.1:6379", nodes, tasks, actors, nil)
	r.Unreachable = []unreachableNode{{NodeID: "aa", Address: "10.0.0.2:5000", Role: "worker", Error: "goray: timeout"}}
	var buf bytes.Buffer
	if err := printStatus(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Cluster at 10.0.0.1:6379: 2 nodes alive, 1 dead",
		"NODE ID  ADDRESS               STATE  RESOURCES (USED/TOTAL)\n" +
			"bb       10.0.0.1:6379 (head)  ALIVE  CPU 0/2\n" +
			"aa       10.0.0.2:5000         ALIVE  CPU 3/4, slot 1/1\n" +
			"cc       10.0.0.1:5000         DEAD   CPU 8\n",
		"  CPU   3/6",
		"{CPU 1, slot 1}: 2 tasks queued",
		"counter: 2 actors pending",
		"Infeasible demands",
		"{CPU 6}: 1 task waiting for a node with room",
		"Alive but not answering: aa (worker, 10.0.0.2:5000)",
		"ps: 1 actor pending",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// With a node that does not answer, tasks were not listed: status does not
// claim that none wait.
func TestStatusTableUnknownTasks(t *testing.T) {
	r := buildStatus("h:1", nil, nil, nil, nil)
	var buf bytes.Buffer
	if err := printStatus(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "(no tasks or actors waiting for resources)") {
		t.Fatalf("status of an idle cluster:\n%s", buf.String())
	}
	r.Unreachable = []unreachableNode{{NodeID: "ee", Address: "h:2", Role: "driver"}}
	buf.Reset()
	if err := printStatus(&buf, r); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "task demands unknown") || strings.Contains(out, "no tasks or actors") {
		t.Fatalf("status with a silent node:\n%s", out)
	}
}

func TestFindActor(t *testing.T) {
	infos := []goray.ActorInfo{
		{ID: "01", Name: "ps", Namespace: "default", State: "DEAD"},
		{ID: "02", Name: "ps", Namespace: "default", State: "ALIVE"},
		{ID: "03", Name: "ps", Namespace: "other", State: "ALIVE"},
		{ID: "04", Name: "old", Namespace: "default", State: "DEAD"},
		{ID: "05", Name: "twice", Namespace: "a", State: "DEAD"},
		{ID: "06", Name: "twice", Namespace: "b", State: "DEAD"},
	}
	for _, c := range []struct{ key, ns, want, err string }{
		{key: "01", want: "01"},
		{key: "ps", ns: "default", want: "02"}, // the live one
		{key: "ps", ns: "other", want: "03"},
		{key: "old", want: "04"}, // dead, but the only one
		{key: "ps", err: "2 actors are named"},
		{key: "twice", err: "give an ID, or --namespace"},
		{key: "nope", err: "no actor"},
		{key: "old", ns: "other", err: "in namespace other"},
	} {
		got, err := findActor(infos, c.key, c.ns)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("findActor(%q, %q) = %v, %v; want an error with %q", c.key, c.ns, got.ActorID, err, c.err)
		case c.err == "" && (err != nil || got.ActorID != c.want):
			t.Errorf("findActor(%q, %q) = %v, %v; want %s", c.key, c.ns, got.ActorID, err, c.want)
		}
	}
	if _, err := findActor(nil, "x", ""); !errors.Is(err, goray.ErrNotFound) {
		t.Errorf("a missing actor's error %v does not wrap ErrNotFound", err)
	}
}

func TestPrintList(t *testing.T) {
	var buf bytes.Buffer
	if err := printList(&buf, "json", []taskView(nil), "", nil); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Fatalf("an empty JSON list is %q, want []", buf.String())
	}
	buf.Reset()
	jobs := []jobView{viewJob(goray.JobInfo{ID: "j1", DriverNode: "n1", Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}),
		viewJob(goray.JobInfo{ID: "j2", DriverNode: "n2", Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), End: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)})}
	if err := printList(&buf, "json", jobs, "", nil); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got[0]["status"] != "RUNNING" || got[0]["end_time"] != nil || got[1]["status"] != "FINISHED" || got[1]["end_time"] != "2026-01-02T03:05:00Z" {
		t.Fatalf("jobs %v", got)
	}
	if keys := slices.Sorted(maps.Keys(got[0])); !slices.Equal(keys, []string{"driver_node_id", "end_time", "job_id", "start_time", "status"}) {
		t.Fatalf("job keys %v", keys)
	}
	buf.Reset()
	if err := printList(&buf, "table", []string{"a", "bbbbbb"}, "COL\tX", func(s string) string { return s + "\t1" }); err != nil {
		t.Fatal(err)
	}
	if want := "COL     X\na       1\nbbbbbb  1\n"; buf.String() != want {
		t.Fatalf("table %q, want %q", buf.String(), want)
	}
}

// Placement groups that wait, and why work waits, show among the demands.
func TestStatusGroupsAndReasons(t *testing.T) {
	nodes, tasks, actors := fixture()
	tasks = append(tasks, goray.TaskInfo{ID: "t9", Function: "f", State: "QUEUED", Resources: map[string]float64{"GPU": 1}, Reason: "no GPU free"})
	groups := []goray.PlacementGroupInfo{
		{ID: "g1", Name: "learners", State: goray.GroupPending, Reason: "waiting for 2 CPU", Bundles: []map[string]float64{{"CPU": 1}, {"CPU": 1}}},
		{ID: "g2", State: goray.GroupInfeasible, Reason: "no node holds {CPU=64}", Bundles: []map[string]float64{{"CPU": 64}}},
		{ID: "g3", Name: "done", State: goray.GroupCreated, Bundles: []map[string]float64{{"CPU": 1}}},
	}
	r := buildStatus("10.0.0.1:6379", nodes, tasks, actors, groups)
	var pending, infeasible []string
	for _, d := range r.Demands.Pending {
		pending = append(pending, d.Kind+" "+d.Type+" "+d.Reason)
	}
	for _, d := range r.Demands.Infeasible {
		infeasible = append(infeasible, d.Kind+" "+d.Type+" "+d.Reason)
	}
	if !slices.Contains(pending, "placement_group learners waiting for 2 CPU") || !slices.Contains(infeasible, "placement_group g2 no node holds {CPU=64}") ||
		slices.ContainsFunc(append(pending, infeasible...), func(s string) bool { return strings.Contains(s, "done") }) {
		t.Fatalf("pending %q, infeasible %q", pending, infeasible)
	}
	var buf bytes.Buffer
	if err := printStatus(&buf, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"placement group learners {CPU 2}: pending (waiting for 2 CPU)", "(no GPU free)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, buf.String())
		}
	}
}
