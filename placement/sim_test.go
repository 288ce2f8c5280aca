package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// simCluster drives a View through placements, placement groups and node
// deaths, keeping its own account of what it reserved on every node, so
// that the invariant reserved + free = total can be checked on every node.
type simCluster struct {
	t        *testing.T
	v        *View
	rnd      *rand.Rand
	reserved map[string]Resources // per node: tasks and bundles
	tasks    []simTask
	groups   []*simGroup
	nextNode int
	stats    map[string]int
}

type simTask struct {
	node string
	res  Resources
}

type simGroup struct {
	req   GroupRequest
	nodes []string // per bundle, "" when lost
}

func (s *simCluster) addNode() {
	id := fmt.Sprintf("node-%05d", s.nextNode)
	s.nextNode++
	var n Node
	switch s.nextNode % 5 {
	case 0: // an 8-GPU node
		n = Node{ID: id, Total: Resources{CPU: 96 * Unit, GPU: 8 * Unit, Memory: 1 << 40},
			Labels: map[string]string{LabelAcceleratorType: "A100", "zone": fmt.Sprintf("z%d", s.nextNode%3)}}
	default: // CPU only, of three sizes
		cpus := Quantity(8 << (s.nextNode % 3))
		n = Node{ID: id, Total: Resources{CPU: cpus * Unit, Memory: 64 << 30},
			Labels: map[string]string{"zone": fmt.Sprintf("z%d", s.nextNode%3), "tier": "cpu"}}
	}
	n.Available = n.Total.Clone()
	n.Alive = true
	if err := s.v.Upsert(n); err != nil {
		s.t.Fatal(err)
	}
	s.reserved[id] = Resources{}
}

func (s *simCluster) take(node string, r Resources) {
	s.reserved[node] = s.reserved[node].Add(r)
}

func (s *simCluster) give(node string, r Resources) {
	left, err := s.reserved[node].Sub(r)
	if err != nil {
		s.t.Fatalf("node %s gives back more than it reserved: %v", node, err)
	}
	s.reserved[node] = left
}

// check verifies reserved + free = total on every node, and the view's
// counters against a recount.
func (s *simCluster) check(step int, what string) {
	alive, idleCPU, idleGPU := 0, 0, 0
	for id, n := range s.v.nodes {
		r := s.reserved[id]
		ok := true
		for name, t := range n.Total {
			ok = ok && n.Available[name]+r[name] == t
		}
		for name, q := range r {
			ok = ok && (q == 0 || n.Total[name] > 0)
		}
		if !ok {
			s.t.Fatalf("step %d (%s): node %s: free {%v} + reserved {%v} != total {%v}",
				step, what, id, n.Available, s.reserved[id], n.Total)
		}
		if !n.Alive {
			continue
		}
		alive++
		if s.v.isIdle(n) != n.idle {
			s.t.Fatalf("step %d (%s): node %s idle flag stale", step, what, id)
		}
		if n.idle && n.Total[GPU] > 0 {
			idleGPU++
		} else if n.idle {
			idleCPU++
		}
	}
	if alive != s.v.nAlive || idleCPU != len(s.v.idle.sets[0]) || idleGPU != len(s.v.idle.sets[1]) {
		s.t.Fatalf("step %d (%s): counters alive %d/%d idle %d/%d gpu-idle %d/%d", step, what,
			s.v.nAlive, alive, len(s.v.idle.sets[0]), idleCPU, len(s.v.idle.sets[1]), idleGPU)
	}
	if err := checkIdleIndex(s.v); err != nil {
		s.t.Fatalf("step %d (%s): %v", step, what, err)
	}
}

func (s *simCluster) randomRequest() Request {
	req := Request{Resources: Resources{CPU: Quantity(1+s.rnd.IntN(8)) * Unit / 2}, Local: fmt.Sprintf("node-%05d", s.rnd.IntN(s.nextNode))}
	switch s.rnd.IntN(10) {
	case 0:
		req.Resources[GPU] = Quantity(1+s.rnd.IntN(4)) * Unit
	case 1:
		req.Resources[GPU] = Unit / 4
	case 2:
		req.Strategy = Spread
	case 3:
		req.Selector = Selector{{Key: "zone", Op: OpIn, Values: []string{"z1"}}}
	case 4:
		req.Selector = Selector{{Key: LabelAcceleratorType, Op: OpDoesNotExist}}
		req.Prefer = Selector{{Key: "zone", Op: OpNotIn, Values: []string{"z0"}}}
	case 5:
		req.Strategy, req.AffinityNode, req.AffinitySoft = NodeAffinity, req.Local, s.rnd.IntN(2) == 0
	}
	return req
}

