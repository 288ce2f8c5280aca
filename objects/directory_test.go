package objects

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/goray-dev/goray/proto"
)

const actorWait = 10 * time.Second

func quietSystem(t *testing.T) *actor.ActorSystem {
	t.Helper()
	l := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return l }))
	t.Cleanup(sys.Shutdown)
	return sys
}

// dirKit is a directory with the stores of two nodes, n1 and n2.
type dirKit struct {
	t      *testing.T
	sys    *actor.ActorSystem
	dir    *actor.PID
	stores map[string]*actor.PID
	gen    *IDGen
}

func newDirKit(t *testing.T) *dirKit {
	t.Helper()
	k := &dirKit{t: t, sys: quietSystem(t), stores: map[string]*actor.PID{}, gen: NewIDGen()}
	for _, node := range []string{"n1", "n2"} {
		s, err := NewStore(StoreConfig{Capacity: 1 << 20, SpillDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		k.stores[node] = k.sys.Root.Spawn(NewStoreActor(s, node))
	}
	k.dir = k.sys.Root.Spawn(NewDirectory(func(node string) *actor.PID { return k.stores[node] }))
	return k
}

func (k *dirKit) request(pid *actor.PID, msg any) any {
	k.t.Helper()
	res, err := k.sys.Root.RequestFuture(pid, msg, actorWait).Result()
	if err != nil {
		k.t.Fatalf("request %T: %v", msg, err)
	}
	return res
}

// status asks the directory about id. Its reply also orders this test after
// every DeleteObjects the directory sent before it.
func (k *dirKit) status(id ID) *pb.ObjectStatusReply {
	k.t.Helper()
	return k.request(k.dir, &pb.ObjectStatus{ObjectId: id.Bytes()}).(*pb.ObjectStatusReply)
}

// stored reports whether node's store holds id.
func (k *dirKit) stored(node string, id ID) bool {
	k.t.Helper()
	r := k.request(k.stores[node], &pb.GetObject{ObjectId: id.Bytes()}).(*pb.GetObjectReply)
	return r.Error == nil
}

// object puts an object in node's store and registers it with the directory.
func (k *dirKit) object(node string) ID {
	id := k.gen.Next()
	k.sys.Root.Send(k.stores[node], &pb.PutObject{ObjectId: id.Bytes(), Data: []byte("data")})
	k.sys.Root.Send(k.dir, &pb.AddObject{ObjectId: id.Bytes(), Size: 4, NodeId: node})
	return id
}

func TestDirectoryReferenceCounts(t *testing.T) {
	tests := []struct {
		name string
		// deltas are applied in order; +1 and -1 become RefDelta messages.
		deltas    []int
		wantKnown bool
		wantCount int32
	}{
		{"owner reference only", nil, true, 1},
		{"borrowed twice", []int{+1, +1}, true, 3},
		{"borrowed and returned", []int{+1, -1}, true, 1},
		{"owner lets go", []int{-1}, false, 0},
		{"last borrower lets go", []int{+1, -1, -1}, false, 0},
		{"extra decrements are ignored", []int{-1, -1, -1}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newDirKit(t)
			id := k.object("n1")
			for _, d := range tt.deltas {
				m := &pb.RefDelta{}
				if d > 0 {
					m.Incr = [][]byte{id.Bytes()}
				} else {
					m.Decr = [][]byte{id.Bytes()}
				}
				k.sys.Root.Send(k.dir, m)
			}
			st := k.status(id)
			if st.Known != tt.wantKnown || st.Count != tt.wantCount || st.Freed {
				t.Fatalf("status %+v, want known %v, count %d", st, tt.wantKnown, tt.wantCount)
			}
			if tt.wantKnown && !slices.Equal(st.Locations, []string{"n1"}) {
				t.Errorf("locations %v", st.Locations)
			}
			if got := k.stored("n1", id); got != tt.wantKnown {
				t.Errorf("store holds the object: %v, want %v", got, tt.wantKnown)
			}
		})
	}
}

func TestDirectoryBatchedDelta(t *testing.T) {
	k := newDirKit(t)
	a, b, c := k.object("n1"), k.object("n2"), k.object("n1")
	// One message: b gains a reference, a and c lose their only one.
	k.sys.Root.Send(k.dir, &pb.RefDelta{Incr: [][]byte{b.Bytes()}, Decr: [][]byte{a.Bytes(), b.Bytes(), c.Bytes(), []byte("junk")}})
	for _, tt := range []struct {
		id    ID
		node  string
		known bool
	}{{a, "n1", false}, {b, "n2", true}, {c, "n1", false}} {
		if st := k.status(tt.id); st.Known != tt.known {
			t.Errorf("object %s known = %v, want %v", tt.id, st.Known, tt.known)
		}
		if got := k.stored(tt.node, tt.id); got != tt.known {
			t.Errorf("object %s in store %s = %v, want %v", tt.id, tt.node, got, tt.known)
		}
	}
}

func TestDirectoryFree(t *testing.T) {
	k := newDirKit(t)
	id := k.object("n2")
	k.sys.Root.Send(k.dir, &pb.RefDelta{Incr: [][]byte{id.Bytes(), id.Bytes()}})
	never := k.gen.Next()
	k.sys.Root.Send(k.dir, &pb.FreeObjects{ObjectIds: [][]byte{id.Bytes(), never.Bytes(), []byte("bad")}})
	st := k.status(id)
	if st.Known || !st.Freed {
		t.Fatalf("status after free %+v, want unknown and freed", st)
	}
	if k.stored("n2", id) {
		t.Error("a freed object is still in its store")
	}
	// An ID freed before it was registered refuses the late registration.
	if st := k.status(never); !st.Freed {
		t.Errorf("status of an ID freed before registration %+v", st)
	}
	k.sys.Root.Send(k.dir, &pb.AddObject{ObjectId: never.Bytes(), Size: 1, NodeId: "n1"})
	k.sys.Root.Send(k.dir, &pb.AddObject{ObjectId: id.Bytes(), Size: 1, NodeId: "n1"})
	for _, i := range []ID{never, id} {
		if st := k.status(i); st.Known {
			t.Errorf("a freed ID was registered again: %+v", st)
		}
	}
}

func TestDirectoryIgnoresBadInput(t *testing.T) {
	k := newDirKit(t)
	id := k.object("n1")
	for _, m := range []any{
		&pb.AddObject{ObjectId: []byte("short"), NodeId: "n1"},
		&pb.AddObject{ObjectId: id.Bytes(), Size: 99, NodeId: "n2"}, // already registered
		&pb.RefDelta{Incr: [][]byte{nil, k.gen.Next().Bytes()}, Decr: [][]byte{{1}}},
		&pb.FreeObjects{ObjectIds: [][]byte{{}}},
		"not a directory message",
	} {
		k.sys.Root.Send(k.dir, m)
	}
	if st := k.request(k.dir, &pb.ObjectStatus{ObjectId: []byte("bad")}).(*pb.ObjectStatusReply); st.Known || st.Freed {
		t.Errorf("status of a malformed ID %+v", st)
	}
	st := k.status(id)
	if !st.Known || st.Count != 1 || !slices.Equal(st.Locations, []string{"n1"}) {
		t.Errorf("status after bad input %+v, want the original registration", st)
	}
	// An object on a node the directory cannot reach is dropped from the
	// table all the same.
	lost := k.gen.Next()
	k.sys.Root.Send(k.dir, &pb.AddObject{ObjectId: lost.Bytes(), NodeId: "gone"})
	k.sys.Root.Send(k.dir, &pb.RefDelta{Decr: [][]byte{lost.Bytes()}})
	if st := k.status(lost); st.Known {
		t.Errorf("status %+v after the last reference went", st)
	}
}
