//go:build !amd64

package mlp

// hasKernel is false: other architectures use the portable loop only.
const hasKernel = false

func kernel4x16(k int, a *float32, ars, acs int, b *float32, ldb int, c *float32, ldc int) {
	panic("mlp: no vector kernel on this architecture")
}

func adamKernel(p, m, v, g []float32, b1, b2, step, eps float32) {
	panic("mlp: no vector kernel on this architecture")
}
