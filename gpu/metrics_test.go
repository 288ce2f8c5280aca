package gpu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goray-dev/goray/gpu/gpumock"
)

// TestCollectorOnDGXA100 scrapes a simulated DGX A100 whose device 0 is
// partitioned into two MIG instances: one series per unit, utilization
// only where the driver reports it, memory per device and per instance.
func TestCollectorOnDGXA100(t *testing.T) {
	server := dgxa100.New()
	dev0 := server.Devices[0].(*dgxa100.Device)
	if err := gpumock.Partition(dev0, nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_3_SLICE); err != nil {
		t.Fatal(err)
	}
	mig := gpumock.AddMIGDevices(dev0)
	mig.SetUsed(mig.UUIDs[1], 3<<30)
	for i, d := range server.Devices[1:] {
		dev := d.(*dgxa100.Device)
		busy := uint32(10 * (i + 1))
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: busy}, nvml.SUCCESS
		}
		dev.MemoryInfo.Used = uint64(i+1) << 30
	}
	c := NewCollector(NewNVMLWith(server, nil), "n1")

	var util, used, avail strings.Builder
	row := func(b *strings.Builder, index int, uuid, name string, v float64) {
		fmt.Fprintf(b, "%s{gpu_device_name=%q,gpu_index=\"%d\",gpu_uuid=%q,node_id=\"n1\"} %g\n", "", name, index, uuid, v)
	}
	const a100 = "Mock NVIDIA A100-SXM4-40GB"
	migMem := []uint64{4864 << 20, 19968 << 20} // the 1g and 3g profiles' memory
	for i, uuid := range mig.UUIDs {
		name := a100 + " MIG " + []string{"1g.5gb", "3g.20gb"}[i]
		u := []uint64{0, 3 << 30}[i]
		row(&used, i, uuid, name, float64(u))
		row(&avail, i, uuid, name, float64(migMem[i]-u))
	}
	for i, d := range server.Devices[1:] {
		dev := d.(*dgxa100.Device)
		row(&util, i+2, dev.UUID, a100, float64(10*(i+1)))
		row(&used, i+2, dev.UUID, a100, float64(uint64(i+1)<<30))
		row(&avail, i+2, dev.UUID, a100, float64(40<<30-uint64(i+1)<<30))
	}
	metric := func(name, help, rows string) string {
		return fmt.Sprintf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name) +
			strings.ReplaceAll(rows, "{gpu_device_name", name+"{gpu_device_name")
	}
	want := metric("goray_node_gpus_utilization",
		"Percentage of time the GPU was busy over the driver's last sample period (absent for MIG instances, which do not report it).", util.String()) +
		metric("goray_node_gram_used", "GPU memory in use, in bytes.", used.String()) +
		metric("goray_node_gram_available", "GPU memory free, in bytes.", avail.String())
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}

	// A device whose utilization cannot be read fails the scrape.
	server.Devices[3].(*dgxa100.Device).GetUtilizationRatesFunc = nil
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), server.Devices[3].(*dgxa100.Device).UUID) {
		t.Fatalf("scrape with an unreadable device: %v", err)
	}
}
