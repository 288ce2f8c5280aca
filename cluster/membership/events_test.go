package membership

import (
	"fmt"
	"slices"
	"testing"
)

func ev(kind EventKind, id string, version string) Event {
	return Event{Kind: kind, Member: Member{Meta: Meta{NodeID: id, Version: version}}}
}

func TestEventQueueMergesOnlyUpdates(t *testing.T) {
	const a, b = "000000000000000a", "000000000000000b"
	tests := []struct {
		name string
		in   []Event
		want []string // kind/id/version of the queued events, in order
	}{
		{
			name: "updates merge into the queued join",
			in:   []Event{ev(EventJoined, a, "1"), ev(EventUpdated, a, "2"), ev(EventUpdated, a, "3")},
			want: []string{"joined/a/3"},
		},
		{
			name: "updates merge into the queued update",
			in:   []Event{ev(EventJoined, b, "1"), ev(EventUpdated, a, "2"), ev(EventJoined, b, "1"), ev(EventUpdated, a, "3")},
			want: []string{"joined/b/1", "updated/a/3", "joined/b/1"},
		},
		{
			name: "an update after a death is queued, not merged across it",
			in:   []Event{ev(EventJoined, a, "1"), ev(EventDead, a, "1"), ev(EventJoined, a, "2"), ev(EventUpdated, a, "3")},
			want: []string{"joined/a/1", "dead/a/1", "joined/a/3"},
		},
		{
			name: "an update after a leave stays after it",
			in:   []Event{ev(EventUpdated, a, "1"), ev(EventLeft, a, "1"), ev(EventUpdated, a, "2")},
			want: []string{"updated/a/1", "left/a/1", "updated/a/2"},
		},
		{
			name: "deaths and leaves are never merged",
			in:   []Event{ev(EventDead, a, "1"), ev(EventDead, a, "1"), ev(EventLeft, b, "1"), ev(EventLeft, b, "1")},
			want: []string{"dead/a/1", "dead/a/1", "left/b/1", "left/b/1"},
		},
		{
			name: "updates of different members stay apart",
			in:   []Event{ev(EventUpdated, a, "1"), ev(EventUpdated, b, "1"), ev(EventUpdated, a, "2")},
			want: []string{"updated/a/2", "updated/b/1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q eventQueue
			for _, e := range tt.in {
				q.push(e)
			}
			var got []string
			for {
				e, ok := q.pop()
				if !ok {
					break
				}
				got = append(got, fmt.Sprintf("%v/%s/%s", e.Kind, e.Member.ID()[15:], e.Member.Meta.Version))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("queue delivered %v, want %v", got, tt.want)
			}
			if q.len() != 0 {
				t.Fatalf("queue not empty")
			}
		})
	}
}

// TestEventQueueKeepsEveryDeath queues a long burst for a consumer that
// has not read anything: every Joined and Dead comes out, in order, and
// the updates in between shrink to one per member.
func TestEventQueueKeepsEveryDeath(t *testing.T) {
	var q eventQueue
	const members, updates = 200, 50
	id := func(i int) string { return fmt.Sprintf("%016x", i) }
	for i := range members {
		q.push(ev(EventJoined, id(i), "0"))
	}
	for u := range updates {
		for i := range members {
			q.push(ev(EventUpdated, id(i), fmt.Sprint(u)))
		}
	}
	for i := range members {
		q.push(ev(EventDead, id(i), "x"))
	}
	if q.len() != 2*members {
		t.Fatalf("%d events queued, want %d (updates merged into the joins)", q.len(), 2*members)
	}
	for i := range 2 * members {
		e, ok := q.pop()
		if !ok {
			t.Fatalf("queue ran dry after %d", i)
		}
		want := ev(EventJoined, id(i), fmt.Sprint(updates-1))
		if i >= members {
			want = ev(EventDead, id(i-members), "x")
		}
		if e.Kind != want.Kind || e.Member.ID() != want.Member.ID() || e.Member.Meta.Version != want.Member.Meta.Version {
			t.Fatalf("event %d is %v %s v%s, want %v %s v%s", i, e.Kind, e.Member.ID(), e.Member.Meta.Version,
				want.Kind, want.Member.ID(), want.Member.Meta.Version)
		}
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[EventKind]string{EventJoined: "joined", EventUpdated: "updated", EventLeft: "left", EventDead: "dead", 0: "EventKind(0)", 9: "EventKind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}
