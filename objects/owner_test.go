package objects

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/goray-dev/goray/proto"
)

// ownerHooks records the Stored and Abandoned calls of an owner.
type ownerHooks struct {
	mu        sync.Mutex
	stored    []ID
	abandoned []ID
	// doneAtStore records whether a slot was already done when Stored ran.
	doneAtStore []bool
}

func newHookedOwner() (*Owner, *ownerHooks) {
	o, h := NewOwner(), &ownerHooks{}
	o.Stored = func(s *Slot) {
		h.mu.Lock()
		h.stored = append(h.stored, s.ID)
		h.doneAtStore = append(h.doneAtStore, s.IsDone())
		h.mu.Unlock()
	}
	o.Abandoned = func(id ID) {
		h.mu.Lock()
		h.abandoned = append(h.abandoned, id)
		h.mu.Unlock()
	}
	return o, h
}

func (h *ownerHooks) counts() (stored, abandoned int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.stored), len(h.abandoned)
}

func TestOwnerComplete(t *testing.T) {
	userErr := &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_USER, Message: "failed"}
	tests := []struct {
		name          string
		res           func(id ID) *pb.Result
		wantData      string
		wantNode      string
		wantErr       bool
		wantStored    int
		wantAbandoned int
	}{
		{"inline", func(id ID) *pb.Result { return &pb.Result{ObjectId: id.Bytes(), Inline: []byte("v")} }, "v", "", false, 0, 0},
		{"in store", func(id ID) *pb.Result { return &pb.Result{ObjectId: id.Bytes(), StoreNode: "n1", Size: 9} }, "", "n1", false, 1, 0},
		{"error", func(id ID) *pb.Result {
			return &pb.Result{ObjectId: id.Bytes(), Error: userErr, Inline: []byte("ignored"), StoreNode: "ignored"}
		}, "", "", true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, h := newHookedOwner()
			id := NewIDGen().Next()
			holder := new(int)
			s := o.Pending(id, holder, "")
			if s.IsDone() || o.PendingCount() != 1 || s.Holder() != holder {
				t.Fatalf("fresh slot: done %v, pending %d, holder %v", s.IsDone(), o.PendingCount(), s.Holder())
			}
			var onDone atomic.Int32
			s.OnDone(func() { onDone.Add(1) })
			if !o.Complete(tt.res(id)) {
				t.Fatal("Complete refused the result of a pending slot")
			}
			if !s.IsDone() || o.PendingCount() != 0 || onDone.Load() != 1 {
				t.Fatalf("after Complete: done %v, pending %d, OnDone ran %d times", s.IsDone(), o.PendingCount(), onDone.Load())
			}
			if s.Holder() != nil {
				t.Error("a completed slot still keeps its holder")
			}
			s.OnDone(func() { onDone.Add(1) })
			if onDone.Load() != 2 {
				t.Error("OnDone on a completed slot did not run at once")
			}
			data, node, _, perr, freed := s.Value()
			if string(data) != tt.wantData || node != tt.wantNode || (perr != nil) != tt.wantErr || freed {
				t.Errorf("Value = %q, %q, %v, freed %v", data, node, perr, freed)
			}
			stored, abandoned := h.counts()
			if stored != tt.wantStored || abandoned != tt.wantAbandoned {
				t.Errorf("hooks: stored %d, abandoned %d; want %d, %d", stored, abandoned, tt.wantStored, tt.wantAbandoned)
			}
			for _, done := range h.doneAtStore {
				if done {
					t.Error("Stored ran after the slot was marked done")
				}
			}
			// A second result for the same slot is dropped.
			if o.Complete(&pb.Result{ObjectId: id.Bytes(), Inline: []byte("late")}) {
				t.Error("a duplicate result was taken")
			}
			if data, _, _, _, _ := s.Value(); string(data) != tt.wantData {
				t.Errorf("the duplicate changed the value to %q", data)
			}
		})
	}
}

