package cli

import (
	"maps"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: "1000", want: 1000},
		{in: "4GiB", want: 4 << 30},
		{in: "512 MiB", want: 512 << 20},
		{in: "1.5KiB", want: 1536},
		{in: "2GB", want: 2e9},
		{in: "2g", want: 2e9},
		{in: "3k", want: 3000},
		{in: "7B", want: 7},
		{in: "1e9", want: 1e9},
		{in: "", err: "empty"},
		{in: "lots", err: "not a size"},
		{in: "GiB", err: "not a size"},
		{in: "-1", err: "negative"},
		{in: "1e30", err: "too large"},
	} {
		got, err := parseBytes(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseBytes(%q) = %d, %v; want an error with %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("parseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseLabels(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]string
		err  string
	}{
		{in: "", want: nil},
		{in: "zone=a", want: map[string]string{"zone": "a"}},
		{in: "zone=a, disk=ssd", want: map[string]string{"zone": "a", "disk": "ssd"}},
		{in: "empty=", want: map[string]string{"empty": ""}},
		{in: `{"zone": "a", "k": "v=w"}`, want: map[string]string{"zone": "a", "k": "v=w"}},
		{in: "zone", err: "not key=value"},
		{in: "=a", err: "empty label key"},
		{in: "a=1,a=2", err: "given twice"},
		{in: `{"zone": 1}`, err: "not a JSON object of strings"},
	} {
		got, err := parseLabels(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseLabels(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || !maps.Equal(got, c.want)):
			t.Errorf("parseLabels(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestParseResources(t *testing.T) {
	for _, c := range []struct {
		in   string
		want map[string]float64
		err  string
	}{
		{in: "", want: nil},
		{in: `{"TPU": 4, "ssd": 0.5}`, want: map[string]float64{"TPU": 4, "ssd": 0.5}},
		{in: `{"CPU": 2}`, err: "--num-cpus"},
		{in: `{"GPU": 2}`, err: "--num-gpus"},
		{in: `{"memory": 2}`, err: "--memory"},
		{in: `{"TPU": -1}`, err: "0 or more"},
		{in: `{"": 1}`, err: "empty resource name"},
		{in: `TPU=4`, err: "JSON object"},
		{in: `{"TPU": "4"}`, err: "JSON object"},
	} {
		got, err := parseResources(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseResources(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || !maps.Equal(got, c.want)):
			t.Errorf("parseResources(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{formatBytes(512), "512B"},
		{formatBytes(1 << 30), "1.0GiB"},
		{formatResources(map[string]float64{"b": 1, "CPU": 2, "memory": 1 << 20, "GPU": 1, "a": 0.5}), "CPU 2, GPU 1, memory 1.0MiB, a 0.5, b 1"},
		{formatResources(nil), "-"},
		{formatUsage(map[string]float64{"CPU": 1.5}, map[string]float64{"CPU": 4, "TPU": 1}), "CPU 1.5/4, TPU 0/1"},
		{formatLabels(map[string]string{"z": "1", "a": "2"}), "a=2,z=1"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
