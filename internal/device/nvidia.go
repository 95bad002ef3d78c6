package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unicode"
)

// nvmlAbsentError says there is no usable NVML on this node: the library is
// missing, the build has no cgo, or no driver is loaded. It is not a failure.
type nvmlAbsentError struct{ reason string }

func (e *nvmlAbsentError) Error() string { return e.reason }

// nvmlLib is the part of NVML the NVIDIA discoverer uses. The real one wraps
// github.com/NVIDIA/go-nvml (nvml_cgo.go); tests use a fake.
type nvmlLib interface {
	// Init loads and initialises NVML. An *nvmlAbsentError means there is
	// no usable NVML on this node.
	Init() error
	Shutdown() error
	Count() (int, error)
	// Device reports the device the runtime numbers i.
	Device(i int) (nvmlDeviceInfo, error)
	// Health reports device i's standing conditions.
	Health(i int) (nvmlHealth, error)
	// Events returns the Xid events that arrived since the last call,
	// without waiting. The first call registers every device for them.
	Events() ([]nvmlEvent, error)
}

// nvmlHealth is what the health poll reads of one device.
type nvmlHealth struct {
	Lost         bool   // NVML_ERROR_GPU_IS_LOST: fell off the bus
	DBEVolatile  uint64 // uncorrected ECC errors since the last reset
	RemapPending bool
	RemapFailed  bool
}

// nvmlEvent is one Xid event.
type nvmlEvent struct {
	Index int
	Xid   uint64
}

// nvmlDeviceInfo is what NVML tells about one device.
type nvmlDeviceInfo struct {
	Name        string
	UUID        string
	MemoryBytes uint64
	// RemapFailure is true when row remapping failed or a remap is pending
	// (the GPU needs a reset). False where NVML does not support the query.
	RemapFailure bool
}

// NVIDIA discovers NVIDIA GPUs through NVML. Each Discover loads and
// initialises NVML and shuts it down again; calls are serialised.
type NVIDIA struct {
	mu      sync.Mutex
	log     *slog.Logger
	libPath string
	open    func(path string) nvmlLib

	// The health session stays open between polls so that no Xid event
	// is missed; xids counts the events per device and Xid.
	session nvmlLib
	absent  bool
	xids    map[int]map[uint64]int
}

var _ HealthChecker = (*NVIDIA)(nil)

// NewNVIDIA returns the NVML discoverer. It builds and runs without the NVIDIA
// library: where libnvidia-ml.so is absent (or the binary was built without
// cgo) Discover logs one line and returns no devices.
func NewNVIDIA(opts ...Option) *NVIDIA {
	c := newConfig(opts)
	open := c.nvml
	if open == nil {
		open = openNVML
	}
	return &NVIDIA{log: c.logger, libPath: c.nvmlLibrary, open: open}
}

// Name returns "nvidia".
func (n *NVIDIA) Name() string { return "nvidia" }

// Discover lists the GPUs NVML reports. A device whose queries fail is
// returned with Healthy false and Kind "unknown" rather than dropped, so the
// node still shows the broken slot.
func (n *NVIDIA) Discover(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	lib := n.open(n.libPath)
	if err := lib.Init(); err != nil {
		if absent := (*nvmlAbsentError)(nil); errors.As(err, &absent) {
			n.log.Info(fmt.Sprintf("NVML not available: %v; no NVIDIA devices", err))
			return nil, nil
		}
		return nil, fmt.Errorf("nvml init: %w", err)
	}
	defer func() {
		if err := lib.Shutdown(); err != nil {
			n.log.Warn("nvml shutdown failed", "err", err)
		}
	}()
	count, err := lib.Count()
	if err != nil {
		return nil, fmt.Errorf("nvml device count: %w", err)
	}
	out := make([]Device, 0, count)
	for i := range count {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := lib.Device(i)
		if err != nil {
			n.log.Warn("nvml device query failed; reporting it unhealthy", "index", i, "err", err)
			out = append(out, Device{Index: i, Kind: "unknown", Vendor: VendorNVIDIA})
			continue
		}
		out = append(out, Device{
			Index:   i,
			Kind:    NVIDIAKind(info.Name),
			Vendor:  VendorNVIDIA,
			UUID:    info.UUID,
			HBMMiB:  int64(info.MemoryBytes >> 20),
			Healthy: !info.RemapFailure,
		})
	}
	return out, nil
}

// NVIDIAKind maps an NVML product name to a catalog kind: "NVIDIA H100 80GB
// HBM3" and "NVIDIA H100 PCIe" to "H100", "NVIDIA H200 NVL" to "H200",
// "NVIDIA H20" to "H20". Other names come back trimmed, as the product name.
func NVIDIAKind(product string) string {
	fields := strings.FieldsFunc(strings.ToUpper(product), func(r rune) bool {
		return unicode.IsSpace(r) || r == '-' || r == '_' || r == '/'
	})
	for _, f := range fields {
		switch f {
		case "H100", "H200", "H20":
			return f
		}
	}
	if p := strings.TrimSpace(product); p != "" {
		return p
	}
	return "unknown"
}
