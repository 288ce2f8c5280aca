package goray_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

// clusterPlacement runs strategies and placement groups across three
// nodes of a real cluster (one CPU each), and kills the victim, which holds
// a bundle of a group: the group places the bundle again, on helper.
func clusterPlacement(t *testing.T, ctx context.Context, head, helper, victim *nodeProc) {
	// Strategies and selectors pick nodes across the cluster.
	for _, tc := range []struct {
		name string
		opts []goray.Option
		want string
	}{
		{"label selector", []goray.Option{goray.LabelSelector(goray.LabelIn(goray.LabelNodeID, helper.ID))}, helper.ID},
		{"node affinity", []goray.Option{goray.NodeAffinity(head.ID)}, head.ID},
		{"soft label preference", []goray.Option{goray.PreferLabels(goray.LabelIn(goray.LabelNodeID, victim.ID))}, victim.ID},
	} {
		if got := mustGet(t, ctx, whereTask.Remote(ctx, 0, append(tc.opts, goray.CPUs(0.5))...)); got != tc.want {
			t.Fatalf("%s: ran on %s, want %s", tc.name, got, tc.want)
		}
	}
	ran := map[string]bool{}
	var refs []goray.Ref[string]
	// The driver's view still counts the tasks above against their nodes
	// until the nodes report: spread tasks first go to the others.
	for i := range 30 {
		refs = append(refs, whereTask.Remote(ctx, i, goray.Spread(), goray.CPUs(0.1)))
	}
	for _, r := range refs {
		ran[mustGet(t, ctx, r)] = true
	}
	if len(ran) < 3 {
		dumpCluster(t, ctx)
		t.Fatalf("30 spread tasks ran on %d nodes: %v", len(ran), ran)
	}
	if err := getErr(ctx, whereTask.Remote(ctx, 0, goray.LabelSelector(goray.LabelIn("zone", "nowhere")))); !errors.Is(err, goray.ErrInfeasible) {
		t.Fatalf("selector no node matches: %v", err)
	}

	// STRICT_SPREAD over three nodes: distinct nodes, and work in each
	// bundle runs on its node.
	quarter := goray.Bundle{Resources: map[string]float64{"CPU": 0.25}}
	spread, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{quarter, quarter, quarter}, goray.StrictSpread)
	if err != nil {
		t.Fatal(err)
	}
	if err := spread.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := spread.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(info.BundleNodes)))
	if len(distinct) != 3 || slices.Contains(info.BundleNodes, "") {
		t.Fatalf("STRICT_SPREAD over 3 nodes: %v", info.BundleNodes)
	}
	for i, node := range info.BundleNodes {
		if got := mustGet(t, ctx, whereTask.Remote(ctx, i, goray.CPUs(0.25), goray.InPlacementGroup(spread, i))); got != node {
			t.Fatalf("task in bundle %d ran on %s, the bundle is on %s", i, got, node)
		}
	}
	if err := spread.Remove(ctx); err != nil {
		t.Fatal(err)
	}

	// A group whose node dies: its bundle may go to the victim or the
	// helper; the helper is full while the group is created, so it lands
	// on the victim.
	blocker, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{{Resources: map[string]float64{"CPU": 1},
		Labels: []goray.LabelExpr{goray.LabelIn(goray.LabelNodeID, helper.ID)}}}, goray.Pack)
	if err != nil {
		t.Fatal(err)
	}
	if err := blocker.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	pg, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{{Resources: map[string]float64{"CPU": 0.5},
		Labels: []goray.LabelExpr{goray.LabelIn(goray.LabelNodeID, victim.ID, helper.ID)}}}, goray.Pack)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := pg.Info(ctx); info.BundleNodes[0] != victim.ID {
		t.Fatalf("the group is on %v, want %s", info.BundleNodes, victim.ID)
	}
	if err := blocker.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	victim.Kill()
	var last goray.PlacementGroupInfo
	pollUntil(t, "the group placed again after its node died", func() bool {
		last, err = pg.Info(ctx)
		return err == nil && last.State == goray.GroupCreated && last.Reschedules == 1 && last.BundleNodes[0] == helper.ID
	})
	// Work in the group runs on its new node.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got, err := goray.Get(wctx, whereTask.Remote(ctx, 0, goray.CPUs(0.5), goray.InPlacementGroup(pg, 0)))
	if err != nil || got != helper.ID {
		t.Fatalf("task in the re-placed bundle ran on %s (%v), want %s", got, err, helper.ID)
	}
	if err := pg.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	// Everything is back: what is available is the cluster's total.
	pollUntil(t, "resources back after the groups were removed", func() bool {
		total, err1 := goray.ClusterResources(ctx)
		avail, err2 := goray.AvailableResources(ctx)
		return err1 == nil && err2 == nil && fmt.Sprint(total) == fmt.Sprint(avail)
	})
}
