package objects

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pb "github.com/goray-dev/goray/proto"
)

// pipeNet is an in-memory network of chunk servers: a dial connects to the
// handler serving the address through net.Pipe. It stands in for
// cluster/transport's authenticated TCP streams.
type pipeNet struct {
	mu      sync.Mutex
	servers map[string]func(net.Conn)
	dials   int
}

func (pn *pipeNet) serve(addr string, h func(net.Conn)) {
	pn.mu.Lock()
	defer pn.mu.Unlock()
	if pn.servers == nil {
		pn.servers = make(map[string]func(net.Conn))
	}
	pn.servers[addr] = h
}

// node returns the Streams of the node whose chunk server is at addr.
func (pn *pipeNet) node(addr string) Streams { return pipeStreams{pn: pn, addr: addr} }

type pipeStreams struct {
	pn   *pipeNet
	addr string
}

func (s pipeStreams) StreamAddress() string { return s.addr }

func (s pipeStreams) DialStream(_ context.Context, addr string) (net.Conn, error) {
	s.pn.mu.Lock()
	h := s.pn.servers[addr]
	s.pn.dials++
	s.pn.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	}
	client, server := net.Pipe()
	go h(server)
	return client, nil
}

// Hostile chunk servers: they read requests and answer them wrongly.
func answerEach(answer func(c net.Conn, off, n int64) error) func(net.Conn) {
	return func(c net.Conn) {
		defer c.Close()
		var req [streamRequestLen]byte
		for {
			if _, err := io.ReadFull(c, req[:]); err != nil {
				return
			}
			off := int64(binary.LittleEndian.Uint64(req[IDLen:]))
			n := int64(binary.LittleEndian.Uint64(req[IDLen+8:]))
			if err := answer(c, off, n); err != nil {
				return
			}
		}
	}
}

func streamHeader(status uint32, off, total, n int64, msgLen uint32) []byte {
	var h [streamHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], status)
	binary.LittleEndian.PutUint64(h[4:], uint64(off))
	binary.LittleEndian.PutUint64(h[12:], uint64(total))
	binary.LittleEndian.PutUint64(h[20:], uint64(n))
	binary.LittleEndian.PutUint32(h[28:], msgLen)
	return h[:]
}

// TestPullOverStreams pulls objects whose source serves chunks over
// streams. The first chunk travels as a message and names the source's
// chunk server; the others come over the stream, straight into the pull's
// buffer. A source whose stream cannot be opened serves the pull with
// messages; one whose chunk server answers wrongly or not at all is given
// up for the next source.
func TestPullOverStreams(t *testing.T) {
	const chunk = 64 << 10
	size := 40*chunk + 123
	cfg := StoreConfig{Transfer: TransferConfig{ChunkSize: chunk, SourceWindow: 4 * chunk, StallTimeout: 500 * time.Millisecond}}
	tests := []struct {
		name string
		// serve is how node A's chunk server answers; nil: it has none.
		serve func(a *tnode) func(net.Conn)
		// fromStream: the chunks B receives over streams; from: the node
		// whose copy B gets.
		fromStream int
		fromC      bool
	}{
		{"over the stream", func(a *tnode) func(net.Conn) { return ServeChunks(a.sys.Root, a.store) }, 41, false},
		{"no chunk server", nil, 0, false},
		{"short chunks", func(*tnode) func(net.Conn) {
			return answerEach(func(c net.Conn, off, n int64) error {
				_, err := c.Write(append(streamHeader(0, off, int64(size), n-1, 0), make([]byte, n-1)...))
				return err
			})
		}, 0, true},
		{"answers for another offset", func(*tnode) func(net.Conn) {
			return answerEach(func(c net.Conn, off, n int64) error {
				_, err := c.Write(append(streamHeader(0, off+1, int64(size), n, 0), make([]byte, n)...))
				return err
			})
		}, 0, true},
		{"an error text beside the last chunk", func(a *tnode) func(net.Conn) {
			serve := ServeChunks(a.sys.Root, a.store)
			return func(c net.Conn) {
				// The other chunks are answered right, so that nothing
				// but the last answer can give the server away.
				client, server := net.Pipe()
				defer client.Close()
				defer c.Close()
				go serve(server)
				go func() { _, _ = io.Copy(client, c) }()
				var hdr [streamHeaderLen]byte
				for {
					if _, err := io.ReadFull(client, hdr[:]); err != nil {
						return
					}
					n := int64(binary.LittleEndian.Uint64(hdr[20:]))
					data := make([]byte, n)
					if _, err := io.ReadFull(client, data); err != nil {
						return
					}
					if off := int64(binary.LittleEndian.Uint64(hdr[4:])); off+n == int64(size) {
						_, _ = c.Write(append(append(streamHeader(0, off, int64(size), n, 3), "abc"...), data...))
						continue
					}
					_, _ = c.Write(append(hdr[:], data...))
				}
			}
		}, 0, true},
		{"another size", func(*tnode) func(net.Conn) {
			return answerEach(func(c net.Conn, off, n int64) error {
				_, err := c.Write(append(streamHeader(0, off, int64(size)+chunk, n, 0), make([]byte, n)...))
				return err
			})
		}, 0, true},
		{"errors", func(*tnode) func(net.Conn) {
			return answerEach(func(c net.Conn, off, n int64) error {
				msg := "no such object"
				_, err := c.Write(append(streamHeader(uint32(pb.ErrorKind_ERROR_KIND_OBJECT_LOST)+1, off, 0, 0, uint32(len(msg))), msg...))
				return err
			})
		}, 0, true},
		{"silence", func(*tnode) func(net.Conn) {
			return answerEach(func(net.Conn, int64, int64) error { return nil })
		}, 0, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pn := &pipeNet{}
			aAddr, bAddr, cAddr := fmt.Sprintf("a%d:1", i), fmt.Sprintf("b%d:1", i), fmt.Sprintf("c%d:1", i)
			a := newTNode(t, 0, nodeA, cfg, WithStreams(pn.node(aAddr)))
			b := newTNode(t, 1, nodeB, cfg, WithStreams(pn.node(bAddr)))
			c := newTNode(t, 2, nodeC, cfg, WithStreams(pn.node(cAddr)))
			if tt.serve != nil {
				pn.serve(aAddr, tt.serve(a))
			}
			pn.serve(cAddr, ServeChunks(c.sys.Root, c.store))
			id := NewIDGen().Next()
			data := pattern(size, byte(i))
			a.put(t, id, data)
			c.put(t, id, data)
			// B learns of A's chunk server from a first pull, then pulls
			// the object itself (its size known) from A, then C.
			warm := NewIDGen().Next()
			a.put(t, warm, pattern(chunk, 9))
			if _, err := b.fetch(context.Background(), warm, -1, nil, a.store); err != nil {
				t.Fatalf("first pull: %v", err)
			}
			before := b.transferStats(t).StreamChunks
			got, err := b.fetch(context.Background(), id, int64(size), nil, a.store, c.store)
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("the pulled copy differs from the object")
			}
			streamed := int(b.transferStats(t).StreamChunks - before)
			switch {
			case tt.fromC && streamed == 0:
				t.Fatal("no chunk came over C's stream")
			case !tt.fromC && streamed != tt.fromStream:
				t.Fatalf("%d chunks came over streams, want %d", streamed, tt.fromStream)
			}
			b.settled(t)
		})
	}
}

