package gpu

import (
	"fmt"
	"math"
	"sync"
)

// shareUnit is one whole device in the units fractional shares are counted
// in; the resolution, 0.0001, matches the placement package's.
const shareUnit = 10000

// Assigner hands out a node's GPU indices to tasks: whole devices to
// requests of one or more GPUs, and shares of a single device to fractional
// requests, packing shares onto the fullest device that still has room so
// that whole devices stay free. A device that holds any share is not given
// out whole. An Assigner is safe for concurrent use.
type Assigner struct {
	mu    sync.Mutex
	whole []bool // device held whole
	share []int  // shareUnits in use by fractional holders
}

// NewAssigner returns an Assigner for devices 0 to n-1, all free.
func NewAssigner(n int) *Assigner {
	n = max(n, 0)
	return &Assigner{whole: make([]bool, n), share: make([]int, n)}
}

// Len returns the number of devices.
func (a *Assigner) Len() int { return len(a.whole) }

// Free returns the number of devices neither held whole nor shared.
func (a *Assigner) Free() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for i := range a.whole {
		if a.isFree(i) {
			n++
		}
	}
	return n
}

func (a *Assigner) isFree(i int) bool { return !a.whole[i] && a.share[i] == 0 }

// Acquire takes count free devices, lowest indices first. It takes nothing
// and fails with ErrInsufficient when fewer are free, and with ErrInvalid
// for a negative count. A count of zero returns no devices.
func (a *Assigner) Acquire(count int) ([]int, error) {
	if count < 0 {
		return nil, fmt.Errorf("%w: count %d", ErrInvalid, count)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []int
	for i := range a.whole {
		if len(ids) == count {
			break
		}
		if a.isFree(i) {
			ids = append(ids, i)
		}
	}
	if len(ids) < count {
		return nil, fmt.Errorf("%w: want %d, %d free of %d", ErrInsufficient, count, len(ids), len(a.whole))
	}
	for _, i := range ids {
		a.whole[i] = true
	}
	return ids, nil
}

// Release returns devices taken by Acquire. It fails with ErrInvalid, and
// releases nothing, if any index is out of range, not held whole, or listed
// twice.
func (a *Assigner) Release(ids []int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := make(map[int]bool, len(ids))
	for _, i := range ids {
		if i < 0 || i >= len(a.whole) || !a.whole[i] || seen[i] {
			return fmt.Errorf("%w: device %d is not held whole", ErrInvalid, i)
		}
		seen[i] = true
	}
	for _, i := range ids {
		a.whole[i] = false
	}
	return nil
}

func shares(q float64) (int, error) {
	if math.IsNaN(q) || q <= 0 || q >= 1 {
		return 0, fmt.Errorf("%w: fraction %v must be above 0 and below 1", ErrInvalid, q)
	}
	u := int(math.Round(q * shareUnit))
	if u == 0 {
		return 0, fmt.Errorf("%w: fraction %v is below the resolution 0.0001", ErrInvalid, q)
	}
	return u, nil
}

// AcquireFraction takes the share q (0 < q < 1) of one device and returns
// its index. It prefers the device with the least room that still fits q,
// lowest index among equals. It fails with ErrInsufficient when no device
// has room and ErrInvalid for a bad q.
func (a *Assigner) AcquireFraction(q float64) (int, error) {
	u, err := shares(q)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	best := -1
	for i := range a.whole {
		if a.whole[i] || a.share[i]+u > shareUnit {
			continue
		}
		if best < 0 || a.share[i] > a.share[best] {
			best = i
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: no device has %v of its capacity free", ErrInsufficient, q)
	}
	a.share[best] += u
	return best, nil
}

// ReleaseFraction returns the share q of device idx taken by
// AcquireFraction. It fails with ErrInvalid, changing nothing, for a bad
// index or q, or a share larger than the device has given out.
func (a *Assigner) ReleaseFraction(idx int, q float64) error {
	u, err := shares(q)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if idx < 0 || idx >= len(a.whole) || a.share[idx] < u {
		return fmt.Errorf("%w: device %d does not hold a share of %v", ErrInvalid, idx, q)
	}
	a.share[idx] -= u
	return nil
}

// Fits reports whether a request of amount GPUs could be assigned now: a
// fraction needs one device with that much room, a whole number needs that
// many free devices. The assigner is the one source of truth for GPUs, so a
// request that fits never fails to be assigned.
func (a *Assigner) Fits(amount float64) bool {
	if amount >= 1 {
		return a.Free() >= int(amount)
	}
	u, err := shares(amount)
	if err != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.whole {
		if !a.whole[i] && a.share[i]+u <= shareUnit {
			return true
		}
	}
	return false
}

// Take assigns amount GPUs: a share of one device for a fraction, whole
// devices otherwise. It returns the device indices.
func (a *Assigner) Take(amount float64) ([]int, error) {
	if amount >= 1 {
		return a.Acquire(int(amount))
	}
	id, err := a.AcquireFraction(amount)
	if err != nil {
		return nil, err
	}
	return []int{id}, nil
}

// Give returns what Take assigned for amount.
func (a *Assigner) Give(amount float64, ids []int) error {
	if amount >= 1 {
		return a.Release(ids)
	}
	if len(ids) != 1 {
		return fmt.Errorf("%w: a share of %v is held on one device, not %v", ErrInvalid, amount, ids)
	}
	return a.ReleaseFraction(ids[0], amount)
}

// Available returns the GPU capacity not assigned, in devices: free devices
// plus the room left on shared ones.
func (a *Assigner) Available() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	room := 0
	for i := range a.whole {
		if !a.whole[i] {
			room += shareUnit - a.share[i]
		}
	}
	return float64(room) / shareUnit
}
