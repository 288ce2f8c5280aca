package placement

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// nd builds an alive node; avail nil means fully available.
func nd(id string, total, avail Resources, labels ...string) Node {
	if avail == nil {
		avail = total.Clone()
	}
	n := Node{ID: id, Total: total, Available: avail, Alive: true}
	if len(labels) > 0 {
		n.Labels = map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			n.Labels[labels[i]] = labels[i+1]
		}
	}
	return n
}

func cpu(f float64) Quantity { return Quantity(math.Round(f * float64(Unit))) }

func newView(t *testing.T, cfg Config, nodes ...Node) *View {
	t.Helper()
	v := NewViewWithConfig(cfg)
	for _, n := range nodes {
		if err := v.Upsert(n); err != nil {
			t.Fatalf("Upsert(%s): %v", n.ID, err)
		}
	}
	return v
}

func TestViewMaintenance(t *testing.T) {
	v := NewView()
	for _, id := range []string{"c", "a", "b"} {
		if err := v.Upsert(nd(id, Resources{CPU: cpu(4)}, nil)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		op   func() error
		want []string // node IDs after op
		err  error
	}{
		{"sorted", func() error { return nil }, []string{"a", "b", "c"}, nil},
		{"replace keeps one", func() error { return v.Upsert(nd("b", Resources{CPU: cpu(8)}, nil)) }, []string{"a", "b", "c"}, nil},
		{"remove", func() error { v.Remove("a"); return nil }, []string{"b", "c"}, nil},
		{"remove unknown", func() error { v.Remove("zz"); return nil }, []string{"b", "c"}, nil},
		{"empty id", func() error { return v.Upsert(Node{}) }, []string{"b", "c"}, ErrInvalidRequest},
		{"negative total", func() error { return v.Upsert(nd("d", Resources{CPU: -1}, nil)) }, []string{"b", "c"}, ErrInvalidResource},
		{"set available unknown", func() error { return v.SetAvailable("zz", Resources{}) }, []string{"b", "c"}, ErrUnknownNode},
		{"set available", func() error { return v.SetAvailable("b", Resources{CPU: cpu(3)}) }, []string{"b", "c"}, nil},
		{"allocate too much", func() error { return v.Allocate("b", Resources{CPU: cpu(4)}) }, []string{"b", "c"}, ErrInsufficient},
		{"allocate unknown", func() error { return v.Allocate("zz", Resources{CPU: 1}) }, []string{"b", "c"}, ErrUnknownNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			var got []string
			for _, n := range v.Nodes() {
				got = append(got, n.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("nodes = %v, want %v", got, tt.want)
			}
		})
	}
	b, ok := v.Node("b")
	if !ok || b.Total[CPU] != cpu(8) || b.Available[CPU] != cpu(3) {
		t.Fatalf("node b = %+v, %v", b, ok)
	}
	// Copies are independent of the view.
	b.Available[CPU] = 0
	if again, _ := v.Node("b"); again.Available[CPU] != cpu(3) {
		t.Fatalf("Node returned shared storage")
	}
	if err := v.Allocate("b", Resources{CPU: cpu(1)}); err != nil {
		t.Fatal(err)
	}
	v.Free("b", Resources{CPU: cpu(100)}) // clamped to total
	if got, _ := v.Node("b"); got.Available[CPU] != cpu(8) {
		t.Fatalf("after Free available = %v, want clamped to 8", got.Available)
	}
}

func TestPickInfeasibleVsNoCapacity(t *testing.T) {
	dead := nd("dead", Resources{CPU: cpu(64)}, nil)
	dead.Alive = false
	v := newView(t, DefaultConfig(),
		nd("small", Resources{CPU: cpu(4)}, Resources{CPU: cpu(1)}, "zone", "a"),
		nd("big", Resources{CPU: cpu(8), GPU: cpu(1)}, Resources{CPU: cpu(2)}, "zone", "b"),
		dead,
	)
	tests := []struct {
		name    string
		req     Request
		want    string
		wantErr error
		msg     []string // substrings of the error message
	}{
		{"fits now", Request{Resources: Resources{CPU: cpu(1)}, Labels: map[string]string{"zone": "a"}}, "small", nil, nil},
		{"more than any node ever", Request{Resources: Resources{CPU: cpu(16)}}, "", ErrInfeasible,
			[]string{"CPU=16", "largest is big", "CPU=8 GPU=1"}},
		{"dead node does not count", Request{Resources: Resources{CPU: cpu(32)}}, "", ErrInfeasible, nil},
		{"unknown resource", Request{Resources: Resources{"tpu": cpu(1)}}, "", ErrInfeasible, []string{"tpu=1"}},
		{"feasible but busy", Request{Resources: Resources{CPU: cpu(3)}}, "", ErrNoCapacity, []string{"CPU=3"}},
		{"label makes infeasible", Request{Resources: Resources{GPU: cpu(1)}, Labels: map[string]string{"zone": "a"}}, "", ErrInfeasible,
			[]string{"largest is small", "zone=a"}},
		{"no node has label", Request{Resources: Resources{CPU: cpu(1)}, Labels: map[string]string{"zone": "c"}}, "", ErrInfeasible,
			[]string{"no alive node matches"}},
		{"label selects node", Request{Resources: Resources{CPU: cpu(1)}, Labels: map[string]string{"zone": "b"}}, "big", nil, nil},
		{"label value must match exactly", Request{Resources: Resources{CPU: cpu(1)}, Labels: map[string]string{"zone": "B"}}, "", ErrInfeasible, nil},
		{"invalid gpu fraction", Request{Resources: Resources{GPU: cpu(1.5)}}, "", ErrInvalidResource, nil},
		{"unknown strategy", Request{Strategy: Strategy(9)}, "", ErrInvalidRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range []Strategy{Default, Spread} {
				req := tt.req
				if req.Strategy == Default {
					req.Strategy = s
				}
				got, err := v.Pick(req, rand.New(rand.NewPCG(1, 2)))
				if !errors.Is(err, tt.wantErr) || got != tt.want {
					t.Fatalf("%v: Pick = %q, %v; want %q, %v", s, got, err, tt.want, tt.wantErr)
				}
				for _, m := range tt.msg {
					if !strings.Contains(err.Error(), m) {
						t.Fatalf("%v: error %q lacks %q", s, err, m)
					}
				}
			}
		})
	}
	empty := NewView()
	if _, err := empty.Pick(Request{}, nil); !errors.Is(err, ErrInfeasible) {
		t.Fatalf("empty view: err = %v, want ErrInfeasible", err)
	}
}