func TestOwnerDropsUnknownResults(t *testing.T) {
	tests := []struct {
		name          string
		res           *pb.Result
		wantAbandoned int
	}{
		{"bad ID", &pb.Result{ObjectId: []byte("short"), StoreNode: "n1"}, 0},
		{"unknown inline", &pb.Result{ObjectId: NewIDGen().Next().Bytes(), Inline: []byte("x")}, 0},
		// Nobody will ever read it: the store copy must go.
		{"unknown in store", &pb.Result{ObjectId: NewIDGen().Next().Bytes(), StoreNode: "n1"}, 1},
		{"unknown error", &pb.Result{ObjectId: NewIDGen().Next().Bytes(), Error: &pb.Error{}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, h := newHookedOwner()
			if o.Complete(tt.res) {
				t.Fatal("Complete took a result no slot waits for")
			}
			if _, abandoned := h.counts(); abandoned != tt.wantAbandoned {
				t.Errorf("Abandoned ran %d times, want %d", abandoned, tt.wantAbandoned)
			}
		})
	}
}

func TestOwnerReleaseAndFree(t *testing.T) {
	inStore := &pb.Result{StoreNode: "n1", Size: 4}
	inline := &pb.Result{Inline: []byte("v")}
	failed := &pb.Result{Error: &pb.Error{Message: "x"}}
	tests := []struct {
		name string
		// before runs on the pending slot, after on the completed one; each
		// returns what Release or Free reported.
		before, after          func(o *Owner, s *Slot) bool
		res                    *pb.Result
		wantBefore, wantAfter  bool
		wantStored, wantAbandn int
		wantFreed              bool
	}{
		{name: "release after store", after: (*Owner).Release, res: inStore, wantAfter: true, wantStored: 1},
		{name: "release after inline", after: (*Owner).Release, res: inline},
		{name: "release after error", after: (*Owner).Release, res: failed},
		{name: "release before store", before: (*Owner).Release, res: inStore, wantAbandn: 1},
		{name: "free after store", after: (*Owner).Free, res: inStore, wantAfter: true, wantStored: 1, wantFreed: true},
		{name: "free after inline", after: (*Owner).Free, res: inline, wantFreed: true},
		{name: "free before store", before: (*Owner).Free, res: inStore, wantAbandn: 1, wantFreed: true},
		{name: "release after free", before: (*Owner).Free, after: (*Owner).Release, res: inStore, wantAbandn: 1, wantFreed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, h := newHookedOwner()
			id := NewIDGen().Next()
			s := o.Pending(id, nil, "")
			if tt.before != nil {
				if got := tt.before(o, s); got != tt.wantBefore {
					t.Errorf("on the pending slot: %v, want %v", got, tt.wantBefore)
				}
			}
			tt.res.ObjectId = id.Bytes()
			o.Complete(tt.res)
			if tt.after != nil {
				if got := tt.after(o, s); got != tt.wantAfter {
					t.Errorf("on the completed slot: %v, want %v", got, tt.wantAfter)
				}
			}
			stored, abandoned := h.counts()
			if stored != tt.wantStored || abandoned != tt.wantAbandn {
				t.Errorf("hooks: stored %d, abandoned %d; want %d, %d", stored, abandoned, tt.wantStored, tt.wantAbandn)
			}
			data, _, _, _, freed := s.Value()
			if freed != tt.wantFreed {
				t.Errorf("freed = %v, want %v", freed, tt.wantFreed)
			}
			if tt.wantFreed && tt.after != nil && data != nil {
				t.Errorf("a freed slot still holds %q", data)
			}
		})
	}
	t.Run("free twice", func(t *testing.T) {
		o := NewOwner()
		id := NewIDGen().Next()
		s := o.Pending(id, nil, "")
		o.Complete(&pb.Result{ObjectId: id.Bytes(), StoreNode: "n1"})
		if !o.Free(s) || o.Free(s) {
			t.Error("only the first Free of a store object reports it")
		}
		if o.Release(s) {
			t.Error("Release after Free reports a reference to drop")
		}
	})
}

