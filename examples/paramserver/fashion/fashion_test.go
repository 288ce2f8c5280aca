package fashion

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idx encodes an unsigned-byte IDX file.
func idx(dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, idxUbyte, byte(len(dims))})
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// synthetic returns n images whose pixel j of image i is (i*7+j)%256, and labels i%10.
func synthetic(n int) (images, labels []byte) {
	images = make([]byte, n*Pixels)
	for i := range n {
		for j := range Pixels {
			images[i*Pixels+j] = byte((i*7 + j) % 256)
		}
	}
	labels = make([]byte, n)
	for i := range labels {
		labels[i] = byte(i % NumClasses)
	}
	return images, labels
}

func checkSet(t *testing.T, s *Set, images, labels []byte) {
	t.Helper()
	n := len(labels)
	if s.N != n || len(s.Images) != n*Pixels || len(s.Labels) != n {
		t.Fatalf("set has N=%d, %d pixels, %d labels; want %d samples", s.N, len(s.Images), len(s.Labels), n)
	}
	for i, p := range images {
		if want := float32(p) / 255; abs(s.Images[i]-want) > 1e-6 {
			t.Fatalf("pixel %d = %v, want %v", i, s.Images[i], want)
		}
	}
	if !bytes.Equal(s.Labels, labels) {
		t.Fatalf("labels %v, want %v", s.Labels, labels)
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestLoad(t *testing.T) {
	trainImg, trainLab := synthetic(12)
	testImg, testLab := synthetic(5)
	for _, tc := range []struct {
		name   string
		suffix string
		encode func(*testing.T, []byte) []byte
	}{
		{"plain", "", func(_ *testing.T, b []byte) []byte { return b }},
		{"gzip", ".gz", gz},
		// Compression is sniffed from content, not from the name.
		{"gzip without suffix", "", gz},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, TrainImages+tc.suffix, tc.encode(t, idx([]uint32{12, Rows, Cols}, trainImg)))
			write(t, dir, TrainLabels+tc.suffix, tc.encode(t, idx([]uint32{12}, trainLab)))
			write(t, dir, TestImages+tc.suffix, tc.encode(t, idx([]uint32{5, Rows, Cols}, testImg)))
			write(t, dir, TestLabels+tc.suffix, tc.encode(t, idx([]uint32{5}, testLab)))
			train, test, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkSet(t, train, trainImg, trainLab)
			checkSet(t, test, testImg, testLab)
		})
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	img, lab := synthetic(2)
	write(t, dir, TrainImages, idx([]uint32{2, Rows, Cols}, img))
	write(t, dir, TrainLabels, idx([]uint32{2}, lab))
	for _, tc := range []struct {
		name string
		dir  string
		file string
	}{
		{"empty dir", t.TempDir(), TrainImages},
		{"no test files", dir, TestImages},
		{"no dir", filepath.Join(dir, "absent"), TrainImages},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(tc.dir)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			for _, want := range []string{"apt-get install dataset-fashion-mnist", "-data DIR", tc.file} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestLoadFilesMalformed(t *testing.T) {
	img, lab := synthetic(3)
	goodImg := idx([]uint32{3, Rows, Cols}, img)
	goodLab := idx([]uint32{3}, lab)
	badLab := append([]byte(nil), lab...)
	badLab[1] = NumClasses
	for _, tc := range []struct {
		name     string
		img, lab []byte
	}{
		{"empty images", nil, goodLab},
		{"short header", []byte{0, 0, idxUbyte}, goodLab},
		{"bad magic", append([]byte{1}, goodImg[1:]...), goodLab},
		{"float element type", append([]byte{0, 0, 0x0d}, goodImg[3:]...), goodLab},
		{"labels as images", goodLab, goodLab},
		{"images as labels", goodImg, goodImg},
		{"truncated dims", goodImg[:10], goodLab},
		{"wrong image size", idx([]uint32{3, 27, 29}, img[:3*27*29]), goodLab},
		{"truncated data", goodImg[:len(goodImg)-1], goodLab},
		{"trailing data", append(append([]byte(nil), goodImg...), 0), goodLab},
		{"huge dims", idx([]uint32{0xffffffff, 0xffffffff, 0xffffffff}, img), goodLab},
		{"overflowing dims", idx([]uint32{1 << 31, Rows, Cols}, img), goodLab},
		{"count mismatch", goodImg, idx([]uint32{2}, lab[:2])},
		{"label out of range", goodImg, idx([]uint32{3}, badLab)},
		{"corrupt gzip", append([]byte{0x1f, 0x8b}, goodImg...), goodLab},
		{"truncated gzip", gz(t, goodImg)[:40], goodLab},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := LoadFiles(write(t, dir, "img", tc.img), write(t, dir, "lab", tc.lab))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("LoadFiles = %v, %v; want ErrMalformed", s, err)
			}
		})
	}
}

