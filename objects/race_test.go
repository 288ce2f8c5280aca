//go:build race

package objects

// raceEnabled: the race detector slows every byte copied about tenfold, so
// the largest test objects shrink under it.
const raceEnabled = true
