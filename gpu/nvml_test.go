package gpu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// debugLogger records log lines in buf.
func debugLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mockDevice is a device whose every query succeeds.
func mockDevice(uuid string, total, used uint64, util uint32) *mock.Device {
	return &mock.Device{
		GetUUIDFunc:       func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
		GetNameFunc:       func() (string, nvml.Return) { return "Mock A100", nvml.SUCCESS },
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: total, Used: used}, nvml.SUCCESS },
		GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: util, Memory: 99}, nvml.SUCCESS
		},
	}
}

// mockLib serves devs; init is the result of Init.
func mockLib(init nvml.Return, devs ...nvml.Device) *mock.Interface {
	return &mock.Interface{
		InitFunc:     func() nvml.Return { return init },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) {
			return len(devs), nvml.SUCCESS
		},
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(devs) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nvml.SUCCESS
		},
	}
}

func TestNVMLDevices(t *testing.T) {
	healthy := mockLib(nvml.SUCCESS, mockDevice("GPU-0", 40<<30, 10<<30, 37), mockDevice("GPU-1", 80<<30, 0, 0))
	countFails := mockLib(nvml.SUCCESS)
	countFails.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	uuidFails := mockDevice("x", 1, 0, 0)
	uuidFails.GetUUIDFunc = func() (string, nvml.Return) { return "", nvml.ERROR_GPU_IS_LOST }
	// A mock with a query left unset panics when called, like a binding
	// whose library is missing.
	nameUnset := mockDevice("y", 1, 0, 0)
	nameUnset.GetNameFunc = nil
	initPanics := mockLib(nvml.SUCCESS)
	initPanics.InitFunc = func() nvml.Return { panic("libnvidia-ml.so.1: cannot open shared object file") }

	tests := []struct {
		name     string
		lib      *mock.Interface
		want     []Device
		wantErr  error
		wantLog  bool // "0 GPUs" logged
		wantInit int  // Init calls after two Devices calls
	}{
		{"two devices", healthy, []Device{
			{Index: 0, UUID: "GPU-0", Name: "Mock A100", MemoryTotal: 40 << 30},
			{Index: 1, UUID: "GPU-1", Name: "Mock A100", MemoryTotal: 80 << 30}}, nil, false, 1},
		{"library not found", mockLib(nvml.ERROR_LIBRARY_NOT_FOUND), []Device{}, nil, true, 1},
		{"driver not loaded", mockLib(nvml.ERROR_DRIVER_NOT_LOADED), []Device{}, nil, true, 1},
		{"init panics", initPanics, []Device{}, nil, true, 1},
		{"count fails", countFails, nil, ErrNVML, false, 1},
		{"uuid fails", mockLib(nvml.SUCCESS, uuidFails), nil, ErrNVML, false, 1},
		{"binding panics mid-query", mockLib(nvml.SUCCESS, nameUnset), nil, ErrNVML, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			d := newNVML(tt.lib, debugLogger(&buf))
			for range 2 {
				got, err := d.Devices(context.Background())
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Devices err = %v, want %v", err, tt.wantErr)
				}
				if err == nil && (got == nil || len(got) != len(tt.want)) {
					t.Fatalf("Devices = %#v, want %#v", got, tt.want)
				}
				for i := range tt.want {
					if !reflect.DeepEqual(got[i], tt.want[i]) {
						t.Fatalf("device %d = %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			}
			if n := len(tt.lib.InitCalls()); n != tt.wantInit {
				t.Fatalf("Init called %d times, want %d", n, tt.wantInit)
			}
			logs := strings.Count(buf.String(), "0 GPUs")
			if tt.wantLog && logs != 1 || !tt.wantLog && logs != 0 {
				t.Fatalf("\"0 GPUs\" logged %d times, want logged=%v:\n%s", logs, tt.wantLog, buf.String())
			}
		})
	}
}

func TestNVMLUtilization(t *testing.T) {
	utilFails := mockDevice("z", 1, 0, 0)
	utilFails.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED }
	lib := mockLib(nvml.SUCCESS, mockDevice("GPU-0", 40<<30, 10<<30, 37), mockDevice("GPU-1", 0, 0, 250), utilFails)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		lib      *mock.Interface
		ctx      context.Context
		index    int
		gpu, mem uint32
		wantErr  error
	}{
		{"busy device", lib, context.Background(), 0, 37, 25, nil},
		{"zero memory, clamped rate", lib, context.Background(), 1, 100, 0, nil},
		{"unsupported", lib, context.Background(), 2, 0, 0, ErrNVML},
		{"out of range", lib, context.Background(), 3, 0, 0, ErrNoDevice},
		{"negative", lib, context.Background(), -1, 0, 0, ErrNoDevice},
		{"no NVML", mockLib(nvml.ERROR_LIBRARY_NOT_FOUND), context.Background(), 0, 0, 0, ErrNoDevice},
		{"cancelled", lib, cancelled, 0, 0, 0, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newNVML(tt.lib, nil)
			g, m, err := d.Utilization(tt.ctx, tt.index)
			if !errors.Is(err, tt.wantErr) || g != tt.gpu || m != tt.mem {
				t.Fatalf("Utilization = %d, %d, %v; want %d, %d, %v", g, m, err, tt.gpu, tt.mem, tt.wantErr)
			}
		})
	}
}

