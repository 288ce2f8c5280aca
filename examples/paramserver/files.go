package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/goray-dev/goray/examples/paramserver/fashion"
	"github.com/goray-dev/goray/examples/paramserver/mlp"
)

// saveWeights writes the parameters of m to path in the parameter file
// format of package mlp (a small header with the layer sizes,
// little-endian float32s and a checksum; see mlp.Save).
func saveWeights(path string, m mlp.Model, params []float32) error {
	var b bytes.Buffer
	if err := mlp.Save(&b, m, params); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// loadWeights reads a model and its parameters from a file written by
// saveWeights, checking that the model classifies Fashion-MNIST images.
func loadWeights(path string) (mlp.Model, []float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return mlp.Model{}, nil, err
	}
	defer f.Close()
	m, params, err := mlp.Load(f)
	if err != nil {
		return mlp.Model{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	if in, out := m.Sizes[0], m.Sizes[len(m.Sizes)-1]; in != fashion.Pixels || out != fashion.NumClasses {
		return mlp.Model{}, nil, fmt.Errorf("%s: %w: model %v has %d inputs and %d classes, Fashion-MNIST %d and %d",
			path, ErrConfig, m.Sizes, in, out, fashion.Pixels, fashion.NumClasses)
	}
	return m, params, nil
}

// curveHeader names the columns of the learning curve: the numbers of the
// progress lines, one row per test evaluation (one per epoch by default).
// train_loss is empty for the evaluation before the first update.
var curveHeader = []string{"update", "epoch", "elapsed_seconds", "test_accuracy", "train_loss"}

// writeCurve writes the evaluations of res to path as CSV.
func writeCurve(path string, res *Result) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	rows := [][]string{curveHeader}
	for _, e := range res.Evals {
		loss := ""
		if !math.IsNaN(e.TrainLoss) {
			loss = strconv.FormatFloat(e.TrainLoss, 'f', 6, 64)
		}
		rows = append(rows, []string{strconv.Itoa(e.Update),
			strconv.FormatFloat(float64(e.Update)/float64(res.StepsPerEpoch), 'f', 4, 64),
			strconv.FormatFloat(e.Elapsed.Seconds(), 'f', 3, 64),
			strconv.FormatFloat(e.Accuracy, 'g', -1, 32), loss})
	}
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
