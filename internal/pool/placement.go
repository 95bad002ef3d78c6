package pool

import "slices"

// Placement is where every rank of a job runs: one claim per rank, in rank
// order, all of one kind unless the job allows mixing families. Kinds are
// the chip kinds the ranks use, in pool order.
type Placement struct {
	Kinds []KindID
	Ranks []Claim
}

// Chips lists the placement's chips in rank order: the grants of claim 0,
// then of claim 1, and so on (device rank i of a whole-chip gang runs on
// Chips()[i]).
func (p *Placement) Chips() []ChipID {
	if p == nil {
		return nil
	}
	n := 0
	for _, cl := range p.Ranks {
		n += len(cl.Grants)
	}
	out := make([]ChipID, 0, n)
	for _, cl := range p.Ranks {
		for _, g := range cl.Grants {
			out = append(out, g.Chip)
		}
	}
	return out
}

// ChipKinds returns the kinds of the placement's chips in t, sorted and
// without repeats: what Kinds should hold.
func (p *Placement) ChipKinds(t *Topology) []KindID {
	var out []KindID
	if p == nil {
		return out
	}
	for _, cl := range p.Ranks {
		for _, g := range cl.Grants {
			if k := t.ChipKind(g.Chip); !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}
