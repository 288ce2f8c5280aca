package placement

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func cpus(fs ...float64) []Bundle {
	out := make([]Bundle, len(fs))
	for i, f := range fs {
		out[i] = Bundle{CPU: cpu(f)}
	}
	return out
}

// snapshot renders every node's availability, to check all-or-nothing.
func snapshot(v *View) string {
	s := ""
	for _, n := range v.Nodes() {
		s += fmt.Sprintf("%s:{%v} ", n.ID, n.Available)
	}
	return s
}

func TestReserve(t *testing.T) {
	four := func(id string) Node { return nd(id, Resources{CPU: cpu(4)}, nil) }
	dead := four("dead")
	dead.Alive = false
	tests := []struct {
		name    string
		nodes   []Node
		bundles []Bundle
		s       GroupStrategy
		// check validates the placement; nil when an error is expected.
		check   func(t *testing.T, placed []string)
		wantErr error
	}{
		{"pack on one node when it fits", []Node{four("a"), four("b")}, cpus(1, 1, 2), GroupPack,
			sameNode, nil},
		{"pack chooses the tightest node", []Node{four("a"), nd("b", Resources{CPU: cpu(4)}, Resources{CPU: cpu(2)})}, cpus(1, 1), GroupPack,
			want("b", "b"), nil},
		{"pack overflows to a second node", []Node{four("a"), four("b")}, cpus(3, 3, 1), GroupPack,
			distinctCount(2), nil},
		{"pack fills two nodes exactly", []Node{four("a"), four("b")}, cpus(2, 1, 1, 2, 2), GroupPack,
			distinctCount(2), nil},
		{"pack needs backtracking", []Node{
			nd("a", Resources{CPU: cpu(7)}, nil), nd("b", Resources{CPU: cpu(7)}, nil)}, cpus(3, 3, 2, 2, 2, 2), GroupPack,
			distinctCount(2), nil},
		{"pack infeasible by sum", []Node{four("a"), four("b")}, cpus(3, 3, 3), GroupPack,
			nil, ErrInfeasible},
		{"pack infeasible by bin packing", []Node{four("a"), four("b")}, cpus(3, 3, 1.5), GroupPack,
			nil, ErrInfeasible},
		{"pack no capacity", []Node{four("a"), nd("b", Resources{CPU: cpu(4)}, Resources{CPU: cpu(1)})}, cpus(3, 3), GroupPack,
			nil, ErrNoCapacity},
		{"spread on distinct nodes", []Node{four("a"), four("b"), four("c")}, cpus(1, 1, 1), GroupSpread,
			distinctCount(3), nil},
		{"spread shares when it must", []Node{four("a"), four("b")}, cpus(1, 1, 1), GroupSpread,
			distinctCount(2), nil},
		{"spread prefers idle node", []Node{nd("a", Resources{CPU: cpu(4)}, Resources{CPU: cpu(1)}), four("b")}, cpus(1), GroupSpread,
			want("b"), nil},
		{"spread infeasible", []Node{four("a")}, cpus(5), GroupSpread,
			nil, ErrInfeasible},
		{"strict pack", []Node{four("a"), four("b")}, cpus(2, 2), GroupStrictPack,
			sameNode, nil},
		{"strict pack infeasible though total suffices", []Node{four("a"), four("b")}, cpus(3, 3), GroupStrictPack,
			nil, ErrInfeasible},
		{"strict pack picks the node with room", []Node{four("a"), nd("b", Resources{CPU: cpu(4)}, Resources{CPU: cpu(3)})}, cpus(2, 2), GroupStrictPack,
			want("a", "a"), nil},
		{"strict pack busy", []Node{nd("a", Resources{CPU: cpu(4)}, Resources{CPU: cpu(3)})}, cpus(2, 2), GroupStrictPack,
			nil, ErrNoCapacity},
		{"strict spread", []Node{four("a"), four("b"), four("c")}, cpus(1, 1, 1), GroupStrictSpread,
			distinctCount(3), nil},
		{"strict spread too few nodes", []Node{four("a"), four("b"), dead}, cpus(1, 1, 1), GroupStrictSpread,
			nil, ErrInfeasible},
		{"strict spread needs matching", []Node{
			nd("big", Resources{CPU: cpu(8)}, nil), nd("small", Resources{CPU: cpu(2)}, nil)},
			cpus(1, 6), GroupStrictSpread, want("small", "big"), nil},
		{"strict spread infeasible matching", []Node{
			nd("big", Resources{CPU: cpu(8)}, nil), nd("small", Resources{CPU: cpu(2)}, nil)},
			cpus(6, 6), GroupStrictSpread, nil, ErrInfeasible},
		{"strict spread no capacity", []Node{four("a"), nd("b", Resources{CPU: cpu(4)}, Resources{})}, cpus(1, 1), GroupStrictSpread,
			nil, ErrNoCapacity},
		{"mixed kinds", []Node{
			nd("cpu", Resources{CPU: cpu(8)}, nil), nd("gpu", Resources{CPU: cpu(2), GPU: cpu(1)}, nil)},
			[]Bundle{{CPU: cpu(4)}, {GPU: cpu(0.5), CPU: cpu(1)}}, GroupPack, want("cpu", "gpu"), nil},
		{"dead nodes ignored", []Node{dead}, cpus(1), GroupPack, nil, ErrInfeasible},
		{"no bundles", []Node{four("a")}, nil, GroupPack, nil, ErrInvalidRequest},
		{"empty bundle", []Node{four("a")}, []Bundle{{}}, GroupPack, nil, ErrInvalidResource},
		{"invalid bundle", []Node{four("a")}, []Bundle{{GPU: cpu(1.5)}}, GroupPack, nil, ErrInvalidResource},
		{"unknown strategy", []Node{four("a")}, cpus(1), GroupStrategy(9), nil, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, DefaultConfig(), tt.nodes...)
			before := snapshot(v)
			placed, err := v.Reserve(tt.bundles, tt.s)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Reserve = %v, %v; want %v", placed, err, tt.wantErr)
				}
				if after := snapshot(v); after != before {
					t.Fatalf("failed Reserve changed the view:\n%s\n%s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(placed) != len(tt.bundles) {
				t.Fatalf("placed %v for %d bundles", placed, len(tt.bundles))
			}
			tt.check(t, placed)
			// Availability dropped by exactly the bundles.
			used := map[string]Resources{}
			for i, id := range placed {
				used[id] = used[id].Add(tt.bundles[i])
			}
			for _, n := range tt.nodes {
				got, _ := v.Node(n.ID)
				if !got.Available.Add(used[n.ID]).Equal(n.Available) {
					t.Fatalf("node %s available %v, used %v, was %v", n.ID, got.Available, used[n.ID], n.Available)
				}
			}
			// Release restores the view.
			if err := v.Release(placed, tt.bundles); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(v); after != before {
				t.Fatalf("Release did not restore the view:\n%s\n%s", before, after)
			}
		})
	}
}

