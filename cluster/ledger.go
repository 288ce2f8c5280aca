package cluster

import (
	"fmt"
	"hash/maphash"
	"maps"
	"reflect"
	"slices"

	"github.com/goray-dev/goray/gpu"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// ledger accounts a node's resources for its raylet. Every distinct request
// (a shape, Ray's scheduling class) is turned once into a vector over the
// node's resource names, so fitting, allocating and releasing a task touch
// small slices instead of maps. GPUs are the exception: the assigner, which
// hands out device indices, is their one source of truth, so a request that
// fits is one the assigner can serve. It belongs to the raylet's goroutine.
type ledger struct {
	names  map[string]int
	total  []placement.Quantity
	used   []placement.Quantity
	cpu    int // index of CPU, -1 when the node has none
	gpus   *gpu.Assigner
	shapes map[uint64][]*shape // by hash of the request; equal requests share a shape; nil until the first
	nshape int

	// last caches the shape of the request map seen last: in process, all
	// calls without resource options share one map. Holding the map keeps
	// its address from being reused by another.
	lastReq   map[string]int64
	lastShape *shape

	// A bundle's ledger hands out the node's devices it holds: gpuMap maps
	// its own device indices to the node's. plainGPU marks a bundle holding
	// a share of one device: its GPU amount is counted like any other
	// resource, and every holder gets that device.
	gpuMap   []int32
	plainGPU bool
}

// shape is one distinct resource request and the tasks queued with it.
type shape struct {
	req      map[string]int64 // the request, for exact matching
	idx      []int            // vector entries, GPU excluded
	q        []placement.Quantity
	cpu, gpu placement.Quantity
	// feasible is false when the node could never fit the request.
	feasible bool
	// err is set for a malformed request (negative amounts, 1.5 GPUs).
	err   error
	tasks fifo
	// led is the ledger the shape draws from: the node's, or a bundle's.
	led *ledger
}

func newLedger(total placement.Resources) *ledger {
	l := &ledger{names: make(map[string]int, len(total)), cpu: -1,
		total: make([]placement.Quantity, 0, len(total)), used: make([]placement.Quantity, 0, len(total))}
	for name, q := range total {
		l.names[name] = len(l.total)
		l.total = append(l.total, q)
		l.used = append(l.used, 0)
	}
	if i, ok := l.names[placement.CPU]; ok {
		l.cpu = i
	}
	l.gpus = gpu.NewAssigner(int(total[placement.GPU] / placement.Unit))
	return l
}

// newBundleLedger returns the ledger of a placement-group bundle holding
// res and the node's GPU devices.
func newBundleLedger(res placement.Resources, devices []int32) *ledger {
	l := newLedger(res)
	if g := res[placement.GPU]; g > 0 && g%placement.Unit != 0 {
		l.plainGPU = true
		l.gpus = gpu.NewAssigner(0)
	}
	l.gpuMap = devices
	return l
}

// take sets r aside from the ledger's free resources for a bundle and
// returns the GPU devices it holds. It takes nothing and fails when r does
// not fit now.
func (l *ledger) take(r placement.Resources) ([]int32, error) {
	g := r[placement.GPU]
	for name, q := range r {
		if q <= 0 || (name == placement.GPU && !l.plainGPU) {
			continue
		}
		i, ok := l.names[name]
		if !ok || l.used[i]+q > l.total[i] {
			return nil, fmt.Errorf("%w: %s: %v free, the bundle needs %v", placement.ErrInsufficient, name,
				max(l.totalOf(name)-l.usedOf(name), 0), q)
		}
	}
	if g > 0 && !l.plainGPU && !l.gpus.Fits(g.Float()) {
		return nil, fmt.Errorf("%w: GPU: %v free, the bundle needs %v", placement.ErrInsufficient, l.gpus.Available(), g)
	}
	for name, q := range r {
		if name == placement.GPU && !l.plainGPU {
			continue
		}
		if i, ok := l.names[name]; ok {
			l.used[i] += q
		}
	}
	if g == 0 || l.plainGPU {
		return nil, nil
	}
	ids, err := l.gpus.Take(g.Float())
	if err != nil {
		return nil, err // Fits said yes on this goroutine: not reached
	}
	return l.global(ids), nil
}

// give returns what take set aside.
func (l *ledger) give(r placement.Resources, devices []int32) {
	for name, q := range r {
		if name == placement.GPU && !l.plainGPU {
			continue
		}
		if i, ok := l.names[name]; ok {
			l.used[i] -= q
		}
	}
	if g := r[placement.GPU]; g > 0 && !l.plainGPU {
		_ = l.gpus.Give(g.Float(), l.local(devices))
	}
}

func (l *ledger) totalOf(name string) placement.Quantity {
	if i, ok := l.names[name]; ok {
		return l.total[i]
	}
	return 0
}

func (l *ledger) usedOf(name string) placement.Quantity {
	if i, ok := l.names[name]; ok {
		return l.used[i]
	}
	return 0
}

// global maps the ledger's device indices to the node's.
func (l *ledger) global(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
		if l.gpuMap != nil {
			out[i] = l.gpuMap[id]
		}
	}
	return out
}

// local maps the node's device indices to the ledger's.
func (l *ledger) local(ids []int32) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
		if l.gpuMap != nil {
			out[i] = slices.Index(l.gpuMap, id)
		}
	}
	return out
}

