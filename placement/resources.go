package placement

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Well-known resource names. Memory is measured in bytes; every other name,
// well-known or custom, is a count that may be fractional.
const (
	CPU    = "CPU"
	GPU    = "GPU"
	Memory = "memory"
)

// Quantity is an amount of one resource in fixed point: Unit (10000) is 1.0,
// so the smallest expressible amount is 0.0001. Fixed point keeps sums exact:
// ten requests of 0.1 CPU add up to exactly 1 CPU.
type Quantity int64

// Unit is the Quantity that represents 1.0.
const Unit Quantity = 10000

// MaxValue is the largest amount, in natural units, that QuantityOf accepts:
// 100 TB of memory (in bytes) on one node, or 10^14 of any count. One
// amount stays far below int64's range in fixed point; sums over many nodes
// saturate instead of overflowing (Add).
const MaxValue = 1e14

// maxQuantity is where sums saturate.
const maxQuantity = Quantity(math.MaxInt64)

// addSat adds two non-negative quantities, saturating at maxQuantity.
func addSat(a, b Quantity) Quantity {
	if a > 0 && b > maxQuantity-a {
		return maxQuantity
	}
	return a + b
}

// QuantityOf converts f to fixed point, rounding to the nearest 0.0001. It
// rejects NaN, infinities, negative values, values above MaxValue and
// positive values too small to be represented, with ErrInvalidResource.
func QuantityOf(f float64) (Quantity, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, fmt.Errorf("%w: %v is not a finite number", ErrInvalidResource, f)
	case f < 0:
		return 0, fmt.Errorf("%w: %v is negative", ErrInvalidResource, f)
	case f > MaxValue:
		return 0, fmt.Errorf("%w: %v exceeds the maximum %v", ErrInvalidResource, f, MaxValue)
	}
	q := Quantity(math.Round(f * float64(Unit)))
	if q == 0 && f > 0 {
		return 0, fmt.Errorf("%w: %v is below the resolution 0.0001", ErrInvalidResource, f)
	}
	return q, nil
}

// Float returns q in natural units.
func (q Quantity) Float() float64 { return float64(q) / float64(Unit) }

// String formats q exactly, without trailing zeros: "1.5", "2", "0.0001".
func (q Quantity) String() string {
	var b strings.Builder
	u := uint64(q)
	if q < 0 {
		b.WriteByte('-')
		u = uint64(-q)
	}
	b.WriteString(strconv.FormatUint(u/uint64(Unit), 10))
	if frac := u % uint64(Unit); frac != 0 {
		s := fmt.Sprintf("%04d", frac)
		b.WriteByte('.')
		b.WriteString(strings.TrimRight(s, "0"))
	}
	return b.String()
}

// Resources maps resource names to amounts. A missing name and a zero amount
// mean the same thing. The methods below never mutate their receiver.
type Resources map[string]Quantity

// ValidName reports whether name may be used as a resource name: non-empty,
// printable and without white space.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// FromFloats converts natural-unit amounts to Resources. Every name must
// satisfy ValidName and every value QuantityOf; zero entries are dropped.
func FromFloats(m map[string]float64) (Resources, error) {
	r := make(Resources, len(m))
	for name, f := range m {
		q, err := quantityNamed(name, f)
		if err != nil {
			return nil, firstInvalid(m)
		}
		if q != 0 {
			r[name] = q
		}
	}
	return r, nil
}

// firstInvalid returns the error of the first invalid entry of m in name
// order, for a stable message.
func firstInvalid(m map[string]float64) error {
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if _, err := quantityNamed(name, m[name]); err != nil {
			return err
		}
	}
	return nil
}

// quantityNamed converts the amount f of the resource name.
func quantityNamed(name string, f float64) (Quantity, error) {
	if !ValidName(name) {
		return 0, fmt.Errorf("%w: invalid resource name %q", ErrInvalidResource, name)
	}
	q, err := QuantityOf(f)
	if err != nil {
		return 0, fmt.Errorf("resource %s: %w", name, err)
	}
	return q, nil
}

