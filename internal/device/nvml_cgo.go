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
	set  nvml.EventSet // nil until the first Events
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

func (r *realNVML) Shutdown() error {
	if r.set != nil {
		r.set.Free()
		r.set = nil
	}
	return nvmlErr(r.lib.Shutdown())
}

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

func (r *realNVML) Health(i int) (nvmlHealth, error) {
	d, ret := r.lib.DeviceGetHandleByIndex(i)
	if ret == nvml.ERROR_GPU_IS_LOST {
		return nvmlHealth{Lost: true}, nil
	}
	if ret != nvml.SUCCESS {
		return nvmlHealth{}, fmt.Errorf("handle: %w", ret)
	}
	var h nvmlHealth
	// ECC may be off or unsupported (NOT_SUPPORTED): then no counter.
	switch n, ret := d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC); ret {
	case nvml.SUCCESS:
		h.DBEVolatile = n
	case nvml.ERROR_GPU_IS_LOST:
		return nvmlHealth{Lost: true}, nil
	}
	if _, _, pending, failed, ret := d.GetRemappedRows(); ret == nvml.SUCCESS {
		h.RemapPending, h.RemapFailed = pending, failed
	}
	return h, nil
}

func (r *realNVML) Events() ([]nvmlEvent, error) {
	if r.set == nil {
		set, ret := r.lib.EventSetCreate()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("event set: %w", ret)
		}
		r.set = set
		n, ret := r.lib.DeviceGetCount()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("device count: %w", ret)
		}
		for i := range n {
			d, ret := r.lib.DeviceGetHandleByIndex(i)
			if ret != nvml.SUCCESS {
				continue
			}
			// Devices that do not support Xid events answer NOT_SUPPORTED.
			d.RegisterEvents(nvml.EventTypeXidCriticalError, set)
		}
	}
	var out []nvmlEvent
	for range 1024 {
		e, ret := r.set.Wait(0)
		if ret == nvml.ERROR_TIMEOUT {
			break
		}
		if ret != nvml.SUCCESS {
			return out, fmt.Errorf("event wait: %w", ret)
		}
		if e.EventType&nvml.EventTypeXidCriticalError == 0 || e.Device == nil {
			continue
		}
		idx, ret := e.Device.GetIndex()
		if ret != nvml.SUCCESS {
			continue
		}
		out = append(out, nvmlEvent{Index: idx, Xid: e.EventData})
	}
	return out, nil
}

func nvmlErr(ret nvml.Return) error {
	if ret == nvml.SUCCESS {
		return nil
	}
	return ret
}