// TestServeChunksBadRequests: a chunk server answers a request for an
// object its store lacks with an error, and closes a stream whose request
// asks for more than a chunk may hold.
func TestServeChunksBadRequests(t *testing.T) {
	a := newTNode(t, 0, nodeA, StoreConfig{})
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan struct{})
	go func() { defer close(done); ServeChunks(a.sys.Root, a.store)(server) }()
	if err := client.SetDeadline(time.Now().Add(actorWait)); err != nil {
		t.Fatal(err)
	}
	req := func(id ID, off, n int64) error {
		b := append(id[:], make([]byte, 16)...)
		binary.LittleEndian.PutUint64(b[IDLen:], uint64(off))
		binary.LittleEndian.PutUint64(b[IDLen+8:], uint64(n))
		_, err := client.Write(b)
		return err
	}
	if err := req(NewIDGen().Next(), 0, 1024); err != nil {
		t.Fatal(err)
	}
	var hdr [streamHeaderLen]byte
	if _, err := io.ReadFull(client, hdr[:]); err != nil {
		t.Fatal(err)
	}
	status, n, msgLen := binary.LittleEndian.Uint32(hdr[0:]), binary.LittleEndian.Uint64(hdr[20:]), binary.LittleEndian.Uint32(hdr[28:])
	if status != uint32(pb.ErrorKind_ERROR_KIND_OBJECT_LOST)+1 || n != 0 || msgLen == 0 {
		t.Fatalf("answer to a missing object: status %d, %d bytes, error of %d bytes", status, n, msgLen)
	}
	if _, err := io.ReadFull(client, make([]byte, msgLen)); err != nil {
		t.Fatal(err)
	}
	go func() { _ = req(NewIDGen().Next(), 0, pb.MaxChunkLen+1) }() // the server may close first
	select {
	case <-done:
	case <-time.After(actorWait):
		t.Fatal("the server kept a stream that asked for an oversized chunk")
	}
}

// TestServeChunksStoreGone: when the store does not answer a request, the
// chunk server answers it with an error for the offset asked, so that the
// client gives up the source rather than reading a broken stream.
func TestServeChunksStoreGone(t *testing.T) {
	sys := remoteSystem(t, 0)
	gone := actor.NewPID(sys.Address(), "no-such-store")
	client, server := net.Pipe()
	defer client.Close()
	go ServeChunks(sys.Root, gone)(server)
	if err := client.SetDeadline(time.Now().Add(actorWait)); err != nil {
		t.Fatal(err)
	}
	id := NewIDGen().Next()
	req := append(id[:], make([]byte, 16)...)
	binary.LittleEndian.PutUint64(req[IDLen:], 4<<20)
	binary.LittleEndian.PutUint64(req[IDLen+8:], 1024)
	if _, err := client.Write(req); err != nil {
		t.Fatal(err)
	}
	var hdr [streamHeaderLen]byte
	if _, err := io.ReadFull(client, hdr[:]); err != nil {
		t.Fatal(err)
	}
	status, off, n := binary.LittleEndian.Uint32(hdr[0:]), int64(binary.LittleEndian.Uint64(hdr[4:])), binary.LittleEndian.Uint64(hdr[20:])
	if status != uint32(pb.ErrorKind_ERROR_KIND_SYSTEM)+1 || off != 4<<20 || n != 0 {
		t.Fatalf("answer: status %d, offset %d, %d bytes; want a system error for offset %d", status, off, n, 4<<20)
	}
}
