package comm

import (
	"math"
	"testing"
)

const relTol = 1e-9

func near(got, want float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= relTol*math.Max(math.Abs(got), math.Abs(want))
}

// Units in the hand computations: bytes, seconds; 25 GB/s = 25e9 B/s,
// 10 us = 1e-5 s. S = 1e9 bytes unless stated.
//
// twoLevel: node 0 = chips 0-3, node 1 = chips 4-7.
//   cluster: B = 25e9, alpha = 1e-5; node: B = 200e9, alpha = 2e-6.
//   A link leaving a node offers 25e9 per job chip inside it; a chip's own
//   link offers 200e9.
// threeLevel: leaf 0 = {node 0 = {0,1}, node 1 = {2,3}},
//             leaf 1 = {node 2 = {4,5}, node 3 = {6,7}}.
//   cluster: B = 50e9, alpha = 1e-5, 2:1 oversubscribed, so a link leaving a
//   leaf offers 25e9 per job chip; leaf: B = 50e9, alpha = 5e-6, a link
//   leaving a node offers 50e9 per job chip; node: B = 400e9, alpha = 1e-6.

func TestPrimitivesHandComputed(t *testing.T) {
	all := seq(0, 8)
	a, b := twoLevel(), threeLevel()
	ring := func(f Fabric, s float64, g ...[]int32) Cost { return RingAllReduce(f, s, g...) }
	tree := func(f Fabric, s float64, g ...[]int32) Cost { return TreeAllReduce(f, s, g...) }
	hier := func(f Fabric, s float64, g ...[]int32) Cost {
		c, ok := HierarchicalAllReduce(f, s, g...)
		if !ok {
			return Cost{Algorithm: "n/a"}
		}
		return c
	}
	tests := map[string]struct {
		fn     func(Fabric, float64, ...[]int32) Cost
		f      Fabric
		bytes  float64
		groups [][]int32
		want   Cost
	}{
		// Ring 0..7: hops 3->4 and 7->0 cross nodes (bottleneck 25e9, 1e-5).
		// 2*7 * (1e-5 + 1e9/8/25e9) = 14 * 0.00501 = 0.07014.
		"2L ring all": {ring, a, 1e9, [][]int32{all}, Cost{0.07014, AlgRing, 0}},
		// Inside node 0: 2*3 * (2e-6 + 1e9/4/200e9) = 6 * 0.001252 = 0.007512.
		"2L ring node": {ring, a, 1e9, [][]int32{seq(0, 4)}, Cost{0.007512, AlgRing, 1}},
		// 2*ceil(log2 8)*1e-5 + 2*1e9/25e9 = 6e-5 + 0.08 = 0.08006.
		"2L tree all": {tree, a, 1e9, [][]int32{all}, Cost{0.08006, AlgTree, 0}},
		// Inner reduce-scatter + all-gather in each node:
		//   2 * 3 * (2e-6 + 1e9/4/200e9) = 0.007512.
		// Across nodes on the 2.5e8 shard: rings {0,4} {1,5} {2,6} {3,7};
		// 4 hops leave node 0, its link offers 4*25e9, so 25e9 each:
		//   ring 2*1*(1e-5 + 2.5e8/2/25e9) = 0.01002 (tree: 2e-5 + 0.02).
		// Total 0.007512 + 0.01002 = 0.017532.
		"2L hier all": {hier, a, 1e9, [][]int32{all}, Cost{0.017532, AlgHierarchical, 0}},
		// Inside one node there is one split level: not applicable.
		"2L hier node": {hier, a, 1e9, [][]int32{seq(0, 4)}, Cost{Algorithm: "n/a"}},
		// 7 * (1e-5 + 1e9/8/25e9) = 0.03507.
		"2L reduce-scatter": {ReduceScatter, a, 1e9, [][]int32{all}, Cost{0.03507, AlgRing, 0}},
		"2L all-gather":     {AllGather, a, 1e9, [][]int32{all}, Cost{0.03507, AlgRing, 0}},
		// Each member sends 1.25e8 to each of 7 others. Out of node 0:
		// 4 members * 4 outside * 1.25e8 = 2e9 over 4*25e9 -> 0.02 s; out of a
		// chip: 8.75e8 / 200e9 = 0.004375 s. 7*1e-5 + 0.02 = 0.02007.
		"2L all-to-all": {AllToAll, a, 1e9, [][]int32{all}, Cost{0.02007, AlgPairwise, 0}},
		// Group {0,1} inside node 0: 1e9/2 to the other over the chip link:
		// 1*2e-6 + 5e8/200e9 = 0.002502.
		"2L all-to-all node": {AllToAll, a, 1e9, [][]int32{{0, 1}}, Cost{0.002502, AlgPairwise, 1}},

		// Ring 0..7: hops 1->2, 5->6 inside a leaf (50e9, 5e-6); 3->4, 7->0
		// across leaves: one hop leaves leaf 0 (offering 4*25e9), one leaves
		// node 1 (2*50e9): 50e9, 1e-5 is the bottleneck.
		// 14 * (1e-5 + 1.25e8/50e9) = 14 * 0.00251 = 0.03514.
		"3L ring all": {ring, b, 1e9, [][]int32{all}, Cost{0.03514, AlgRing, 0}},
		// Four 2-chip rings across leaves at once: 4 hops leave leaf 0, whose
		// link offers 4*25e9 -> 25e9 each (the 2:1 oversubscription).
		// 2*1*(1e-5 + 5e8/25e9) = 0.04002.
		"3L ring contention": {ring, b, 1e9, [][]int32{{0, 4}, {1, 5}, {2, 6}, {3, 7}}, Cost{0.04002, AlgRing, 0}},
		// 6*1e-5 + 2e9/50e9 = 0.04006.
		"3L tree all": {tree, b, 1e9, [][]int32{all}, Cost{0.04006, AlgTree, 0}},
		// Splits at node (k=2), leaf (k=2), cluster (k=2).
		// Node phase {0,1}..: 2*1*(1e-6 + 1e9/2/400e9) = 0.002502.
		// Leaf phase on 5e8: {0,2} {1,3} ..; 2 hops leave node 0 (2*50e9):
		//   2*1*(5e-6 + 5e8/2/50e9) = 0.01001.
		// Cluster phase on 2.5e8: {0,4} .. at 25e9 (see contention):
		//   ring 2*(1e-5 + 1.25e8/25e9) = 0.01002 (tree 0.02002).
		// Total 0.002502 + 0.01001 + 0.01002 = 0.022532.
		"3L hier all": {hier, b, 1e9, [][]int32{all}, Cost{0.022532, AlgHierarchical, 0}},
		// 7 * 0.00251 = 0.01757.
		"3L reduce-scatter": {ReduceScatter, b, 1e9, [][]int32{all}, Cost{0.01757, AlgRing, 0}},
		// Out of leaf 0: 4*4*1.25e8 = 2e9 over 4*25e9 -> 0.02; out of node 0:
		// 2*6*1.25e8 = 1.5e9 over 2*50e9 -> 0.015; chip 8.75e8/400e9.
		// 7*1e-5 + 0.02 = 0.02007.
		"3L all-to-all": {AllToAll, b, 1e9, [][]int32{all}, Cost{0.02007, AlgPairwise, 0}},
		// {0,1,2,3} inside leaf 0: out of node 0: 2*2*2.5e8 = 1e9 over
		// 2*50e9 -> 0.01; chip 7.5e8/400e9. 3*5e-6 + 0.01 = 0.010015.
		"3L all-to-all leaf": {AllToAll, b, 1e9, [][]int32{seq(0, 4)}, Cost{0.010015, AlgPairwise, 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.fn(tc.f, tc.bytes, tc.groups...)
			if got.Algorithm != tc.want.Algorithm || got.Level != tc.want.Level || !near(got.Seconds, tc.want.Seconds) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSendRecvHandComputed(t *testing.T) {
	a, b := twoLevel(), threeLevel()
	tests := map[string]struct {
		f     Fabric
		pairs [][2]int32
		want  Cost
	}{
		// 1e-5 + 1e9/25e9 = 0.04001.
		"2L across": {a, [][2]int32{{0, 4}}, Cost{0.04001, AlgP2P, 0}},
		// Four pairs leave node 0 through 4*25e9: still 25e9 each.
		"2L four across": {a, [][2]int32{{0, 4}, {1, 5}, {2, 6}, {3, 7}}, Cost{0.04001, AlgP2P, 0}},
		// 2e-6 + 1e9/200e9 = 0.005002.
		"2L inside": {a, [][2]int32{{0, 1}}, Cost{0.005002, AlgP2P, 1}},
		// Across nodes of leaf 0: 5e-6 + 1e9/50e9 = 0.020005.
		"3L leaf": {b, [][2]int32{{1, 2}}, Cost{0.020005, AlgP2P, 1}},
		// Across leaves, the only job chip in leaf 0 has a 25e9 share of
		// the 2:1 uplink: 1e-5 + 1e9/25e9 = 0.04001.
		"3L across": {b, [][2]int32{{0, 4}}, Cost{0.04001, AlgP2P, 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := SendRecv(tc.f, 1e9, tc.pairs...)
			if got.Algorithm != tc.want.Algorithm || got.Level != tc.want.Level || !near(got.Seconds, tc.want.Seconds) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAllReduceChoosesCheapest(t *testing.T) {
	a := twoLevel()
	tests := map[string]struct {
		bytes float64
		group []int32
		want  Cost
	}{
		// Large buffer across nodes: hierarchical 0.017532 beats ring 0.07014
		// and tree 0.08006 (see TestPrimitivesHandComputed).
		"large across nodes": {1e9, seq(0, 8), Cost{0.017532, AlgHierarchical, 0}},
		// Small buffer inside a node: ring 6*(2e-6 + 250/200e9) = 1.20075e-5;
		// tree 2*2*2e-6 + 2e3/200e9 = 8.01e-6 wins.
		"small inside node": {1e3, seq(0, 4), Cost{8.01e-6, AlgTree, 1}},
		// Large buffer inside a node: ring 0.007512, tree 8e-6 + 0.01.
		"large inside node": {1e9, seq(0, 4), Cost{0.007512, AlgRing, 1}},
		// A single member does not communicate.
		"single": {1e9, []int32{3}, Cost{0, AlgRing, -1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := AllReduce(a, tc.bytes, tc.group)
			if got.Algorithm != tc.want.Algorithm || got.Level != tc.want.Level || !near(got.Seconds, tc.want.Seconds) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNoLevels(t *testing.T) {
	f := &fakeFabric{}
	if c := RingAllReduce(f, 1, []int32{0, 1}); !math.IsInf(c.Seconds, 1) {
		t.Errorf("ring on a fabric with no levels: got %v, want +Inf", c.Seconds)
	}
	if c := SendRecv(f, 1, [2]int32{0, 1}); !math.IsInf(c.Seconds, 1) {
		t.Errorf("send on a fabric with no levels: got %v, want +Inf", c.Seconds)
	}
}

func TestCommonLevel(t *testing.T) {
	f := threeLevel()
	for _, tc := range []struct {
		a, b int32
		want int
	}{{0, 1, 2}, {0, 2, 1}, {0, 7, 0}, {5, 5, 2}} {
		if got := CommonLevel(f, tc.a, tc.b); got != tc.want {
			t.Errorf("CommonLevel(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
