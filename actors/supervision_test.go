package actors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	pb "github.com/goray-dev/goray/proto"
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

func TestHostControlFailed(t *testing.T) {
	tests := []struct {
		name        string
		maxRestarts int32
		failures    int
		wantRestart []bool
		wantDead    bool
	}{
		{"no budget", 0, 2, []bool{false, false}, true},
		{"budget 2", 2, 4, []bool{true, true, false, false}, true},
		{"unlimited", -1, 20, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewHostControl(&pb.ActorSpec{TypeName: "T", MaxRestarts: tt.maxRestarts})
			c.Policy.InitialBackoff = time.Millisecond
			var restarts int32
			prevDelay := int64(0)
			for i := range tt.failures {
				reason := fmt.Sprintf("boom %d", i)
				ok, n, delay := c.Failed(reason)
				want := true
				if tt.wantRestart != nil {
					want = tt.wantRestart[i]
				}
				if ok != want {
					t.Fatalf("failure %d: restart = %v, want %v", i, ok, want)
				}
				if ok {
					restarts++
					if n != restarts {
						t.Errorf("failure %d: restarts = %d, want %d", i, n, restarts)
					}
					if delay < prevDelay || delay <= 0 {
						t.Errorf("failure %d: delay %v after %v; want positive and non-decreasing", i, time.Duration(delay), time.Duration(prevDelay))
					}
					prevDelay = delay
				} else {
					if n != restarts || delay != 0 {
						t.Errorf("failure %d: (restarts, delay) = (%d, %d), want (%d, 0)", i, n, delay, restarts)
					}
				}
				if got := c.restartCount(); got != restarts {
					t.Errorf("restartCount = %d, want %d", got, restarts)
				}
			}
			dead, cause := c.Dead()
			if dead != tt.wantDead {
				t.Fatalf("Dead() = %v (%q), want %v", dead, cause, tt.wantDead)
			}
			if dead {
				// The cause names the first failure past the budget.
				wantReason := fmt.Sprintf("boom %d", tt.maxRestarts)
				if !strings.Contains(cause, "exhausted") || !strings.Contains(cause, wantReason) {
					t.Errorf("cause = %q, want it to mention exhausted restarts and %q", cause, wantReason)
				}
			}
		})
	}
}

func TestHostControlKill(t *testing.T) {
	tests := []struct {
		name      string
		noRestart bool
		wantDead  bool
	}{
		{"kill for good", true, true},
		{"kill to restart", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewHostControl(&pb.ActorSpec{MaxRestarts: 5})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if !c.begin([]byte("call-1"), cancel) {
				t.Fatal("begin refused a call nobody cancelled")
			}
			c.Kill(tt.noRestart, "killed by test")
			if ctx.Err() == nil {
				t.Error("Kill did not cancel the running call")
			}
			dead, cause := c.Dead()
			if dead != tt.wantDead {
				t.Fatalf("Dead() = %v, want %v", dead, tt.wantDead)
			}
			if !dead {
				if ok, _, _ := c.Failed("after kill"); !ok {
					t.Error("a restartable kill left no restart budget")
				}
				return
			}
			if cause != "killed by test" {
				t.Errorf("cause = %q", cause)
			}
			// Dead stays dead: no restart, and the first cause is kept.
			if ok, n, _ := c.Failed("later"); ok || n != 0 {
				t.Errorf("Failed after kill = (%v, %d), want (false, 0)", ok, n)
			}
			c.Kill(true, "second kill")
			if _, cause := c.Dead(); cause != "killed by test" {
				t.Errorf("cause after second kill = %q", cause)
			}
		})
	}
}

func TestHostControlCancel(t *testing.T) {
	t.Run("running call", func(t *testing.T) {
		c := NewHostControl(&pb.ActorSpec{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.begin([]byte("r1"), cancel)
		c.Cancel([]byte("other"))
		if ctx.Err() != nil {
			t.Fatal("cancelling another call cancelled the running one")
		}
		c.Cancel([]byte("r1"))
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatal("Cancel did not cancel the running call")
		}
	})
	t.Run("before it starts", func(t *testing.T) {
		c := NewHostControl(&pb.ActorSpec{})
		c.Cancel([]byte("r2"))
		_, cancel := context.WithCancel(context.Background())
		defer cancel()
		if c.begin([]byte("r2"), cancel) {
			t.Fatal("begin ran a call cancelled before it started")
		}
		// The cancellation is consumed: a retry with the same ID runs.
		if !c.begin([]byte("r2"), cancel) {
			t.Fatal("begin refused the call a second time")
		}
	})
	t.Run("finished call is not cancelled later", func(t *testing.T) {
		c := NewHostControl(&pb.ActorSpec{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c.begin([]byte("r3"), cancel)
		c.end([]byte("r3"))
		c.Kill(false, "")
		if ctx.Err() != nil {
			t.Fatal("Kill cancelled a call that had ended")
		}
	})
}

func TestFailureReason(t *testing.T) {
	tests := []struct {
		reason any
		want   string
	}{
		{Failure{Reason: "method panicked"}, "method panicked"},
		{errors.New("an error"), "an error"},
		{42, "42"},
		{"text", "text"},
	}
	for _, tt := range tests {
		if got := FailureReason(tt.reason); got != tt.want {
			t.Errorf("FailureReason(%#v) = %q, want %q", tt.reason, got, tt.want)
		}
	}
}
