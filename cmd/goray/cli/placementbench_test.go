package cli

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestPlacementMicrobenchmarks(t *testing.T) {
	cmd := New()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"microbenchmark", "--json", "--seconds", "0.05", "--only", "placement_group_create_removal|scheduling_decisions_per_second(_100_nodes)?$"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var rs []Result
	if err := json.Unmarshal(out.Bytes(), &rs); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := []string{"placement_group_create_removal", "scheduling_decisions_per_second", "scheduling_decisions_per_second_100_nodes"}
	if len(rs) != len(want) {
		t.Fatalf("results %+v, want %v", rs, want)
	}
	for i, r := range rs {
		if r.Name != want[i] || r.Value <= 0 {
			t.Errorf("result %d = %+v, want %s with a positive value", i, r, want[i])
		}
	}
}
