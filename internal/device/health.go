package device

import (
	"context"
	"slices"
)

// Fault is one fault code a device reports: "SOURCE:CODE" as the tables of
// internal/fault name them ("xid:48", "nvml:dbe", "npu-smi:Alarm",
// "ascend:80E18402", "fake:reset-device").
type Fault struct {
	Code string
	// Count is how many times the fault has occurred since the reporter
	// started: 1 for a standing condition (an ECC counter above zero, a
	// line of the fake fault file), the number of events for an event
	// (NVML Xid events).
	Count int
}

// Health is the faults of one device at a poll. A device with no faults
// is healthy as far as its vendor tool can tell.
type Health struct {
	Index  int
	Faults []Fault
}

// HealthChecker is a Discoverer that can also poll its devices' health.
// Health returns an entry per device with at least one fault, sorted by
// Index; none means every device is healthy. Implementations are safe
// for concurrent use.
type HealthChecker interface {
	Discoverer
	Health(ctx context.Context) ([]Health, error)
}

// addFault adds code to the health of device idx in m, keeping the larger
// count when it is there already.
func addFault(m map[int]*Health, idx int, code string, count int) {
	h := m[idx]
	if h == nil {
		h = &Health{Index: idx}
		m[idx] = h
	}
	for i := range h.Faults {
		if h.Faults[i].Code == code {
			h.Faults[i].Count = max(h.Faults[i].Count, count)
			return
		}
	}
	h.Faults = append(h.Faults, Fault{Code: code, Count: count})
}

// sortedHealth returns m's entries sorted by index, faults by code.
func sortedHealth(m map[int]*Health) []Health {
	out := make([]Health, 0, len(m))
	for _, h := range m {
		slices.SortFunc(h.Faults, func(a, b Fault) int {
			switch {
			case a.Code < b.Code:
				return -1
			case a.Code > b.Code:
				return 1
			}
			return 0
		})
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b Health) int { return a.Index - b.Index })
	return out
}
