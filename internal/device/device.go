package device

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Device is one accelerator as the node's runtime sees it. Values are plain
// data: safe to copy and to share read-only between goroutines.
type Device struct {
	// Index is the device index as the runtime numbers it: the value that
	// CUDA_VISIBLE_DEVICES or ASCEND_RT_VISIBLE_DEVICES take.
	Index int
	// Kind is the chip kind name as in Qun's catalog ("H100", "H200",
	// "H20", "910", "910B", "910C", "950DT"), or the product name as the
	// vendor tool reports it when the kind is unknown.
	Kind string
	// Vendor is "NVIDIA", "Huawei" or "fake".
	Vendor string
	// UUID identifies the device. See each discoverer for its source.
	UUID string
	// HBMMiB is the device memory in MiB.
	HBMMiB int64
	// Healthy is false when the vendor tool reports a fault.
	Healthy bool
}

// Vendor names used in Device.Vendor.
const (
	VendorNVIDIA = "NVIDIA"
	VendorHuawei = "Huawei"
	VendorFake   = "fake"
)

// Discoverer finds the accelerators of one vendor on this node.
//
// Discover returns the devices sorted by Index. A discoverer whose vendor
// library or tool is absent returns no devices and a nil error (it logs one
// line saying so); an error means the vendor stack is present but failed.
// Implementations are safe for concurrent use.
type Discoverer interface {
	Name() string
	Discover(ctx context.Context) ([]Device, error)
}

// Option configures a discoverer built by New or by a NewX constructor.
// Options that do not apply to a discoverer are ignored by it.
type Option func(*config)

type config struct {
	logger      *slog.Logger
	timeout     time.Duration
	npuSMI      string
	nvmlLibrary string
	nvml        func(path string) nvmlLib // test hook; nil means the real library
	fakeFaults  string
}

func newConfig(opts []Option) config {
	c := config{
		logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		timeout: 10 * time.Second,
		npuSMI:  "npu-smi",
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithLogger makes the discoverer log through l. Without it nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithTimeout bounds each run of a vendor tool (npu-smi); the default is 10 s.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithNPUSMIPath sets the npu-smi executable: a path, or a name looked up in
// PATH (the default is "npu-smi").
func WithNPUSMIPath(path string) Option {
	return func(c *config) { c.npuSMI = path }
}

// WithNVMLLibraryPath sets the NVML shared library to load instead of the
// default libnvidia-ml.so.1 found by the dynamic loader.
func WithNVMLLibraryPath(path string) Option {
	return func(c *config) { c.nvmlLibrary = path }
}

// Factory builds a discoverer. arg is the plugin's argument (the device spec
// for "fake"; ignored by the others).
type Factory func(arg string, opts ...Option) (Discoverer, error)

var factories = map[string]Factory{
	"fake": func(arg string, opts ...Option) (Discoverer, error) { return NewFake(arg, opts...) },
	"nvidia": func(_ string, opts ...Option) (Discoverer, error) {
		return NewNVIDIA(opts...), nil
	},
	"ascend": func(_ string, opts ...Option) (Discoverer, error) {
		return NewAscend(opts...), nil
	},
}

// Names returns the names of the discoverer plugins, sorted.
func Names() []string {
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New builds the discoverer plugin called name ("fake", "nvidia", "ascend").
func New(name, arg string, opts ...Option) (Discoverer, error) {
	f, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown device plugin %q (allowed: %s)", name, strings.Join(Names(), ", "))
	}
	return f(arg, opts...)
}
