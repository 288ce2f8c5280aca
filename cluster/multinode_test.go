package cluster

import (
	"context"
	"strconv"
	"testing"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// startNetworkNode starts a node of a cluster on 127.0.0.1: the head when
// headAddr is empty. It shares reg with the other nodes of the test, as
// every process of a job runs the same binary.
func startNetworkNode(t *testing.T, reg *actors.Registry, headAddr string, resources map[string]float64) *testNode {
	t.Helper()
	cfg := Config{Registry: reg, Resources: resources,
		Network: &Network{Host: "127.0.0.1", Head: headAddr == "", HeadAddress: headAddr}}
	return startTestNode(t, cfg)
}

// A task only another node can run goes there; its owner learns where it
// runs, and its result comes back.
func TestTaskRunsOnAnotherNode(t *testing.T) {
	reg := actors.NewRegistry()
	if err := reg.RegisterFunc(&actors.Func{Name: "where", Invoke: func(ctx context.Context, _ [][]byte) ([]byte, error) {
		return []byte(actors.CallInfoOf(ctx).NodeID), nil
	}}); err != nil {
		t.Fatal(err)
	}
	head := startNetworkNode(t, reg, "", map[string]float64{"CPU": 1})
	worker := startNetworkNode(t, reg, head.System.Address(), map[string]float64{"CPU": 1, "special": 1})
	waitUntil(t, "the head's raylet sees the worker", func() bool {
		return head.request(head.Raylet, &pb.GetNodeStats{}).(*pb.NodeStats).Peers == 1
	})
	slot := head.submit(&pb.TaskSpec{Function: "where", Resources: map[string]int64{"special": int64(placement.Unit)}})
	if got := string(head.awaitValue(slot)); got != worker.ID {
		t.Fatalf("task ran on %q, want the worker %q", got, worker.ID)
	}

	// Tasks that fit anywhere spread once the head is busy.
	var slots []*objects.Slot
	for range 20 {
		slots = append(slots, head.submit(&pb.TaskSpec{Function: "where", Resources: cpuReq(1)}))
	}
	ran := map[string]int{}
	for _, s := range slots {
		ran[string(head.awaitValue(s))]++
	}
	if ran[worker.ID] == 0 || ran[head.ID] == 0 {
		t.Fatalf("tasks ran %v times per node, want some on each", ran)
	}
	t.Logf("spread: %s", strconv.Itoa(ran[head.ID])+" on the head, "+strconv.Itoa(ran[worker.ID])+" on the worker")
}
