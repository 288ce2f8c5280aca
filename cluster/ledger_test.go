package cluster

import (
	"testing"

	"github.com/goray-dev/goray/placement"
)

func units(f float64) int64 { return int64(f * float64(placement.Unit)) }

// Two requests whose hashes collide must still get their own shapes: the
// cache compares the requests, not only their hashes.
func TestLedgerShapesCompareRequests(t *testing.T) {
	l := newLedger(placement.Resources{placement.CPU: 4 * placement.Unit})
	a := map[string]int64{placement.CPU: units(1)}
	b := map[string]int64{placement.CPU: units(2)}
	sa := l.shapeOf(a)
	// Plant a's shape under b's hash, as a collision would.
	l.shapes[requestHash(b)] = append(l.shapes[requestHash(b)], sa)
	sb := l.shapeOf(b)
	if sb == sa {
		t.Fatal("a colliding hash gave another request's shape")
	}
	if sb.cpu != 2*placement.Unit {
		t.Fatalf("shape of 2 CPUs accounts %v CPUs", sb.cpu)
	}
	// Equal requests in different maps share a shape.
	if again := l.shapeOf(map[string]int64{placement.CPU: units(2)}); again != sb {
		t.Fatal("an equal request got a new shape")
	}
}

// GPUs are accounted per device: a fraction fits only where one device has
// room, whatever the node's total.
func TestLedgerGPUsPerDevice(t *testing.T) {
	l := newLedger(placement.Resources{placement.CPU: 8 * placement.Unit, placement.GPU: 2 * placement.Unit})
	s6 := l.shapeOf(map[string]int64{placement.GPU: units(0.6)})
	s5 := l.shapeOf(map[string]int64{placement.GPU: units(0.5)})
	whole := l.shapeOf(map[string]int64{placement.GPU: units(1)})
	first := l.allocate(s6)
	second := l.allocate(s6)
	if len(first) != 1 || len(second) != 1 || first[0] == second[0] {
		t.Fatalf("two 0.6 shares got devices %v and %v, want one each on different devices", first, second)
	}
	if l.fits(s5) || l.fits(whole) {
		t.Fatal("0.8 GPU free in total, but no device has 0.5 free: nothing fits")
	}
	if got := l.available()[placement.GPU]; got != placement.Quantity(units(0.8)) {
		t.Fatalf("available GPU %v, want 0.8", got)
	}
	l.release(s6, first)
	if !l.fits(s5) || !l.fits(whole) {
		t.Fatal("a device is free again, but requests do not fit")
	}
	ids := l.allocate(s5)
	if len(ids) != 1 || ids[0] != first[0] {
		t.Fatalf("0.5 share got %v, want the freed device %d", ids, first[0])
	}
}
