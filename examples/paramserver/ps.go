package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/examples/paramserver/mlp"
)

// errBadGradient reports a gradient whose length does not match the
// parameters a server holds, or a step with the wrong number of gradients.
var errBadGradient = errors.New("paramserver: bad gradient")

// PSConfig configures a parameter server: the model, the range [Lo, Hi) of
// its flat parameter vector that this server holds, and the Adam schedule.
type PSConfig struct {
	Sizes []int
	Seed  int64
	Lo    int
	Hi    int
	// LR is the initial learning rate, multiplied by Decay after every
	// StepsPerEpoch updates.
	LR            float32
	Decay         float32
	StepsPerEpoch int
}

// ParamServer holds params[Lo:Hi] of the model and the Adam state for that
// range. With Lo = 0 and Hi = NumParams it is the single server of the sync
// and async modes.
type ParamServer struct {
	cfg     PSConfig
	params  []float32
	opt     *mlp.Adam
	sum     []float32 // gradients accumulated for the next step
	pending int       // how many gradients sum holds
}

func newParamServer(_ context.Context, cfg PSConfig) (*ParamServer, error) {
	m := mlp.Model{Sizes: cfg.Sizes}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if cfg.Lo < 0 || cfg.Hi > m.NumParams() || cfg.Lo >= cfg.Hi {
		return nil, fmt.Errorf("paramserver: range [%d, %d) outside the %d parameters", cfg.Lo, cfg.Hi, m.NumParams())
	}
	if cfg.StepsPerEpoch < 1 {
		return nil, fmt.Errorf("paramserver: %d steps per epoch", cfg.StepsPerEpoch)
	}
	// Every shard draws the whole initial vector from the same seed and keeps
	// its range, so K servers start from exactly the weights one would.
	params := slices.Clone(m.Init(cfg.Seed)[cfg.Lo:cfg.Hi])
	return &ParamServer{cfg: cfg, params: params, opt: mlp.NewAdam(cfg.LR), sum: make([]float32, len(params))}, nil
}

// Weights returns the parameters the server holds. The result is encoded
// as soon as the method returns, before the next call can change params.
func (p *ParamServer) Weights(context.Context) ([]float32, error) { return p.params, nil }

// Apply performs one update with grad and returns the new weights.
func (p *ParamServer) Apply(_ context.Context, grad []float32) ([]float32, error) {
	if len(grad) != len(p.params) {
		return nil, fmt.Errorf("%w: %d values for %d parameters", errBadGradient, len(grad), len(p.params))
	}
	p.step(grad)
	return p.params, nil
}

// Accumulate adds grad to the gradients of the next ApplyAccumulated and
// returns how many it holds now.
func (p *ParamServer) Accumulate(_ context.Context, grad []float32) (int, error) {
	if len(grad) != len(p.params) {
		return 0, fmt.Errorf("%w: %d values for %d parameters", errBadGradient, len(grad), len(p.params))
	}
	for i, g := range grad {
		p.sum[i] += g
	}
	p.pending++
	return p.pending, nil
}

// ApplyAccumulated performs one update with the mean of the accumulated
// gradients, which must number want, and returns the new weights. A step
// with fewer (a worker's gradient failed) is refused rather than taken on
// part of the batch.
func (p *ParamServer) ApplyAccumulated(_ context.Context, want int) ([]float32, error) {
	if p.pending != want || want < 1 {
		n := p.pending
		clear(p.sum)
		p.pending = 0
		return nil, fmt.Errorf("%w: %d gradients accumulated, want %d", errBadGradient, n, want)
	}
	inv := 1 / float32(p.pending)
	for i := range p.sum {
		p.sum[i] *= inv
	}
	p.step(p.sum)
	clear(p.sum)
	p.pending = 0
	return p.params, nil
}

// step applies one Adam update at the learning rate of the current epoch.
func (p *ParamServer) step(grad []float32) {
	epoch := p.opt.Steps() / p.cfg.StepsPerEpoch
	p.opt.LR = p.cfg.LR * float32(math.Pow(float64(p.cfg.Decay), float64(epoch)))
	p.opt.Apply(p.params, grad)
}

var (
	paramServer = goray.Actor("paramserver.ps", newParamServer)

	// getWeights returns a server's current weights.
	getWeights = goray.Method0(paramServer, "get_weights", (*ParamServer).Weights)
	// applyGradients applies one gradient at once (async mode).
	applyGradients = goray.Method(paramServer, "apply_gradients", (*ParamServer).Apply)
	// accumulateGradients and applyAccumulated make a synchronous update
	// from any number of gradients: a method takes a fixed number of
	// arguments, so the W gradient Refs arrive one call each, and calls
	// from one caller run in order.
	accumulateGradients = goray.Method(paramServer, "accumulate_gradients", (*ParamServer).Accumulate)
	applyAccumulated    = goray.Method(paramServer, "apply_accumulated", (*ParamServer).ApplyAccumulated)
)