func TestOwnerReadyAndFail(t *testing.T) {
	o, h := newHookedOwner()
	gen := NewIDGen()
	r := o.Ready(gen.Next(), "holder", &pb.Result{Inline: []byte("now")})
	if !r.IsDone() {
		t.Fatal("Ready returned a pending slot")
	}
	if data, _, _, _, _ := r.Value(); string(data) != "now" {
		t.Errorf("Ready value %q", data)
	}
	inline := o.ReadyInline(gen.Next(), []byte("put"))
	if data, _, _, _, _ := inline.Value(); !inline.IsDone() || string(data) != "put" {
		t.Errorf("ReadyInline: done %v, value %q", inline.IsDone(), data)
	}
	select {
	case <-inline.Done():
	default:
		t.Error("ReadyInline: Done is not closed")
	}
	stored := o.Ready(gen.Next(), nil, &pb.Result{StoreNode: "n2", Size: 10})
	if _, node, size, _, _ := stored.Value(); node != "n2" || size != 10 {
		t.Errorf("Ready in store: node %q, size %d", node, size)
	}
	if s, _ := h.counts(); s != 1 {
		t.Errorf("Stored ran %d times for a Ready store object, want 1", s)
	}
	if o.PendingCount() != 0 {
		t.Errorf("Ready slots count as pending: %d", o.PendingCount())
	}

	id := gen.Next()
	p := o.Pending(id, nil, "")
	wake := p.Done() // made before the slot completes: closed when it does
	o.Fail(id, &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_CANCELLED, Message: "stop"})
	select {
	case <-wake:
	default:
		t.Error("Fail: a waiter's Done channel is not closed")
	}
	if _, _, _, perr, _ := p.Value(); !p.IsDone() || perr == nil || perr.Kind != pb.ErrorKind_ERROR_KIND_CANCELLED {
		t.Errorf("Fail: done %v, error %v", p.IsDone(), perr)
	}
}

func TestOwnerClose(t *testing.T) {
	o := NewOwner()
	gen := NewIDGen()
	var slots []*Slot
	for range 200 {
		slots = append(slots, o.Pending(gen.Next(), nil, ""))
	}
	done := o.Pending(gen.Next(), nil, "")
	o.Complete(&pb.Result{ObjectId: done.ID.Bytes(), Inline: []byte("kept")})
	o.Close(&pb.Error{Kind: pb.ErrorKind_ERROR_KIND_SYSTEM, Message: "shutdown"})
	if n := o.PendingCount(); n != 0 {
		t.Fatalf("%d slots pending after Close", n)
	}
	for _, s := range slots {
		if _, _, _, perr, _ := s.Value(); !s.IsDone() || perr == nil || perr.Message != "shutdown" {
			t.Fatalf("slot after Close: done %v, error %v", s.IsDone(), perr)
		}
	}
	if data, _, _, perr, _ := done.Value(); string(data) != "kept" || perr != nil {
		t.Errorf("Close changed a completed slot: %q, %v", data, perr)
	}
	// A slot created after Close (a call racing the shutdown) fails at once
	// instead of waiting for a result that will never come.
	later := o.Pending(gen.Next(), nil, "")
	if _, _, _, perr, _ := later.Value(); !later.IsDone() || perr == nil || perr.Message != "shutdown" {
		t.Fatalf("slot created after Close: done %v, error %v", later.IsDone(), perr)
	}
}