func sameNode(t *testing.T, placed []string) {
	t.Helper()
	for _, id := range placed {
		if id != placed[0] {
			t.Fatalf("bundles on several nodes: %v", placed)
		}
	}
}

func distinctCount(n int) func(*testing.T, []string) {
	return func(t *testing.T, placed []string) {
		t.Helper()
		seen := map[string]bool{}
		for _, id := range placed {
			seen[id] = true
		}
		if len(seen) != n {
			t.Fatalf("bundles on %d nodes, want %d: %v", len(seen), n, placed)
		}
	}
}

func want(ids ...string) func(*testing.T, []string) {
	return func(t *testing.T, placed []string) {
		t.Helper()
		if fmt.Sprint(placed) != fmt.Sprint(ids) {
			t.Fatalf("placed %v, want %v", placed, ids)
		}
	}
}

func TestReserveAllOrNothingAcrossGroups(t *testing.T) {
	v := newView(t, DefaultConfig(),
		nd("a", Resources{CPU: cpu(4)}, nil), nd("b", Resources{CPU: cpu(4)}, nil))
	first, err := v.Reserve(cpus(3, 3), GroupStrictSpread)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(v)
	// One bundle would still fit, the second would not: nothing is taken.
	if _, err := v.Reserve(cpus(1, 1, 1), GroupStrictSpread); !errors.Is(err, ErrInfeasible) {
		t.Fatalf("err = %v, want ErrInfeasible", err)
	}
	if _, err := v.Reserve(cpus(1, 2), GroupPack); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("err = %v, want ErrNoCapacity", err)
	}
	if after := snapshot(v); after != before {
		t.Fatalf("failed Reserve changed the view:\n%s\n%s", before, after)
	}
	if err := v.Release(first, cpus(3, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Reserve(cpus(1, 2), GroupPack); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestReserveManyIdenticalNodesIsFast(t *testing.T) {
	// 40 identical nodes and a group that cannot fit: symmetry pruning must
	// prove it without exhausting the search.
	var nodes []Node
	for i := range 40 {
		nodes = append(nodes, nd(fmt.Sprintf("n%02d", i), Resources{CPU: cpu(4)}, nil))
	}
	v := newView(t, DefaultConfig(), nodes...)
	bundles := make([]Bundle, 0, 41)
	for range 41 {
		bundles = append(bundles, Bundle{CPU: cpu(3)})
	}
	if _, err := v.Reserve(bundles, GroupSpread); !errors.Is(err, ErrInfeasible) {
		t.Fatalf("err = %v, want ErrInfeasible", err)
	}
	placed, err := v.Reserve(bundles[:40], GroupSpread)
	if err != nil {
		t.Fatal(err)
	}
	distinctCount(40)(t, placed)
}

func TestRelease(t *testing.T) {
	tests := []struct {
		name    string
		nodes   []string
		bundles []Bundle
		wantErr error
		wantA   Quantity
	}{
		{"returns resources", []string{"a"}, cpus(1), nil, cpu(3)},
		{"clamped to total", []string{"a", "a", "a"}, cpus(1, 1, 1), nil, cpu(4)},
		{"node gone is skipped", []string{"gone", "a"}, cpus(1, 1), nil, cpu(3)},
		{"length mismatch", []string{"a"}, cpus(1, 1), ErrInvalidRequest, cpu(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, DefaultConfig(), nd("a", Resources{CPU: cpu(4)}, Resources{CPU: cpu(2)}))
			if err := v.Release(tt.nodes, tt.bundles); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if a, _ := v.Node("a"); a.Available[CPU] != tt.wantA {
				t.Fatalf("available %v, want %v", a.Available[CPU], tt.wantA)
			}
		})
	}
}

func TestGroupStrategyNames(t *testing.T) {
	for _, s := range []GroupStrategy{GroupPack, GroupSpread, GroupStrictPack, GroupStrictSpread} {
		got, err := ParseGroupStrategy(s.String())
		if err != nil || got != s {
			t.Fatalf("ParseGroupStrategy(%q) = %v, %v", s.String(), got, err)
		}
	}
	if got, err := ParseGroupStrategy("strict_pack"); err != nil || got != GroupStrictPack {
		t.Fatalf("lower case: %v, %v", got, err)
	}
	if _, err := ParseGroupStrategy("DIAGONAL"); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("err = %v", err)
	}
	if got := GroupStrategy(9).String(); got != "GroupStrategy(9)" {
		t.Fatalf("String = %q", got)
	}
}