func TestPickHybrid(t *testing.T) {
	noGPUAvoid := DefaultConfig()
	noGPUAvoid.AvoidGPUNodes = false
	one := Resources{CPU: cpu(1)}
	// util returns a 10-CPU node with the given fraction in use.
	util := func(id string, used float64) Node {
		return nd(id, Resources{CPU: cpu(10)}, Resources{CPU: cpu(10 * (1 - used))})
	}
	tests := []struct {
		name  string
		cfg   Config
		nodes []Node
		req   Request
		// want is the set of acceptable answers; every one must appear
		// over many draws.
		want []string
	}{
		{"local below threshold stays local", DefaultConfig(),
			[]Node{util("a", 0), util("local", 0.4)}, Request{Resources: one, Local: "local"}, []string{"local"}},
		{"local at threshold is not preferred", DefaultConfig(),
			[]Node{util("a", 0.1), util("local", 0.5)}, Request{Resources: one, Local: "local"}, []string{"a"}},
		{"local above threshold goes to least used", DefaultConfig(),
			[]Node{util("a", 0.9), util("b", 0.6), util("local", 0.8)}, Request{Resources: one, Local: "local"}, []string{"b"}},
		{"local that cannot fit is skipped", DefaultConfig(),
			[]Node{util("a", 0.2), nd("local", Resources{CPU: cpu(10)}, Resources{CPU: cpu(0.5)})},
			Request{Resources: one, Local: "local"}, []string{"a"}},
		{"below threshold all score zero: random among every tie", DefaultConfig(),
			[]Node{util("a", 0), util("b", 0.1), util("c", 0.2), util("d", 0.3), util("e", 0.4),
				util("f", 0), util("g", 0), util("h", 0), util("i", 0), util("j", 0)},
			Request{Resources: one}, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}},
		{"few idle nodes: random among the k best", DefaultConfig(),
			[]Node{util("a", 0.9), util("b", 0.7), util("c", 0.6), util("d", 0.8), util("e", 0.95),
				util("f", 0.9), util("g", 0.9), util("h", 0.9), util("i", 0.9), util("j", 0.1)},
			Request{Resources: one}, []string{"j", "c"}},
		{"scores above threshold order candidates", DefaultConfig(),
			[]Node{util("a", 0.9), util("b", 0.7), util("c", 0.6), util("d", 0.8), util("e", 0.95),
				util("f", 0.9), util("g", 0.9), util("h", 0.9), util("i", 0.9), util("j", 0.9)},
			Request{Resources: one}, []string{"c", "b"}},
		{"utilization is the max over requested kinds", DefaultConfig(),
			[]Node{
				nd("a", Resources{CPU: cpu(10), "mem": cpu(10)}, Resources{CPU: cpu(9), "mem": cpu(1)}),
				nd("b", Resources{CPU: cpu(10), "mem": cpu(10)}, Resources{CPU: cpu(3), "mem": cpu(3)}),
			},
			Request{Resources: Resources{CPU: cpu(1), "mem": cpu(1)}}, []string{"b"}},
		{"unrequested kinds do not count", DefaultConfig(),
			[]Node{
				nd("a", Resources{CPU: cpu(10), "mem": cpu(10)}, Resources{CPU: cpu(9), "mem": cpu(1)}),
				nd("b", Resources{CPU: cpu(10), "mem": cpu(10)}, Resources{CPU: cpu(3), "mem": cpu(3)}),
			},
			Request{Resources: one}, []string{"a"}},
		{"gpu nodes avoided for cpu work", DefaultConfig(),
			[]Node{nd("gpu", Resources{CPU: cpu(10), GPU: cpu(1)}, nil), util("cpu", 0.9)},
			Request{Resources: one, Local: "gpu"}, []string{"cpu"}},
		{"gpu nodes used when nothing else fits", DefaultConfig(),
			[]Node{nd("gpu", Resources{CPU: cpu(10), GPU: cpu(1)}, nil), util("cpu", 1)},
			Request{Resources: one}, []string{"gpu"}},
		{"gpu avoidance off", noGPUAvoid,
			[]Node{nd("gpu", Resources{CPU: cpu(10), GPU: cpu(1)}, nil), util("cpu", 0.9)},
			Request{Resources: one, Local: "gpu"}, []string{"gpu"}},
		{"gpu work goes to gpu node", DefaultConfig(),
			[]Node{nd("gpu", Resources{CPU: cpu(10), GPU: cpu(1)}, nil), util("cpu", 0)},
			Request{Resources: Resources{GPU: cpu(0.5)}}, []string{"gpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, tt.cfg, tt.nodes...)
			rnd := rand.New(rand.NewPCG(7, 11))
			seen := map[string]int{}
			for range 200 {
				got, err := v.Pick(tt.req, rnd)
				if err != nil {
					t.Fatal(err)
				}
				seen[got]++
			}
			if len(seen) != len(tt.want) {
				t.Fatalf("chosen %v, want exactly %v", seen, tt.want)
			}
			for _, w := range tt.want {
				if seen[w] == 0 {
					t.Fatalf("chosen %v, want exactly %v", seen, tt.want)
				}
			}
		})
	}
}

