package gpu

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestVisibleDevices(t *testing.T) {
	tests := []struct {
		ids  []int
		want string
	}{
		{nil, ""}, {[]int{0}, "0"}, {[]int{0, 2}, "0,2"}, {[]int{3, 1, 10}, "3,1,10"},
	}
	for _, tt := range tests {
		if got := VisibleDevices(tt.ids); got != tt.want {
			t.Errorf("VisibleDevices(%v) = %q, want %q", tt.ids, got, tt.want)
		}
	}
}

func TestFakeAndDetect(t *testing.T) {
	two := []Device{{Index: 0, UUID: "GPU-a", Name: "T4", MemoryTotal: 16 << 30}, {Index: 1, UUID: "GPU-b", Name: "T4"}}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		fake    *Fake
		ctx     context.Context
		want    int
		wantErr error
		index   int
		util    [2]uint32
		utilErr error
	}{
		{"two devices", &Fake{Devs: two, Util: map[int][2]uint32{1: {40, 75}}}, context.Background(), 2, nil, 1, [2]uint32{40, 75}, nil},
		{"no util entry", &Fake{Devs: two}, context.Background(), 2, nil, 0, [2]uint32{}, nil},
		{"unknown index", &Fake{Devs: two}, context.Background(), 2, nil, 5, [2]uint32{}, ErrNoDevice},
		{"none", &Fake{}, context.Background(), 0, nil, 0, [2]uint32{}, ErrNoDevice},
		{"error", &Fake{Devs: two, Err: boom}, context.Background(), 0, boom, 0, [2]uint32{}, boom},
		{"cancelled", &Fake{Devs: two}, cancelled, 0, context.Canceled, 0, [2]uint32{}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs, err := tt.fake.Devices(tt.ctx)
			if !errors.Is(err, tt.wantErr) || (err == nil && len(devs) != tt.want) {
				t.Fatalf("Devices = %v, %v; want %d devices, %v", devs, err, tt.want, tt.wantErr)
			}
			if got := Detect(tt.ctx, tt.fake); got != tt.want {
				t.Fatalf("Detect = %d, want %d", got, tt.want)
			}
			g, m, err := tt.fake.Utilization(tt.ctx, tt.index)
			if !errors.Is(err, tt.utilErr) || [2]uint32{g, m} != tt.util {
				t.Fatalf("Utilization = %d, %d, %v; want %v, %v", g, m, err, tt.util, tt.utilErr)
			}
		})
	}
	// Devices returns a copy.
	f := &Fake{Devs: two}
	devs, _ := f.Devices(context.Background())
	devs[0].UUID = "changed"
	if f.Devs[0].UUID != "GPU-a" {
		t.Fatal("Devices shares the fake's slice")
	}
}

func TestUnitsAndVisibleUnits(t *testing.T) {
	devs := []Device{
		{Index: 0, UUID: "GPU-a", Name: "A100", MemoryTotal: 40, MIGEnabled: true,
			MIG: []MIGDevice{{ID: 1, Profile: "1g.5gb", MemoryTotal: 5, UUID: "MIG-a1"}, {ID: 2, Profile: "3g.20gb", MemoryTotal: 20}}},
		{Index: 1, UUID: "GPU-b", Name: "A100", MemoryTotal: 40},
		{Index: 2, UUID: "GPU-c", Name: "A100", MemoryTotal: 40, MIGEnabled: true},
	}
	units := Units(devs)
	wantUnits := []Unit{
		{UUID: "MIG-a1", Device: 0, MIG: 1, Name: "A100 MIG 1g.5gb", MemoryTotal: 5},
		{UUID: "GPU-b", Device: 1, MIG: -1, Name: "A100", MemoryTotal: 40},
		{UUID: "GPU-c", Device: 2, MIG: -1, Name: "A100", MemoryTotal: 40},
	}
	if !slices.Equal(units, wantUnits) {
		t.Fatalf("Units = %+v\nwant %+v", units, wantUnits)
	}
	tests := []struct {
		ids  []int
		want string
	}{
		{nil, ""},
		{[]int{1, 2}, "1,2"},
		{[]int{2}, "2"},
		{[]int{0}, "MIG-a1"},
		{[]int{1, 0}, "GPU-b,MIG-a1"},
		{[]int{5}, "5"},
	}
	for _, tt := range tests {
		if got := VisibleUnits(units, tt.ids); got != tt.want {
			t.Errorf("VisibleUnits(%v) = %q, want %q", tt.ids, got, tt.want)
		}
	}
}

func TestFakeSample(t *testing.T) {
	f := &Fake{
		Devs: []Device{
			{Index: 0, UUID: "GPU-a", MemoryTotal: 1000, MIGEnabled: true, MIG: []MIGDevice{{ID: 0, MemoryTotal: 200, UUID: "MIG-a0"}}},
			{Index: 1, UUID: "GPU-b", MemoryTotal: 1000},
		},
		Util: map[int][2]uint32{0: {90, 50}, 1: {30, 25}},
	}
	got, err := f.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		uuid      string
		util      float64
		used, tot uint64
	}{{"MIG-a0", -1, 100, 200}, {"GPU-b", 30, 250, 1000}}
	if len(got) != len(want) {
		t.Fatalf("samples %+v", got)
	}
	for i, w := range want {
		if g := got[i]; g.Index != i || g.Unit.UUID != w.uuid || g.Utilization != w.util || g.MemoryUsed != w.used || g.MemoryTotal != w.tot {
			t.Errorf("sample %d = %+v, want %+v", i, g, w)
		}
	}
	f.Err = ErrNVML
	if _, err := f.Sample(context.Background()); !errors.Is(err, ErrNVML) {
		t.Fatalf("failing fake: %v", err)
	}
}
