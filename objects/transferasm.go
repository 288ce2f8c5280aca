package objects

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/goray-dev/goray/internal/hugemem"
	pb "github.com/goray-dev/goray/proto"
)

// Errors of a pull from one source. The pull gives that source up and tries
// the next; they reach the requester inside its OBJECT_LOST error's text.
var (
	// ErrMalformedChunk means a source answered a chunk request with a
	// chunk that is not the one asked for: a wrong object, offset or
	// length, a size that contradicts what is known, or a size larger than
	// the receiver accepts.
	ErrMalformedChunk = errors.New("objects: malformed chunk")
	// ErrSourceFailed means a source answered a chunk request with an
	// error, such as not holding the object.
	ErrSourceFailed = errors.New("objects: source failed")
	// ErrSourceStalled means a source sent no chunk for a stall timeout
	// while chunks were asked of it.
	ErrSourceStalled = errors.New("objects: source stalled")
)

// chunkStatus is what assembly.add did with a chunk.
type chunkStatus uint8

const (
	chunkIgnored  chunkStatus = iota // not asked for (any more): a late or duplicate reply
	chunkAccepted                    // copied into the buffer
	chunkComplete                    // copied, and the object is whole
)

// assembly collects the chunks of one object into a single buffer of the
// object's size, the only full copy the receiver holds. It is a
// deterministic core: it decides which chunks to ask for and checks every
// reply against what was asked, so that no reply can write outside the
// buffer, overlap another chunk, or change the object's size once known.
//
// Chunks start at multiples of chunk and are chunk bytes long, the last one
// shorter. The size is known up front (the requester knew it) or from the
// first reply, which is then the only chunk asked for until it arrives.
type assembly struct {
	id      ID
	chunk   int64
	maxSize int64 // largest size accepted: the buffer is allocated for it
	// expected is the size the requester gave, or -1.
	expected int64
	size     int64 // -1 until known
	buf      []byte
	// alloc returns the buffer for an object of n bytes; nil means make.
	alloc func(n int64) []byte
	// next is the lowest offset never asked for; retry holds offsets asked
	// for and dropped (their source failed), asked again first.
	next  int64
	retry []int64
	// asked holds the offsets asked for and not received, with their length.
	asked    map[int64]int64
	received int64 // bytes copied into buf
	inFlight int64 // bytes asked for and not received
}

// newAssembly returns the assembly of object id, asked for in chunks of
// chunk bytes, of at most maxSize bytes, and of expected bytes unless
// expected is negative. alloc returns its buffer; nil means make.
func newAssembly(id ID, chunk, maxSize, expected int64, alloc func(n int64) []byte) *assembly {
	a := &assembly{id: id, chunk: chunk, maxSize: maxSize, expected: expected, asked: make(map[int64]int64), alloc: alloc}
	a.reset()
	return a
}

// reset forgets every chunk received and asked for, and the size unless the
// requester gave it: after a source sent something malformed, nothing it
// sent before is trusted.
func (a *assembly) reset() {
	a.size, a.buf, a.next, a.retry, a.received, a.inFlight = -1, nil, 0, nil, 0, 0
	clear(a.asked)
	if a.expected >= 0 {
		a.setSize(a.expected)
	}
}

// setSize learns the size and allocates the buffer.
func (a *assembly) setSize(n int64) {
	a.size = n
	if a.alloc != nil {
		a.buf = a.alloc(n)
	} else {
		a.buf = hugemem.Bytes(int(n))
	}
}

// want returns the next chunk to ask for: its offset and length. ok is false
// when every chunk has been asked for, or while the size is unknown and the
// first chunk is on its way.
func (a *assembly) want() (off, n int64, ok bool) {
	if len(a.retry) > 0 {
		off = a.retry[len(a.retry)-1]
		return off, a.chunkLen(off), true
	}
	switch {
	case a.size < 0:
		if a.next > 0 {
			return 0, 0, false
		}
		return 0, a.chunk, true
	case a.next == 0 || a.next < a.size:
		// The first chunk is asked for even of an empty object: its reply
		// says the source holds the object.
		return a.next, a.chunkLen(a.next), true
	}
	return 0, 0, false
}

// chunkLen is the length of the chunk at off, which is chunk until the
// size is known.
func (a *assembly) chunkLen(off int64) int64 {
	if a.size < 0 {
		return a.chunk
	}
	return min(a.chunk, a.size-off)
}

