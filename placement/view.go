package placement

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
)

// Node is one node as the view sees it.
type Node struct {
	ID        string
	Total     Resources // capacity when idle
	Available Resources // what is free now
	Labels    map[string]string
	Alive     bool

	// idle caches whether every resource of the node is used below the
	// spread threshold, so that the hybrid policy knows without a scan
	// how many nodes would score 0; slot is the node's position in the
	// view's idle index while it is alive and idle.
	idle bool
	slot int
	// gpu caches whether the node has GPUs at all (its shape).
	gpu bool
}

func (n Node) clone() Node {
	n.Total = n.Total.Clone()
	n.Available = n.Available.Clone()
	n.Labels = maps.Clone(n.Labels)
	return n
}

// matches reports whether n carries every label in sel with the same value.
func (n *Node) matches(sel map[string]string) bool {
	for k, v := range sel {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// qualifies reports whether n satisfies req's hard label constraints.
func (n *Node) qualifies(req *Request) bool {
	return n.matches(req.Labels) && req.Selector.Matches(n.Labels)
}

// utilization is the largest used/total fraction over the kinds r asks for,
// clamped to [0, 1]; it is 0 when r asks for nothing.
func (n *Node) utilization(r Resources) float64 {
	u := 0.0
	for name, q := range r {
		total := n.Total[name]
		if q <= 0 || total <= 0 {
			continue
		}
		used := float64(total-n.Available[name]) / float64(total)
		u = max(u, min(used, 1))
	}
	return u
}

// Config tunes the scheduling policies. The defaults follow Ray's.
type Config struct {
	// SpreadThreshold is the utilization below which the hybrid policy
	// treats a node as idle (score 0) and keeps work on the local node.
	SpreadThreshold float64
	// TopKFraction sizes the hybrid policy's random choice: it picks among
	// the max(1, TopKFraction × alive nodes) best-scoring nodes.
	TopKFraction float64
	// AvoidGPUNodes makes the hybrid policy place requests that ask for no
	// GPU on nodes without GPUs whenever one of those can take them, keeping
	// GPU nodes free for GPU work.
	AvoidGPUNodes bool
}

// DefaultConfig returns Ray's defaults: threshold 0.5, top-k 20 %, GPU
// nodes avoided for work that needs no GPU.
func DefaultConfig() Config {
	return Config{SpreadThreshold: 0.5, TopKFraction: 0.2, AvoidGPUNodes: true}
}

// View is the placement actor's picture of the cluster: each node's
// capacity, current availability, labels and liveness. Its decisions are
// deterministic given the same calls and the same random source.
//
// A View is not safe for concurrent use; it belongs to a single actor.
type View struct {
	cfg   Config
	nodes map[string]*Node
	ids   []string // sorted keys of nodes
	list  []*Node  // nodes in the order of ids
	// lastSpread is the node the Spread policy chose last, so that ties
	// rotate through the cluster.
	lastSpread string
	// Kept up to date on every change, so that a pick need not scan the
	// cluster: the count of alive nodes, and the alive idle nodes.
	nAlive int
	idle   idleIndex
	// scratch is reused by the hybrid policy's full scan.
	scratch []scored
	// picked is the node Pick chose last, found again without a lookup
	// when the caller commits the pick (node).
	picked *Node
}

type scored struct {
	n *Node
	s float64
}

// isIdle reports whether every resource of n is used below the spread
// threshold.
func (v *View) isIdle(n *Node) bool { return v.idleIn(n, n.Total) }

// idleIn reports whether every resource of n named in kinds is used below
// the spread threshold.
func (v *View) idleIn(n *Node, kinds Resources) bool {
	for name := range kinds {
		if t := n.Total[name]; t > 0 && float64(t-n.Available[name]) >= v.cfg.SpreadThreshold*float64(t) {
			return false
		}
	}
	return true
}

// count adds (sign 1) or removes (sign -1) n from the view's count of
// alive nodes and its idle index.
func (v *View) count(n *Node, sign int) {
	if !n.Alive {
		return
	}
	v.nAlive += sign
	switch {
	case !n.idle:
	case sign > 0:
		v.idle.add(n)
	default:
		v.idle.remove(n)
	}
}

// setIdle records whether n is idle, keeping the idle index right.
func (v *View) setIdle(n *Node, idle bool) {
	was := n.idle
	n.idle = idle
	switch {
	case !n.Alive || was == idle:
	case idle:
		v.idle.add(n)
	default:
		v.idle.remove(n)
	}
}

// taken subtracts r, which fits, from n's availability. Only the kinds r
// names can leave the idle range, and none can enter it.
func (v *View) taken(n *Node, r Resources) {
	n.take(r)
	v.setIdle(n, n.idle && v.idleIn(n, r))
}

// NewView returns an empty view with DefaultConfig.
func NewView() *View { return NewViewWithConfig(DefaultConfig()) }

// NewViewWithConfig returns an empty view using cfg.
func NewViewWithConfig(cfg Config) *View {
	return &View{cfg: cfg, nodes: make(map[string]*Node)}
}

// Upsert adds n or replaces the node with the same ID. The view keeps its
// own copy. It fails with ErrInvalidRequest for an empty ID and with
// ErrInvalidResource for invalid names or negative amounts.
func (v *View) Upsert(n Node) error {
	if n.ID == "" {
		return fmt.Errorf("%w: node without ID", ErrInvalidRequest)
	}
	if err := checkAmounts(n.Total); err != nil {
		return fmt.Errorf("node %s total: %w", n.ID, err)
	}
	if err := checkAmounts(n.Available); err != nil {
		return fmt.Errorf("node %s available: %w", n.ID, err)
	}
	c := n.clone()
	c.slot, c.gpu = -1, c.Total[GPU] > 0
	i, _ := slices.BinarySearch(v.ids, n.ID)
	if old, ok := v.nodes[n.ID]; !ok {
		v.ids = slices.Insert(v.ids, i, n.ID)
		v.list = slices.Insert(v.list, i, &c)
	} else {
		v.count(old, -1)
		v.list[i] = &c
	}
	c.idle = v.isIdle(&c)
	v.count(&c, 1)
	v.nodes[n.ID] = &c
	v.picked = nil // it may be the node replaced
	return nil
}

// node returns the node with id: callers commit the node they just
// picked, so that one is checked first.
func (v *View) node(id string) (*Node, bool) {
	if p := v.picked; p != nil && p.ID == id {
		return p, true
	}
	n, ok := v.nodes[id]
	return n, ok
}

// Remove forgets the node; unknown IDs are ignored.
func (v *View) Remove(id string) {
	n, ok := v.nodes[id]
	if !ok {
		return
	}
	v.count(n, -1)
	delete(v.nodes, id)
	v.picked = nil
	if i, ok := slices.BinarySearch(v.ids, id); ok {
		v.ids = slices.Delete(v.ids, i, i+1)
		v.list = slices.Delete(v.list, i, i+1)
	}
}

// SetAvailable records a node's current availability, as reported by its
// raylet. It fails with ErrUnknownNode or ErrInvalidResource.
func (v *View) SetAvailable(id string, avail Resources) error {
	n, ok := v.nodes[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownNode, id)
	}
	if err := checkAmounts(avail); err != nil {
		return fmt.Errorf("node %s available: %w", id, err)
	}
	n.Available = avail.Clone()
	v.setIdle(n, v.isIdle(n))
	return nil
}

// Allocate subtracts r from the node's availability, so that decisions taken
// before the node's next report account for it. It fails with ErrUnknownNode,
// or ErrInsufficient leaving the node unchanged.
func (v *View) Allocate(id string, r Resources) error {
	n, ok := v.node(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownNode, id)
	}
	if !r.Fits(n.Available) {
		_, err := n.Available.Sub(r) // names what is short
		return fmt.Errorf("node %s: %w", id, err)
	}
	v.taken(n, r)
	return nil
}

