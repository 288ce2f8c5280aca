package placement

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Bundle is the resource set of one placement-group bundle.
type Bundle = Resources

// GroupStrategy says how the bundles of a placement group relate to nodes.
type GroupStrategy int

const (
	// GroupPack places bundles on as few nodes as possible, all on one when
	// they fit there.
	GroupPack GroupStrategy = iota
	// GroupSpread places bundles on distinct nodes where it can and shares
	// nodes only when it must.
	GroupSpread
	// GroupStrictPack places every bundle on one node.
	GroupStrictPack
	// GroupStrictSpread places every bundle on a different node.
	GroupStrictSpread
)

var groupStrategyNames = [...]string{"PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"}

func (s GroupStrategy) String() string {
	if s >= 0 && int(s) < len(groupStrategyNames) {
		return groupStrategyNames[s]
	}
	return fmt.Sprintf("GroupStrategy(%d)", int(s))
}

// ParseGroupStrategy parses Ray's names: PACK, SPREAD, STRICT_PACK,
// STRICT_SPREAD (case-insensitive).
func ParseGroupStrategy(s string) (GroupStrategy, error) {
	for i, name := range groupStrategyNames {
		if strings.EqualFold(s, name) {
			return GroupStrategy(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown placement group strategy %q", ErrInvalidRequest, s)
}

// searchBudget bounds the backtracking search for PACK and SPREAD. When it
// runs out the group is reported as lacking capacity rather than
// infeasible, so that a group is never failed without proof.
const searchBudget = 10000

// Reserve places the bundles of a placement group all or nothing. On success
// it returns the node of each bundle, in bundle order, and subtracts the
// bundles from those nodes' availability. On failure the view is unchanged
// and the error wraps ErrInvalidResource or ErrInvalidRequest (malformed
// group), ErrInfeasible (no alive nodes could ever hold the group under its
// strategy) or ErrNoCapacity (they could, but not with what is available
// now).
//
// STRICT_PACK and STRICT_SPREAD are decided exactly (the latter as a
// bipartite matching of bundles to nodes). PACK and SPREAD use a bounded
// backtracking search: PACK first tries a single node and then prefers
// nodes the group already uses and the tightest fit; SPREAD prefers nodes
// holding the fewest of the group's bundles, then the least used.
func (v *View) Reserve(bundles []Bundle, s GroupStrategy) ([]string, error) {
	return v.ReserveGroup(GroupRequest{Bundles: bundles, Strategy: s})
}

// GroupRequest is a placement group to place with ReserveGroup.
type GroupRequest struct {
	Bundles  []Bundle
	Strategy GroupStrategy
	// Selectors optionally restricts each bundle to the nodes matching
	// its selector: nil, or one (possibly empty) selector per bundle.
	Selectors []Selector
	// Avoid lists nodes no bundle may use: when a group re-places the
	// bundles it lost, a STRICT_SPREAD group avoids the nodes it holds.
	Avoid map[string]bool
}

// ReserveGroup is Reserve with per-bundle label selectors and nodes to
// avoid. It fails like Reserve, and with ErrInvalidRequest for a malformed
// selector or a selector list of the wrong length.
func (v *View) ReserveGroup(g GroupRequest) ([]string, error) {
	bundles, s := g.Bundles, g.Strategy
	if g.Selectors != nil && len(g.Selectors) != len(bundles) {
		return nil, fmt.Errorf("%w: %d selectors for %d bundles", ErrInvalidRequest, len(g.Selectors), len(bundles))
	}
	for i, sel := range g.Selectors {
		if err := sel.Validate(); err != nil {
			return nil, fmt.Errorf("bundle %d: %w", i, err)
		}
	}
	allow := func(i int, n *Node) bool { return g.Selectors == nil || g.Selectors[i].Matches(n.Labels) }
	if len(bundles) == 0 {
		return nil, fmt.Errorf("%w: placement group without bundles", ErrInvalidRequest)
	}
	for i, b := range bundles {
		if err := ValidateRequest(b); err != nil {
			return nil, fmt.Errorf("bundle %d: %w", i, err)
		}
		if b.IsZero() {
			return nil, fmt.Errorf("%w: bundle %d is empty", ErrInvalidResource, i)
		}
	}
	if s < GroupPack || s > GroupStrictSpread {
		return nil, fmt.Errorf("%w: unknown placement group strategy %v", ErrInvalidRequest, s)
	}
	var nodes []*Node
	for _, id := range v.ids {
		if n := v.nodes[id]; n.Alive && !g.Avoid[id] {
			nodes = append(nodes, n)
		}
	}
	total := func(n *Node) Resources { return n.Total }
	avail := func(n *Node) Resources { return n.Available }

	// What is available now first; when that fails, the totals say
	// whether the group could ever fit.
	assign, _ := solve(bundles, nodes, s, avail, allow, g.Selectors != nil)
	if assign == nil {
		if never, err := solve(bundles, nodes, s, total, allow, g.Selectors != nil); never == nil && err != nil {
			return nil, fmt.Errorf("%w: placement group %v %s: %v", ErrInfeasible, s, describe(bundles), err)
		}
		// Feasible, or the search budget ran out: not proven infeasible.
		return nil, fmt.Errorf("%w: placement group %v %s: not enough resources available now",
			ErrNoCapacity, s, describe(bundles))
	}
	out := make([]string, len(bundles))
	for i, n := range assign {
		out[i] = n.ID
	}
	for i, n := range assign {
		// solve checked every bundle against what remained.
		v.taken(n, bundles[i])
	}
	return out, nil
}

// Release gives the bundles of a placement group back to their nodes, never
// beyond a node's total. Nodes that have left the view are skipped. It fails
// with ErrInvalidRequest, changing nothing, when the slices differ in length.
func (v *View) Release(nodes []string, bundles []Bundle) error {
	if len(nodes) != len(bundles) {
		return fmt.Errorf("%w: release of %d bundles on %d nodes", ErrInvalidRequest, len(bundles), len(nodes))
	}
	for i, id := range nodes {
		v.Free(id, bundles[i])
	}
	return nil
}

func describe(bundles []Bundle) string {
	parts := make([]string, len(bundles))
	for i, b := range bundles {
		parts[i] = "{" + b.String() + "}"
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// solve assigns each bundle to a node, using cap to read a node's capacity.
// It returns the assignment, or nil and a reason when none exists, or nil
// and a nil error when the search budget ran out before deciding.
func solve(bundles []Bundle, nodes []*Node, s GroupStrategy, capOf func(*Node) Resources, allow func(int, *Node) bool, labelled bool) ([]*Node, error) {
	switch s {
	case GroupStrictPack:
		return solveStrictPack(bundles, nodes, capOf, allow)
	case GroupStrictSpread:
		return solveStrictSpread(bundles, nodes, capOf, allow)
	}
	if s == GroupPack {
		if one, _ := solveStrictPack(bundles, nodes, capOf, allow); one != nil {
			return one, nil
		}
	}
	// Cheap proofs of impossibility before searching.
	var sum Resources
	for _, b := range bundles {
		sum = sum.Add(b)
	}
	all := Resources{}
	for _, n := range nodes {
		for name, q := range capOf(n) {
			all[name] = addSat(all[name], q)
		}
	}
	if !sum.Fits(all) {
		return nil, fmt.Errorf("the group needs {%v}, the nodes have {%v}", sum, all)
	}
	for i, b := range bundles {
		if !slices.ContainsFunc(nodes, func(n *Node) bool { return allow(i, n) && b.Fits(capOf(n)) }) {
			return nil, fmt.Errorf("bundle %d {%v} fits no node", i, b)
		}
	}
	sr := newSearch(bundles, nodes, s, capOf)
	sr.allow = allow
	sr.labelled = labelled
	if sr.place(0) {
		return sr.result(), nil
	}
	if sr.budget < 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("no assignment of the bundles to nodes exists")
}

func solveStrictPack(bundles []Bundle, nodes []*Node, capOf func(*Node) Resources, allow func(int, *Node) bool) ([]*Node, error) {
	sum := bundles[0]
	for _, b := range bundles[1:] {
		sum = sum.Add(b)
	}
	var best *Node
	bestLeft := 0.0
nodes:
	for _, n := range nodes {
		c := capOf(n)
		if !sum.Fits(c) {
			continue
		}
		for i := range bundles {
			if !allow(i, n) {
				continue nodes
			}
		}
		// Tightest fit: least capacity left over, relative to each total.
		if left := leftover(n, c, sum); best == nil || left < bestLeft {
			best, bestLeft = n, left
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no node holds {%v}", sum)
	}
	out := make([]*Node, len(bundles))
	for i := range out {
		out[i] = best
	}
	return out, nil
}

// leftover is the sum, over the kinds r asks for, of the fraction of n's
// total that would remain of c after taking r.
func leftover(n *Node, c, r Resources) float64 {
	left := 0.0
	for name, q := range r {
		if t := n.Total[name]; q > 0 && t > 0 {
			left += float64(c[name]-q) / float64(t)
		}
	}
	return left
}

// solveStrictSpread finds a matching of bundles to distinct nodes with
// augmenting paths, trying less-used nodes first.
func solveStrictSpread(bundles []Bundle, nodes []*Node, capOf func(*Node) Resources, allow func(int, *Node) bool) ([]*Node, error) {
	if len(bundles) > len(nodes) {
		return nil, fmt.Errorf("%d bundles need as many distinct nodes, there are %d", len(bundles), len(nodes))
	}
	util := make(map[*Node]float64, len(nodes))
	for _, n := range nodes {
		util[n] = utilOf(n, capOf)
	}
	order := slices.Clone(nodes)
	slices.SortStableFunc(order, func(a, b *Node) int { return cmp.Compare(util[a], util[b]) })
	owner := make(map[*Node]int, len(order)) // node -> bundle index
	var augment func(i int, seen map[*Node]bool) bool
	augment = func(i int, seen map[*Node]bool) bool {
		for _, n := range order {
			if seen[n] || !allow(i, n) || !bundles[i].Fits(capOf(n)) {
				continue
			}
			seen[n] = true
			j, taken := owner[n]
			if !taken || augment(j, seen) {
				owner[n] = i
				return true
			}
		}
		return false
	}
	for i := range bundles {
		if !augment(i, map[*Node]bool{}) {
			return nil, fmt.Errorf("no set of distinct nodes holds the bundles (bundle %d {%v} left over)", i, bundles[i])
		}
	}
	out := make([]*Node, len(bundles))
	for n, i := range owner {
		out[i] = n
	}
	return out, nil
}

// utilOf is the largest used fraction of any of n's resources when its
// capacity is c; it is 0 for an idle node.
func utilOf(n *Node, c func(*Node) Resources) float64 {
	u := 0.0
	cur := c(n)
	for name, t := range n.Total {
		if t > 0 {
			u = max(u, float64(t-cur[name])/float64(t))
		}
	}
	return u
}

// search is a depth-first assignment of bundles, largest first, to nodes in
// the strategy's order of preference, undoing choices that lead nowhere.
type search struct {
	bundles []Bundle
	order   []int // bundle indices, largest first
	nodes   []*Node
	s       GroupStrategy
	left    []Resources // remaining capacity per node
	count   []int       // bundles of the group per node
	choice  []int       // node index per bundle
	budget  int
	allow   func(int, *Node) bool
	// labelled is set when bundles carry selectors.
	labelled bool
}

func newSearch(bundles []Bundle, nodes []*Node, s GroupStrategy, capOf func(*Node) Resources) *search {
	sr := &search{
		bundles: bundles,
		nodes:   nodes,
		s:       s,
		left:    make([]Resources, len(nodes)),
		count:   make([]int, len(nodes)),
		choice:  make([]int, len(bundles)),
		budget:  searchBudget,
	}
	all := Resources{}
	for i, n := range nodes {
		sr.left[i] = capOf(n).Clone()
		for name, q := range n.Total {
			all[name] = addSat(all[name], q)
		}
	}
	// Size of a bundle: the sum of its shares of the cluster's totals.
	size := make([]float64, len(bundles))
	for i, b := range bundles {
		for name, q := range b {
			if t := all[name]; t > 0 {
				size[i] += float64(q) / float64(t)
			}
		}
	}
	sr.order = make([]int, len(bundles))
	for i := range sr.order {
		sr.order[i] = i
	}
	slices.SortStableFunc(sr.order, func(a, b int) int { return cmp.Compare(size[b], size[a]) })
	return sr
}

func (sr *search) place(depth int) bool {
	if depth == len(sr.order) {
		return true
	}
	sr.budget--
	if sr.budget < 0 {
		return false
	}
	bi := sr.order[depth]
	b := sr.bundles[bi]
	tried := make(map[string]bool)
	for _, ni := range sr.candidates(bi) {
		// Nodes in the same state are interchangeable: try one of them.
		key := fmt.Sprintf("%d|%v|%v", sr.count[ni], sr.left[ni], sr.nodes[ni].Total)
		if sr.labelled {
			// Labels tell nodes apart when bundles select by them.
			key += fmt.Sprint(sr.nodes[ni].Labels)
		}
		if tried[key] {
			continue
		}
		tried[key] = true
		prev := sr.left[ni]
		sr.left[ni], _ = prev.Sub(b)
		sr.count[ni]++
		sr.choice[bi] = ni
		if sr.place(depth + 1) {
			return true
		}
		sr.left[ni] = prev
		sr.count[ni]--
		if sr.budget < 0 {
			return false
		}
	}
	return false
}

// candidates lists the nodes that can take bundle bi now, most preferred
// first. Each node's sort keys are computed once, not per comparison.
func (sr *search) candidates(bi int) []int {
	b := sr.bundles[bi]
	type cand struct {
		i     int
		count int
		key   float64
	}
	var cs []cand
	for i := range sr.nodes {
		if !sr.allow(bi, sr.nodes[i]) || !b.Fits(sr.left[i]) {
			continue
		}
		c := cand{i: i, count: sr.count[i]}
		if sr.s == GroupPack {
			c.count = -c.count // nodes already holding bundles first
			c.key = leftover(sr.nodes[i], sr.left[i], b)
		} else {
			left := sr.left[i]
			c.key = utilOf(sr.nodes[i], func(*Node) Resources { return left })
		}
		cs = append(cs, c)
	}
	// PACK: nodes already holding bundles first, then the tightest fit.
	// SPREAD: fewest of the group's bundles, then least used.
	slices.SortStableFunc(cs, func(x, y cand) int {
		if r := cmp.Compare(x.count, y.count); r != 0 {
			return r
		}
		return cmp.Compare(x.key, y.key)
	})
	out := make([]int, len(cs))
	for k, c := range cs {
		out[k] = c.i
	}
	return out
}

func (sr *search) result() []*Node {
	out := make([]*Node, len(sr.bundles))
	for bi, ni := range sr.choice {
		out[bi] = sr.nodes[ni]
	}
	return out
}
