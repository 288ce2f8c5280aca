//go:build !race

package membership

// timingScale stretches DefaultTiming under the race detector (see
// race.go); a normal build uses the timings as they are.
const timingScale = 1
