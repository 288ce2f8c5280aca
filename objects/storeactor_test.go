package objects

import (
	"bytes"
	"os"
	"strings"
	"testing"

	pb "github.com/goray-dev/goray/proto"
)

func TestStoreActorMessages(t *testing.T) {
	sys := quietSystem(t)
	st, err := NewStore(StoreConfig{Capacity: 100, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pid := sys.Root.Spawn(NewStoreActor(st, "node-a"))
	request := func(msg any) any {
		t.Helper()
		res, err := sys.Root.RequestFuture(pid, msg, actorWait).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	gen := NewIDGen()
	a, b, c := gen.Next(), gen.Next(), gen.Next()
	for _, m := range []*pb.PutObject{
		{ObjectId: a.Bytes(), Data: bytes.Repeat([]byte("a"), 60)},
		{ObjectId: b.Bytes(), Data: bytes.Repeat([]byte("b"), 60)}, // spills a
		{ObjectId: []byte("bad"), Data: []byte("x")},
		{ObjectId: c.Bytes(), Data: nil},
	} {
		sys.Root.Send(pid, m)
	}

	tests := []struct {
		name     string
		id       []byte
		want     []byte
		wantKind pb.ErrorKind
	}{
		{"in memory", b.Bytes(), bytes.Repeat([]byte("b"), 60), 0},
		{"spilled", a.Bytes(), bytes.Repeat([]byte("a"), 60), 0},
		{"empty object", c.Bytes(), nil, 0},
		{"unknown", gen.Next().Bytes(), nil, pb.ErrorKind_ERROR_KIND_OBJECT_LOST},
		{"malformed ID", []byte("bad"), nil, pb.ErrorKind_ERROR_KIND_INVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(&pb.GetObject{ObjectId: tt.id}).(*pb.GetObjectReply)
			if tt.wantKind != 0 {
				if r.Error == nil || r.Error.Kind != tt.wantKind || r.Error.NodeId != "node-a" {
					t.Fatalf("reply %+v, want a %v error from node-a", r, tt.wantKind)
				}
				return
			}
			if r.Error != nil || !bytes.Equal(r.Data, tt.want) {
				t.Fatalf("reply %q, %v", r.Data, r.Error)
			}
		})
	}

	stats := request(&pb.GetStoreStats{}).(*pb.StoreStats)
	if stats.Objects != 3 || stats.Capacity != 100 || stats.SpillCount == 0 || stats.RestoreCount == 0 {
		t.Errorf("stats %+v", stats)
	}
	sys.Root.Send(pid, &pb.DeleteObjects{ObjectIds: [][]byte{a.Bytes(), []byte("bad"), gen.Next().Bytes()}})
	if r := request(&pb.GetObject{ObjectId: a.Bytes()}).(*pb.GetObjectReply); r.Error == nil || !strings.Contains(r.Error.Message, a.String()) {
		t.Errorf("deleted object: %+v", r)
	}
	if stats := request(&pb.GetStoreStats{}).(*pb.StoreStats); stats.Objects != 2 {
		t.Errorf("%d objects after a delete, want 2", stats.Objects)
	}
}

func TestStoreActorStopClosesStore(t *testing.T) {
	sys := quietSystem(t)
	dir := t.TempDir()
	st, err := NewStore(StoreConfig{Capacity: 10, SpillDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	pid := sys.Root.Spawn(NewStoreActor(st, "n"))
	gen := NewIDGen()
	for range 3 {
		sys.Root.Send(pid, &pb.PutObject{ObjectId: gen.Next().Bytes(), Data: make([]byte, 8)})
	}
	res, err := sys.Root.RequestFuture(pid, &pb.GetStoreStats{}, actorWait).Result()
	if err != nil {
		t.Fatal(err)
	}
	if s := res.(*pb.StoreStats); s.Spilled == 0 {
		t.Fatalf("nothing spilled: %+v", s)
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("spill files left after the store actor stopped: %v", entries)
	}
	if err := st.Put(gen.Next(), []byte("x")); err == nil {
		t.Error("the store accepts puts after its actor stopped")
	}
}
