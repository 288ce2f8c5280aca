package goray

import (
	"errors"
	"fmt"
	"testing"

	pb "github.com/goray-dev/goray/proto"
)

// An error that wraps several sentinels always gets the same wire kind.
func TestToWireIsDeterministic(t *testing.T) {
	err := fmt.Errorf("both: %w", errors.Join(ErrObjectLost, ErrActorDied, ErrSystem))
	for range 200 {
		if k := toWire(err).Kind; k != pb.ErrorKind_ERROR_KIND_ACTOR_DIED {
			t.Fatalf("kind %v, want ACTOR_DIED (the first in sentinelKinds' order)", k)
		}
	}
	for _, s := range sentinelKinds {
		back := fromWire(toWire(fmt.Errorf("ctx: %w", s.sentinel)))
		if !errors.Is(back, s.sentinel) {
			t.Errorf("%v does not survive the wire: %v", s.sentinel, back)
		}
	}
}