func TestReserveUndecidedIsNoCapacity(t *testing.T) {
	// Twelve slightly different nodes each hold one bundle of 3; thirteen
	// bundles cannot fit, but with no interchangeable nodes the search runs
	// out of budget before proving it, so the group waits instead of failing.
	var nodes []Node
	for i := range 12 {
		nodes = append(nodes, nd(fmt.Sprintf("n%02d", i), Resources{CPU: Unit*4 + Quantity(i)}, nil))
	}
	v := newView(t, DefaultConfig(), nodes...)
	bundles := make([]Bundle, 13)
	for i := range bundles {
		bundles[i] = Bundle{CPU: cpu(3)}
	}
	before := snapshot(v)
	if _, err := v.Reserve(bundles, GroupPack); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("err = %v, want ErrNoCapacity", err)
	}
	if after := snapshot(v); after != before {
		t.Fatalf("failed Reserve changed the view")
	}
}

func TestReserveGroupSelectorsAndAvoid(t *testing.T) {
	mk := func() *View {
		return newView(t, DefaultConfig(),
			nd("a", Resources{CPU: cpu(4)}, nil, "zone", "x"),
			nd("b", Resources{CPU: cpu(4)}, nil, "zone", "y"),
			nd("c", Resources{CPU: cpu(4)}, nil, "zone", "y", "gpu", "a100"))
	}
	in := func(k string, vs ...string) Selector { return Selector{{Key: k, Op: OpIn, Values: vs}} }
	tests := []struct {
		name    string
		req     GroupRequest
		want    []string // nil: any placement; checked with wantErr nil
		wantErr error
	}{
		{"selector per bundle", GroupRequest{Bundles: cpus(1, 1), Strategy: GroupStrictSpread,
			Selectors: []Selector{in("zone", "x"), in("gpu", "a100")}}, []string{"a", "c"}, nil},
		{"pack follows the selector", GroupRequest{Bundles: cpus(1, 1), Strategy: GroupPack,
			Selectors: []Selector{in("zone", "y"), {{Key: "gpu", Op: OpDoesNotExist}}}}, []string{"b", "b"}, nil},
		{"strict pack needs one node matching every selector", GroupRequest{Bundles: cpus(1, 1), Strategy: GroupStrictPack,
			Selectors: []Selector{in("zone", "x"), in("zone", "y")}}, nil, ErrInfeasible},
		{"selector naming no label", GroupRequest{Bundles: cpus(1), Strategy: GroupPack,
			Selectors: []Selector{in("rack", "r1")}}, nil, ErrInfeasible},
		{"avoid", GroupRequest{Bundles: cpus(1, 1), Strategy: GroupStrictSpread,
			Avoid: map[string]bool{"b": true}}, []string{"a", "c"}, nil},
		{"avoid leaves too few nodes", GroupRequest{Bundles: cpus(1, 1, 1), Strategy: GroupStrictSpread,
			Avoid: map[string]bool{"b": true}}, nil, ErrInfeasible},
		{"more strict-spread bundles than nodes", GroupRequest{Bundles: cpus(1, 1, 1, 1), Strategy: GroupStrictSpread}, nil, ErrInfeasible},
		{"selector without key", GroupRequest{Bundles: cpus(1), Selectors: []Selector{{{Op: OpExists}}}}, nil, ErrInvalidRequest},
		{"selectors of the wrong length", GroupRequest{Bundles: cpus(1, 1), Selectors: []Selector{nil}}, nil, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := mk()
			before := snapshot(v)
			got, err := v.ReserveGroup(tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if after := snapshot(v); after != before {
					t.Fatalf("a refused group changed the view: %s -> %s", before, after)
				}
				return
			}
			gotSorted := slices.Clone(got)
			slices.Sort(gotSorted)
			if fmt.Sprint(gotSorted) != fmt.Sprint(tt.want) {
				t.Fatalf("placed on %v, want %v", got, tt.want)
			}
		})
	}
}
