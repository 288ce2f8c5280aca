package cli

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestMicrobenchmarkJSON(t *testing.T) {
	cmd := New()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"microbenchmark", "--json", "--seconds", "0.05", "--only", "1_1_actor_calls_sync|protoactor|put_calls"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var rs []Result
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out.String())
	}
	want := []string{"1_1_actor_calls_sync", "single_client_put_calls", "protoactor_request_future_round_trip", "actor_call_overhead_ratio"}
	if len(rs) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(rs), len(want), rs)
	}
	for i, r := range rs {
		if r.Name != want[i] || r.Value <= 0 || r.Unit == "" {
			t.Errorf("result %d = %+v, want name %s with a positive value", i, r, want[i])
		}
	}
}

func TestMicrobenchmarkText(t *testing.T) {
	cmd := New()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"microbenchmark", "--seconds", "0.05", "--only", "single_client_get_calls"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	if !regexp.MustCompile(`^single_client_get_calls [0-9]+\.[0-9]{2} calls/s$`).MatchString(line) {
		t.Fatalf("line %q is not `name value unit`", line)
	}
}

func TestMicrobenchmarkBadFilter(t *testing.T) {
	cmd := New()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"microbenchmark", "--only", "("})
	if err := cmd.Execute(); err == nil {
		t.Fatal("a malformed --only was accepted")
	}
}

func TestClusterMicrobenchmark(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	cmd := New()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"microbenchmark", "--cluster", "--json", "--seconds", "0.1", "--many-nodes", "3",
		"--only", "cross_node_1_1_actor_calls_sync|cross_node_protoactor|node_death|many_nodes"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var rs []Result
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out.String())
	}
	got := map[string]float64{}
	for _, r := range rs {
		got[r.Name] = r.Value
	}
	for _, name := range []string{"cross_node_protoactor_round_trip", "cross_node_1_1_actor_calls_sync", "cross_node_actor_call_ratio",
		"node_death_detect_seconds", "many_nodes_form_seconds", "many_nodes_tasks_per_second", "many_nodes_death_detect_seconds"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want a positive value", name, got[name])
		}
	}
	// Three one-CPU nodes and 10,000 tasks only they can run: each ran some.
	if least, most := got["many_nodes_tasks_least_per_node"], got["many_nodes_tasks_most_per_node"]; least < 1 || most > 10_000-2 {
		t.Errorf("tasks per node between %v and %v, want every node to run some", least, most)
	}
	t.Logf("%s", out.String())
}
