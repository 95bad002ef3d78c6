package comm

import (
	"cmp"
	"slices"
)

// The functions in this file model one collective. Each argument group is a
// set of chips (their order does not matter: rings are laid out in topology
// order); all groups run at the same time and share the links they cross.
// bytes is S, the buffer each member holds, in bytes. Chips should be
// distinct across all groups.

// RingAllReduce models a flat ring all-reduce:
// 2(n-1)/n * S/B_b + 2(n-1)*alpha_b, where b is the ring's slowest hop.
func RingAllReduce(f Fabric, bytes float64, groups ...[]int32) Cost {
	e := NewEstimator(f)
	if !e.loadGroups(groups) {
		return infCost(AlgRing)
	}
	e.evalHops(e.order, e.starts, true)
	return e.ringAllReduce(bytes)
}

// TreeAllReduce models a double-binary-tree all-reduce:
// 2*ceil(log2 n)*alpha_b + 2*S/B_b.
func TreeAllReduce(f Fabric, bytes float64, groups ...[]int32) Cost {
	e := NewEstimator(f)
	if !e.loadGroups(groups) {
		return infCost(AlgTree)
	}
	e.evalHops(e.order, e.starts, true)
	return e.treeAllReduce(bytes)
}

// HierarchicalAllReduce models a hierarchical all-reduce: reduce-scatter
// inside the inner domains, all-reduce of the shards across domains,
// all-gather back, recursively over every level the groups split at. With
// unequal members per domain, the member holding the largest shard (in the
// smallest domain) sets each phase's time. ok is false when no group spans
// two levels, in which case the algorithm is the flat ring.
func HierarchicalAllReduce(f Fabric, bytes float64, groups ...[]int32) (c Cost, ok bool) {
	e := NewEstimator(f)
	if !e.loadGroups(groups) {
		return infCost(AlgHierarchical), false
	}
	e.evalHops(e.order, e.starts, true)
	return e.hierAllReduce(bytes)
}

// AllReduce returns the cheapest of RingAllReduce, TreeAllReduce and (when it
// applies) HierarchicalAllReduce, as a collective library tuned for the
// fabric would choose; Cost.Algorithm says which. Ties go to ring, then tree.
func AllReduce(f Fabric, bytes float64, groups ...[]int32) Cost {
	e := NewEstimator(f)
	if !e.loadGroups(groups) {
		return infCost(AlgRing)
	}
	return e.bestAllReduce(bytes)
}

// ReduceScatter models a ring reduce-scatter of an S-byte buffer (each member
// ends with S/n): (n-1)/n * S/B_b + (n-1)*alpha_b.
func ReduceScatter(f Fabric, bytes float64, groups ...[]int32) Cost {
	e := NewEstimator(f)
	if !e.loadGroups(groups) {
		return infCost(AlgRing)
	}
	return e.ringHalf(bytes)
}

// AllGather models a ring all-gather into an S-byte buffer (each member
// contributes S/n): (n-1)/n * S/B_b + (n-1)*alpha_b.
func AllGather(f Fabric, bytes float64, groups ...[]int32) Cost {
	return ReduceScatter(f, bytes, groups...)
}

// AllToAll models an all-to-all in which every member sends S/n bytes to
// every other member (S(n-1)/n in all). The time is (n-1)*alpha of the
// group's lowest common level plus the slowest drain of the bytes leaving any
// domain through its oversubscribed uplink.
func AllToAll(f Fabric, bytes float64, groups ...[]int32) Cost {
	e := NewEstimator(f)
	if !e.loadGroups(groups) {
		return infCost(AlgPairwise)
	}
	return e.allToAll(bytes)
}

// SendRecv models point-to-point transfers of S bytes from pair[0] to pair[1]
// for every pair at once: alpha + S/B of each pair's lowest common level (B
// shared with the other pairs where they cross the same uplink); the slowest
// pair sets the time.
func SendRecv(f Fabric, bytes float64, pairs ...[2]int32) Cost {
	e := NewEstimator(f)
	if e.nl == 0 && len(pairs) > 0 {
		return infCost(AlgP2P)
	}
	chips := make([]int32, 0, 2*len(pairs))
	for _, p := range pairs {
		chips = append(chips, p[0], p[1])
	}
	e.load(chips)
	e.order = grow(e.order, len(chips))
	e.starts = e.starts[:0]
	for i := range chips {
		e.order[i] = int32(i)
		if i%2 == 0 {
			e.starts = append(e.starts, int32(i))
		}
	}
	e.starts = append(e.starts, int32(len(chips)))
	return e.pointToPoint(bytes)
}

// loadGroups loads the union of groups and lays each group out in topology
// order. It reports false when the fabric has no levels but some group needs
// to communicate.
func (e *Estimator) loadGroups(groups [][]int32) bool {
	var chips []int32
	e.starts = append(e.starts[:0], 0)
	for _, g := range groups {
		if e.nl == 0 && len(g) > 1 {
			return false
		}
		chips = append(chips, g...)
		e.starts = append(e.starts, int32(len(chips)))
	}
	e.load(chips)
	e.order = grow(e.order, len(chips))
	for i := range chips {
		e.order[i] = int32(i)
	}
	for g := 0; g+1 < len(e.starts); g++ {
		slices.SortFunc(e.order[e.starts[g]:e.starts[g+1]], func(a, b int32) int {
			return cmp.Compare(e.pos[a], e.pos[b])
		})
	}
	return true
}
