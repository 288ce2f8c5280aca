//go:build !linux

package hugemem

// adviseHuge does nothing: only Linux takes the advice.
func adviseHuge([]byte) {}