// take subtracts r, which fits, from n's availability. The view owns the
// node's maps: they change in place.
func (n *Node) take(r Resources) {
	for name, q := range r {
		if q > 0 {
			if left := n.Available[name] - q; left == 0 {
				delete(n.Available, name)
			} else {
				n.Available[name] = left
			}
		}
	}
}

// Free adds r back to the node's availability, never beyond its total.
// Unknown nodes are ignored: a node that left has nothing to give back.
func (v *View) Free(id string, r Resources) {
	n, ok := v.node(id)
	if !ok {
		return
	}
	if n.Available == nil {
		n.Available = Resources{}
	}
	for name, q := range r {
		if q <= 0 {
			continue
		}
		if got := min(addSat(n.Available[name], q), n.Total[name]); got > 0 {
			n.Available[name] = got
		} else {
			delete(n.Available, name)
		}
	}
	// Freeing cannot make an idle node busy.
	if !n.idle {
		v.setIdle(n, v.isIdle(n))
	}
}

// Node returns a copy of the node with the given ID.
func (v *View) Node(id string) (Node, bool) {
	n, ok := v.nodes[id]
	if !ok {
		return Node{}, false
	}
	return n.clone(), true
}

// Nodes returns copies of all nodes, sorted by ID.
func (v *View) Nodes() []Node {
	out := make([]Node, 0, len(v.ids))
	for _, id := range v.ids {
		out = append(out, v.nodes[id].clone())
	}
	return out
}

