package goray_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/goray-dev/goray"
)

var (
	panicOnceRuns sync.Map // key -> *atomic.Int32
	// panicOnce fails its actor the first time it runs for a key.
	panicOnce = goray.Method(splitter, "panic_once", func(s *Splitter, ctx context.Context, key string) (int32, error) {
		n := counter(&panicOnceRuns, key).Add(1)
		if n == 1 {
			panic("first run of " + key)
		}
		return n, nil
	})
)

// Options given to one actor method call: its name, its retries.
func TestMethodCallOptions(t *testing.T) {
	ctx := start(t, goray.WithRestartBackoff(1))
	s, err := splitter.New(ctx, 0, goray.MaxRestarts(-1))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"name shows in the call's error", func(t *testing.T) {
			var te *goray.TaskError
			err := get(ctx, failMethod.Remote(ctx, s, 1, goray.Name("quota-call")))
			if !errors.As(err, &te) || !strings.Contains(te.Function, "(quota-call)") {
				t.Fatalf("got %v", err)
			}
		}},
		{"retries run the call again after the actor failed", func(t *testing.T) {
			key := uniqueKey(t)
			if got := mustGet(t, ctx, panicOnce.Remote(ctx, s, key, goray.MaxRetries(1))); got != 2 {
				t.Fatalf("retried call ran %d times", got)
			}
		}},
		{"without retries the call fails with the actor", func(t *testing.T) {
			if err := get(ctx, panicOnce.Remote(ctx, s, uniqueKey(t))); !errors.Is(err, goray.ErrTaskFailed) {
				t.Fatalf("got %v", err)
			}
		}},
		{"an option for tasks only", func(t *testing.T) {
			if err := get(ctx, ctxCall.Remote(ctx, goray.ActorRef[Ctxer]{}, goray.CPUs(1))); !errors.Is(err, goray.ErrInvalidArgument) {
				t.Fatalf("zero handle: %v", err)
			}
			if err := get(ctx, splitPairFirst(ctx, s, goray.CPUs(1))); !errors.Is(err, goray.ErrInvalidArgument) || !strings.Contains(err.Error(), "does not apply") {
				t.Fatalf("CPUs on a method call: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func splitPairFirst(ctx context.Context, s goray.ActorRef[Splitter], opts ...goray.Option) goray.Ref[int] {
	r, _ := splitPair.Remote(ctx, s, 1, opts...)
	return r
}
