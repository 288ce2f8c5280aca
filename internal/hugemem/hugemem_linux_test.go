package hugemem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// advised reports whether the mapping holding address p carries the kernel's
// huge page advice ("hg" in its VmFlags in /proc/self/smaps).
func advised(t *testing.T, p uintptr) bool {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mappingRange(line); ok {
			in = lo <= p && p < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Contains(line+" ", " hg ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("address %#x is in no mapping", p)
	return false
}

// mappingRange parses the header line of a mapping in smaps, "lo-hi perms ...".
func mappingRange(line string) (lo, hi uintptr, ok bool) {
	r, _, found := strings.Cut(line, " ")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.ParseUint(a, 16, 64)
	y, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(x), uintptr(y), true
}

func TestLargeBuffersAreAdvised(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("kernel without transparent huge pages")
	}
	tests := []struct {
		name string
		buf  func() []byte
	}{
		{"Bytes", func() []byte { return Bytes(16 << 20) }},
		{"Slice", func() []byte {
			s := Slice[float64](3 << 20)
			return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*8)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.buf()
			p := uintptr(unsafe.Pointer(&b[0]))
			inner := (p + hugePage - 1) &^ (hugePage - 1)
			if !advised(t, inner) {
				t.Fatalf("the huge pages inside a %d-byte buffer at %#x are not advised", len(b), p)
			}
		})
	}
}