// Strategy selects how Pick chooses among nodes.
type Strategy int

const (
	// Default is Ray's hybrid policy: keep work on the caller's node while
	// it is lightly used, otherwise pick among the least-used nodes.
	Default Strategy = iota
	// Spread places work on the least-used node, rotating among equals.
	Spread
	// NodeAffinity places work on Request.AffinityNode.
	NodeAffinity
)

func (s Strategy) String() string {
	switch s {
	case Default:
		return "DEFAULT"
	case Spread:
		return "SPREAD"
	case NodeAffinity:
		return "NODE_AFFINITY"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Request describes what a task or actor needs and how to place it.
type Request struct {
	Resources Resources
	Strategy  Strategy
	// Local is the caller's node, preferred by the Default strategy.
	Local string
	// AffinityNode is the target of the NodeAffinity strategy.
	AffinityNode string
	// AffinitySoft lets NodeAffinity fall back to Default when the target
	// is unknown, dead, or could never fit the request. A target that could
	// fit but is busy yields ErrNoCapacity even when soft, as in Ray: the
	// work waits for its node.
	AffinitySoft bool
	// Labels restricts placement to nodes carrying all these labels with
	// exactly these values.
	Labels map[string]string
	// Selector restricts placement to nodes whose labels match it (a hard
	// label selector).
	Selector Selector
	// Prefer is a soft label selector: among the nodes that could take the
	// request now, those matching it are chosen when there are any.
	Prefer Selector
}

func (r Request) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{%s}", r.Resources)
	if len(r.Labels) > 0 {
		b.WriteString(" labels{")
		for i, k := range slices.Sorted(maps.Keys(r.Labels)) {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%s", k, r.Labels[k])
		}
		b.WriteByte('}')
	}
	if len(r.Selector) > 0 {
		fmt.Fprintf(&b, " selector{%v}", r.Selector)
	}
	return b.String()
}

// Pick chooses a node for req without changing the view; callers that
// commit the choice before the node reports again use Allocate.
//
// It fails with ErrInvalidResource or ErrInvalidRequest for a malformed
// request; with ErrInfeasible when no alive node matching the labels has the
// total capacity the request needs (the message names the request and the
// closest node); and with ErrNoCapacity when some node could fit the request
// but none has it available now, in which case the caller queues it.
//
// Default (Ray's hybrid policy): the Local node is chosen if it is alive,
// matches, has the resources available and its utilization is below
// Config.SpreadThreshold. Otherwise each node with the resources available
// is scored by its utilization (the largest used/total fraction over the
// requested kinds; 0 below the threshold), and the choice is random among
// the k lowest scores, k = max(1, Config.TopKFraction × alive nodes), ties
// broken at random. When at least k nodes are idle (every resource below
// the threshold) the k best all score 0, and the pick is a random idle node
// that fits, drawn from the view's index of idle nodes by shape without
// scoring the whole cluster (a GPU request draws among nodes with GPUs). With
// Config.AvoidGPUNodes, a request without GPUs first considers only nodes
// without GPUs. A nil rnd makes every random choice the first candidate in
// ID order.
//
// Spread: the node with the lowest utilization, ties broken by rotating
// through node IDs after the previous Spread choice.
//
// NodeAffinity: the target node if it has the resources available;
// ErrNoCapacity if it could fit them but is busy; otherwise ErrInfeasible
// for a hard affinity and the Default policy for a soft one.
//
// Labels and Selector restrict every strategy; Prefer steers Default and
// Spread towards matching nodes when one of them can take the request now.
func (v *View) Pick(req Request, rnd *rand.Rand) (string, error) {
	if err := ValidateRequest(req.Resources); err != nil {
		return "", err
	}
	if err := req.Selector.Validate(); err != nil {
		return "", err
	}
	if err := req.Prefer.Validate(); err != nil {
		return "", err
	}
	var n *Node
	var err error
	switch req.Strategy {
	case Default:
		n, err = v.pickHybrid(&req, rnd)
	case Spread:
		n, err = v.pickSpread(&req)
	case NodeAffinity:
		n, err = v.pickAffinity(&req, rnd)
	default:
		return "", fmt.Errorf("%w: unknown strategy %v", ErrInvalidRequest, req.Strategy)
	}
	if err != nil {
		return "", err
	}
	v.picked = n
	return n.ID, nil
}

// Feasible reports whether some alive node satisfying req's hard label
// constraints could fit its resources when idle; the error says why not.
func (v *View) Feasible(req Request) error {
	for _, id := range v.ids {
		n := v.nodes[id]
		if n.Alive && n.qualifies(&req) && req.Resources.Fits(n.Total) {
			return nil
		}
	}
	return v.infeasible(&req)
}

// feasibleCount returns how many alive nodes satisfy req's labels and
// could fit it when idle, or an ErrInfeasible error when none does.
func (v *View) feasibleCount(req *Request) (int, error) {
	count := 0
	for _, id := range v.ids {
		n := v.nodes[id]
		if n.Alive && n.qualifies(req) && req.Resources.Fits(n.Total) {
			count++
		}
	}
	if count == 0 {
		return 0, v.infeasible(req)
	}
	return count, nil
}

// infeasible builds the ErrInfeasible error for req, naming the alive
// matching node whose total comes closest to covering it.
func (v *View) infeasible(req *Request) error {
	var best *Node
	bestCover := -1.0
	for _, id := range v.ids {
		n := v.nodes[id]
		if !n.Alive || !n.qualifies(req) {
			continue
		}
		if c := coverage(req.Resources, n.Total); c > bestCover {
			best, bestCover = n, c
		}
	}
	if best == nil {
		if len(req.Labels) > 0 || len(req.Selector) > 0 {
			return fmt.Errorf("%w: request %v: no alive node matches the labels", ErrInfeasible, req)
		}
		return fmt.Errorf("%w: request %v: no alive node", ErrInfeasible, req)
	}
	return fmt.Errorf("%w: request %v fits no alive node; largest is %s with {%v}",
		ErrInfeasible, req, best.ID, best.Total)
}

// coverage sums, over the kinds r asks for, the fraction of the request that
// total covers (each at most 1).
func coverage(r, total Resources) float64 {
	c := 0.0
	for name, q := range r {
		if q > 0 {
			c += min(1, float64(total[name])/float64(q))
		}
	}
	return c
}

// score is the hybrid policy's score of n for req: 0 below the spread
// threshold, else the utilization.
func (v *View) score(n *Node, req *Request) float64 {
	u := n.utilization(req.Resources)
	if u < v.cfg.SpreadThreshold {
		return 0
	}
	return u
}

// readyIdle reports whether n can take req now and scores 0 for it: every
// kind req asks for is used below the spread threshold. It is ready and
// score in one pass over the request.
func (v *View) readyIdle(n *Node, req *Request) bool {
	if !n.Alive || !n.qualifies(req) {
		return false
	}
	for name, q := range req.Resources {
		if q <= 0 {
			continue
		}
		avail := n.Available[name]
		if avail < q {
			return false
		}
		if t := n.Total[name]; t > 0 && float64(t-avail) >= v.cfg.SpreadThreshold*float64(t) {
			return false
		}
	}
	return true
}

// ready reports whether n can take req now.
func ready(n *Node, req *Request) bool {
	return n.Alive && n.qualifies(req) && req.Resources.Fits(n.Available)
}

func (v *View) pickHybrid(req *Request, rnd *rand.Rand) (*Node, error) {
	avoidGPU := v.cfg.AvoidGPUNodes && req.Resources[GPU] <= 0
	// The local node while it is lightly used.
	if n := v.nodes[req.Local]; n != nil && (!avoidGPU || !n.gpu) && v.readyIdle(n, req) && req.Prefer.Matches(n.Labels) {
		return n, nil
	}
	k := max(1, int(v.cfg.TopKFraction*float64(v.nAlive)))
	if v.idle.size(!avoidGPU, true) >= k {
		// The k best score 0: any idle node that fits will do. Only nodes
		// with GPUs can take a GPU request.
		gpu, cpu := !avoidGPU, req.Resources[GPU] <= 0
		ok := func(n *Node) bool { return ready(n, req) && req.Prefer.Matches(n.Labels) }
		if rnd == nil {
			// Deterministic: the first in ID order.
			for _, n := range v.list {
				if n.idle && n.Alive && (gpu || !n.gpu) && (cpu || n.gpu) && ok(n) {
					return n, nil
				}
			}
		} else if n := v.idle.find(rnd, gpu, cpu, ok); n != nil {
			return n, nil
		}
	}
	return v.scanHybrid(req, rnd, avoidGPU, k)
}

// scanHybrid scores every node that can take req now and picks at random
// among the k best.
func (v *View) scanHybrid(req *Request, rnd *rand.Rand, avoidGPU bool, k int) (*Node, error) {
	cand := v.scratch[:0]
	defer func() { v.scratch = cand[:0] }()
	// Passes from the most to the least preferred set of nodes: matching
	// the soft selector and without GPUs, then relaxing one, then both.
	var keep func(n *Node) bool
	for _, p := range [][2]bool{{true, true}, {true, false}, {false, true}, {false, false}} {
		prefer, noGPU := p[0], p[1]
		if (prefer && len(req.Prefer) == 0) || (noGPU && !avoidGPU) {
			continue
		}
		keep = func(n *Node) bool {
			return (!noGPU || !n.gpu) && ready(n, req) && (!prefer || req.Prefer.Matches(n.Labels))
		}
		for _, n := range v.list {
			if keep(n) {
				cand = append(cand, scored{n, v.score(n, req)})
			}
		}
		if len(cand) > 0 {
			break
		}
	}
	if len(cand) == 0 {
		count, err := v.feasibleCount(req)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: request %v: %d feasible nodes, none with the resources available",
			ErrNoCapacity, req, count)
	}
	pickOf := func(n int) int {
		if rnd == nil {
			return 0
		}
		return rnd.IntN(n)
	}
	zeros := 0
	for _, c := range cand {
		if c.n.ID == req.Local && c.s == 0 {
			return c.n, nil
		}
		if c.s == 0 {
			zeros++
		}
	}
	if zeros < k {
		// Fewer than k idle candidates: rank them all by score.
		slices.SortStableFunc(cand, func(a, b scored) int { return cmp.Compare(a.s, b.s) })
		return cand[pickOf(min(k, len(cand)))].n, nil
	}
	// The k best all score 0: any of the idle ones.
	i := pickOf(zeros)
	for _, c := range cand {
		if c.s == 0 {
			if i == 0 {
				return c.n, nil
			}
			i--
		}
	}
	return cand[0].n, nil
}

