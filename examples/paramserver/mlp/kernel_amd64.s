#include "textflag.h"

// func kernel4x16(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int)
//
// Y0..Y7 accumulate the 4×16 block (two 8-lane registers per row). Each step
// of l loads row l of B once and broadcasts one element of A per row.
TEXT ·kernel4x16(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ ars+16(FP), R8
	MOVQ acs+24(FP), R10
	MOVQ b+32(FP), DI
	MOVQ ldb+40(FP), R11
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R12
	SHLQ $2, R8
	SHLQ $2, R10
	SHLQ $2, R11
	SHLQ $2, R12
	LEAQ (R8)(R8*2), R9

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

	TESTQ CX, CX
	JEQ   store

loop:
	VMOVUPS      (DI), Y8
	VMOVUPS      32(DI), Y9
	VBROADCASTSS (SI), Y10
	VFMADD231PS  Y8, Y10, Y0
	VFMADD231PS  Y9, Y10, Y1
	VBROADCASTSS (SI)(R8*1), Y11
	VFMADD231PS  Y8, Y11, Y2
	VFMADD231PS  Y9, Y11, Y3
	VBROADCASTSS (SI)(R8*2), Y12
	VFMADD231PS  Y8, Y12, Y4
	VFMADD231PS  Y9, Y12, Y5
	VBROADCASTSS (SI)(R9*1), Y13
	VFMADD231PS  Y8, Y13, Y6
	VFMADD231PS  Y9, Y13, Y7
	ADDQ         R10, SI
	ADDQ         R11, DI
	DECQ         CX
	JNE          loop

store:
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DX)
	VADDPS  32(DX), Y1, Y1
	VMOVUPS Y1, 32(DX)
	ADDQ    R12, DX
	VADDPS  (DX), Y2, Y2
	VMOVUPS Y2, (DX)
	VADDPS  32(DX), Y3, Y3
	VMOVUPS Y3, 32(DX)
	ADDQ    R12, DX
	VADDPS  (DX), Y4, Y4
	VMOVUPS Y4, (DX)
	VADDPS  32(DX), Y5, Y5
	VMOVUPS Y5, 32(DX)
	ADDQ    R12, DX
	VADDPS  (DX), Y6, Y6
	VMOVUPS Y6, (DX)
	VADDPS  32(DX), Y7, Y7
	VMOVUPS Y7, 32(DX)
	VZEROUPPER
	RET

// func adamKernel(p, m, v, g []float32, b1, b2, step, eps float32)
//
// Per lane: m = b1·m + (1−b1)·g; v = b2·v + (1−b2)·g·g; p −= step·m / (√v + eps).
// Separate multiplies and adds (no FMA) keep results identical to Go's.
TEXT ·adamKernel(SB), NOSPLIT, $0-112
	MOVQ p_base+0(FP), DI
	MOVQ p_len+8(FP), CX
	MOVQ m_base+24(FP), R8
	MOVQ v_base+48(FP), R9
	MOVQ g_base+72(FP), R10
	MOVSS b1+96(FP), X0
	MOVSS b2+100(FP), X1
	MOVSS step+104(FP), X2
	MOVSS eps+108(FP), X3
	MOVL  $0x3f800000, AX // 1.0
	MOVL  AX, X4
	VSUBSS X0, X4, X5 // 1-b1
	VSUBSS X1, X4, X6 // 1-b2
	VBROADCASTSS X0, Y0
	VBROADCASTSS X1, Y1
	VBROADCASTSS X2, Y2
	VBROADCASTSS X3, Y3
	VBROADCASTSS X5, Y5
	VBROADCASTSS X6, Y6
	SHRQ $3, CX
	JEQ  done

loop:
	VMOVUPS (R10), Y7       // g
	VMULPS  (R8), Y0, Y8    // b1·m
	VMULPS  Y7, Y5, Y9      // (1−b1)·g
	VADDPS  Y9, Y8, Y8      // m
	VMOVUPS Y8, (R8)
	VMULPS  (R9), Y1, Y10   // b2·v
	VMULPS  Y7, Y6, Y11     // (1−b2)·g
	VMULPS  Y7, Y11, Y11    // ((1−b2)·g)·g
	VADDPS  Y11, Y10, Y10   // v
	VMOVUPS Y10, (R9)
	VSQRTPS Y10, Y10
	VADDPS  Y3, Y10, Y10    // √v + eps
	VMULPS  Y8, Y2, Y8      // step·m
	VDIVPS  Y10, Y8, Y8
	VMOVUPS (DI), Y12
	VSUBPS  Y8, Y12, Y12
	VMOVUPS Y12, (DI)
	ADDQ    $32, DI
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, R10
	DECQ    CX
	JNE     loop

done:
	VZEROUPPER
	RET
