//go:build !cgo

package device

// openNVML returns an NVML that is always absent: go-nvml loads the library
// with dlopen, which needs cgo.
func openNVML(string) nvmlLib { return absentNVML{} }

type absentNVML struct{}

func (absentNVML) Init() error {
	return &nvmlAbsentError{"binary built without cgo, cannot load libnvidia-ml.so"}
}
func (absentNVML) Shutdown() error                    { return nil }
func (absentNVML) Count() (int, error)                { return 0, absentNVML{}.Init() }
func (absentNVML) Device(int) (nvmlDeviceInfo, error) { return nvmlDeviceInfo{}, absentNVML{}.Init() }
func (absentNVML) Health(int) (nvmlHealth, error)     { return nvmlHealth{}, absentNVML{}.Init() }
func (absentNVML) Events() ([]nvmlEvent, error)       { return nil, absentNVML{}.Init() }
