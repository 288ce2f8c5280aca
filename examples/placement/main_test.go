package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"

	"github.com/goray-dev/goray"
	"github.com/goray-dev/goray/gpu"
	"github.com/goray-dev/goray/internal/nodetest"
)

// clusterToken is the test cluster's token.
const clusterToken = "placement-example-test-token-0123"

func TestMain(m *testing.M) {
	if role := nodetest.Role(); role != "" {
		os.Exit(runNode(role))
	}
	os.Exit(m.Run())
}

// runNode runs a node until its standard input closes: "gpu" (the head,
// with 4 CPUs and go-nvml's simulated DGX A100, so eight A100s: room for
// rollouts too, which only their label selector keeps away) or "rollout
// HEADADDR" (2 CPUs, labelled pool=rollout). It prints "node ID ADDRESS"
// once it runs.
func runNode(role string) int {
	f := strings.Fields(role)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node-role", f[0])
	opts := []goray.InitOption{goray.WithListen("127.0.0.1", 0), goray.WithToken(clusterToken), goray.WithLogger(logger)}
	switch {
	case f[0] == "gpu" && len(f) == 1:
		opts = append(opts, goray.AsHead(), goray.WithCPUs(4), goray.WithGPUDiscoverer(gpu.NewNVMLWith(dgxa100.New(), nil)))
	case f[0] == "rollout" && len(f) == 2:
		opts = append(opts, goray.WithAddress(f[1]), goray.WithCPUs(2), goray.WithLabels(map[string]string{"pool": "rollout"}))
	default:
		fmt.Fprintln(os.Stderr, "bad node role", role)
		return 2
	}
	return nodetest.Serve(30*time.Second, opts...)
}

// startNode starts a node process and waits until it runs; it stops
// when the test ends (killed if it takes too long).
func startNode(t *testing.T, role string) *nodetest.Proc {
	t.Helper()
	p := nodetest.Launch(t, role)
	t.Cleanup(func() { p.Stop(15 * time.Second) })
	return p
}

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
		"GPUs [0 1], CUDA_VISIBLE_DEVICES=0,1",
		"GPUs [2 3], CUDA_VISIBLE_DEVICES=2,3",
		"iteration 4: 80 episodes",
		"a learner call fails with ErrActorDied: true",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestPlacementExampleOnCluster runs the example's job as the driver of a
// cluster of three node processes on 127.0.0.1: a head with eight
// simulated A100s and two CPU nodes labelled pool=rollout. Both learners
// must share the GPU node (STRICT_PACK) with distinct devices, and the
// rollouts must run on both rollout nodes and nowhere else.
func TestPlacementExampleOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	head := startNode(t, "gpu")
	r1 := startNode(t, "rollout "+head.Address)
	r2 := startNode(t, "rollout "+head.Address)
	t.Setenv("GORAY_ADDRESS", head.Address)
	t.Setenv("GORAY_TOKEN", clusterToken)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	t.Logf("driver output:\n%s", text)

	if want := "learner group learners: CREATED on node " + head.ID + "\n"; !strings.Contains(text, want) {
		t.Errorf("the learner group is not on the GPU node %s:\n%s", head.ID, text)
	}
	learners := regexp.MustCompile(`learner (\d) on node (\S+): GPUs \[(\d) (\d)\], CUDA_VISIBLE_DEVICES=(\S+)`).FindAllStringSubmatch(text, -1)
	if len(learners) != 2 {
		t.Fatalf("%d learner lines, want 2:\n%s", len(learners), text)
	}
	gpus := map[string]bool{}
	for _, l := range learners {
		if l[2] != head.ID {
			t.Errorf("learner %s runs on %s, not the GPU node %s", l[1], l[2], head.ID)
		}
		if want := l[3] + "," + l[4]; l[5] != want {
			t.Errorf("learner %s: CUDA_VISIBLE_DEVICES=%s, want %s", l[1], l[5], want)
		}
		for _, g := range l[3:5] {
			if gpus[g] {
				t.Errorf("GPU %s handed to both learners:\n%s", g, text)
			}
			gpus[g] = true
		}
	}
	want := []string{r1.ID, r2.ID}
	if r2.ID < r1.ID {
		want = []string{r2.ID, r1.ID}
	}
	if line := fmt.Sprintf("rollout nodes: %v\n", want); !strings.Contains(text, line) {
		t.Errorf("rollouts did not run on exactly the two rollout nodes %v:\n%s", want, text)
	}
	for _, w := range []string{"iteration 4: 80 episodes from 2 rollout node(s)", "a learner call fails with ErrActorDied: true"} {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q:\n%s", w, text)
		}
	}
}
