package pool

import "slices"

// AcceptedBy reports whether a job that accepts the kinds named in names
// (any kind when names is empty) with at least minHBMGiB of memory per chip
// may run on chips of kind k. It is the one acceptance rule: the scheduler
// and the placement library both ask it.
func (k *ChipKind) AcceptedBy(names []string, minHBMGiB float64) bool {
	return (len(names) == 0 || slices.Contains(names, k.Name)) && k.HBMGiB >= minHBMGiB
}

// AcceptedKinds returns the kinds of t that AcceptedBy(names, minHBMGiB)
// accepts, in pool order.
func (t *Topology) AcceptedKinds(names []string, minHBMGiB float64) []KindID {
	out := make([]KindID, 0, len(t.Kinds))
	for i := range t.Kinds {
		if t.Kinds[i].AcceptedBy(names, minHBMGiB) {
			out = append(out, KindID(i))
		}
	}
	return out
}
