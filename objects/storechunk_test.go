package objects

import (
	"bytes"
	"errors"
	"testing"

	pb "github.com/goray-dev/goray/proto"
)

// TestStoreReadChunk reads chunks of an object in memory and of one only on
// disk: the spilled one with a bounded read of its file, never restored.
func TestStoreReadChunk(t *testing.T) {
	fsys := newMemFS(t)
	s, err := NewStore(StoreConfig{Capacity: 100, SpillDir: "/spill", FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	gen := NewIDGen()
	mem, disk := gen.Next(), gen.Next()
	dm, dd := payload(1, 50), payload(2, 150) // dd does not fit: straight to disk
	for id, d := range map[ID][]byte{mem: dm, disk: dd} {
		if err := s.Put(id, d); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		id     ID
		off, n int64
		want   []byte
		err    error
	}{
		{mem, 0, 10, dm[:10], nil},
		{mem, 45, 10, dm[45:], nil},
		{mem, 50, 10, nil, nil},
		{mem, 51, 1, nil, ErrOutOfRange},
		{mem, 0, 0, nil, ErrOutOfRange},
		{mem, -1, 5, nil, ErrOutOfRange},
		{disk, 0, 64, dd[:64], nil},
		{disk, 128, 64, dd[128:], nil},
		{disk, 150, 64, nil, nil},
		{disk, 151, 1, nil, ErrOutOfRange},
		{gen.Next(), 0, 1, nil, ErrObjectNotFound},
	}
	for _, tt := range tests {
		data, size, err := s.ReadChunk(tt.id, tt.off, tt.n)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ReadChunk(%d, %d): %v, want %v", tt.off, tt.n, err, tt.err)
			continue
		}
		if err == nil && (!bytes.Equal(data, tt.want) || size != int64(map[ID]int{mem: 50, disk: 150}[tt.id])) {
			t.Errorf("ReadChunk(%d, %d) = %d bytes of %d", tt.off, tt.n, len(data), size)
		}
	}
	if st := s.Stats(); st.Spilled != 1 || st.RestoreCount != 0 {
		t.Errorf("stats %+v: the spilled object was restored", st)
	}
	if fsys.readFiles != 0 || fsys.readAtMax != 64 {
		t.Errorf("%d whole-file reads, largest chunk read %d bytes; want none and 64", fsys.readFiles, fsys.readAtMax)
	}
	// A chunk is a view the caller cannot grow into the object.
	data, _, _ := s.ReadChunk(mem, 0, 10)
	if cap(data) != 10 {
		t.Errorf("chunk capacity %d, want 10", cap(data))
	}
}

// TestStoreActorChunkWaitsForRestore asks for a chunk of an object whose
// restore is under way: it is answered from the restored bytes, or fails
// with the restore.
func TestStoreActorChunkWaitsForRestore(t *testing.T) {
	for _, fail := range []bool{false, true} {
		k := newStoreKit(t, 100)
		a, b := k.gen.Next(), k.gen.Next()
		da, db := payload(1, 60), payload(2, 60)
		k.spillOne(a, b, da, db)

		gate := k.fs.hold(t, fsRead, k.path(a))
		get := k.sys.Root.RequestFuture(k.pid, &pb.GetObject{ObjectId: a.Bytes()}, actorWait)
		gate.wait(t)
		chunk := k.sys.Root.RequestFuture(k.pid, &pb.ReadChunk{ObjectId: a.Bytes(), Offset: 50, Length: 20, Tag: 7}, actorWait)
		k.mustGet(b, db) // the actor is not blocked by the read
		if fail {
			gate.fail(errDisk)
		} else {
			gate.release()
		}
		if _, err := get.Result(); err != nil {
			t.Fatal(err)
		}
		res, err := chunk.Result()
		if err != nil {
			t.Fatal(err)
		}
		c := res.(*pb.ObjectChunk)
		switch {
		case fail && (c.Error == nil || c.Error.Kind != pb.ErrorKind_ERROR_KIND_OBJECT_LOST):
			t.Errorf("chunk of a failed restore: %v", c)
		case !fail && (c.Error != nil || !bytes.Equal(c.Data, da[50:]) || c.TotalSize != 60 || c.Offset != 50 || c.Tag != 7):
			t.Errorf("chunk of a restored object: %v", c)
		}
	}
}