// maxShapes bounds the shapes a ledger remembers.
const maxShapes = 4096

// shapeSeed keys the hash of requests; it is fixed for the process.
var shapeSeed = maphash.MakeSeed()

func sameMap(a, b map[string]int64) bool {
	return a != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// requestHash is order-independent: a sum over the entries.
func requestHash(req map[string]int64) uint64 {
	var h uint64
	for k, v := range req {
		if v != 0 {
			h += maphash.String(shapeSeed, k) ^ (uint64(v) * 0x9e3779b97f4a7c15)
		}
	}
	return h
}

// sameRequest compares requests, a missing name and a zero amount alike.
func sameRequest(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// shapeOf returns the shape of a request, creating it on first sight.
func (l *ledger) shapeOf(req map[string]int64) *shape {
	if sameMap(req, l.lastReq) {
		return l.lastShape
	}
	key := requestHash(req)
	var s *shape
	for _, c := range l.shapes[key] {
		if sameRequest(c.req, req) {
			s = c
			break
		}
	}
	if s == nil {
		if l.nshape >= maxShapes {
			// Forget old shapes; queued and running tasks keep theirs.
			clear(l.shapes)
			l.nshape = 0
		}
		s = l.newShape(req)
		if l.shapes == nil {
			// Made on first use: most bundles' ledgers never see a task.
			l.shapes = map[uint64][]*shape{}
		}
		l.shapes[key] = append(l.shapes[key], s)
		l.nshape++
	}
	l.lastReq, l.lastShape = req, s
	return s
}

func (l *ledger) newShape(req map[string]int64) *shape {
	s := &shape{req: maps.Clone(req), feasible: true, err: placement.ValidateRequest(placement.FromWire(req)), led: l}
	for k, v := range req {
		q := placement.Quantity(v)
		if q == 0 {
			continue
		}
		i, ok := l.names[k]
		if !ok || q > l.total[i] {
			s.feasible = false
		}
		switch k {
		case placement.CPU:
			s.cpu = q
		case placement.GPU:
			s.gpu = q
			if !l.plainGPU {
				continue
			}
		}
		if ok {
			s.idx = append(s.idx, i)
			s.q = append(s.q, q)
		}
	}
	return s
}

func (l *ledger) fits(s *shape) bool {
	if !s.feasible || s.err != nil {
		return false
	}
	for j, i := range s.idx {
		if l.used[i]+s.q[j] > l.total[i] {
			return false
		}
	}
	return s.gpu == 0 || l.plainGPU || l.gpus.Fits(s.gpu.Float())
}

// allocate takes s's resources, which must fit, and returns the GPU devices
// assigned to it (none when it asks for no GPU).
func (l *ledger) allocate(s *shape) []int32 {
	for j, i := range s.idx {
		l.used[i] += s.q[j]
	}
	if s.gpu == 0 {
		return nil
	}
	if l.plainGPU {
		return slices.Clone(l.gpuMap)
	}
	ids, err := l.gpus.Take(s.gpu.Float())
	if err != nil {
		// fits said yes on this goroutine: the assigner cannot refuse.
		panic("ledger: GPU assignment refused a request that fit: " + err.Error())
	}
	return l.global(ids)
}

// release gives back what allocate took.
func (l *ledger) release(s *shape, gpuIDs []int32) {
	for j, i := range s.idx {
		l.used[i] -= s.q[j]
	}
	if s.gpu == 0 || l.plainGPU {
		return
	}
	if err := l.gpus.Give(s.gpu.Float(), l.local(gpuIDs)); err != nil {
		panic("ledger: releasing GPUs that were not assigned: " + err.Error())
	}
}

// busy reports whether the node is past the hybrid policy's threshold on a
// resource s asks for: work that could go elsewhere should.
func (l *ledger) busy(s *shape) bool {
	for _, i := range s.idx {
		if 2*l.used[i] >= l.total[i] {
			return true
		}
	}
	return false
}

// lendCPU gives a blocked task's CPUs back (negative q takes them again).
func (l *ledger) lendCPU(q placement.Quantity) {
	if l.cpu >= 0 {
		l.used[l.cpu] -= q
	}
}

func (l *ledger) totals() placement.Resources {
	t := make(placement.Resources, len(l.names))
	for name, i := range l.names {
		t[name] = l.total[i]
	}
	return t
}

func (l *ledger) available() placement.Resources {
	a := make(placement.Resources, len(l.names))
	for name, i := range l.names {
		a[name] = max(l.total[i]-l.used[i], 0)
	}
	if _, ok := l.names[placement.GPU]; ok && !l.plainGPU {
		a[placement.GPU] = placement.Quantity(l.gpus.Available()*float64(placement.Unit) + 0.5)
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

// len counts the queued tasks.
func (q *fifo) len() int {
	n := 0
	for _, s := range q.specs[q.head:] {
		if s != nil {
			n++
		}
	}
	return n
}

// remove drops the queued task with id and returns it, or nil.
func (q *fifo) remove(id []byte) *pb.TaskSpec {
	for i := q.head; i < len(q.specs); i++ {
		if spec := q.specs[i]; spec != nil && string(spec.TaskId) == string(id) {
			q.specs[i] = nil
			return spec
		}
	}
	return nil
}
