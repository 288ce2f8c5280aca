//go:build !race

package goray_test

// raceScale stretches test deadlines under the race detector (race_test.go).
const raceScale = 1
