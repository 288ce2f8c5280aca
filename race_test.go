//go:build race

package goray_test

// raceScale stretches test deadlines under the race detector, which slows
// every goroutine several times over; it matches the stretch of the
// cluster's gossip timings there.
const raceScale = 4
