package placement

import "math/rand/v2"

// idleIndex keeps the alive idle nodes of a view (every resource used
// below the spread threshold) in dense sets by shape: nodes without GPUs
// and nodes with them. A set supports adding, removing and drawing a
// uniformly random member in constant time, so the hybrid policy finds an
// idle node for a request by touching a bounded number of nodes whatever
// the size of the cluster. A GPU request only looks among GPU nodes; work
// that avoids GPU nodes only among the others.
type idleIndex struct {
	sets [2][]*Node // by shapeOf
}

// shapeOf is the index of n's set: 1 for nodes with GPUs.
func shapeOf(n *Node) int {
	if n.gpu {
		return 1
	}
	return 0
}

// add puts n, which is in no set, into its shape's set.
func (x *idleIndex) add(n *Node) {
	s := &x.sets[shapeOf(n)]
	n.slot = len(*s)
	*s = append(*s, n)
}

// remove takes n, which is in its shape's set, out of it: the last member
// moves into its slot.
func (x *idleIndex) remove(n *Node) {
	s := &x.sets[shapeOf(n)]
	last := len(*s) - 1
	moved := (*s)[last]
	(*s)[n.slot], moved.slot = moved, n.slot
	(*s)[last] = nil
	*s = (*s)[:last]
	n.slot = -1
}

// size counts the members of the sets a request considers.
func (x *idleIndex) size(gpu, cpu bool) int {
	n := 0
	if cpu {
		n += len(x.sets[0])
	}
	if gpu {
		n += len(x.sets[1])
	}
	return n
}

// at returns the i-th member of the considered sets, CPU set first.
func (x *idleIndex) at(i int, gpu, cpu bool) *Node {
	if cpu {
		if i < len(x.sets[0]) {
			return x.sets[0][i]
		}
		i -= len(x.sets[0])
	}
	return x.sets[1][i]
}

// idleProbes is how many random members a pick tries before it walks the
// considered sets.
const idleProbes = 8

// find returns an idle node for which ok holds, from the sets without GPUs
// (cpu) and with (gpu): a random member, tried up to idleProbes times, and
// failing that the first that qualifies in a walk from a random member. It
// returns nil when none qualifies.
func (x *idleIndex) find(rnd *rand.Rand, gpu, cpu bool, ok func(*Node) bool) *Node {
	size := x.size(gpu, cpu)
	if size == 0 {
		return nil
	}
	for range min(idleProbes, size) {
		if n := x.at(rnd.IntN(size), gpu, cpu); ok(n) {
			return n
		}
	}
	start := rnd.IntN(size)
	for i := range size {
		if n := x.at((start+i)%size, gpu, cpu); ok(n) {
			return n
		}
	}
	return nil
}
