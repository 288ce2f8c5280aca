package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/goray-dev/goray/actors"
	"github.com/goray-dev/goray/gpu"
	"github.com/goray-dev/goray/objects"
	"github.com/goray-dev/goray/placement"
	pb "github.com/goray-dev/goray/proto"
)

// testWait bounds every wait of these tests; a healthy run takes far less.
const testWait = 10 * time.Second

// testNode is a node started for one test, with helpers that play the
// owner's part: submit specs and wait for the results they complete.
type testNode struct {
	*Node
	t   *testing.T
	ids *objects.IDGen
}

// startTestNode starts an embedded node. An unset Registry gets a fresh
// registry; the node stops
// when the test ends.
func startTestNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	if cfg.Registry == nil {
		cfg.Registry = actors.NewRegistry()
	}
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = time.Millisecond
	}
	if cfg.SpillDir == "" {
		cfg.SpillDir = t.TempDir()
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return &testNode{Node: n, t: t, ids: objects.NewIDGen()}
}

// register adds a task function to the node's registry.
func (n *testNode) register(name string, nargs int, fn func(ctx context.Context, args [][]byte) ([]byte, error)) {
	n.t.Helper()
	if err := n.Env.Registry.RegisterFunc(&actors.Func{Name: name, NumArgs: nargs, Invoke: fn}); err != nil {
		n.t.Fatal(err)
	}
}

// submit sends spec to the raylet with fresh task and return IDs, this
// node's owner as owner, and returns the slot the result completes.
func (n *testNode) submit(spec *pb.TaskSpec) *objects.Slot {
	id := n.ids.Next()
	spec.TaskId, spec.ReturnId = n.ids.Next().Bytes(), id.Bytes()
	spec.Owner = actors.WirePID(n.OwnerPID)
	slot := n.Owner.Pending(id, nil, "")
	n.System.Root.Send(n.Raylet, spec)
	return slot
}

type outcome struct {
	data      []byte
	storeNode string
	size      int64
	err       *pb.Error
}

// await waits for slot to complete.
func (n *testNode) await(slot *objects.Slot) outcome {
	n.t.Helper()
	select {
	case <-slot.Done():
	case <-time.After(testWait):
		n.t.Fatalf("no result for object %s within %v", slot.ID, testWait)
	}
	data, storeNode, size, perr, _ := slot.Value()
	return outcome{data, storeNode, size, perr}
}

// awaitValue waits for slot and fails the test unless it holds a value.
func (n *testNode) awaitValue(slot *objects.Slot) []byte {
	n.t.Helper()
	o := n.await(slot)
	if o.err != nil {
		n.t.Fatalf("object %s: error %v: %s", slot.ID, o.err.Kind, o.err.Message)
	}
	return o.data
}

// request sends msg to pid and returns the reply.
func (n *testNode) request(pid *actor.PID, msg any) any {
	n.t.Helper()
	res, err := n.System.Root.RequestFuture(pid, msg, testWait).Result()
	if err != nil {
		n.t.Fatalf("request %T to %s: %v", msg, pid.Id, err)
	}
	return res
}

// cpuReq is a wire resource request for f CPUs.
func cpuReq(f float64) map[string]int64 {
	return map[string]int64{placement.CPU: int64(f * float64(placement.Unit))}
}

// gate blocks functions until it is opened; opening twice is harmless.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate  { return &gate{ch: make(chan struct{})} }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }
func (g *gate) wait() { <-g.ch }

