package goray_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray"
)

type pgProbe struct{ ids []int }

var (
	gpuIDsTask = goray.Task("test.pg.gpuids", func(ctx context.Context, _ int) ([]int, error) {
		return goray.GPUIDs(ctx), nil
	})
	visibleTask = goray.Task("test.pg.visible", func(ctx context.Context, _ int) (string, error) {
		out, err := goray.Command(ctx, "sh", "-c", "printf %s \"$CUDA_VISIBLE_DEVICES\"").Output()
		return string(out), err
	})
	pgWhere = goray.Task("test.pg.where", func(ctx context.Context, _ int) (string, error) {
		return goray.NodeID(ctx)
	})
	pgBlock = goray.Task("test.pg.block", func(ctx context.Context, _ int) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	// parentTask submits a child asking for one GPU and returns its GPUs.
	parentTask = goray.Task("test.pg.parent", func(ctx context.Context, _ int) ([]int, error) {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		return goray.Get(cctx, gpuIDsTask.Remote(ctx, 0, goray.GPUs(1), goray.CPUs(0)))
	})
	pgActor = goray.Actor0("test.pg.actor", func(ctx context.Context) (*pgProbe, error) {
		return &pgProbe{ids: goray.GPUIDs(ctx)}, nil
	})
	pgActorIDs = goray.Method0(pgActor, "ids", func(p *pgProbe, ctx context.Context) ([]int, error) { return p.ids, nil })
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", what, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitAvailable waits until the node's available resources equal want.
func waitAvailable(t *testing.T, ctx context.Context, want map[string]float64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("available resources %v", want), func() (bool, string) {
		got, err := goray.AvailableResources(ctx)
		if err != nil {
			return false, err.Error()
		}
		for k, v := range want {
			if got[k] != v {
				return false, fmt.Sprint(got)
			}
		}
		return true, ""
	})
}

func getErr[T any](ctx context.Context, r goray.Ref[T]) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := goray.Get(ctx, r)
	return err
}