func (s *simCluster) randomGroup() GroupRequest {
	g := GroupRequest{Strategy: GroupStrategy(s.rnd.IntN(4))}
	n := 1 + s.rnd.IntN(6)
	gpuGroup := s.rnd.IntN(3) == 0
	for range n {
		b := Bundle{CPU: Quantity(1+s.rnd.IntN(4)) * Unit}
		if gpuGroup {
			b[GPU] = Quantity(1+s.rnd.IntN(2)) * Unit
		}
		g.Bundles = append(g.Bundles, b)
	}
	if s.rnd.IntN(4) == 0 {
		g.Selectors = make([]Selector, n)
		g.Selectors[0] = Selector{{Key: "zone", Op: OpIn, Values: []string{"z2"}}}
	}
	return g
}

// placeLost re-places the lost bundles of g; it reports whether it did.
func (s *simCluster) placeLost(g *simGroup) bool {
	sub := GroupRequest{Strategy: g.req.Strategy, Avoid: map[string]bool{}}
	var lost []int
	for i, n := range g.nodes {
		if n == "" {
			lost = append(lost, i)
			sub.Bundles = append(sub.Bundles, g.req.Bundles[i])
			if g.req.Selectors != nil {
				sub.Selectors = append(sub.Selectors, g.req.Selectors[i])
			}
		} else if g.req.Strategy == GroupStrictSpread {
			sub.Avoid[n] = true
		}
	}
	if len(lost) == 0 || (g.req.Strategy == GroupStrictPack && len(lost) < len(g.nodes)) {
		return false
	}
	nodes, err := s.v.ReserveGroup(sub)
	if err != nil {
		return false
	}
	checkGroupPlacement(s.t, s.v, sub, nodes)
	for k, i := range lost {
		g.nodes[i] = nodes[k]
		s.take(nodes[k], g.req.Bundles[i])
	}
	checkGroupPlacement(s.t, s.v, g.req, g.nodes)
	return true
}

