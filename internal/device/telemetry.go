package device

import (
	"context"
	"fmt"
	"slices"
)

// Telemetry is one device's live readings. A figure the device cannot
// report is negative.
type Telemetry struct {
	Index              int
	Utilization        float64 // busy share of the compute units, 0..1
	MemoryUsedBytes    float64
	PowerWatts         float64
	TemperatureCelsius float64
	Healthy            bool
}

// TelemetryReader is implemented by discoverers that read live device
// figures (the agent's per-device metrics). Results are sorted by Index.
type TelemetryReader interface {
	Telemetry(ctx context.Context) ([]Telemetry, error)
}

var (
	_ TelemetryReader = (*Fake)(nil)
	_ TelemetryReader = (*Ascend)(nil)
)

// Telemetry returns deterministic readings for fake device i: utilisation
// (i mod 4)/4, a quarter of its memory used, 100+10·i W and 40+i °C, and
// the health it was discovered with.
func (f *Fake) Telemetry(ctx context.Context) ([]Telemetry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Telemetry, len(f.devices))
	for i, d := range f.devices {
		out[i] = Telemetry{
			Index:              d.Index,
			Utilization:        float64(d.Index%4) / 4,
			MemoryUsedBytes:    float64(d.HBMMiB<<20) / 4,
			PowerWatts:         100 + 10*float64(d.Index),
			TemperatureCelsius: 40 + float64(d.Index),
			Healthy:            d.Healthy,
		}
	}
	return out, nil
}

// Telemetry runs `npu-smi info` (and `npu-smi info -m` for the indexes)
// and returns each chip's AICore utilisation, HBM used, power, temperature
// and health. Without npu-smi it returns nothing.
func (a *Ascend) Telemetry(ctx context.Context) ([]Telemetry, error) {
	o, err := a.readNPUSMI(ctx)
	if o == nil || err != nil {
		return nil, err
	}
	info, m := o.info, o.chipMap
	out, err := ParseNPUSMITelemetry(info, m)
	if err != nil && m != nil {
		out, err = ParseNPUSMITelemetry(info, nil)
	}
	return out, err
}

// ParseNPUSMITelemetry reads the live figures of `npu-smi info` (chipMap as
// for ParseNPUSMI): Power(W), Temp(C), AICore(%) and the used side of the
// last memory pair (HBM where there is HBM).
func ParseNPUSMITelemetry(info, chipMap []byte) ([]Telemetry, error) {
	t, logic, err := parseNPUSMIOutputs(info, chipMap)
	if err != nil {
		return nil, err
	}
	out := make([]Telemetry, 0, len(t.Chips))
	for i, c := range t.Chips {
		idx, err := chipIndex(i, c, logic)
		if err != nil {
			return nil, err
		}
		util := c.aicorePct
		if util >= 0 {
			util /= 100
		}
		if util > 1 {
			return nil, fmt.Errorf("npu-smi info line %d: AICore %.0f%% is above 100", c.line, c.aicorePct)
		}
		out = append(out, Telemetry{Index: idx, Utilization: util, MemoryUsedBytes: float64(c.memUsedMiB << 20),
			PowerWatts: c.powerW, TemperatureCelsius: c.tempC, Healthy: c.Health == "OK"})
	}
	slices.SortFunc(out, func(a, b Telemetry) int { return a.Index - b.Index })
	return out, nil
}
