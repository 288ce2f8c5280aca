package objects

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"testing"

	pb "github.com/goray-dev/goray/proto"
)

// asmID is the object the assembly tests assemble.
var asmID = ID{1, 2, 3}

// honest is the reply of a store holding obj to the request for n bytes at
// off.
func honest(obj []byte, off, n int64) *pb.ObjectChunk {
	size := int64(len(obj))
	m := &pb.ObjectChunk{ObjectId: asmID[:], Offset: off, TotalSize: size}
	if off >= 0 && off <= size {
		m.Data = obj[off:min(off+n, size)]
	}
	return m
}

// askAll asks for every chunk the assembly wants and returns them.
func askAll(a *assembly) [][2]int64 {
	var out [][2]int64
	for {
		off, n, ok := a.want()
		if !ok {
			return out
		}
		a.ask(off, n)
		out = append(out, [2]int64{off, n})
	}
}

func TestAssemblyHonest(t *testing.T) {
	for _, size := range []int{0, 1, 9, 10, 11, 35} {
		for _, expected := range []int64{-1, int64(size)} {
			obj := pattern(size, byte(size))
			a := newAssembly(asmID, 10, 100, expected, nil)
			steps := 0
			for !a.done() {
				asked := askAll(a)
				if len(asked) == 0 {
					t.Fatalf("size %d: nothing asked for and not done", size)
				}
				for _, r := range asked {
					st, freed, err := a.add(honest(obj, r[0], r[1]))
					if err != nil || st == chunkIgnored || freed != r[1] {
						t.Fatalf("size %d: add(%v) = %v, %d, %v", size, r, st, freed, err)
					}
				}
				if steps++; steps > 10 {
					t.Fatalf("size %d: not done after %d rounds", size, steps)
				}
			}
			if !bytes.Equal(a.buf, obj) || a.inFlight != 0 {
				t.Fatalf("size %d: assembled %d bytes, %d in flight", size, len(a.buf), a.inFlight)
			}
		}
	}
}

// TestAssemblyRejects feeds replies that are not what was asked: each is
// refused, or ignored, and none writes to the buffer.
func TestAssemblyRejects(t *testing.T) {
	obj := pattern(35, 9)
	other := ID{9}
	tests := []struct {
		name     string
		expected int64
		reply    func(off, n int64) *pb.ObjectChunk
		err      error // nil: ignored
	}{
		{"other object", -1, func(off, n int64) *pb.ObjectChunk {
			c := honest(obj, off, n)
			c.ObjectId = other[:]
			return c
		}, nil},
		{"offset not asked", 35, func(off, n int64) *pb.ObjectChunk { return honest(obj, off+1, n) }, nil},
		{"short", -1, func(off, n int64) *pb.ObjectChunk {
			c := honest(obj, off, n)
			c.Data = c.Data[:n-1]
			return c
		}, ErrMalformedChunk},
		{"oversized", 35, func(off, n int64) *pb.ObjectChunk {
			c := honest(obj, off, n)
			c.Data = make([]byte, len(c.Data)+1)
			return c
		}, ErrMalformedChunk},
		{"total size lies", 35, func(off, n int64) *pb.ObjectChunk {
			c := honest(obj, off, n)
			c.TotalSize = 34
			return c
		}, ErrMalformedChunk},
		{"total size too large", -1, func(off, n int64) *pb.ObjectChunk {
			c := honest(obj, off, n)
			c.TotalSize = 101
			return c
		}, ErrMalformedChunk},
		{"negative total size", -1, func(off, n int64) *pb.ObjectChunk {
			c := honest(obj, off, n)
			c.TotalSize = -1
			return c
		}, ErrMalformedChunk},
		{"offset past the end", 35, func(off, n int64) *pb.ObjectChunk {
			c := honest(obj, off, n)
			c.TotalSize = off
			return c
		}, ErrMalformedChunk},
		{"error", 35, func(off, n int64) *pb.ObjectChunk {
			return &pb.ObjectChunk{ObjectId: asmID[:], Offset: off, Error: &pb.Error{Message: "no"}}
		}, ErrSourceFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAssembly(asmID, 10, 100, tt.expected, nil)
			asked := askAll(a)
			last := asked[len(asked)-1]
			before := a.inFlight
			st, freed, err := a.add(tt.reply(last[0], last[1]))
			if st != chunkIgnored || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("add = %v, %v, want ignored with %v", st, err, tt.err)
			}
			if a.received != 0 || (a.buf != nil && !bytes.Equal(a.buf, make([]byte, len(a.buf)))) {
				t.Fatal("a refused chunk was copied")
			}
			if tt.err == nil {
				if freed != 0 || a.inFlight != before {
					t.Fatalf("an ignored chunk freed %d bytes", freed)
				}
				return
			}
			// The chunk is asked for again.
			if freed != last[1] || a.inFlight != before-last[1] {
				t.Fatalf("freed %d, in flight %d, want %d freed", freed, a.inFlight, last[1])
			}
			if off, _, ok := a.want(); !ok || off != last[0] {
				t.Fatalf("want() = %d, %v, want the failed chunk at %d", off, ok, last[0])
			}
		})
	}
}

