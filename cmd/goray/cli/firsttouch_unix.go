//go:build unix

package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
)

// firstTouch measures how fast this machine hands a process fresh memory:
// the pages of a new anonymous mapping written once each, the median of
// three 256 MiB mappings. Every pulled object lands in fresh memory (the
// store's copy, then the decoded value), so this bounds
// object_transfer_gigabytes where page faults are slow (as in some VMs).
func firstTouch(context.Context, time.Duration) (float64, error) {
	const size = 256 << 20
	page := os.Getpagesize()
	var rates []float64
	for range 3 {
		mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return 0, fmt.Errorf("mapping %d bytes: %w", size, err)
		}
		start := time.Now()
		for i := 0; i < size; i += page {
			mem[i] = 1
		}
		el := time.Since(start)
		if err := syscall.Munmap(mem); err != nil {
			return 0, err
		}
		rates = append(rates, size/el.Seconds()/1e9)
	}
	slices.Sort(rates)
	return rates[1], nil
}