// waitUntil polls cond until it holds or testWait passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStartEmbeddedInvalidConfig(t *testing.T) {
	reg := actors.NewRegistry()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no registry", Config{}},
		{"negative CPU", Config{Registry: reg, Resources: map[string]float64{"CPU": -1}}},
		{"fractional GPUs", Config{Registry: reg, Resources: map[string]float64{"GPU": 1.5}}},
		{"bad resource name", Config{Registry: reg, Resources: map[string]float64{"": 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.SpillDir = t.TempDir()
			n, err := StartEmbedded(tt.cfg)
			if err == nil {
				_ = n.Stop(context.Background())
				t.Fatal("StartEmbedded accepted an invalid config")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestStartEmbeddedRegistersWithPlacement(t *testing.T) {
	tests := []struct {
		name      string
		resources map[string]float64
		wantCPU   placement.Quantity
	}{
		{"explicit CPUs", map[string]float64{"CPU": 3, "GPU": 2, "disk": 0.5}, 3 * placement.Unit},
		{"CPU defaults to the machine", nil, placement.Quantity(runtime.NumCPU()) * placement.Unit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startTestNode(t, Config{Resources: tt.resources, Labels: map[string]string{"zone": "a"}})
			if got := n.Total[placement.CPU]; got != tt.wantCPU {
				t.Errorf("Total CPU = %v, want %v", got, tt.wantCPU)
			}
			if id, err := hex.DecodeString(n.ID); err != nil || len(id) != 8 {
				t.Errorf("node ID %q is not 16 hex digits", n.ID)
			}
			// The node reaches the placement actor through the GCS; a pick
			// by label names it once it has arrived.
			var reply *pb.PickNodeReply
			waitUntil(t, "node registered with placement", func() bool {
				reply = n.request(n.Placement, &pb.PickNode{Resources: cpuReq(1), Labels: map[string]string{"zone": "a"}}).(*pb.PickNodeReply)
				return reply.Error == nil
			})
			got := reply.Node
			if got.NodeId != n.ID || got.Raylet.Id != RayletProcessID || got.Store.Id != objects.StoreProcessID || !got.Alive {
				t.Errorf("placement knows the node as %v", got)
			}
			if placement.FromWire(got.Total)[placement.CPU] != tt.wantCPU {
				t.Errorf("registered total %v", got.Total)
			}
		})
	}
}

func TestNodeIDsAreFresh(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewNodeID()
		if seen[id] {
			t.Fatalf("NewNodeID repeated %s", id)
		}
		seen[id] = true
	}
}

func TestNodeStopRemovesOwnedSpillDir(t *testing.T) {
	tests := []struct {
		name     string
		ownDir   bool
		wantGone bool
	}{
		{"temporary spill dir", false, true},
		{"caller's spill dir", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{
				Registry:  actors.NewRegistry(),
				Resources: map[string]float64{"CPU": 1},
				// A tiny store spills the second object, creating the directory.
				ObjectStoreCapacity: 64,
			}
			if tt.ownDir {
				// A directory that exists before the node is the caller's.
				cfg.SpillDir = filepath.Join(t.TempDir(), "spill")
				if err := os.Mkdir(cfg.SpillDir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			n, err := StartEmbedded(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tn := &testNode{Node: n, t: t, ids: objects.NewIDGen()}
			for range 2 {
				id := tn.ids.Next()
				n.System.Root.Send(n.Store, &pb.PutObject{ObjectId: id.Bytes(), Data: make([]byte, 60)})
			}
			// Spills are written in the background.
			waitUntil(t, "one object spilled", func() bool {
				stats := tn.request(n.Store, &pb.GetStoreStats{}).(*pb.StoreStats)
				return stats.Objects == 2 && stats.Spilled == 1
			})
			dir := n.spillDir
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("spill dir: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testWait)
			defer cancel()
			if err := n.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			_, err = os.Stat(dir)
			if gone := errors.Is(err, os.ErrNotExist); gone != tt.wantGone {
				t.Errorf("spill dir removed = %v, want %v (stat: %v)", gone, tt.wantGone, err)
			}
		})
	}
}

func TestNodeDiscoversGPUs(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want placement.Quantity
	}{
		{"discovered", Config{GPUs: &gpu.Fake{Devs: []gpu.Device{{Index: 0}, {Index: 1}}}}, 2 * placement.Unit},
		{"none", Config{GPUs: &gpu.Fake{}}, 0},
		{"discovery fails", Config{GPUs: &gpu.Fake{Err: errors.New("no driver")}}, 0},
		{"configured wins", Config{Resources: map[string]float64{"GPU": 1}, GPUs: &gpu.Fake{Devs: []gpu.Device{{}, {}, {}}}}, placement.Unit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := startTestNode(t, tc.cfg)
			if got := n.Total[placement.GPU]; got != tc.want {
				t.Fatalf("GPU total %v, want %v", got, tc.want)
			}
		})
	}
}

// heapGoal runs a collection and returns the heap size at which the next
// one will start.
func heapGoal() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestHeapFloor: a node's heap floor raises the collector's goal by the
// floor (times 1 + GOGC/100) while the node runs, and no longer.
func TestHeapFloor(t *testing.T) {
	gogc := debug.SetGCPercent(100)
	debug.SetGCPercent(gogc)
	if gogc <= 0 {
		t.Skip("GOGC=off: the collector has no goal to raise")
	}
	growth := 1 + float64(gogc)/100
	tests := []struct {
		name  string
		floor int64
		want  int64
	}{
		{"default", 0, DefaultHeapFloor},
		{"set", 256 << 20, 256 << 20},
		{"none", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := heapGoal()
			n, err := StartEmbedded(Config{Registry: actors.NewRegistry(), Resources: map[string]float64{"CPU": 1}, HeapFloor: tt.floor})
			if err != nil {
				t.Fatal(err)
			}
			during := heapGoal()
			if err := n.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			after := heapGoal()
			raised := float64(during - before)
			// The node's own memory raises the goal a little too.
			if want := float64(tt.want) * growth; raised < 0.9*want-(2<<20) || raised > want+float64(DefaultHeapFloor) {
				t.Errorf("the goal rose by %.0f MiB while the node ran, want about %.0f MiB", raised/(1<<20), want/(1<<20))
			}
			if fell := float64(during - after); fell < 0.9*float64(tt.want)*growth-(2<<20) {
				t.Errorf("the goal fell by %.0f MiB once the node stopped, want about %.0f MiB", fell/(1<<20), float64(tt.want)*growth/(1<<20))
			}
		})
	}
}
