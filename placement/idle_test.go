package placement

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkIdleIndex verifies the view's idle index: every alive idle node is
// in its shape's set exactly once, at its slot, and nothing else is.
func checkIdleIndex(v *View) error {
	in := map[*Node]bool{}
	for shape, set := range v.idle.sets {
		for i, n := range set {
			switch {
			case in[n]:
				return fmt.Errorf("idle index: node %s listed twice", n.ID)
			case v.nodes[n.ID] != n:
				return fmt.Errorf("idle index: node %s is not the view's", n.ID)
			case n.gpu != (n.Total[GPU] > 0) || shapeOf(n) != shape:
				return fmt.Errorf("idle index: node %s in set %d, its shape is %d (GPUs {%v})", n.ID, shape, shapeOf(n), n.Total[GPU])
			case n.slot != i:
				return fmt.Errorf("idle index: node %s at %d says slot %d", n.ID, i, n.slot)
			}
			in[n] = true
		}
	}
	for id, n := range v.nodes {
		want := n.Alive && v.isIdle(n)
		if n.idle != want && n.Alive {
			return fmt.Errorf("node %s: idle flag %v, recount %v", id, n.idle, want)
		}
		if in[n] != want {
			return fmt.Errorf("node %s: indexed %v, alive and idle %v", id, in[n], want)
		}
	}
	return nil
}

func TestIdleIndexInvariants(t *testing.T) {
	cpu8 := Resources{CPU: cpu(8)}
	gpu8 := Resources{CPU: cpu(8), GPU: cpu(8)}
	tests := []struct {
		name string
		ops  func(t *testing.T, v *View)
		// idle is the IDs of the idle nodes without and with GPUs.
		idleCPU, idleGPU int
	}{
		{"fresh nodes are idle", func(t *testing.T, v *View) {}, 2, 2},
		{"past the threshold leaves the index", func(t *testing.T, v *View) {
			mustAllocate(t, v, "c1", Resources{CPU: cpu(4)})
			mustAllocate(t, v, "g1", Resources{GPU: cpu(4)})
		}, 1, 1},
		{"below it again comes back", func(t *testing.T, v *View) {
			mustAllocate(t, v, "c1", Resources{CPU: cpu(4)})
			v.Free("c1", Resources{CPU: cpu(1)})
		}, 2, 2},
		{"reported availability counts", func(t *testing.T, v *View) {
			if err := v.SetAvailable("g2", Resources{CPU: cpu(8), GPU: cpu(1)}); err != nil {
				t.Fatal(err)
			}
		}, 2, 1},
		{"a dead node leaves the index", func(t *testing.T, v *View) {
			if err := v.Upsert(Node{ID: "c2", Total: cpu8, Available: cpu8}); err != nil {
				t.Fatal(err)
			}
		}, 1, 2},
		{"a removed node leaves the index", func(t *testing.T, v *View) {
			v.Remove("g1")
			v.Remove("c1")
		}, 1, 1},
		{"a replaced node changes shape", func(t *testing.T, v *View) {
			if err := v.Upsert(nd("c1", gpu8, nil)); err != nil {
				t.Fatal(err)
			}
		}, 1, 3},
		{"changes of a busy node keep it out", func(t *testing.T, v *View) {
			mustAllocate(t, v, "c2", Resources{CPU: cpu(6)})
			v.Free("c2", Resources{CPU: cpu(1)})
			mustAllocate(t, v, "c2", Resources{CPU: cpu(1)})
		}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, DefaultConfig(), nd("c1", cpu8, nil), nd("c2", cpu8, nil), nd("g1", gpu8, nil), nd("g2", gpu8, nil))
			tt.ops(t, v)
			if err := checkIdleIndex(v); err != nil {
				t.Fatal(err)
			}
			if got := [2]int{len(v.idle.sets[0]), len(v.idle.sets[1])}; got != [2]int{tt.idleCPU, tt.idleGPU} {
				t.Fatalf("idle nodes without and with GPUs = %v, want %v", got, [2]int{tt.idleCPU, tt.idleGPU})
			}
		})
	}
}

func mustAllocate(t *testing.T, v *View, id string, r Resources) {
	t.Helper()
	if err := v.Allocate(id, r); err != nil {
		t.Fatal(err)
	}
}

// TestIdleIndexRandomOps drives a view through random changes and checks
// the index after each.
func TestIdleIndexRandomOps(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 5))
	v := NewView()
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%02d", i)
	}
	for step := range 5000 {
		id := ids[rnd.IntN(len(ids))]
		switch op := rnd.IntN(10); {
		case op == 0:
			total := Resources{CPU: cpu(float64(1 + rnd.IntN(16)))}
			if rnd.IntN(3) == 0 {
				total[GPU] = cpu(float64(1 + rnd.IntN(8)))
			}
			n := Node{ID: id, Total: total, Available: total.Clone(), Alive: rnd.IntN(5) > 0}
			if err := v.Upsert(n); err != nil {
				t.Fatal(err)
			}
		case op == 1:
			v.Remove(id)
		case op < 6:
			_ = v.Allocate(id, Resources{CPU: cpu(float64(1 + rnd.IntN(4)))})
		default:
			v.Free(id, Resources{CPU: cpu(float64(1 + rnd.IntN(4))), GPU: cpu(1)})
		}
		if err := checkIdleIndex(v); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
}

// TestPickHybridIdleDraws checks the index-backed pick: every idle node of
// the request's shape is drawn, and no other node is.
func TestPickHybridIdleDraws(t *testing.T) {
	var nodes []Node
	for i := range 30 {
		id := fmt.Sprintf("n%02d", i)
		switch {
		case i%3 == 0:
			nodes = append(nodes, nd(id, Resources{CPU: cpu(8), GPU: cpu(4)}, nil))
		case i%3 == 1:
			nodes = append(nodes, nd(id, Resources{CPU: cpu(8)}, nil))
		default: // busy: past the threshold
			nodes = append(nodes, nd(id, Resources{CPU: cpu(8)}, Resources{CPU: cpu(2)}))
		}
	}
	tests := []struct {
		name string
		req  Request
		want func(i int) bool
	}{
		{"gpu request draws among idle gpu nodes", Request{Resources: Resources{GPU: cpu(1)}}, func(i int) bool { return i%3 == 0 }},
		{"cpu request draws among idle cpu nodes", Request{Resources: Resources{CPU: cpu(1)}}, func(i int) bool { return i%3 == 1 }},
		{"a request only some idle nodes fit", Request{Resources: Resources{CPU: cpu(1)}, Selector: Selector{{Key: "only", Op: OpExists}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, DefaultConfig(), nodes...)
			if tt.want == nil {
				// One idle node carries the label: the walk must find it.
				n := nd("n04", Resources{CPU: cpu(8)}, nil, "only", "yes")
				if err := v.Upsert(n); err != nil {
					t.Fatal(err)
				}
				tt.want = func(i int) bool { return i == 4 }
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			seen := map[string]int{}
			for range 2000 {
				got, err := v.Pick(tt.req, rnd)
				if err != nil {
					t.Fatal(err)
				}
				seen[got]++
			}
			for i := range nodes {
				id := fmt.Sprintf("n%02d", i)
				if tt.want(i) != (seen[id] > 0) {
					t.Fatalf("node %s drawn %d times; want drawn: %v (all: %v)", id, seen[id], tt.want(i), seen)
				}
			}
		})
	}
}