// TestSimulatedCluster drives a 1,000-node heterogeneous view through
// thousands of placements, group creations and removals and node deaths.
func TestSimulatedCluster(t *testing.T) {
	s := &simCluster{t: t, v: NewView(), rnd: rand.New(rand.NewPCG(42, 7)), reserved: map[string]Resources{}, stats: map[string]int{}}
	for range 1000 {
		s.addNode()
	}
	s.check(0, "start")
	const steps = 4000
	for step := 1; step <= steps; step++ {
		var what string
		switch op := s.rnd.IntN(100); {
		case op < 45: // place a task
			what = "pick"
			req := s.randomRequest()
			node, err := s.v.Pick(req, s.rnd)
			switch {
			case err == nil:
				n := s.v.nodes[node]
				if !n.qualifies(&req) || !req.Resources.Fits(n.Available) {
					t.Fatalf("step %d: picked %s for %v: labels %v, available {%v}", step, node, req, n.Labels, n.Available)
				}
				if req.Strategy == NodeAffinity && !req.AffinitySoft && node != req.AffinityNode {
					t.Fatalf("step %d: hard affinity to %s placed on %s", step, req.AffinityNode, node)
				}
				if err := s.v.Allocate(node, req.Resources); err != nil {
					t.Fatal(err)
				}
				s.take(node, req.Resources)
				s.tasks = append(s.tasks, simTask{node, req.Resources})
				s.stats["placed"]++
			case errors.Is(err, ErrNoCapacity), errors.Is(err, ErrInfeasible):
				s.stats["unplaced"]++
			default:
				t.Fatalf("step %d: Pick(%v): %v", step, req, err)
			}
		case op < 70: // a task ends
			what = "task end"
			if len(s.tasks) == 0 {
				continue
			}
			i := s.rnd.IntN(len(s.tasks))
			task := s.tasks[i]
			s.tasks[i] = s.tasks[len(s.tasks)-1]
			s.tasks = s.tasks[:len(s.tasks)-1]
			if _, ok := s.v.nodes[task.node]; ok {
				s.v.Free(task.node, task.res)
				s.give(task.node, task.res)
			}
		case op < 85: // create a group
			what = "group create"
			req := s.randomGroup()
			nodes, err := s.v.ReserveGroup(req)
			if err != nil {
				if !errors.Is(err, ErrNoCapacity) && !errors.Is(err, ErrInfeasible) {
					t.Fatalf("step %d: ReserveGroup: %v", step, err)
				}
				s.stats["group refused"]++
				continue
			}
			checkGroupPlacement(t, s.v, req, nodes)
			for i, n := range nodes {
				s.take(n, req.Bundles[i])
			}
			s.groups = append(s.groups, &simGroup{req: req, nodes: nodes})
			s.stats["groups"]++
		case op < 96: // remove a group
			what = "group remove"
			if len(s.groups) == 0 {
				continue
			}
			i := s.rnd.IntN(len(s.groups))
			g := s.groups[i]
			s.groups = append(s.groups[:i], s.groups[i+1:]...)
			for b, n := range g.nodes {
				if n != "" {
					s.v.Free(n, g.req.Bundles[b])
					s.give(n, g.req.Bundles[b])
				}
			}
		case op < 98: // a node dies; its tasks go, its bundles are re-placed
			what = "node death"
			ids := s.v.ids
			dead := ids[s.rnd.IntN(len(ids))]
			s.v.Remove(dead)
			delete(s.reserved, dead)
			kept := s.tasks[:0]
			for _, task := range s.tasks {
				if task.node != dead {
					kept = append(kept, task)
				}
			}
			s.tasks = kept
			for _, g := range s.groups {
				for b, n := range g.nodes {
					if n == dead {
						g.nodes[b] = ""
					}
				}
			}
			s.stats["deaths"]++
			s.addNode() // a replacement joins
		default: // retry groups that lost bundles
			what = "re-place"
			for _, g := range s.groups {
				if s.placeLost(g) {
					s.stats["re-placed"]++
				}
			}
		}
		s.check(step, what)
	}
	t.Logf("%d steps on %d nodes: %v", steps, len(s.v.ids), s.stats)
	if s.stats["placed"] < 1000 || s.stats["groups"] < 300 || s.stats["deaths"] < 50 || s.stats["re-placed"] == 0 {
		t.Fatalf("the simulation exercised too little: %v", s.stats)
	}
	// Everything back: the cluster is idle again.
	for _, task := range s.tasks {
		s.v.Free(task.node, task.res)
		s.give(task.node, task.res)
	}
	for _, g := range s.groups {
		for b, n := range g.nodes {
			if n != "" {
				s.v.Free(n, g.req.Bundles[b])
				s.give(n, g.req.Bundles[b])
			}
		}
	}
	s.check(steps+1, "drain")
	for id, n := range s.v.nodes {
		if !n.Available.Equal(n.Total) {
			t.Fatalf("node %s not idle after drain: {%v} of {%v}", id, n.Available, n.Total)
		}
	}
}

// checkGroupPlacement verifies a group's placement against its strategy
// and selectors.
func checkGroupPlacement(t *testing.T, v *View, req GroupRequest, nodes []string) {
	t.Helper()
	distinct := map[string]bool{}
	for i, n := range nodes {
		distinct[n] = true
		if req.Selectors != nil && !req.Selectors[i].Matches(v.nodes[n].Labels) {
			t.Fatalf("bundle %d on %s breaks its selector %v", i, n, req.Selectors[i])
		}
		if req.Avoid[n] {
			t.Fatalf("bundle %d on avoided node %s", i, n)
		}
	}
	switch req.Strategy {
	case GroupStrictPack:
		if len(distinct) != 1 {
			t.Fatalf("STRICT_PACK on %d nodes", len(distinct))
		}
	case GroupStrictSpread:
		if len(distinct) != len(nodes) {
			t.Fatalf("STRICT_SPREAD of %d bundles on %d nodes", len(nodes), len(distinct))
		}
	}
}
