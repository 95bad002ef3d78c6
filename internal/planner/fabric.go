package planner

import (
	"fmt"
	"strings"

	"github.com/qunhq/qun/internal/pool"
)

// Level is one tier of a fabric: traffic between two chips that share a
// domain of this level (and no smaller one) moves at BandwidthGBps per chip
// and direction, divided by Oversubscription, after LatencyUs.
type Level struct {
	Name             string  `json:"name" yaml:"name"`
	Size             int     `json:"size" yaml:"size"` // chips per domain; 0 for the root (the whole job)
	BandwidthGBps    float64 `json:"bandwidth_gbps" yaml:"bandwidthGBps"`
	LatencyUs        float64 `json:"latency_us" yaml:"latencyUs"`
	Oversubscription float64 `json:"oversubscription" yaml:"oversubscription"` // ≥ 1; 1 = non-blocking
}

// Fabric is the communication topology the planner prices collectives on,
// levels root first. It is the hook for pool files: a loader turns a pool's
// topology tree into a Fabric; until then SyntheticFabric builds one per
// chip kind. Chips are numbered so that each domain of a level holds a
// contiguous block of Size chips, and the job's ranks are laid out in
// Megatron order (TP fastest, then DP, then PP).
type Fabric struct {
	Name   string  `json:"name" yaml:"name"`
	Levels []Level `json:"levels" yaml:"levels"`
}

// Validate reports what is wrong with a fabric.
func (f Fabric) Validate() error {
	if len(f.Levels) == 0 {
		return inputErrorf("fabric %q has no levels", f.Name)
	}
	prev := 0
	for i, l := range f.Levels {
		if !(l.BandwidthGBps > 0) || l.LatencyUs < 0 || l.Oversubscription < 1 {
			return inputErrorf("fabric %q level %q: bandwidth must be > 0, latency ≥ 0, oversubscription ≥ 1", f.Name, l.Name)
		}
		if i == 0 && l.Size != 0 {
			return inputErrorf("fabric %q: the root level %q must have size 0 (the whole job)", f.Name, l.Name)
		}
		if i > 0 && (l.Size <= 0 || (prev > 0 && prev%l.Size != 0)) {
			return inputErrorf("fabric %q level %q: size %d must be > 0 and divide the size of the level above", f.Name, l.Name, l.Size)
		}
		prev = l.Size
	}
	return nil
}

// ScaleUpSize returns the chips in one innermost (fastest) domain.
func (f Fabric) ScaleUpSize() int {
	if n := len(f.Levels); n > 1 {
		return f.Levels[n-1].Size
	}
	return 1
}

// String describes the fabric in one line, innermost level first.
func (f Fabric) String() string {
	parts := make([]string, 0, len(f.Levels))
	for i := len(f.Levels) - 1; i >= 0; i-- {
		l := f.Levels[i]
		size := "all"
		if l.Size > 0 {
			size = fmt.Sprint(l.Size)
		}
		s := fmt.Sprintf("%s %s × %g GB/s", l.Name, size, l.BandwidthGBps)
		if l.Oversubscription > 1 {
			s += fmt.Sprintf(" 1:%g", l.Oversubscription)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// SyntheticFabric builds a two-level fabric for a chip kind: a scale-up
// domain of domainSize chips at the kind's ScaleUpGBps, and a scale-out
// network at ScaleOutGbps/8 GB/s per chip with the given oversubscription.
func SyntheticFabric(k pool.ChipKind, domainSize int, a Assumptions) Fabric {
	return Fabric{
		Name: k.Name + "-synthetic",
		Levels: []Level{
			{Name: "scale-out", BandwidthGBps: k.ScaleOutGbps / 8, LatencyUs: a.ScaleOutLatencyUs, Oversubscription: a.Oversubscription},
			{Name: "scale-up", Size: domainSize, BandwidthGBps: k.ScaleUpGBps, LatencyUs: a.ScaleUpLatencyUs, Oversubscription: 1},
		},
	}
}

// span describes how a group of n ranks, stride chips apart, sits in a
// fabric: members[i] is how many group members share one domain of level
// i (members[0] = n), and members[len] = 1 for the chip itself.
func (f Fabric) span(n, stride int) []int {
	out := make([]int, len(f.Levels)+1)
	for i, l := range f.Levels {
		k := n
		if l.Size > 0 {
			k = min(n, max(1, l.Size/max(stride, 1)))
		}
		if i > 0 {
			k = min(k, out[i-1])
		}
		out[i] = k
	}
	out[len(f.Levels)] = 1
	return out
}

func (l Level) bytesPerSecond() float64 {
	return l.BandwidthGBps * 1e9 / max(l.Oversubscription, 1)
}
