package goray_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// counts is what a test may leak: objects in the local store, actors not
// dead, results the driver waits for, and its objects lent to borrowers.
type counts struct{ objects, actors, pending, lent int }

func countNow(t *testing.T, ctx context.Context) counts {
	t.Helper()
	pending, lent, err := goray.OwnerCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return counts{objects: int(storeObjects(t, ctx)), actors: liveActors(t, ctx), pending: pending, lent: lent}
}

// leaksNothing makes t, once it returned, wait until the counts are back
// to what they are now (its garbage collected), and fail if they never
// are. Call it after start, so that it runs before the runtime shuts down.
func leaksNothing(t *testing.T, ctx context.Context) {
	t.Helper()
	base := countNow(t, ctx)
	t.Cleanup(func() {
		deadline := time.Now().Add(20 * time.Second)
		for {
			now := countNow(t, ctx)
			if now == base {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("counts %+v, not back to the baseline %+v", now, base)
			}
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
		}
	})
}
