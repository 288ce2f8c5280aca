package gpu

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a Prometheus collector of a node's GPU use, named as Ray
// names its node metrics: goray_node_gpus_utilization (percent),
// goray_node_gram_used and goray_node_gram_available (bytes), one series
// per GPU unit labelled with the node ID and the unit's index, UUID and
// name. Each scrape samples the devices afresh; a unit that cannot be read
// makes the scrape report an error and its series are left out.
type Collector struct {
	d       Discoverer
	timeout time.Duration
	util    *prometheus.Desc
	used    *prometheus.Desc
	avail   *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// sampleTimeout bounds one scrape's sampling.
const sampleTimeout = 5 * time.Second

// NewCollector returns a collector sampling d for the node nodeID.
func NewCollector(d Discoverer, nodeID string) *Collector {
	labels := []string{"gpu_index", "gpu_uuid", "gpu_device_name"}
	node := prometheus.Labels{"node_id": nodeID}
	return &Collector{
		d: d, timeout: sampleTimeout,
		util: prometheus.NewDesc("goray_node_gpus_utilization",
			"Percentage of time the GPU was busy over the driver's last sample period (absent for MIG instances, which do not report it).", labels, node),
		used:  prometheus.NewDesc("goray_node_gram_used", "GPU memory in use, in bytes.", labels, node),
		avail: prometheus.NewDesc("goray_node_gram_available", "GPU memory free, in bytes.", labels, node),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.util
	ch <- c.used
	ch <- c.avail
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	samples, err := c.d.Sample(ctx)
	for _, s := range samples {
		lv := []string{strconv.Itoa(s.Index), s.Unit.UUID, s.Unit.Name}
		if s.Utilization >= 0 {
			ch <- prometheus.MustNewConstMetric(c.util, prometheus.GaugeValue, s.Utilization, lv...)
		}
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(s.MemoryUsed), lv...)
		ch <- prometheus.MustNewConstMetric(c.avail, prometheus.GaugeValue, float64(s.MemoryTotal-s.MemoryUsed), lv...)
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.used, err)
	}
}