func TestPlacementGroupLifecycle(t *testing.T) {
	ctx := start(t, goray.WithCPUs(8), goray.WithGPUs(4))
	full := map[string]float64{"CPU": 8, "GPU": 4}
	waitAvailable(t, ctx, full)
	pg, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{
		{Resources: map[string]float64{"CPU": 2, "GPU": 2}},
		{Resources: map[string]float64{"CPU": 1, "GPU": 1}},
	}, goray.StrictPack, goray.GroupName("learners"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	waitAvailable(t, ctx, map[string]float64{"CPU": 5, "GPU": 1})

	// Tasks in bundle 0 get the bundle's devices; two one-GPU tasks get
	// different ones.
	a := mustGet(t, ctx, gpuIDsTask.Remote(ctx, 0, goray.GPUs(1), goray.InPlacementGroup(pg, 0)))
	b := mustGet(t, ctx, gpuIDsTask.Remote(ctx, 0, goray.GPUs(2), goray.InPlacementGroup(pg, 0)))
	if len(a) != 1 || len(b) != 2 || !slices.Contains(b, a[0]) {
		t.Fatalf("bundle 0 handed out %v then %v; want one of the same two devices", a, b)
	}
	if got := mustGet(t, ctx, visibleTask.Remote(ctx, 0, goray.GPUs(1), goray.InPlacementGroup(pg, 1))); len(got) != 1 {
		t.Fatalf("CUDA_VISIBLE_DEVICES in bundle 1 = %q, want one device", got)
	}
	// Requests the bundle cannot hold, and bad indices.
	if err := getErr(ctx, gpuIDsTask.Remote(ctx, 0, goray.GPUs(3), goray.InPlacementGroup(pg, 0))); !errors.Is(err, goray.ErrInfeasible) {
		t.Fatalf("3 GPUs in a 2-GPU bundle: %v, want ErrInfeasible", err)
	}
	if err := getErr(ctx, gpuIDsTask.Remote(ctx, 0, goray.InPlacementGroup(pg, 2))); !errors.Is(err, goray.ErrInvalidArgument) {
		t.Fatalf("bundle index 2 of 2: %v, want ErrInvalidArgument", err)
	}
	// An actor in bundle 1 holds its GPU.
	act, err := pgActor.New(ctx, goray.GPUs(1), goray.InPlacementGroup(pg, 1))
	if err != nil {
		t.Fatal(err)
	}
	if ids := mustGet(t, ctx, pgActorIDs.Remote(ctx, act)); len(ids) != 1 || slices.Contains(b, ids[0]) {
		t.Fatalf("actor in bundle 1 got GPUs %v; bundle 0 holds %v", ids, b)
	}
	// Named lookup and listing.
	found, err := goray.GetPlacementGroup(ctx, "learners")
	if err != nil || found.ID() != pg.ID() {
		t.Fatalf("GetPlacementGroup = %v, %v", found, err)
	}
	if _, err := goray.GetPlacementGroup(ctx, "nope"); !errors.Is(err, goray.ErrNotFound) {
		t.Fatalf("GetPlacementGroup(nope) = %v, want ErrNotFound", err)
	}
	infos, err := goray.ListPlacementGroups(ctx)
	if err != nil || len(infos) != 1 || infos[0].State != goray.GroupCreated || infos[0].BundleNodes[0] == "" {
		t.Fatalf("ListPlacementGroups = %+v, %v", infos, err)
	}
	// A running task in the group is cancelled by Remove.
	running := pgBlock.Remote(ctx, 0, goray.CPUs(1), goray.InPlacementGroup(pg, goray.AnyBundle))
	waitFor(t, "the blocking task running", func() (bool, string) {
		why, err := goray.WhyPending(ctx, running)
		return err == nil && why == "" && running.Ready() == false, why
	})

	if err := pg.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	waitAvailable(t, ctx, full)
	if err := getErr(ctx, running); err == nil {
		t.Fatalf("a task running in a removed group finished without error")
	}
	// The kill reaches the actor's host a moment after Remove returns: a
	// call sent meanwhile may still be answered.
	waitFor(t, "the actor of a removed group to die", func() (bool, string) {
		err := getErr(ctx, pgActorIDs.Remote(ctx, act))
		if err != nil && !errors.Is(err, goray.ErrActorDied) {
			t.Fatalf("actor of a removed group: %v, want ErrActorDied", err)
		}
		return err != nil, fmt.Sprintf("answering (error %v)", err)
	})
	if err := pg.Remove(ctx); !errors.Is(err, goray.ErrPlacementGroupRemoved) {
		t.Fatalf("second Remove: %v, want ErrPlacementGroupRemoved", err)
	}
	if err := getErr(ctx, gpuIDsTask.Remote(ctx, 0, goray.InPlacementGroup(pg, 0))); !errors.Is(err, goray.ErrPlacementGroupRemoved) {
		t.Fatalf("task into a removed group: %v, want ErrPlacementGroupRemoved", err)
	}
	if err := pg.Ready(ctx); !errors.Is(err, goray.ErrPlacementGroupRemoved) {
		t.Fatalf("Ready of a removed group: %v", err)
	}
	if _, err := goray.GetPlacementGroup(ctx, "learners"); !errors.Is(err, goray.ErrNotFound) {
		t.Fatalf("the name of a removed group: %v, want ErrNotFound", err)
	}
	waitAvailable(t, ctx, full)
}

func TestPlacementGroupPendingInfeasibleAndBadInput(t *testing.T) {
	ctx := start(t, goray.WithCPUs(4))
	full := map[string]float64{"CPU": 4}
	cpu := func(n float64) goray.Bundle { return goray.Bundle{Resources: map[string]float64{"CPU": n}} }
	infeasible := []struct {
		name     string
		bundles  []goray.Bundle
		strategy goray.PlacementStrategy
	}{
		{"bundle larger than any node", []goray.Bundle{cpu(5)}, goray.Pack},
		{"strict spread over more nodes than exist", []goray.Bundle{cpu(1), cpu(1)}, goray.StrictSpread},
		{"strict pack beyond one node", []goray.Bundle{cpu(3), cpu(3)}, goray.StrictPack},
		{"selector naming a label no node has", []goray.Bundle{{Resources: map[string]float64{"CPU": 1},
			Labels: []goray.LabelExpr{goray.LabelIn("zone", "mars")}}}, goray.Pack},
		{"unknown resource", []goray.Bundle{{Resources: map[string]float64{"TPU": 1}}}, goray.Pack},
	}
	for _, tc := range infeasible {
		t.Run(tc.name, func(t *testing.T) {
			pg, err := goray.CreatePlacementGroup(ctx, tc.bundles, tc.strategy)
			if err != nil {
				t.Fatal(err)
			}
			if err := pg.Ready(ctx); !errors.Is(err, goray.ErrInfeasible) {
				t.Fatalf("Ready = %v, want ErrInfeasible", err)
			}
			info, err := pg.Info(ctx)
			if err != nil || info.State != goray.GroupInfeasible || info.Reason == "" {
				t.Fatalf("Info = %+v, %v", info, err)
			}
			if err := pg.Remove(ctx); err != nil {
				t.Fatal(err)
			}
			waitAvailable(t, ctx, full)
		})
	}
	bad := []struct {
		name    string
		bundles []goray.Bundle
	}{
		{"negative", []goray.Bundle{cpu(-1)}},
		{"NaN", []goray.Bundle{{Resources: map[string]float64{"CPU": nanValue()}}}},
		{"too fine", []goray.Bundle{{Resources: map[string]float64{"CPU": 1e-9}}}},
		{"fractional GPUs above one", []goray.Bundle{{Resources: map[string]float64{"GPU": 1.5}}}},
		{"empty bundle", []goray.Bundle{{}}},
		{"no bundles", nil},
		{"bad resource name", []goray.Bundle{{Resources: map[string]float64{"a b": 1}}}},
		{"selector without key", []goray.Bundle{{Resources: map[string]float64{"CPU": 1}, Labels: []goray.LabelExpr{goray.LabelIn("", "x")}}}},
		{"in without values", []goray.Bundle{{Resources: map[string]float64{"CPU": 1}, Labels: []goray.LabelExpr{goray.LabelIn("zone")}}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := goray.CreatePlacementGroup(ctx, tc.bundles, goray.Pack); !errors.Is(err, goray.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
		})
	}
	if _, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{cpu(1)}, goray.PlacementStrategy(9)); !errors.Is(err, goray.ErrInvalidArgument) {
		t.Fatalf("unknown strategy: %v", err)
	}
	// Pending: the second group waits for the first, with a reason.
	first, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{cpu(3)}, goray.Pack, goray.GroupName("first"))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{cpu(1)}, goray.Pack, goray.GroupName("first")); !errors.Is(err, goray.ErrAlreadyExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	second, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{cpu(2)}, goray.Pack)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := second.Wait(ctx, 50*time.Millisecond); ok || err != nil {
		t.Fatalf("second group ready while the first holds the CPUs: %v, %v", ok, err)
	}
	info, err := second.Info(ctx)
	if err != nil || info.State != goray.GroupPending || !strings.Contains(info.Reason, "not enough resources") {
		t.Fatalf("pending group: %+v, %v", info, err)
	}
	// A task that no longer fits waits, and says why.
	waiting := pgWhere.Remote(ctx, 0, goray.CPUs(2))
	waitFor(t, "a reason for the waiting task", func() (bool, string) {
		why, err := goray.WhyPending(ctx, waiting)
		return err == nil && strings.Contains(why, "CPU=2"), why
	})
	// An actor that does not fit waits too, and says why.
	type result struct {
		a   goray.ActorRef[pgProbe]
		err error
	}
	created := make(chan result, 1)
	go func() {
		a, err := pgActor.New(ctx, goray.CPUs(2))
		created <- result{a, err}
	}()
	waitFor(t, "a reason for the pending actor", func() (bool, string) {
		actors, err := goray.ListActors(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range actors {
			if a.TypeName == "test.pg.actor" && strings.Contains(a.State, "PENDING") && a.PendingReason != "" {
				return true, ""
			}
		}
		return false, fmt.Sprint(actors)
	})
	if err := first.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-created
	if res.err != nil {
		t.Fatalf("the pending actor: %v", res.err)
	}
	if err := goray.Kill(ctx, res.a); err != nil {
		t.Fatal(err)
	}
	if err := second.Ready(ctx); err != nil {
		t.Fatalf("second group after the first was removed: %v", err)
	}
	mustGet(t, ctx, waiting)
	if err := second.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ctx, full)
}

