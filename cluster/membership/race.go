//go:build race

package membership

// timingScale stretches DefaultTiming under the race detector, which slows
// every goroutine several times over: with the timings meant for full
// speed, members that are merely slow would be declared dead.
const timingScale = 4
