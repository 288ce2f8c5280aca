package es

import (
	"math/rand/v2"
	"testing"
)

func TestAct(t *testing.T) {
	tests := []struct {
		name   string
		params []float32
		obs    []float32
		want   int
	}{
		// Two actions over 4 inputs: w0, w1, then b0, b1.
		{"zero policy ties to 0", make([]float32, 10), []float32{1, 2, 3, 4}, 0},
		{"bias decides", []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5}, []float32{1, 2, 3, 4}, 1},
		{"weights decide", []float32{0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, []float32{0, 0, 0.1, 0}, 1},
		{"weights against bias", []float32{0, 0, 0, 0, 0, 0, 1, 0, 0, 0.5}, []float32{0, 0, -1, 0}, 0},
		{"three actions", []float32{1, -1, 0, 2, 0, 0, 0.1, 0.2, 3}, []float32{1, 1}, 2},
		{"three actions, first wins", []float32{1, -1, 0, 2, 0, 0, 5, 0.2, 3}, []float32{1, 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Act(tt.params, tt.obs); got != tt.want {
				t.Fatalf("Act = %d, want %d", got, tt.want)
			}
		})
	}
	if n := NumParams(4, 2); n != 10 {
		t.Fatalf("NumParams(4, 2) = %d, want 10", n)
	}
}

func TestActZeroAllocs(t *testing.T) {
	params := []float32{0.1, 0.5, 1, 1, -0.1, -0.5, -1, -1, 0, 0}
	obs := []float32{0.01, 0.02, 0.03, 0.04}
	if n := testing.AllocsPerRun(1000, func() { Act(params, obs) }); n != 0 {
		t.Fatalf("Act allocates %v times per call", n)
	}
}

func TestActFastPathAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	params := make([]float32, 10)
	obs := make([]float32, 4)
	for i := range 100000 {
		for j := range params {
			params[j] = float32(rng.NormFloat64())
		}
		for j := range obs {
			obs[j] = float32(rng.NormFloat64() * 0.1)
		}
		if i%100 == 0 {
			params[9] = params[8] // exercise exact ties of the biases
			copy(params[4:8], params[0:4])
		}
		if a, b := act4x2((*[10]float32)(params), (*[4]float32)(obs)), actLinear(params, obs); a != b {
			t.Fatalf("params %v obs %v: unrolled %d, loop %d", params, obs, a, b)
		}
	}
}