// FuzzAssembly feeds an assembly replies that a hostile source chose:
// any offset, length, size, object ID and data, interleaved with honest
// ones, with the source given up and replaced as the store actor does. The
// assembly must never panic, write outside its buffer, count a byte twice or
// change a known size; what it completes from honest data alone is the
// object.
func FuzzAssembly(f *testing.F) {
	f.Add([]byte{}, uint16(35), int64(-1))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, uint16(10), int64(10))
	f.Add([]byte{1, 3, 0, 0, 0, 0, 0, 5, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 4, 7}, uint16(35), int64(35))
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 200, 255, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(99), int64(-1))
	f.Fuzz(func(t *testing.T, ops []byte, size uint16, expected int64) {
		const chunk, maxSize = 10, 200
		obj := pattern(int(size)%maxSize, 3)
		if expected >= 0 {
			expected %= maxSize + 1
		} else {
			expected = -1
		}
		a := newAssembly(asmID, chunk, maxSize, expected, nil)
		tainted := false // a hostile chunk was accepted: the content may differ
		for len(ops) >= 9 {
			op, arg := ops[0], int64(binary.BigEndian.Uint64(ops[1:9]))
			ops = ops[9:]
			askAll(a)
			asked := slices.Sorted(maps.Keys(a.asked))
			var m *pb.ObjectChunk
			switch op % 6 {
			case 0: // honest, to some request
				if len(asked) == 0 {
					continue
				}
				off := asked[uint64(arg)%uint64(len(asked))]
				m = honest(obj, off, a.asked[off])
			case 1: // any offset, honest otherwise
				m = honest(obj, arg, chunk)
			case 2: // a known offset with data of a chosen length
				if len(asked) == 0 {
					continue
				}
				n := int(uint64(arg) % 64)
				m = &pb.ObjectChunk{ObjectId: asmID[:], Offset: asked[0], TotalSize: int64(len(obj)), Data: make([]byte, n)}
			case 3: // a lie about the size
				if len(asked) == 0 {
					continue
				}
				m = honest(obj, asked[0], a.asked[asked[0]])
				m.TotalSize = arg
			case 4: // an error
				if len(asked) == 0 {
					continue
				}
				m = &pb.ObjectChunk{ObjectId: asmID[:], Offset: asked[0], Error: &pb.Error{}}
			case 5: // another object
				m = &pb.ObjectChunk{ObjectId: []byte{1}, Offset: 0, TotalSize: 1, Data: []byte{1}}
			}
			sizeBefore, receivedBefore := a.size, a.received
			st, freed, err := a.add(m)
			switch {
			case err != nil:
				if st != chunkIgnored || a.received != receivedBefore {
					t.Fatalf("a failed chunk changed the assembly")
				}
				// The store actor gives the source up: in-flight chunks go
				// back, and after a malformed one everything is forgotten.
				a.drop()
				if errors.Is(err, ErrMalformedChunk) {
					a.reset()
					tainted = false
				}
			case st == chunkIgnored:
				if freed != 0 || a.received != receivedBefore {
					t.Fatal("an ignored chunk changed the assembly")
				}
			default:
				if sizeBefore >= 0 && a.size != sizeBefore {
					t.Fatalf("the size changed from %d to %d", sizeBefore, a.size)
				}
				if op%6 != 0 {
					tainted = true
				}
			}
			if a.size > maxSize || int64(len(a.buf)) != max(a.size, 0) && a.size >= 0 {
				t.Fatalf("size %d, buffer %d bytes", a.size, len(a.buf))
			}
			if a.received > max(a.size, 0) || a.inFlight < 0 {
				t.Fatalf("received %d of %d, %d in flight", a.received, a.size, a.inFlight)
			}
			var sum int64
			for _, n := range a.asked {
				sum += n
			}
			if sum != a.inFlight {
				t.Fatalf("in flight %d, asked %d", a.inFlight, sum)
			}
			if st == chunkComplete {
				if !a.done() || a.received != a.size {
					t.Fatalf("complete with %d of %d bytes", a.received, a.size)
				}
				if !tainted && (expected < 0 || expected == int64(len(obj))) && !bytes.Equal(a.buf, obj) {
					t.Fatal("assembled from honest chunks, the object differs")
				}
				return
			}
		}
	})
}
