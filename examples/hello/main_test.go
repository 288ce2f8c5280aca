package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestHello(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"square(7) = 49",
		"square(square(7)) = 2401",
		"sum([1 2 3 4]) = 10",
		"sum of squares 1..10 (nested tasks) = 385",
		"counter after adding 1..5 to 10 = 25",
		"counter found by name, after adding 100 = 125",
		"wait: 3 ready, 0 not ready",
		"countdown streamed [5 4 3 2 1]",
		"counter stepped [126 127 128]",
		"call after kill fails with ErrActorDied: true",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