func TestCaptureChildTasks(t *testing.T) {
	ctx := start(t, goray.WithCPUs(4), goray.WithGPUs(2))
	pg, err := goray.CreatePlacementGroup(ctx, []goray.Bundle{{Resources: map[string]float64{"CPU": 2, "GPU": 2}}}, goray.StrictPack)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// Every GPU of the node is in the group: a child asking for one runs
	// only if it runs in the group.
	ids := mustGet(t, ctx, parentTask.Remote(ctx, 0, goray.InPlacementGroup(pg, 0), goray.CaptureChildTasks()))
	if len(ids) != 1 {
		t.Fatalf("captured child got GPUs %v", ids)
	}
	if err := getErr(ctx, parentTask.Remote(ctx, 0, goray.InPlacementGroup(pg, 0))); err == nil {
		t.Fatalf("a child that was not captured found a GPU outside the group")
	}
	if err := pg.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	waitAvailable(t, ctx, map[string]float64{"CPU": 4, "GPU": 2})
}

func TestSchedulingStrategiesOneNode(t *testing.T) {
	ctx := start(t, goray.WithCPUs(2), goray.WithLabels(map[string]string{"zone": "a", "tier": "cpu"}))
	self, err := goray.NodeID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := goray.Nodes(ctx)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("Nodes = %v, %v", nodes, err)
	}
	labels := nodes[0].Labels
	for _, k := range []string{goray.LabelNodeID, goray.LabelOS, goray.LabelArch, goray.LabelHostname, "zone"} {
		if labels[k] == "" {
			t.Fatalf("node labels %v lack %s", labels, k)
		}
	}
	if labels[goray.LabelNodeID] != self {
		t.Fatalf("node-id label %q, want %q", labels[goray.LabelNodeID], self)
	}
	tests := []struct {
		name    string
		opts    []goray.Option
		wantErr error
	}{
		{"spread", []goray.Option{goray.Spread()}, nil},
		{"hard affinity to this node", []goray.Option{goray.NodeAffinity(self)}, nil},
		{"hard affinity to an unknown node", []goray.Option{goray.NodeAffinity("0123456789abcdef")}, goray.ErrInfeasible},
		{"soft affinity to an unknown node", []goray.Option{goray.SoftNodeAffinity("0123456789abcdef")}, nil},
		{"selector in", []goray.Option{goray.LabelSelector(goray.LabelIn("zone", "b", "a"))}, nil},
		{"selector not in", []goray.Option{goray.LabelSelector(goray.LabelNotIn("zone", "a"))}, goray.ErrInfeasible},
		{"selector exists", []goray.Option{goray.LabelSelector(goray.LabelExists("tier"))}, nil},
		{"selector does not exist", []goray.Option{goray.LabelSelector(goray.LabelDoesNotExist("tier"))}, goray.ErrInfeasible},
		{"selector on a label no node has", []goray.Option{goray.LabelSelector(goray.LabelIn("gpu", "a100"))}, goray.ErrInfeasible},
		{"soft selector falls back", []goray.Option{goray.PreferLabels(goray.LabelIn("zone", "b"))}, nil},
		{"selector and affinity", []goray.Option{goray.NodeAffinity(self), goray.LabelSelector(goray.LabelIn("zone", "a"))}, nil},
		{"two strategies", []goray.Option{goray.Spread(), goray.NodeAffinity(self)}, goray.ErrInvalidArgument},
		{"empty selector", []goray.Option{goray.LabelSelector()}, goray.ErrInvalidArgument},
		{"empty affinity", []goray.Option{goray.NodeAffinity("")}, goray.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := pgWhere.Remote(ctx, 0, tc.opts...)
			err := getErr(ctx, r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				if got := mustGet(t, ctx, r); got != self {
					t.Fatalf("ran on %s", got)
				}
			}
			// Actors take the same options.
			_, aerr := pgActor.New(ctx, tc.opts...)
			if !errors.Is(aerr, tc.wantErr) {
				t.Fatalf("actor: err = %v, want %v", aerr, tc.wantErr)
			}
		})
	}
	waitAvailable(t, ctx, map[string]float64{"CPU": 2})
}

func nanValue() float64 { zero := 0.0; return zero / zero }