// ask records that the chunk want returned was asked for.
func (a *assembly) ask(off, n int64) {
	if len(a.retry) > 0 && a.retry[len(a.retry)-1] == off {
		a.retry = a.retry[:len(a.retry)-1]
	} else {
		a.next = off + a.chunk
	}
	a.asked[off] = n
	a.inFlight += n
}

// drop forgets the chunks asked for and not received, to ask for them again
// (of another source). It returns the bytes they stood for.
func (a *assembly) drop() int64 {
	n := a.inFlight
	for off := range a.asked {
		a.retry = append(a.retry, off)
	}
	a.sortRetry()
	clear(a.asked)
	a.inFlight = 0
	return n
}

// done reports whether every byte has been received.
func (a *assembly) done() bool { return a.size >= 0 && a.received == a.size && len(a.asked) == 0 }

// add checks a reply to a chunk request and copies its bytes into the
// buffer. It returns the bytes of the request the reply answers (0 when it
// is ignored) to give back to the source's window. An error means the
// source failed: it sent an error, or a malformed chunk.
func (a *assembly) add(m *pb.ObjectChunk) (status chunkStatus, freed int64, err error) {
	if string(m.GetObjectId()) != string(a.id[:]) {
		return chunkIgnored, 0, nil
	}
	if e := m.GetError(); e != nil {
		return a.answer(m.GetOffset(), func(int64) (chunkStatus, error) {
			return chunkIgnored, fmt.Errorf("%w: %s: %s", ErrSourceFailed, e.GetKind(), e.GetMessage())
		})
	}
	return a.answer(m.GetOffset(), func(asked int64) (chunkStatus, error) {
		return a.take(m.GetOffset(), m.GetTotalSize(), int64(len(m.GetData())), m.GetData(), asked)
	})
}

// placed is add for a chunk of n bytes that a stream read into the buffer
// itself, at off, or failed to (err).
func (a *assembly) placed(off, total, n int64, err error) (status chunkStatus, freed int64, _ error) {
	return a.answer(off, func(asked int64) (chunkStatus, error) {
		if err != nil {
			return chunkIgnored, err
		}
		return a.take(off, total, n, nil, asked)
	})
}

// answer takes the reply to the request at off with take, which is given
// the bytes asked for; a reply to nothing asked is ignored.
func (a *assembly) answer(off int64, take func(asked int64) (chunkStatus, error)) (status chunkStatus, freed int64, err error) {
	asked, ok := a.asked[off]
	if !ok {
		return chunkIgnored, 0, nil
	}
	delete(a.asked, off)
	a.inFlight -= asked
	status, err = take(asked)
	if err != nil {
		// Still needed: asked again of the next source.
		a.retry = append(a.retry, off)
		a.sortRetry()
	}
	return status, asked, err
}

// take checks a reply of n bytes at off to the request for asked bytes
// there, and copies data (if not nil) into the buffer.
func (a *assembly) take(off, total, n int64, data []byte, asked int64) (chunkStatus, error) {
	switch {
	case total < 0 || total > a.maxSize:
		return chunkIgnored, fmt.Errorf("%w: object of %d bytes, more than the %d accepted", ErrMalformedChunk, total, a.maxSize)
	case a.size >= 0 && total != a.size:
		return chunkIgnored, fmt.Errorf("%w: object of %d bytes, known to have %d", ErrMalformedChunk, total, a.size)
	case off > total || (off == total && off > 0):
		return chunkIgnored, fmt.Errorf("%w: offset %d past the end of %d bytes", ErrMalformedChunk, off, total)
	}
	want := min(asked, total-off)
	if n != want {
		return chunkIgnored, fmt.Errorf("%w: %d bytes at offset %d, want %d", ErrMalformedChunk, n, off, want)
	}
	if a.size < 0 {
		a.setSize(total)
	}
	if data != nil {
		copy(a.buf[off:], data)
	}
	a.received += want
	if a.done() {
		return chunkComplete, nil
	}
	return chunkAccepted, nil
}

// sortRetry orders retry highest first: want takes from the end, lowest
// first.
func (a *assembly) sortRetry() {
	slices.SortFunc(a.retry, func(x, y int64) int { return cmp.Compare(y, x) })
}

// maxObjectSize bounds TransferConfig.MaxObjectSize.
const maxObjectSize = min(pb.MaxObjectSize, math.MaxInt)
