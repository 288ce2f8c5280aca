package hugemem

import "unsafe"

// MinAdvised is the smallest buffer worth advising: below it the system
// call costs more than the faults it saves, and few huge pages fit.
const MinAdvised = 4 << 20

// hugePage is the huge page size the advice aims at. Only the part of a
// buffer that covers whole huge pages is advised.
const hugePage = 2 << 20

// Bytes returns a zeroed byte slice of length n, advised for huge pages if
// n is at least MinAdvised. Call it before anything writes to the memory:
// advice only changes how pages not yet touched are faulted in.
func Bytes(n int) []byte {
	b := make([]byte, n)
	Advise(b)
	return b
}

// Slice returns a zeroed slice of n elements of type E, advised for huge
// pages as Bytes is.
func Slice[E any](n int) []E {
	s := make([]E, n)
	if n > 0 {
		var zero E
		Advise(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), uintptr(n)*unsafe.Sizeof(zero)))
	}
	return s
}

// Advise advises the kernel to back the whole huge pages inside b with huge
// pages, if b is at least MinAdvised bytes long. It does nothing on
// systems without the advice.
func Advise(b []byte) {
	if len(b) < MinAdvised {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := (p + hugePage - 1) &^ (hugePage - 1)
	end := (p + uintptr(len(b))) &^ (hugePage - 1)
	if end <= start {
		return
	}
	adviseHuge(b[start-p : end-p])
}
