package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"

	"github.com/goray-dev/goray/examples/rl/es"
)

// savePolicy writes params, a policy for env, to path in the policy file
// format of package es (a small header, little-endian float32s and a
// checksum; see es.WritePolicy).
func savePolicy(path string, env environment, params []float32) error {
	probe := env.New()
	var b bytes.Buffer
	p := es.Policy{Env: env.Name, ObsSize: probe.ObsSize(), NumActions: probe.NumActions(), Params: params}
	if err := es.WritePolicy(&b, p); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// loadPolicy reads a policy file and checks that it fits the environment
// it names.
func loadPolicy(path string) (environment, []float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return environment{}, nil, err
	}
	defer f.Close()
	p, err := es.ReadPolicy(f)
	if err != nil {
		return environment{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	env, err := lookupEnv(p.Env)
	if err != nil {
		return environment{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	probe := env.New()
	if p.ObsSize != probe.ObsSize() || p.NumActions != probe.NumActions() {
		return environment{}, nil, fmt.Errorf("%s: %w: a policy for %d observations and %d actions, %s has %d and %d",
			path, ErrInvalidConfig, p.ObsSize, p.NumActions, env.Title, probe.ObsSize(), probe.NumActions())
	}
	return env, p.Params, nil
}

// curveHeader names the columns of the learning curve: the numbers of the
// progress lines, one row per generation. mean_return and max_return are
// empty for a generation that only measured the policy (the last one).
var curveHeader = []string{"generation", "env_steps", "elapsed_seconds", "eval_return", "mean_return", "max_return"}

// writeCurve writes the learning curve of history to path as CSV.
func writeCurve(path string, history []es.Generation) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	f32 := func(v float32) string { return strconv.FormatFloat(float64(v), 'g', -1, 32) }
	rows := [][]string{curveHeader}
	for _, g := range history {
		mean, best := "", ""
		if g.Updated {
			mean, best = f32(g.MeanReturn), f32(g.MaxReturn)
		}
		rows = append(rows, []string{strconv.Itoa(g.Index), strconv.FormatInt(g.Steps, 10),
			strconv.FormatFloat(g.Elapsed.Seconds(), 'f', 4, 64), f32(g.EvalReturn), mean, best})
	}
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// float32Value is a flag.Value for a float32 that prints its default as it
// was written (0.1, not 0.10000000149011612).
type float32Value float32

func (v *float32Value) String() string {
	if v == nil {
		return "0"
	}
	return strconv.FormatFloat(float64(*v), 'g', -1, 32)
}

func (v *float32Value) Set(s string) error {
	f, err := strconv.ParseFloat(s, 32)
	if err != nil {
		return err
	}
	*v = float32Value(f)
	return nil
}