func TestPickHybridNilRandIsDeterministic(t *testing.T) {
	v := newView(t, DefaultConfig(),
		nd("b", Resources{CPU: cpu(4)}, nil), nd("a", Resources{CPU: cpu(4)}, nil))
	for range 5 {
		if got, err := v.Pick(Request{Resources: Resources{CPU: cpu(1)}}, nil); err != nil || got != "a" {
			t.Fatalf("Pick = %q, %v; want a", got, err)
		}
	}
}

func TestPickSpread(t *testing.T) {
	one := Resources{CPU: cpu(1)}
	tests := []struct {
		name  string
		nodes []Node
		req   Resources
		want  []string // successive picks without allocating
		alloc bool     // allocate each pick before the next
	}{
		{"rotates among equals", []Node{
			nd("a", Resources{CPU: cpu(4)}, nil), nd("b", Resources{CPU: cpu(4)}, nil), nd("c", Resources{CPU: cpu(4)}, nil)},
			one, []string{"a", "b", "c", "a"}, false},
		{"least utilised first", []Node{
			nd("a", Resources{CPU: cpu(4)}, Resources{CPU: cpu(1)}), nd("b", Resources{CPU: cpu(4)}, Resources{CPU: cpu(3)}), nd("c", Resources{CPU: cpu(4)}, Resources{CPU: cpu(2)})},
			one, []string{"b", "b"}, false},
		{"allocation spreads evenly", []Node{
			nd("a", Resources{CPU: cpu(2)}, nil), nd("b", Resources{CPU: cpu(2)}, nil)},
			one, []string{"a", "b", "a", "b"}, true},
		{"zero request round robin", []Node{
			nd("a", Resources{CPU: cpu(1)}, Resources{}), nd("b", Resources{CPU: cpu(1)}, nil)},
			Resources{}, []string{"a", "b", "a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, DefaultConfig(), tt.nodes...)
			var got []string
			for range tt.want {
				id, err := v.Pick(Request{Resources: tt.req, Strategy: Spread}, nil)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, id)
				if tt.alloc {
					if err := v.Allocate(id, tt.req); err != nil {
						t.Fatal(err)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("picks = %v, want %v", got, tt.want)
			}
		})
	}
	v := newView(t, DefaultConfig(), nd("a", Resources{CPU: cpu(2)}, nil))
	for range 2 {
		if err := v.Allocate("a", one); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Pick(Request{Resources: one, Strategy: Spread}, nil); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("full cluster: err = %v, want ErrNoCapacity", err)
	}
}

func TestPickAffinity(t *testing.T) {
	dead := nd("dead", Resources{CPU: cpu(8)}, nil)
	dead.Alive = false
	v := newView(t, DefaultConfig(),
		nd("a", Resources{CPU: cpu(4)}, nil, "zone", "x"),
		nd("busy", Resources{CPU: cpu(8)}, Resources{CPU: cpu(0.5)}),
		nd("small", Resources{CPU: cpu(1)}, nil),
		dead,
	)
	two := Resources{CPU: cpu(2)}
	tests := []struct {
		name    string
		node    string
		soft    bool
		labels  map[string]string
		want    string
		wantErr error
	}{
		{"hard fits", "a", false, nil, "a", nil},
		{"soft fits", "a", true, nil, "a", nil},
		{"hard unknown", "nope", false, nil, "", ErrInfeasible},
		{"soft unknown falls back", "nope", true, nil, "a", nil},
		{"hard dead", "dead", false, nil, "", ErrInfeasible},
		{"soft dead falls back", "dead", true, nil, "a", nil},
		{"hard too small", "small", false, nil, "", ErrInfeasible},
		{"soft too small falls back", "small", true, nil, "a", nil},
		{"hard busy waits", "busy", false, nil, "", ErrNoCapacity},
		{"soft busy still waits", "busy", true, nil, "", ErrNoCapacity},
		{"hard label mismatch", "busy", false, map[string]string{"zone": "x"}, "", ErrInfeasible},
		{"soft label mismatch falls back", "busy", true, map[string]string{"zone": "x"}, "a", nil},
		{"no node given", "", false, nil, "", ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Pick(Request{Resources: two, Strategy: NodeAffinity, AffinityNode: tt.node,
				AffinitySoft: tt.soft, Labels: tt.labels}, rand.New(rand.NewPCG(3, 4)))
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Pick = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && tt.node != "" && !strings.Contains(err.Error(), tt.node) {
				t.Fatalf("error %q does not name node %s", err, tt.node)
			}
		})
	}
}