func TestViews(t *testing.T) {
	img, lab := synthetic(10)
	dir := t.TempDir()
	s, err := LoadFiles(write(t, dir, "i", idx([]uint32{10, Rows, Cols}, img)), write(t, dir, "l", idx([]uint32{10}, lab)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		i, n   int
		lo, hi int
	}{
		{0, 1, 0, 10}, {0, 3, 0, 3}, {1, 3, 3, 6}, {2, 3, 6, 10}, {3, 4, 7, 10},
	} {
		sh := s.Shard(tc.i, tc.n)
		if sh.N != tc.hi-tc.lo || len(sh.Labels) != sh.N || len(sh.Images) != sh.N*Pixels {
			t.Fatalf("Shard(%d,%d) has N=%d, want %d", tc.i, tc.n, sh.N, tc.hi-tc.lo)
		}
		if &sh.Images[0] != &s.Images[tc.lo*Pixels] || &sh.Labels[0] != &s.Labels[tc.lo] {
			t.Fatalf("Shard(%d,%d) copied instead of viewing samples from %d", tc.i, tc.n, tc.lo)
		}
	}

	x, y := s.Batch([]int{7, 2}, nil, nil)
	if len(x) != 2*Pixels || len(y) != 2 || y[0] != 7 || y[1] != 2 {
		t.Fatalf("Batch labels %v, %d pixels", y, len(x))
	}
	if x[0] != s.Images[7*Pixels] || x[Pixels+5] != s.Images[2*Pixels+5] {
		t.Fatal("Batch gathered the wrong pixels")
	}
	x2, y2 := s.Batch([]int{1}, x, y)
	if &x2[0] != &x[0] || &y2[0] != &y[0] || len(x2) != Pixels || y2[0] != 1 {
		t.Fatal("Batch did not reuse its buffers")
	}
}

func TestBatcher(t *testing.T) {
	n := 10
	img, lab := synthetic(n)
	for i := range lab {
		lab[i] = byte(i) // labels identify samples
	}
	dir := t.TempDir()
	s, err := LoadFiles(write(t, dir, "i", idx([]uint32{uint32(n), Rows, Cols}, img)), write(t, dir, "l", idx([]uint32{uint32(n)}, lab)))
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatcher(s, 4, 1)
	var orders [][]byte
	for epoch := range 3 {
		var seen []byte
		for _, want := range []int{4, 4, 2} {
			if b.Epoch() != epoch {
				t.Fatalf("Epoch() = %d, want %d", b.Epoch(), epoch)
			}
			x, y, got := b.Next()
			if got != want || len(y) != want || len(x) != want*Pixels {
				t.Fatalf("batch of %d (%d labels), want %d", got, len(y), want)
			}
			for j, l := range y {
				if x[j*Pixels] != s.Images[int(l)*Pixels] {
					t.Fatalf("pixels of sample %d do not match its label", l)
				}
			}
			seen = append(seen, y...)
		}
		mask := 0
		for _, l := range seen {
			mask |= 1 << l
		}
		if mask != 1<<n-1 {
			t.Fatalf("epoch %d visited %v, want every sample once", epoch, seen)
		}
		orders = append(orders, seen)
	}
	if bytes.Equal(orders[0], orders[1]) && bytes.Equal(orders[1], orders[2]) {
		t.Fatal("every epoch used the same order")
	}
	if got := testing.AllocsPerRun(20, func() { b.Next() }); got != 0 {
		t.Fatalf("Next allocates %v times", got)
	}
}

func TestLoadReal(t *testing.T) {
	train, test, err := Load(DefaultDir)
	if errors.Is(err, ErrNotFound) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s *Set
		n int
	}{{train, 60000}, {test, 10000}} {
		if c.s.N != c.n || len(c.s.Labels) != c.n || len(c.s.Images) != c.n*Pixels {
			t.Fatalf("set has %d samples, want %d", c.s.N, c.n)
		}
		var counts [NumClasses]int
		for _, l := range c.s.Labels {
			counts[l]++ // indexes out of range if a label is >= NumClasses
		}
		for k, cnt := range counts {
			if cnt != c.n/NumClasses {
				t.Errorf("class %d has %d samples, want %d", k, cnt, c.n/NumClasses)
			}
		}
		var maxPix float32
		for i := 0; i < len(c.s.Images); i += 7 { // a stride keeps this quick under -race
			p := c.s.Images[i]
			if p < 0 || p > 1 {
				t.Fatalf("pixel %v outside [0,1]", p)
			}
			maxPix = max(maxPix, p)
		}
		if maxPix != 1 {
			t.Fatalf("brightest pixel is %v, want 1", maxPix)
		}
	}
}
