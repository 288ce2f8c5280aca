package transport

import (
	"math/bits"
	"sync"

	"github.com/goray-dev/goray/internal/hugemem"
)

// Size classes of recvPool: powers of two from 1<<minPoolShift to
// 1<<maxPoolShift bytes.
const (
	minPoolShift = 12 // 4 KiB
	maxPoolShift = 24 // 16 MiB, the default receive limit
)

// recvPool hands gRPC the buffers it reads received messages into, in
// power-of-two size classes. gRPC's own shared pool has classes 16 times
// apart, and a class whose pool is empty (as every one is after a garbage
// collection) allocates its largest size: a batch of a hundred kilobytes
// of calls then took and cleared a fresh megabyte. Here a buffer is at
// most twice the message. Buffers smaller than the first class or larger
// than the last are allocated to size and not kept.
type recvPool struct {
	classes [maxPoolShift - minPoolShift + 1]sync.Pool
}

// poolClass returns the index of the smallest class holding n bytes, and
// false when n is outside the classes.
func poolClass(n int) (int, bool) {
	if n <= 0 || n > 1<<maxPoolShift {
		return 0, false
	}
	shift := bits.Len(uint(n - 1)) // 1<<shift >= n
	if shift < minPoolShift {
		shift = minPoolShift
	}
	return shift - minPoolShift, true
}

// Get returns a buffer of length n.
func (p *recvPool) Get(n int) []byte {
	c, ok := poolClass(n)
	if !ok {
		return make([]byte, n)
	}
	if b, _ := p.classes[c].Get().(*[]byte); b != nil {
		return (*b)[:n]
	}
	return hugemem.Bytes(1 << (c + minPoolShift))[:n]
}

// Put keeps a buffer Get returned for reuse.
func (p *recvPool) Put(b *[]byte) {
	capacity := cap(*b)
	c, ok := poolClass(capacity)
	if !ok || capacity != 1<<(c+minPoolShift) {
		return // not one of ours: allocated to size
	}
	p.classes[c].Put(b)
}
