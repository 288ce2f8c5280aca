package hugemem

import "testing"

func TestBuffersAreZeroedAndSized(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"empty", 0},
		{"small", 100},
		{"just below the threshold", MinAdvised - 1},
		{"threshold", MinAdvised},
		{"unaligned length", MinAdvised + 4097},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Bytes(tt.n)
			if len(b) != tt.n {
				t.Fatalf("len %d, want %d", len(b), tt.n)
			}
			for i, v := range b {
				if v != 0 {
					t.Fatalf("byte %d is %d", i, v)
				}
			}
			s := Slice[int32](tt.n)
			if len(s) != tt.n {
				t.Fatalf("Slice: len %d, want %d", len(s), tt.n)
			}
		})
	}
}

// Advise may be given any part of a buffer: a window that covers no whole
// huge page, or one that starts and ends off page boundaries.
func TestAdviseAnyWindow(t *testing.T) {
	b := Bytes(8 << 20)
	for _, w := range [][2]int{{1, MinAdvised + 1}, {4095, len(b) - 3}, {0, len(b)}, {hugePage - 1, hugePage + MinAdvised}} {
		Advise(b[w[0]:w[1]])
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("byte %d changed to %d", i, v)
		}
	}
}
