package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
)

// parseBytes reads a size in bytes: a plain number, or a number followed by
// a unit — KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of
// 1024); B is optional after K, M, G or T ("4G" is 4 GB).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	units := []struct {
		suffix string
		mult   float64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
		{"b", 1},
	}
	num, mult := strings.ToLower(t), 1.0
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KB, MB, GB, KiB, MiB, GiB…)", s)
	}
	b := v * mult
	if b < 0 {
		return 0, fmt.Errorf("%q: a size cannot be negative", s)
	}
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(b), nil
}

// formatBytes writes a byte count with a binary unit.
func formatBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for math.Abs(b) >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(b, 'f', -1, 64) + "B"
	}
	return strconv.FormatFloat(b, 'f', 1, 64) + units[i]
}

// reservedFlag returns the flag that sets a resource that has a flag of its
// own, or "".
func reservedFlag(name string) string {
	switch name {
	case "CPU":
		return "--num-cpus"
	case "GPU":
		return "--num-gpus"
	case "memory":
		return "--memory"
	}
	return ""
}

// parseResources reads --resources: a JSON object of custom resource names
// and amounts, e.g. {"TPU": 4, "disk_ssd": 1}.
func parseResources(s string) (map[string]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var m map[string]float64
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("--resources wants a JSON object of names and amounts, such as '{\"TPU\": 4}': %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch {
		case k == "":
			return nil, fmt.Errorf("--resources: empty resource name")
		case reservedFlag(k) != "":
			return nil, fmt.Errorf("--resources: set %s with %s", k, reservedFlag(k))
		case v < 0 || math.IsNaN(v) || math.IsInf(v, 0):
			return nil, fmt.Errorf("--resources: %s = %v: want a finite amount of 0 or more", k, v)
		}
	}
	return m, nil
}

// parseLabels reads --labels: a JSON object of strings ('{"zone": "a"}'),
// or comma-separated key=value pairs ("zone=a,disk=ssd").
func parseLabels(s string) (map[string]string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, nil
	}
	m := map[string]string{}
	if strings.HasPrefix(t, "{") {
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return nil, fmt.Errorf("--labels: not a JSON object of strings: %w", err)
		}
	} else {
		for pair := range strings.SplitSeq(t, ",") {
			k, v, ok := strings.Cut(pair, "=")
			k = strings.TrimSpace(k)
			if !ok {
				return nil, fmt.Errorf("--labels: %q is not key=value", pair)
			}
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("--labels: %q given twice", k)
			}
			m[k] = strings.TrimSpace(v)
		}
	}
	for k := range m {
		if k == "" {
			return nil, fmt.Errorf("--labels: empty label key")
		}
	}
	return m, nil
}

// checkAddress checks a host:port address.
func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q is not HOST:PORT: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port must be a number from 1 to 65535", addr)
	}
	return nil
}

// formatResources writes resources as "CPU 2, GPU 1, memory 4.0GiB",
// sorted by name, CPU, GPU and memory first.
func formatResources(m map[string]float64) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range resourceOrder(m) {
		parts = append(parts, k+" "+formatAmount(k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// formatUsage writes used/total per resource of total.
func formatUsage(used, total map[string]float64) string {
	if len(total) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range resourceOrder(total) {
		parts = append(parts, k+" "+formatAmount(k, used[k])+"/"+formatAmount(k, total[k]))
	}
	return strings.Join(parts, ", ")
}

func formatAmount(name string, v float64) string {
	if name == "memory" {
		return formatBytes(v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// resourceOrder sorts resource names: CPU, GPU, memory, then the rest.
func resourceOrder(m map[string]float64) []string {
	rank := func(k string) int {
		switch k {
		case "CPU":
			return 0
		case "GPU":
			return 1
		case "memory":
			return 2
		}
		return 3
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return keys
}

// formatLabels writes labels as k=v,k=v sorted by key.
func formatLabels(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
