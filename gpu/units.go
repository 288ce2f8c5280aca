package gpu

import (
	"strconv"
	"strings"
)

// Unit is one GPU as a node schedules it: a whole device, or one MIG
// instance of a partitioned device. A node's GPU indices (what GPUIDs
// returns, what the Assigner hands out) index its units.
type Unit struct {
	// UUID is the device's ("GPU-…") or the MIG instance's ("MIG-…").
	UUID string
	// Device is the index of the physical device; MIG is the GPU instance
	// ID on it, -1 for a whole device.
	Device, MIG int
	Name        string // product name, with the MIG profile for an instance
	MemoryTotal uint64 // bytes
}

// IsMIG reports whether u is a MIG instance.
func (u Unit) IsMIG() bool { return u.MIG >= 0 }

// Units lists the GPUs a node schedules from its devices, in index order: a
// partitioned device gives one unit per MIG instance that has a MIG device
// (a UUID), and counts as one whole GPU when none has; any other device is
// one unit.
func Units(devs []Device) []Unit {
	out := make([]Unit, 0, len(devs))
	for _, d := range devs {
		n := len(out)
		if d.MIGEnabled {
			for _, m := range d.MIG {
				if m.UUID != "" {
					out = append(out, Unit{UUID: m.UUID, Device: d.Index, MIG: m.ID,
						Name: d.Name + " MIG " + m.Profile, MemoryTotal: m.MemoryTotal})
				}
			}
		}
		if len(out) == n {
			out = append(out, Unit{UUID: d.UUID, Device: d.Index, MIG: -1, Name: d.Name, MemoryTotal: d.MemoryTotal})
		}
	}
	return out
}

// VisibleUnits formats CUDA_VISIBLE_DEVICES for the node GPU indices ids,
// given the node's units: device indices when every one is a whole device
// ("0,2"), and UUIDs when one is a MIG instance, which CUDA can only name
// by UUID. An index beyond units (a GPU count set by hand) is given as is.
func VisibleUnits(units []Unit, ids []int) string {
	mig := false
	for _, id := range ids {
		if id >= 0 && id < len(units) && units[id].IsMIG() {
			mig = true
		}
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		switch {
		case id < 0 || id >= len(units):
			parts[i] = strconv.Itoa(id)
		case mig:
			parts[i] = units[id].UUID
		default:
			parts[i] = strconv.Itoa(units[id].Device)
		}
	}
	return strings.Join(parts, ",")
}
