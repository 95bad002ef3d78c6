package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeNVML is an nvmlLib with canned answers.
type fakeNVML struct {
	initErr  error
	devices  []nvmlDeviceInfo
	failing  map[int]error
	shutdown int
	// For Health: the conditions per device and the Xid events that
	// arrive before each Events call (one slice per poll).
	health map[int]nvmlHealth
	polls  [][]nvmlEvent
}

func (f *fakeNVML) Health(i int) (nvmlHealth, error) {
	if err := f.failing[i]; err != nil {
		return nvmlHealth{}, err
	}
	return f.health[i], nil
}

func (f *fakeNVML) Events() ([]nvmlEvent, error) {
	if len(f.polls) == 0 {
		return nil, nil
	}
	e := f.polls[0]
	f.polls = f.polls[1:]
	return e, nil
}

func (f *fakeNVML) Init() error     { return f.initErr }
func (f *fakeNVML) Shutdown() error { f.shutdown++; return nil }
func (f *fakeNVML) Count() (int, error) {
	return len(f.devices), nil
}
func (f *fakeNVML) Device(i int) (nvmlDeviceInfo, error) {
	if err := f.failing[i]; err != nil {
		return nvmlDeviceInfo{}, err
	}
	return f.devices[i], nil
}

func withFakeNVML(f *fakeNVML) Option {
	return func(c *config) { c.nvml = func(string) nvmlLib { return f } }
}

func logTo(buf *bytes.Buffer) Option {
	return WithLogger(slog.New(slog.NewTextHandler(buf, nil)))
}

func TestNVIDIAMapping(t *testing.T) {
	f := &fakeNVML{
		devices: []nvmlDeviceInfo{
			{Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-a", MemoryBytes: 81559 << 20},
			{Name: "NVIDIA H200", UUID: "GPU-b", MemoryBytes: 143771 << 20, RemapFailure: true},
			{Name: "NVIDIA H20", UUID: "GPU-c", MemoryBytes: 97871 << 20},
			{Name: "NVIDIA A100-SXM4-80GB", UUID: "GPU-d", MemoryBytes: 81920 << 20},
			{Name: "x"},
		},
		failing: map[int]error{4: errors.New("ERROR_GPU_IS_LOST")},
	}
	var logs bytes.Buffer
	ds, err := NewNVIDIA(withFakeNVML(f), logTo(&logs)).Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{
		{Index: 0, Kind: "H100", Vendor: "NVIDIA", UUID: "GPU-a", HBMMiB: 81559, Healthy: true},
		{Index: 1, Kind: "H200", Vendor: "NVIDIA", UUID: "GPU-b", HBMMiB: 143771, Healthy: false},
		{Index: 2, Kind: "H20", Vendor: "NVIDIA", UUID: "GPU-c", HBMMiB: 97871, Healthy: true},
		{Index: 3, Kind: "NVIDIA A100-SXM4-80GB", Vendor: "NVIDIA", UUID: "GPU-d", HBMMiB: 81920, Healthy: true},
		{Index: 4, Kind: "unknown", Vendor: "NVIDIA", Healthy: false},
	}
	if diff := cmp.Diff(want, ds); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}
	if f.shutdown != 1 {
		t.Errorf("Shutdown called %d times, want 1", f.shutdown)
	}
	if !strings.Contains(logs.String(), "ERROR_GPU_IS_LOST") {
		t.Errorf("log does not mention the failed device: %s", logs.String())
	}
}

func TestNVIDIAKind(t *testing.T) {
	cases := map[string]string{
		"NVIDIA H100 80GB HBM3":   "H100",
		"NVIDIA H100 PCIe":        "H100",
		"NVIDIA H100 NVL":         "H100",
		"NVIDIA H200":             "H200",
		"NVIDIA H200 NVL":         "H200",
		"NVIDIA H20":              "H20",
		"NVIDIA H20-3e":           "H20",
		"NVIDIA GH200 480GB":      "NVIDIA GH200 480GB",
		"NVIDIA H800":             "NVIDIA H800",
		"  Tesla V100-SXM2-32GB ": "Tesla V100-SXM2-32GB",
		"":                        "unknown",
	}
	for in, want := range cases {
		if got := NVIDIAKind(in); got != want {
			t.Errorf("NVIDIAKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNVIDIAInitError(t *testing.T) {
	f := &fakeNVML{initErr: errors.New("ERROR_NO_PERMISSION")}
	_, err := NewNVIDIA(withFakeNVML(f)).Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ERROR_NO_PERMISSION") {
		t.Errorf("Discover error = %v, want the init failure", err)
	}
	var logs bytes.Buffer
	f = &fakeNVML{initErr: fmt.Errorf("wrapped: %w", &nvmlAbsentError{"no lib"})}
	ds, err := NewNVIDIA(withFakeNVML(f), logTo(&logs)).Discover(context.Background())
	if err != nil || ds != nil || strings.Count(logs.String(), "NVML not available") != 1 {
		t.Errorf("absent NVML gave %v, %v, log %q", ds, err, logs.String())
	}
}

// TestNVIDIALibraryAbsent runs the real go-nvml loader against a library
// that does not exist: no panic, no devices, no error, one clear log line.
func TestNVIDIALibraryAbsent(t *testing.T) {
	var logs bytes.Buffer
	d := NewNVIDIA(WithNVMLLibraryPath(t.TempDir()+"/libnvidia-ml.so.1"), logTo(&logs))
	ds, err := d.Discover(context.Background())
	if err != nil || len(ds) != 0 {
		t.Fatalf("Discover = %v, %v; want no devices and no error", ds, err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "NVML not available: ") || !strings.Contains(lines[0], "; no NVIDIA devices") {
		t.Errorf("want one 'NVML not available: ...; no NVIDIA devices' line, got %q", logs.String())
	}
	t.Log(lines[0])
}

// TestNVIDIADefaultLibrary uses the default library name. On this project's
// machines there is none; on a GPU machine the devices must be sane.
func TestNVIDIADefaultLibrary(t *testing.T) {
	var logs bytes.Buffer
	ds, err := NewNVIDIA(logTo(&logs)).Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) == 0 {
		if !strings.Contains(logs.String(), "NVML not available") {
			t.Errorf("no devices and no 'NVML not available' line: %q", logs.String())
		}
		return
	}
	for i, d := range ds {
		if d.Index != i || d.Vendor != "NVIDIA" || d.Kind == "" || (d.Healthy && (d.UUID == "" || d.HBMMiB <= 0)) {
			t.Errorf("device %d = %+v", i, d)
		}
	}
	t.Logf("found %d NVIDIA devices: %+v", len(ds), ds)
}
