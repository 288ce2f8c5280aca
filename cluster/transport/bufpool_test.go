package transport

import "testing"

func TestRecvPoolSizes(t *testing.T) {
	tests := []struct {
		n       int
		wantCap int
	}{
		{1, 4 << 10},
		{4 << 10, 4 << 10},
		{4<<10 + 1, 8 << 10},
		{100 << 10, 128 << 10},
		{1 << 20, 1 << 20},
		{12<<20 + 5, 16 << 20},
		{16 << 20, 16 << 20},
		{16<<20 + 1, 16<<20 + 1}, // beyond the classes: to size
		{0, 0},
	}
	var p recvPool
	for _, tt := range tests {
		b := p.Get(tt.n)
		if len(b) != tt.n || cap(b) != tt.wantCap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", tt.n, len(b), cap(b), tt.n, tt.wantCap)
		}
	}
}

func TestRecvPoolReuses(t *testing.T) {
	var p recvPool
	b := p.Get(100 << 10)
	b[0] = 7
	p.Put(&b)
	// A sync.Pool may drop what it holds at any time (a collection), so
	// ask a few times: a pool that never reuses fails every time.
	reused := false
	for range 100 {
		c := p.Get(90 << 10)
		if len(c) != 90<<10 || cap(c) != 128<<10 {
			t.Fatalf("Get(90 KiB): len %d cap %d", len(c), cap(c))
		}
		if &c[:1][0] == &b[:1][0] {
			reused = true
			break
		}
		p.Put(&c)
		b = c
	}
	if !reused {
		t.Error("a buffer put back was never handed out again")
	}
	// A buffer of another capacity is not kept, so no later Get can
	// return one smaller than its class.
	odd := make([]byte, 5000)
	p.Put(&odd)
	for range 10 {
		if c := p.Get(8 << 10); cap(c) != 8<<10 {
			t.Fatalf("Get(8 KiB) returned cap %d", cap(c))
		}
	}
}
