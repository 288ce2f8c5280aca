package cluster

import (
	"hash/maphash"
	"reflect"

	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// ledger accounts a node's resources for its raylet. Every distinct request
// (a shape, Ray's scheduling class) is turned once into a vector over the
// node's resource names, so fitting, allocating and releasing a task touch
// small slices instead of maps. It belongs to the raylet's goroutine.
type ledger struct {
	names  map[string]int
	total  []placement.Quantity
	used   []placement.Quantity
	cpu    int // index of CPU, -1 when the node has none
	shapes map[uint64]*shape

	// last caches the shape of the request map seen last: in process, all
	// calls without resource options share one map. Holding the map keeps
	// its address from being reused by another.
	lastReq   map[string]int64
	lastShape *shape
}

// shape is one distinct resource request and the tasks queued with it.
type shape struct {
	key      uint64
	idx      []int
	q        []placement.Quantity
	cpu, gpu placement.Quantity
	// feasible is false when the node could never fit the request.
	feasible bool
	// err is set for a malformed request (negative amounts, 1.5 GPUs).
	err   error
	tasks fifo
}

func newLedger(total placement.Resources) *ledger {
	l := &ledger{names: map[string]int{}, cpu: -1, shapes: map[uint64]*shape{}}
	for name, q := range total {
		l.names[name] = len(l.total)
		l.total = append(l.total, q)
		l.used = append(l.used, 0)
	}
	if i, ok := l.names[placement.CPU]; ok {
		l.cpu = i
	}
	return l
}

// maxShapes bounds the shapes a ledger remembers.
const maxShapes = 4096

// shapeSeed keys the hash of requests; it is fixed for the process.
var shapeSeed = maphash.MakeSeed()

func sameMap(a, b map[string]int64) bool {
	return a != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// shapeOf returns the shape of a request, creating it on first sight.
func (l *ledger) shapeOf(req map[string]int64) *shape {
	if sameMap(req, l.lastReq) {
		return l.lastShape
	}
	var key uint64
	for k, v := range req {
		key += maphash.String(shapeSeed, k) ^ (uint64(v) * 0x9e3779b97f4a7c15)
	}
	s := l.shapes[key]
	if s == nil {
		if len(l.shapes) >= maxShapes {
			// Forget old shapes; queued and running tasks keep theirs.
			clear(l.shapes)
		}
		s = &shape{key: key, feasible: true, err: placement.ValidateRequest(placement.FromWire(req))}
		for k, v := range req {
			q := placement.Quantity(v)
			if q == 0 {
				continue
			}
			i, ok := l.names[k]
			if !ok || q > l.total[i] {
				s.feasible = false
			}
			if ok {
				s.idx = append(s.idx, i)
				s.q = append(s.q, q)
			}
			switch k {
			case placement.CPU:
				s.cpu = q
			case placement.GPU:
				s.gpu = q
			}
		}
		l.shapes[key] = s
	}
	l.lastReq, l.lastShape = req, s
	return s
}

func (l *ledger) fits(s *shape) bool {
	for j, i := range s.idx {
		if l.used[i]+s.q[j] > l.total[i] {
			return false
		}
	}
	return s.feasible
}

func (l *ledger) allocate(s *shape) {
	for j, i := range s.idx {
		l.used[i] += s.q[j]
	}
}

func (l *ledger) release(s *shape) {
	for j, i := range s.idx {
		l.used[i] -= s.q[j]
	}
}

// lendCPU gives a blocked task's CPUs back (negative q takes them again).
func (l *ledger) lendCPU(q placement.Quantity) {
	if l.cpu >= 0 {
		l.used[l.cpu] -= q
	}
}

func (l *ledger) available() placement.Resources {
	a := make(placement.Resources, len(l.names))
	for name, i := range l.names {
		a[name] = max(l.total[i]-l.used[i], 0)
	}
	return a
}

// fifo is a queue of tasks with one resource shape.
type fifo struct {
	specs []*pb.TaskSpec // entries before head were taken; nil entries were cancelled
	head  int
}

func (q *fifo) push(s *pb.TaskSpec) { q.specs = append(q.specs, s) }

// peek returns the oldest task, skipping cancelled ones.
func (q *fifo) peek() *pb.TaskSpec {
	for q.head < len(q.specs) && q.specs[q.head] == nil {
		q.head++
	}
	if q.head == len(q.specs) {
		return nil
	}
	return q.specs[q.head]
}

func (q *fifo) pop() {
	q.specs[q.head] = nil
	q.head++
	if q.head == len(q.specs) {
		q.specs, q.head = q.specs[:0], 0
	} else if q.head > 1024 && q.head > len(q.specs)/2 {
		q.specs = append(q.specs[:0], q.specs[q.head:]...)
		q.head = 0
	}
}
