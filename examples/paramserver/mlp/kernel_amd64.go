package mlp

import "golang.org/x/sys/cpu"

// hasKernel reports whether kernel4x16 may run: it needs AVX2 and FMA.
var hasKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel4x16 adds A·B to the 4×16 block of C at c, where A is 4×k with
// element (i,l) at a[i*ars+l*acs] and B is k×16 with row stride ldb. Strides
// count float32 elements. The caller guarantees every access is in bounds.
//
//go:noescape
func kernel4x16(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int)

// adamKernel applies the Adam update to the first len(p)&^7 elements of p, m,
// v and g (all the same length), 8 at a time, with exactly the float32
// operations, in the same order, of the portable loop in Adam.Apply.
//
//go:noescape
func adamKernel(p, m, v, g []float32, b1, b2, step, eps float32)