func TestOwnerFailActor(t *testing.T) {
	o := NewOwner()
	gen := NewIDGen()
	a1, a2, task := o.Pending(gen.Next(), nil, "actor-1"), o.Pending(gen.Next(), nil, "actor-2"), o.Pending(gen.Next(), nil, "")
	o.FailActor("actor-1", &pb.Error{Kind: pb.ErrorKind_ERROR_KIND_ACTOR_DIED, Message: "gone"}, nil)
	if _, _, _, perr, _ := a1.Value(); !a1.IsDone() || perr == nil || perr.Message != "gone" {
		t.Fatalf("call of the dead actor: done %v, error %v", a1.IsDone(), perr)
	}
	if a2.IsDone() || task.IsDone() {
		t.Fatal("FailActor settled slots of another actor or a task")
	}
	if n := o.PendingCount(); n != 2 {
		t.Fatalf("%d slots pending, want 2", n)
	}
}

func TestOwnerAsProcess(t *testing.T) {
	sys := quietSystem(t)
	o := NewOwner()
	pid, ok := sys.ProcessRegistry.Add(o, OwnerProcessID)
	if !ok {
		t.Fatal("owner not registered")
	}
	gen := NewIDGen()
	const n = 500
	slots := make([]*Slot, n)
	for i := range slots {
		slots[i] = o.Pending(gen.Next(), nil, "")
	}
	// Results arrive from many senders at once.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				sys.Root.Send(pid, "not a result")
				sys.Root.Send(pid, &pb.Result{ObjectId: slots[i].ID.Bytes(), Inline: []byte{byte(i)}})
			}
		}()
	}
	wg.Wait()
	for i, s := range slots {
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("slot %d never completed", i)
		}
		if data, _, _, _, _ := s.Value(); len(data) != 1 || data[0] != byte(i) {
			t.Fatalf("slot %d holds %v", i, data)
		}
	}
}

// A callback registered while the Stored hook runs must not run before the
// slot is done: Wait and queued actor calls rely on IsDone agreeing with it.
func TestOwnerOnDoneWaitsForStoredHook(t *testing.T) {
	o := NewOwner()
	inHook, release := make(chan struct{}), make(chan struct{})
	o.Stored = func(*Slot) {
		close(inHook)
		<-release
	}
	id := NewIDGen().Next()
	s := o.Pending(id, nil, "")
	go o.Complete(&pb.Result{ObjectId: id[:], StoreNode: "n1", Size: 1 << 20})
	<-inHook
	ran := make(chan bool, 1)
	s.OnDone(func() { ran <- s.IsDone() })
	select {
	case <-ran:
		t.Fatal("callback ran while the Stored hook was still running")
	default:
	}
	if s.IsDone() {
		t.Fatal("slot done before its Stored hook finished")
	}
	close(release)
	if done := <-ran; !done {
		t.Fatal("callback ran but IsDone was false")
	}
}

func TestOwnerOnDoneRemove(t *testing.T) {
	o := NewOwner()
	id := NewIDGen().Next()
	s := o.Pending(id, nil, "")
	var kept, dropped atomic.Int32
	remove := s.OnDone(func() { dropped.Add(1) })
	s.OnDone(func() { kept.Add(1) })
	remove()
	o.Complete(&pb.Result{ObjectId: id[:], Inline: []byte{1}})
	if kept.Load() != 1 || dropped.Load() != 0 {
		t.Fatalf("kept ran %d times, removed ran %d times", kept.Load(), dropped.Load())
	}
	ran := false
	s.OnDone(func() { ran = true })() // on a done slot: runs at once
	if !ran {
		t.Fatal("callback on a done slot did not run")
	}
}

// Registering and removing callbacks on a slot that stays pending, as Wait
// does when it polls, must not grow the slot.
func TestOwnerOnDoneRemoveDoesNotGrow(t *testing.T) {
	o := NewOwner()
	s := o.Pending(NewIDGen().Next(), nil, "")
	s.OnDone(func() {})
	for range 10_000 {
		s.OnDone(func() {})()
	}
	if n := s.callbacks(); n != 1 {
		t.Fatalf("%d callbacks held after 10000 removals, want 1", n)
	}
}
