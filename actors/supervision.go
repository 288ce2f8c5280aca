package actors

import "time"

// RestartPolicy decides whether a failed actor restarts and after how long.
type RestartPolicy struct {
	// MaxRestarts is the restart budget: 0 never restarts, -1 restarts forever.
	MaxRestarts int32
	// InitialBackoff is the delay before the first restart; it doubles per
	// restart up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// DefaultRestartBackoff and DefaultMaxRestartBackoff bound restart delays.
const (
	DefaultRestartBackoff    = 10 * time.Millisecond
	DefaultMaxRestartBackoff = 2 * time.Second
)

// Next returns whether the actor, having restarted `restarts` times already,
// may restart again, and the delay to wait before doing so.
func (p RestartPolicy) Next(restarts int32) (bool, time.Duration) {
	if p.MaxRestarts >= 0 && restarts >= p.MaxRestarts {
		return false, 0
	}
	d := p.InitialBackoff
	if d <= 0 {
		d = DefaultRestartBackoff
	}
	maxd := p.MaxBackoff
	if maxd <= 0 {
		maxd = DefaultMaxRestartBackoff
	}
	for i := int32(0); i < restarts && d < maxd; i++ {
		if d > maxd/2 {
			d = maxd
			break
		}
		d *= 2
	}
	return true, min(d, maxd)
}
