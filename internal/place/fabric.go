package place

import (
	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/pool"
)

// Fabric adapts a pool topology to comm.Fabric: its levels are the
// topology's levels, root first, and a chip's domain at a level is its
// ancestor there (domain IDs are unique across the whole topology, so they
// are unique within a level too). A Fabric is immutable and safe for
// concurrent use.
type Fabric struct {
	t      *pool.Topology
	levels []comm.Level
}

var _ comm.Fabric = (*Fabric)(nil)

// NewFabric returns the fabric of t.
func NewFabric(t *pool.Topology) *Fabric {
	lv := make([]comm.Level, len(t.Levels))
	for i, l := range t.Levels {
		lv[i] = comm.Level{Name: l.Name, BandwidthGBps: l.BandwidthGBps, LatencyUs: l.LatencyUs, Oversubscription: l.Oversubscription}
	}
	return &Fabric{t: t, levels: lv}
}

// Levels returns the topology's levels as comm levels. The slice must not
// be modified.
func (f *Fabric) Levels() []comm.Level { return f.levels }

// Domain returns the ID of chip's ancestor at level lvl, or -1.
func (f *Fabric) Domain(chip int32, lvl int) int32 {
	return int32(f.t.ChipAncestor(pool.ChipID(chip), lvl))
}

// Topology returns the adapted topology.
func (f *Fabric) Topology() *pool.Topology { return f.t }
