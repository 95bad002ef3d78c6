//go:build cgo

package device

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

const defaultNVMLLibrary = "libnvidia-ml.so.1"

// openNVML wraps go-nvml. Nothing is loaded until Init.
func openNVML(path string) nvmlLib {
	var opts []nvml.LibraryOption
	if path != "" {
		opts = append(opts, nvml.WithLibraryPath(path))
	} else {
		path = defaultNVMLLibrary
	}
	return &realNVML{lib: nvml.New(opts...), path: path}
}

type realNVML struct {
	lib  nvml.Interface
	path string
}

func (r *realNVML) Init() error {
	switch ret := r.lib.Init(); ret {
	case nvml.SUCCESS:
		return nil
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return &nvmlAbsentError{fmt.Sprintf("cannot load %s (%v)", r.path, ret)}
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return &nvmlAbsentError{fmt.Sprintf("%s loaded but the NVIDIA driver is not (%v)", r.path, ret)}
	default:
		return ret
	}
}

func (r *realNVML) Shutdown() error { return nvmlErr(r.lib.Shutdown()) }

func (r *realNVML) Count() (int, error) {
	n, ret := r.lib.DeviceGetCount()
	return n, nvmlErr(ret)
}

func (r *realNVML) Device(i int) (nvmlDeviceInfo, error) {
	d, ret := r.lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return nvmlDeviceInfo{}, fmt.Errorf("handle: %w", ret)
	}
	var info nvmlDeviceInfo
	if info.Name, ret = d.GetName(); ret != nvml.SUCCESS {
		return nvmlDeviceInfo{}, fmt.Errorf("name: %w", ret)
	}
	if info.UUID, ret = d.GetUUID(); ret != nvml.SUCCESS {
		return nvmlDeviceInfo{}, fmt.Errorf("uuid: %w", ret)
	}
	mem, ret := d.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return nvmlDeviceInfo{}, fmt.Errorf("memory info: %w", ret)
	}
	info.MemoryBytes = mem.Total
	// Row remapping exists from Ampere on; older GPUs say NOT_SUPPORTED.
	if _, _, pending, failed, ret := d.GetRemappedRows(); ret == nvml.SUCCESS {
		info.RemapFailure = pending || failed
	}
	return info, nil
}

func nvmlErr(ret nvml.Return) error {
	if ret == nvml.SUCCESS {
		return nil
	}
	return ret
}