func TestStrategyString(t *testing.T) {
	tests := []struct {
		s    fmt.Stringer
		want string
	}{
		{Default, "DEFAULT"}, {Spread, "SPREAD"}, {NodeAffinity, "NODE_AFFINITY"}, {Strategy(7), "Strategy(7)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// TestPickedNodeAfterChanges: Allocate and Free find the node a pick just
// chose without a lookup; a node replaced or removed since is not reused.
func TestPickedNodeAfterChanges(t *testing.T) {
	four := Resources{CPU: cpu(4)}
	one := Resources{CPU: cpu(1)}
	tests := []struct {
		name   string
		change func(t *testing.T, v *View)
		// wantErr is the error Allocate gives; left is a's CPUs after it.
		wantErr error
		left    Quantity
	}{
		{"no change", func(*testing.T, *View) {}, nil, cpu(3)},
		{"replaced", func(t *testing.T, v *View) {
			if err := v.Upsert(nd("a", Resources{CPU: cpu(8)}, nil)); err != nil {
				t.Fatal(err)
			}
		}, nil, cpu(7)},
		{"removed", func(_ *testing.T, v *View) { v.Remove("a") }, ErrUnknownNode, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, DefaultConfig(), nd("a", four, nil))
			if got, err := v.Pick(Request{Resources: one}, nil); err != nil || got != "a" {
				t.Fatalf("Pick = %q, %v", got, err)
			}
			tt.change(t, v)
			if err := v.Allocate("a", one); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Allocate = %v, want %v", err, tt.wantErr)
			}
			if n, ok := v.Node("a"); ok && n.Available[CPU] != tt.left {
				t.Fatalf("a has %v CPUs available, want %v", n.Available[CPU], tt.left)
			}
			if err := checkIdleIndex(v); err != nil {
				t.Fatal(err)
			}
		})
	}
}