func (v *View) pickSpread(req *Request) (*Node, error) {
	var best []*Node
	bestU := 2.0
	for _, prefer := range []bool{true, false} {
		if prefer && len(req.Prefer) == 0 {
			continue
		}
		for _, id := range v.ids {
			n := v.nodes[id]
			if !ready(n, req) || (prefer && !req.Prefer.Matches(n.Labels)) {
				continue
			}
			switch u := n.utilization(req.Resources); {
			case u < bestU:
				best, bestU = []*Node{n}, u
			case u == bestU:
				best = append(best, n)
			}
		}
		if len(best) > 0 {
			break
		}
	}
	if len(best) == 0 {
		count, err := v.feasibleCount(req)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: request %v: %d feasible nodes, none with the resources available",
			ErrNoCapacity, req, count)
	}
	// best is in ID order: take the first ID after the previous choice,
	// wrapping around.
	choice := best[0]
	for _, n := range best {
		if n.ID > v.lastSpread {
			choice = n
			break
		}
	}
	v.lastSpread = choice.ID
	return choice, nil
}

func (v *View) pickAffinity(req *Request, rnd *rand.Rand) (*Node, error) {
	if req.AffinityNode == "" {
		return nil, fmt.Errorf("%w: node affinity without a node", ErrInvalidRequest)
	}
	n, ok := v.nodes[req.AffinityNode]
	var why string
	switch {
	case !ok:
		why = "is unknown"
	case !n.Alive:
		why = "is dead"
	case !n.qualifies(req):
		why = "does not match the labels"
	case !req.Resources.Fits(n.Total):
		why = fmt.Sprintf("has only {%v} in total", n.Total)
	case !req.Resources.Fits(n.Available):
		return nil, fmt.Errorf("%w: request %v: node %s has {%v} available",
			ErrNoCapacity, req, n.ID, n.Available)
	default:
		return n, nil
	}
	if req.AffinitySoft {
		return v.pickHybrid(req, rnd)
	}
	return nil, fmt.Errorf("%w: request %v: affinity node %s %s", ErrInfeasible, req, req.AffinityNode, why)
}

func checkAmounts(r Resources) error {
	for _, name := range r.names() {
		if !ValidName(name) {
			return fmt.Errorf("%w: invalid resource name %q", ErrInvalidResource, name)
		}
		if r[name] < 0 {
			return fmt.Errorf("%w: resource %s: %v is negative", ErrInvalidResource, name, r[name])
		}
	}
	return nil
}
