// Command placement runs a heterogeneous job: learners that need GPUs share
// one node in a STRICT_PACK placement group, and rollout actors spread over
// the nodes labelled for rollouts.
//
// Without GORAY_ADDRESS it runs on the embedded runtime with simulated
// resources: a node with 16 CPUs and the eight A100s of go-nvml's simulated
// DGX A100, labelled pool=rollout. With GORAY_ADDRESS it joins that
// cluster as a driver; start its nodes with the labels it selects (see
// README.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gpu"
)

// Rollout collects episodes of a small environment: a random walk on a
// line that pays 1 for reaching +target and nothing for -target.
type Rollout struct {
	rnd *rand.Rand
}

var rollout = goray.Actor("placement-example.rollout", func(ctx context.Context, seed uint64) (*Rollout, error) {
	return &Rollout{rnd: rand.New(rand.NewPCG(seed, seed+1))}, nil
})

// Batch is what a rollout sends the learners.
type Batch struct {
	Node    string
	Rewards []float64
}

// collect plays n episodes with the policy p: the probability of a step
// to the right.
var collect = goray.Method2(rollout, "collect", func(r *Rollout, ctx context.Context, n int, p float64) (Batch, error) {
	const target = 5
	node, err := goray.NodeID(ctx)
	if err != nil {
		return Batch{}, err
	}
	b := Batch{Node: node}
	for range n {
		x := 0
		for x > -target && x < target {
			if r.rnd.Float64() < p {
				x++
			} else {
				x--
			}
		}
		b.Rewards = append(b.Rewards, float64(max(x, 0)/target))
	}
	return b, nil
})

// Learner holds its GPUs and a policy parameter.
type Learner struct {
	gpus []int
	p    float64
}

var learner = goray.Actor("placement-example.learner", func(ctx context.Context, p float64) (*Learner, error) {
	return &Learner{gpus: goray.GPUIDs(ctx), p: p}, nil
})

// update moves the policy towards what paid and returns it.
var update = goray.Method(learner, "update", func(l *Learner, ctx context.Context, rewards []float64) (float64, error) {
	mean := 0.0
	for _, r := range rewards {
		mean += r
	}
	mean /= float64(max(len(rewards), 1))
	l.p = min(0.95, l.p+0.1*(mean-0.5)+0.02)
	return l.p, nil
})

// devices reports the learner's node, its GPUs and the
// CUDA_VISIBLE_DEVICES that a process it starts would see.
var devices = goray.Method0(learner, "devices", func(l *Learner, ctx context.Context) (string, error) {
	node, err := goray.NodeID(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("on node %s: GPUs %v, CUDA_VISIBLE_DEVICES=%s", node, l.gpus, goray.CUDAVisibleDevices(ctx)), nil
})

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, w io.Writer) error {
	var opts []goray.InitOption
	if os.Getenv("GORAY_ADDRESS") == "" {
		opts = append(opts, goray.WithCPUs(16), goray.WithLabels(map[string]string{"pool": "rollout"}),
			goray.WithGPUDiscoverer(gpu.NewNVMLWith(dgxa100.New(), nil)))
	}
	ctx, err := goray.Init(ctx, opts...)
	if err != nil {
		return err
	}
	defer func() { _ = goray.Shutdown(ctx) }()

	// Two learners with two GPUs each, on one A100 node.
	onA100 := []goray.LabelExpr{goray.LabelIn(goray.LabelAcceleratorType, "A100")}
	pg, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{
		{Resources: map[string]float64{"CPU": 1, "GPU": 2}, Labels: onA100},
		{Resources: map[string]float64{"CPU": 1, "GPU": 2}, Labels: onA100},
	}, goray.StrictPack, goray.GroupName("learners"))
	if err != nil {
		return err
	}
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := pg.Ready(rctx); err != nil {
		return fmt.Errorf("learner group: %w", err)
	}
	info, err := pg.Info(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "learner group %s: %s on node %s\n", pg.Name(), info.State, info.BundleNodes[0])
	var learners []goray.ActorRef[Learner]
	for i := range 2 {
		l, err := learner.New(ctx, 0.5, goray.GPUs(2), goray.CPUs(1), goray.InPlacementGroup(pg, i))
		if err != nil {
			return err
		}
		d, err := goray.Get(ctx, devices.Remote(ctx, l))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "learner %d %s\n", i, d)
		learners = append(learners, l)
	}

	// Four rollout actors, spread over the nodes labelled pool=rollout.
	var rollouts []goray.ActorRef[Rollout]
	for i := range 4 {
		r, err := rollout.New(ctx, uint64(i), goray.CPUs(1), goray.Spread(),
			goray.LabelSelector(goray.LabelIn("pool", "rollout")))
		if err != nil {
			return err
		}
		rollouts = append(rollouts, r)
	}
	p := 0.5
	var nodes []string // the rollouts' nodes
	for iter := range 5 {
		refs := make([]goray.Ref[Batch], len(rollouts))
		for i, r := range rollouts {
			refs[i] = collect.Remote(ctx, r, 20, p)
		}
		batches, err := goray.GetAll(ctx, refs)
		if err != nil {
			return err
		}
		var rewards []float64
		for _, b := range batches {
			rewards = append(rewards, b.Rewards...)
			if !slices.Contains(nodes, b.Node) {
				nodes = append(nodes, b.Node)
			}
		}
		// Each learner takes half of the episodes.
		half := len(rewards) / 2
		p1, err := goray.Get(ctx, update.Remote(ctx, learners[0], rewards[:half]))
		if err != nil {
			return err
		}
		p2, err := goray.Get(ctx, update.Remote(ctx, learners[1], rewards[half:]))
		if err != nil {
			return err
		}
		p = (p1 + p2) / 2
		fmt.Fprintf(w, "iteration %d: %d episodes from %d rollout node(s), policy %.2f\n", iter, len(rewards), len(nodes), p)
	}
	slices.Sort(nodes)
	fmt.Fprintf(w, "rollout nodes: %v\n", nodes)

	// Removing the group kills the learners and gives their GPUs back; the
	// kills complete shortly after Remove returns.
	if err := pg.Remove(ctx); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, err = goray.Get(ctx, devices.Remote(ctx, learners[0]))
		if errors.Is(err, goray.ErrActorDied) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintf(w, "after removing the group, a learner call fails with ErrActorDied: %v\n", errors.Is(err, goray.ErrActorDied))
	return nil
}
