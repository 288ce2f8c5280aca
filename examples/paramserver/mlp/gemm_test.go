package mlp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// naive computes C += A·B in float64 with the same stride conventions as gemm.
func naive(m, n, k int, a []float32, ars, acs int, b []float32, ldb int, c []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			s := float64(c[i*ldc+j])
			for l := range k {
				s += float64(a[i*ars+l*acs]) * float64(b[l*ldb+j])
			}
			out[i*n+j] = s
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ m, n, k int }{
		{1, 1, 1}, {4, 16, 1}, {4, 16, 7}, {5, 17, 3}, {8, 32, 300}, {13, 50, 33}, {3, 10, 9}, {64, 48, 513}, {7, 15, 0},
	} {
		for _, trans := range []bool{false, true} {
			t.Run(fmt.Sprintf("%dx%dx%d/trans=%v", tc.m, tc.n, tc.k, trans), func(t *testing.T) {
				// A is stored with padded strides to catch stride mix-ups.
				lda := tc.k + 3
				ars, acs := lda, 1
				if trans {
					lda = tc.m + 2
					ars, acs = 1, lda
				}
				if tc.k == 0 && trans {
					return // A has no rows to store
				}
				a := randSlice(rng, max(tc.m, tc.k)*(max(tc.m, tc.k)+3))
				ldb, ldc := tc.n+1, tc.n+5
				b := randSlice(rng, tc.k*ldb)
				c := randSlice(rng, tc.m*ldc)
				c0 := append([]float32(nil), c...)
				want := naive(tc.m, tc.n, tc.k, a, ars, acs, b, ldb, c, ldc)
				for _, f := range []struct {
					name string
					f    func(bool, int, int, int, []float32, int, []float32, int, []float32, int)
				}{{"gemm", gemm}, {"gonum", gemmGonum}} {
					c := append([]float32(nil), c0...)
					f.f(trans, tc.m, tc.n, tc.k, a, lda, b, ldb, c, ldc)
					for i := range tc.m {
						for j := range tc.n {
							got := float64(c[i*ldc+j])
							if d := math.Abs(got - want[i*tc.n+j]); d > 1e-4*(1+float64(tc.k)) {
								t.Fatalf("%s: C[%d,%d] = %v, want %v", f.name, i, j, got, want[i*tc.n+j])
							}
						}
						for j := tc.n; j < ldc && i*ldc+j < len(c); j++ {
							if c[i*ldc+j] != c0[i*ldc+j] {
								t.Fatalf("%s wrote C[%d,%d] past column n", f.name, i, j)
							}
						}
					}
				}
			})
		}
	}
}

func TestGemmBounds(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("gemm accepted a too-short A")
		}
	}()
	gemm(false, 4, 16, 4, make([]float32, 15), 4, make([]float32, 64), 16, make([]float32, 64), 16)
}

func TestTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ r, c int }{{1, 1}, {3, 5}, {33, 70}, {64, 32}} {
		src := randSlice(rng, tc.r*tc.c)
		dst := make([]float32, tc.r*tc.c)
		transpose(dst, src, tc.r, tc.c)
		for i := range tc.r {
			for j := range tc.c {
				if dst[j*tc.r+i] != src[i*tc.c+j] {
					t.Fatalf("%dx%d: dst[%d,%d] != src[%d,%d]", tc.r, tc.c, j, i, i, j)
				}
			}
		}
	}
}

// The shapes of one training step of a 784-256-128-10 model on a batch of 128.
var benchShapes = []struct {
	name    string
	m, n, k int
	trans   bool
}{
	{"fwd1", 128, 256, 784, false},
	{"fwd2", 128, 128, 256, false},
	{"dW1", 784, 256, 128, true},
	{"dW2", 256, 128, 128, true},
	{"dX2", 128, 256, 128, false},
}

func BenchmarkGemm(b *testing.B) {
	impls := []struct {
		name string
		f    func(transA bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int)
	}{{"kernel", gemm}, {"gonum", gemmGonum}}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range benchShapes {
		lda := s.k
		if s.trans {
			lda = s.m
		}
		a := randSlice(rng, s.m*s.k)
		bm := randSlice(rng, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for _, im := range impls {
			b.Run(s.name+"/"+im.name, func(b *testing.B) {
				for b.Loop() {
					im.f(s.trans, s.m, s.n, s.k, a, lda, bm, s.n, c, s.n)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
