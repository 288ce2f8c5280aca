package codec

import (
	"bytes"
	"testing"
)

func TestLargeCopiesMatchAppend(t *testing.T) {
	for _, tc := range []struct {
		name         string
		prefix, size int
		spare        int // capacity beyond the prefix
	}{
		{"empty", 0, 0, 0},
		{"small", 3, 10, 0},
		{"one step", 5, copyStep, 0},
		{"one step and a byte", 5, copyStep + 1, 0},
		{"several steps", 7, 3*copyStep + 11, 0},
		{"in place", 7, 2*copyStep + 3, 2*copyStep + 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := make([]byte, tc.size)
			for i := range src {
				src[i] = byte(i*7 + i/copyStep)
			}
			dst := make([]byte, tc.prefix, tc.prefix+tc.spare)
			for i := range dst {
				dst[i] = 0xAA
			}
			want := append(bytes.Clone(dst), src...)
			if got := appendLarge(dst, src); !bytes.Equal(got, want) {
				t.Fatalf("appendLarge: %d bytes, differ from append's %d", len(got), len(want))
			}
			out := make([]byte, tc.size)
			if n := copyLarge(out, src); n != tc.size || !bytes.Equal(out, src) {
				t.Fatalf("copyLarge copied %d of %d bytes", n, tc.size)
			}
			short := make([]byte, tc.size/2)
			if n := copyLarge(short, src); n != len(short) || !bytes.Equal(short, src[:len(short)]) {
				t.Fatalf("copyLarge into a shorter slice copied %d, want %d", n, len(short))
			}
		})
	}
}