// ValidateRequest checks that r is acceptable as a request: valid names,
// no negative amounts, and a GPU amount that is either a fraction of one
// device (below 1) or a whole number of devices. Fractions above one, such
// as 1.5 GPUs, are rejected because no single task can hold part of a
// second device.
func ValidateRequest(r Resources) error {
	valid := true
	for name, q := range r {
		if q < 0 || (name == GPU && q > Unit && q%Unit != 0) || !ValidName(name) {
			valid = false
			break
		}
	}
	if valid {
		return nil
	}
	// Name the first offender in name order, for a stable message.
	for _, name := range r.names() {
		q := r[name]
		if !ValidName(name) {
			return fmt.Errorf("%w: invalid resource name %q", ErrInvalidResource, name)
		}
		if q < 0 {
			return fmt.Errorf("%w: resource %s: %v is negative", ErrInvalidResource, name, q)
		}
		if name == GPU && q > Unit && q%Unit != 0 {
			return fmt.Errorf("%w: GPU request %v must be below 1 or a whole number", ErrInvalidResource, q)
		}
	}
	return nil
}

// Fits reports whether every amount in r is covered by avail.
func (r Resources) Fits(avail Resources) bool {
	for name, q := range r {
		if q > 0 && avail[name] < q {
			return false
		}
	}
	return true
}

// Add returns r + o, saturating at the largest Quantity. Zero entries are
// dropped from the result.
func (r Resources) Add(o Resources) Resources {
	out := make(Resources, len(r)+len(o))
	for name, q := range r {
		out[name] = addSat(out[name], q)
	}
	for name, q := range o {
		out[name] = addSat(out[name], q)
	}
	out.dropZeros()
	return out
}

// Sub returns r - o, or an error wrapping ErrInsufficient naming the first
// resource (in name order) that would become negative. Zero entries are
// dropped from the result.
func (r Resources) Sub(o Resources) (Resources, error) {
	out := r.Clone()
	for _, name := range o.names() {
		q := o[name]
		if out[name] < q {
			return nil, fmt.Errorf("%w: %s: have %v, need %v", ErrInsufficient, name, r[name], q)
		}
		out[name] -= q
	}
	out.dropZeros()
	return out, nil
}

// Clone returns a copy of r; the copy of a nil Resources is empty, not nil.
func (r Resources) Clone() Resources {
	out := make(Resources, len(r))
	maps.Copy(out, r)
	return out
}

// IsZero reports whether r holds no positive or negative amount.
func (r Resources) IsZero() bool {
	for _, q := range r {
		if q != 0 {
			return false
		}
	}
	return true
}

// Equal reports whether r and o hold the same amounts, treating missing
// names as zero.
func (r Resources) Equal(o Resources) bool {
	for name, q := range r {
		if o[name] != q {
			return false
		}
	}
	for name, q := range o {
		if r[name] != q {
			return false
		}
	}
	return true
}

// String formats r sorted by name, skipping zeros: "CPU=1.5 GPU=1".
func (r Resources) String() string {
	var b strings.Builder
	for _, name := range r.names() {
		if r[name] == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(r[name].String())
	}
	return b.String()
}

// Floats returns r in natural units.
func (r Resources) Floats() map[string]float64 {
	out := make(map[string]float64, len(r))
	for name, q := range r {
		out[name] = q.Float()
	}
	return out
}

func (r Resources) names() []string { return slices.Sorted(maps.Keys(r)) }

func (r Resources) dropZeros() {
	maps.DeleteFunc(r, func(_ string, q Quantity) bool { return q == 0 })
}

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrInvalidResource marks a malformed resource name or amount.
	ErrInvalidResource = errors.New("placement: invalid resource")
	// ErrInsufficient marks a subtraction that would go below zero.
	ErrInsufficient = errors.New("placement: insufficient resources")
	// ErrInfeasible marks a request that no alive node could ever satisfy,
	// even when idle.
	ErrInfeasible = errors.New("placement: infeasible")
	// ErrNoCapacity marks a feasible request that no node can satisfy now;
	// the caller should queue it and retry when resources are freed.
	ErrNoCapacity = errors.New("placement: no capacity")
	// ErrUnknownNode marks a node ID the view does not hold.
	ErrUnknownNode = errors.New("placement: unknown node")
	// ErrInvalidRequest marks a malformed request other than its resource
	// amounts: an unknown strategy, a missing affinity node, mismatched
	// slices.
	ErrInvalidRequest = errors.New("placement: invalid request")
)
