package mlp

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemm computes C += op(A)·B, where op(A) is m×k, B is k×n and C is m×n, all
// row-major with row strides lda, ldb and ldc. A is stored m×k, or k×m when
// transA is set.
//
// Blocks of 4 rows × 16 columns of C go to the vector kernel when the CPU has
// one (it runs about 8× faster than gonum's Sgemm on these shapes; see
// BenchmarkGemm); the edges, and everything on other CPUs, go to gonum.
func gemm(transA bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	ars, acs := lda, 1 // stride of A's rows and columns as op(A) sees them
	if transA {
		ars, acs = 1, lda
	}
	// One check up front keeps the unchecked kernel inside the slices.
	if (m-1)*ars+(k-1)*acs >= len(a) || (k-1)*ldb+n > len(b) || (m-1)*ldc+n > len(c) {
		panic(fmt.Sprintf("mlp: gemm %d×%d×%d out of bounds (len a=%d b=%d c=%d)", m, n, k, len(a), len(b), len(c)))
	}
	m4, n16 := 0, 0
	if hasKernel {
		m4, n16 = m&^3, n&^15
	}
	if m4 > 0 && n16 > 0 {
		// Blocking k keeps a 16-column panel of B in the L1 cache while the
		// row blocks of A stream past it.
		const kb = 256
		for l := 0; l < k; l += kb {
			kl := min(kb, k-l)
			for j := 0; j < n16; j += 16 {
				for i := 0; i < m4; i += 4 {
					kernel4x16(kl, &a[i*ars+l*acs], ars, acs, &b[l*ldb+j], ldb, &c[i*ldc+j], ldc)
				}
			}
		}
	} else {
		m4, n16 = 0, 0
	}
	// Columns right of the vector blocks, then rows below them.
	if n16 < n {
		gemmGonum(transA, m4, n-n16, k, a, lda, b[n16:], ldb, c[n16:], ldc)
	}
	if m4 < m {
		gemmGonum(transA, m-m4, n, k, a[m4*ars:], lda, b, ldb, c[m4*ldc:], ldc)
	}
}

// gemmGonum is gemm through gonum's float32 BLAS, tiled so that each call
// stays serial: gonum spawns goroutines, and allocates, once C spans four or
// more of its 64×64 blocks, and parallelism belongs to the caller here.
func gemmGonum(transA bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	var impl gonum.Implementation
	tA, ars := blas.NoTrans, lda
	if transA {
		tA, ars = blas.Trans, 1
	}
	for i := 0; i < m; i += 128 {
		mi := min(128, m-i)
		for j := 0; j < n; j += 64 {
			nj := min(64, n-j)
			impl.Sgemm(tA, blas.NoTrans, mi, nj, k, 1, a[i*ars:], lda, b[j:], ldb, 1, c[i*ldc+j:], ldc)
		}
	}
}

// transpose writes the r×c row-major matrix src into dst as c×r.
func transpose(dst, src []float32, r, c int) {
	const blk = 32
	for i0 := 0; i0 < r; i0 += blk {
		for j0 := 0; j0 < c; j0 += blk {
			for i := i0; i < min(i0+blk, r); i++ {
				row := src[i*c : i*c+c]
				for j := j0; j < min(j0+blk, c); j++ {
					dst[j*r+i] = row[j]
				}
			}
		}
	}
}
