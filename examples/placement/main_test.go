package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestPlacementExample(t *testing.T) {
	t.Setenv("GORAY_ADDRESS", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"learner group learners: CREATED",
		"learner 0: GPUs [0 1], CUDA_VISIBLE_DEVICES=0,1",
		"learner 1: GPUs [2 3], CUDA_VISIBLE_DEVICES=2,3",
		"iteration 4: 80 episodes",
		"a learner call fails with ErrActorDied: true",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