func TestNVMLCloseReinitialises(t *testing.T) {
	lib := mockLib(nvml.SUCCESS, mockDevice("GPU-0", 1, 0, 0))
	d := newNVML(lib, nil)
	if err := d.Close(); err != nil || len(lib.ShutdownCalls()) != 0 {
		t.Fatalf("Close before use: %v, %d shutdowns", err, len(lib.ShutdownCalls()))
	}
	if n := Detect(context.Background(), d); n != 1 {
		t.Fatalf("Detect = %d", n)
	}
	if err := d.Close(); err != nil || len(lib.ShutdownCalls()) != 1 {
		t.Fatalf("Close: %v, %d shutdowns", err, len(lib.ShutdownCalls()))
	}
	if n := Detect(context.Background(), d); n != 1 || len(lib.InitCalls()) != 2 {
		t.Fatalf("after Close: Detect = %d, %d inits", n, len(lib.InitCalls()))
	}
	lib.ShutdownFunc = func() nvml.Return { return nvml.ERROR_UNKNOWN }
	if err := d.Close(); !errors.Is(err, ErrNVML) {
		t.Fatalf("failing shutdown: err = %v", err)
	}
}

// TestNVMLOnThisMachine runs the real binding. Without a driver it must
// report zero devices, log "0 GPUs" once and not panic; with one, every
// device must carry a UUID.
func TestNVMLOnThisMachine(t *testing.T) {
	var buf bytes.Buffer
	d := NewNVML(debugLogger(&buf))
	defer func() {
		if err := d.(io.Closer).Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var devs []Device
	for range 2 {
		var err error
		devs, err = d.Devices(context.Background())
		if err != nil {
			t.Fatalf("Devices: %v", err)
		}
	}
	if strings.Contains(buf.String(), "0 GPUs") {
		if len(devs) != 0 || strings.Count(buf.String(), "0 GPUs") != 1 {
			t.Fatalf("no NVML but %d devices; log:\n%s", len(devs), buf.String())
		}
		if _, _, err := d.Utilization(context.Background(), 0); !errors.Is(err, ErrNoDevice) {
			t.Fatalf("Utilization without NVML: %v", err)
		}
		if n := Detect(context.Background(), d); n != 0 {
			t.Fatalf("Detect = %d", n)
		}
		return
	}
	for _, dev := range devs {
		if dev.UUID == "" {
			t.Fatalf("device without UUID: %+v", dev)
		}
	}
}
