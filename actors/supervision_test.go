package actors

import (
	"math"
	"testing"
	"time"
)

func TestRestartPolicyNext(t *testing.T) {
	ms := time.Millisecond
	type step struct {
		restarts int32
		ok       bool
		delay    time.Duration
	}
	tests := []struct {
		name   string
		policy RestartPolicy
		steps  []step
	}{
		{
			name:   "budget 0 never restarts",
			policy: RestartPolicy{MaxRestarts: 0, InitialBackoff: ms},
			steps:  []step{{0, false, 0}, {5, false, 0}},
		},
		{
			name:   "budget 3 doubles then stops",
			policy: RestartPolicy{MaxRestarts: 3, InitialBackoff: 10 * ms, MaxBackoff: time.Second},
			steps:  []step{{0, true, 10 * ms}, {1, true, 20 * ms}, {2, true, 40 * ms}, {3, false, 0}, {4, false, 0}},
		},
		{
			name:   "unlimited is capped",
			policy: RestartPolicy{MaxRestarts: -1, InitialBackoff: 100 * ms, MaxBackoff: 300 * ms},
			steps:  []step{{0, true, 100 * ms}, {1, true, 200 * ms}, {2, true, 300 * ms}, {3, true, 300 * ms}, {1000, true, 300 * ms}},
		},
		{
			name:   "defaults",
			policy: RestartPolicy{MaxRestarts: -1},
			steps: []step{
				{0, true, DefaultRestartBackoff},
				{1, true, 2 * DefaultRestartBackoff},
				{math.MaxInt32, true, DefaultMaxRestartBackoff},
			},
		},
		{
			name:   "initial above cap is cut to the cap",
			policy: RestartPolicy{MaxRestarts: 1, InitialBackoff: time.Minute, MaxBackoff: time.Second},
			steps:  []step{{0, true, time.Second}, {1, false, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range tt.steps {
				ok, d := tt.policy.Next(s.restarts)
				if ok != s.ok || d != s.delay {
					t.Errorf("Next(%d) = (%v, %v), want (%v, %v)", s.restarts, ok, d, s.ok, s.delay)
				}
			}
		})
	}
}

// The doubling must saturate at MaxBackoff rather than wrap around when the
// cap is far away (an unbounded cap and many restarts).
func TestRestartPolicyNextNeverNegative(t *testing.T) {
	p := RestartPolicy{MaxRestarts: -1, InitialBackoff: 10 * time.Millisecond, MaxBackoff: math.MaxInt64}
	prev := time.Duration(0)
	for r := int32(0); r < 100; r++ {
		ok, d := p.Next(r)
		if !ok {
			t.Fatalf("Next(%d) refused an unlimited restart", r)
		}
		if d < prev {
			t.Fatalf("Next(%d) = %v, smaller than Next(%d) = %v", r, d, r-1, prev)
		}
		prev = d
	}
}
