package cli

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/placement"
)

// Placement benchmarks: placement groups through the API, and the
// scheduling policy on simulated cluster views.

func placementBenchmarks() []bench {
	out := []bench{
		{"placement_group_create_removal", "groups/s", rate(func(ctx context.Context) (int, error) {
			pg, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{{Resources: map[string]float64{"CPU": 0.01}}}, goray.Pack)
			if err != nil {
				return 0, err
			}
			if err := pg.Ready(ctx); err != nil {
				return 0, err
			}
			return 1, pg.Remove(ctx)
		})},
		{"scheduling_decisions_per_second", "decisions/s", schedulingDecisions(1000)},
	}
	for _, n := range []int{100, 10_000} {
		out = append(out, bench{fmt.Sprintf("scheduling_decisions_per_second_%d_nodes", n), "decisions/s", schedulingDecisions(n)})
	}
	return out
}

// simulatedView builds a heterogeneous cluster view of n nodes: one in five
// has 8 GPUs, the others 8, 16 or 32 CPUs; each is between 0 and 90 %
// used; labels name a zone.
func simulatedView(n int, rnd *rand.Rand) (*placement.View, []string, error) {
	v := placement.NewView()
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%016x", i)
		ids[i] = id
		total := placement.Resources{placement.CPU: placement.Quantity(8<<(i%3)) * placement.Unit, placement.Memory: 64 << 30}
		labels := map[string]string{"zone": fmt.Sprintf("z%d", i%4)}
		if i%5 == 0 {
			total = placement.Resources{placement.CPU: 96 * placement.Unit, placement.GPU: 8 * placement.Unit, placement.Memory: 1 << 40}
			labels[placement.LabelAcceleratorType] = "A100"
		}
		avail := total.Clone()
		for name, q := range avail {
			used := placement.Quantity(rnd.Float64() * 0.9 * float64(q))
			if name == placement.GPU {
				used = used / placement.Unit * placement.Unit
			}
			avail[name] = q - used
		}
		if err := v.Upsert(placement.Node{ID: id, Total: total, Available: avail, Labels: labels, Alive: true}); err != nil {
			return nil, nil, err
		}
	}
	return v, ids, nil
}

// schedulingDecisions measures the default policy's decisions per second
// on a simulated view of n nodes: a mix of CPU and GPU requests from
// random local nodes, each decision committed and released again so that
// the cluster's load stays as built.
func schedulingDecisions(n int) func(context.Context, time.Duration) (float64, error) {
	return func(ctx context.Context, d time.Duration) (float64, error) {
		rnd := rand.New(rand.NewPCG(1, uint64(n)))
		v, ids, err := simulatedView(n, rnd)
		if err != nil {
			return 0, err
		}
		reqs := []placement.Resources{
			{placement.CPU: placement.Unit},
			{placement.CPU: 2 * placement.Unit},
			{placement.CPU: placement.Unit / 2, placement.Memory: 1 << 30},
			{placement.CPU: placement.Unit, placement.GPU: placement.Unit},
			{placement.GPU: placement.Unit / 4},
		}
		i := 0
		decide := func(context.Context) (int, error) {
			for range 100 {
				req := placement.Request{Resources: reqs[i%len(reqs)], Local: ids[rnd.IntN(len(ids))]}
				i++
				node, err := v.Pick(req, rnd)
				if err != nil {
					return 0, err
				}
				if err := v.Allocate(node, req.Resources); err != nil {
					return 0, err
				}
				v.Free(node, req.Resources)
			}
			return 100, nil
		}
		return rate(decide)(ctx, d)
	}
}
