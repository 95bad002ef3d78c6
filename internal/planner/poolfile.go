package planner

import (
	"fmt"

	"github.com/qunhq/qun/internal/pool"
)

// PoolTarget turns a loaded pool into a planning target: its chips of the
// given kind ("" when the pool has one kind), the fabric of its levels, and
// its chip count as the limit. Every level below the root must have domains
// of equal size (pool.Level.DomainSize), which is what the planner's
// rank layout needs.
func PoolTarget(t *pool.Topology, kind string) (Target, error) {
	if kind == "" {
		if len(t.Kinds) != 1 {
			names := make([]string, len(t.Kinds))
			for i, k := range t.Kinds {
				names[i] = k.Name
			}
			return Target{}, inputErrorf("pool %q holds %d chip kinds (%v); name one with --kind", t.Name, len(t.Kinds), names)
		}
		kind = t.Kinds[0].Name
	}
	var chip *pool.ChipKind
	for i := range t.Kinds {
		if t.Kinds[i].Name == kind {
			k := t.Kinds[i]
			chip = &k
		}
	}
	kid, ok := t.KindID(kind)
	if chip == nil || !ok {
		return Target{}, inputErrorf("pool %q has no chips of kind %q", t.Name, kind)
	}
	f := Fabric{Name: t.Name}
	for i, l := range t.Levels {
		size := l.DomainSize
		if i == 0 {
			size = 0
		} else if size <= 0 {
			return Target{}, inputErrorf("pool %q level %q has domains of different sizes; the planner needs equal domains per level", t.Name, l.Name)
		}
		f.Levels = append(f.Levels, Level{Name: l.Name, Size: size, BandwidthGBps: l.BandwidthGBps,
			LatencyUs: l.LatencyUs, Oversubscription: max(l.Oversubscription, 1)})
	}
	if err := f.Validate(); err != nil {
		return Target{}, fmt.Errorf("pool %q: %w", t.Name, err)
	}
	n := 0
	for _, d := range t.DomainsAt(0) {
		n += t.KindCount(d, kid)
	}
	return Target{Kind: fmt.Sprintf("%s@%s", kind, t.Name), Chip: chip, Fabric: &f, MaxChips: n}, nil
}
