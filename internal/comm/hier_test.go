package comm

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// threeLeaves: a cluster of 3 leaves x 2 nodes x 2 chips (leaf 0 = chips
// 0-3, leaf 1 = 4-7, leaf 2 = 8-11) with the figures of threeLevel: between
// leaves 50 GB/s, 10 us, 2:1 oversubscribed (a link leaving a leaf offers
// 25e9 per job chip inside it); inside a leaf 50 GB/s, 5 us (a link leaving
// a node offers 50e9 per job chip); inside a node 400 GB/s, 1 us.
func threeLeaves() *fakeFabric {
	return uniform(threeLevel().levels, 3, 2, 2)
}

// TestHierarchicalUnevenHandComputed: groups with unequal members per
// domain. Each member's shard x starts at S = 1e9 and is divided by the
// fan-out of every phase it takes part in; a phase costs
// 2(k-1) * max over members (alpha + x/(k B)), the outermost the cheaper of
// that and the tree 2 ceil(log2 k) alpha + 2 max x/B.
func TestHierarchicalUnevenHandComputed(t *testing.T) {
	tests := map[string]struct {
		f     Fabric
		group []int32
		want  Cost
		best  Cost // AllReduce
	}{
		// twoLevel, 3 chips in node 0 and 1 in node 1.
		// Node phase: node 0 has k = 3, x = S; node 1 has k = 1 (nothing):
		//   2*2*(2e-6 + 1e9/3/200e9) = 0.0066746667.
		// Cluster phase, k = 2: chips 0-2 hold S/3, chip 4 holds S. Every
		// send leaves its node at 25e9 (3 sends out of node 0's 3*25e9, 1 out
		// of node 1's 1*25e9); chip 4 is the bottleneck:
		//   ring 2*1*(1e-5 + 1e9/2/25e9) = 0.04002, tree 2e-5 + 2e9/25e9.
		// Total 0.0466946667. Flat ring: 6*(1e-5 + 2.5e8/25e9) = 0.06006.
		"2L 3+1": {twoLevel(), []int32{0, 1, 2, 4},
			Cost{4*(2e-6+1e9/3/200e9) + 0.04002, AlgHierarchical, 0},
			Cost{4*(2e-6+1e9/3/200e9) + 0.04002, AlgHierarchical, 0}},
		// twoNodes8 (node 300 GB/s, 2 us; cluster 25 GB/s, 10 us), 3 chips in
		// node 0 and 5 in node 1.
		// Node phase: node 0: 2*2*(2e-6 + 1e9/3/300e9) = 0.0044524444;
		//   node 1: 2*4*(2e-6 + 1e9/5/300e9) = 0.0053493333 (the slower).
		// Cluster phase, k = 2: node 0's members hold S/3, node 1's S/5; all
		// sends get 25e9 (m sends out of m*25e9); the S/3 shards set it:
		//   ring 2*1*(1e-5 + 1e9/3/2/25e9) = 0.0133533333 (tree 2e-5 + 0.0266667).
		// Total 0.0187026667. Balanced 4+4 would give
		// 2*3*(2e-6 + 1e9/4/300e9) + 2*(1e-5 + 2.5e8/2/25e9) = 0.0150320;
		// flat ring 14*(1e-5 + 1.25e8/25e9) = 0.07014.
		"2L 3+5": {twoNodes8(), []int32{0, 1, 2, 8, 9, 10, 11, 12},
			Cost{8*(2e-6+1e9/5/300e9) + 2*(1e-5+1e9/3/2/25e9), AlgHierarchical, 0},
			Cost{8*(2e-6+1e9/5/300e9) + 2*(1e-5+1e9/3/2/25e9), AlgHierarchical, 0}},
		// threeLeaves, leaves of 2, 2 and 4 members: leaf 0 = {0,1} (one
		// node), leaf 1 = {4,6} (one chip in each node), leaf 2 = {8..11}
		// (two full nodes). Split levels node, leaf, cluster.
		// Node phase: {0,1}, {8,9}, {10,11} have k = 2, x = S; {4} and {6}
		//   nothing: 2*1*(1e-6 + 1e9/2/400e9) = 0.002502.
		// Leaf phase: leaf 0 has one node (nothing); leaf 1: k = 2, x = S,
		//   4 and 6 each alone in their node (1*50e9 out of it):
		//   2*1*(5e-6 + 1e9/2/50e9) = 0.02001; leaf 2: k = 2, x = S/2, two
		//   sends out of each node's 2*50e9: 2*(5e-6 + 5e8/2/50e9) = 0.01001.
		// Cluster phase, k = 3: shards S/2 (leaves 0, 1) and S/4 (leaf 2);
		//   each leaf's m sends share m*25e9 (the 2:1 oversubscription):
		//   ring 2*2*(1e-5 + 5e8/3/25e9) = 0.0267066667,
		//   tree 2*2*1e-5 + 2*5e8/25e9 = 0.04004.
		// Total 0.0492186667. The flat ring is cheaper: its bottleneck is one
		// send out of a leaf at 50e9, 14*(1e-5 + 1.25e8/50e9) = 0.03514.
		"3L 2+2+4": {threeLeaves(), []int32{0, 1, 4, 6, 8, 9, 10, 11},
			Cost{0.002502 + 0.02001 + 4*(1e-5+5e8/3/25e9), AlgHierarchical, 0},
			Cost{0.03514, AlgRing, 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := HierarchicalAllReduce(tc.f, 1e9, tc.group)
			if !ok || got.Algorithm != tc.want.Algorithm || got.Level != tc.want.Level || !near(got.Seconds, tc.want.Seconds) {
				t.Errorf("HierarchicalAllReduce = %+v, %v; want %+v, true", got, ok, tc.want)
			}
			if got := AllReduce(tc.f, 1e9, tc.group); got.Algorithm != tc.best.Algorithm || got.Level != tc.best.Level || !near(got.Seconds, tc.best.Seconds) {
				t.Errorf("AllReduce = %+v, want %+v", got, tc.best)
			}
		})
	}
}

// TestHierarchicalNotApplicable: one split level is a flat ring already.
func TestHierarchicalNotApplicable(t *testing.T) {
	for name, g := range map[string][]int32{
		"one node":          {0, 1, 2},
		"one chip per node": {0, 4},
		"single":            {5},
	} {
		if c, ok := HierarchicalAllReduce(twoLevel(), 1e9, g); ok {
			t.Errorf("%s: got %+v, ok; want not applicable", name, c)
		}
	}
}

// TestDataParallelUneven: two data groups of 3+1 members at once. On
// twoNodes8 with chips 0-5 and 8-9 in rank order, T=2, D=4: data groups
// {0,2,4,8} and {1,3,5,9}.
func TestDataParallelUneven(t *testing.T) {
	chips := []int32{0, 1, 2, 3, 4, 5, 8, 9}
	got := EstimateStep(twoNodes8(), chips, Plan{Tensor: 2, Data: 4}, Volumes{DataBytes: 1e9})
	// Node phase: {0,2,4} and {1,3,5}, k = 3, x = S, one send per chip at
	// 300e9: 2*2*(2e-6 + 1e9/3/300e9) = 0.0044524444.
	// Cluster phase, k = 2: 6 sends leave node 0 (6 job chips, 6*25e9) and
	// 2 leave node 1 (2*25e9): 25e9 each; chips 8 and 9 hold S:
	//   2*1*(1e-5 + 1e9/2/25e9) = 0.04002 (tree 2e-5 + 0.08).
	// Total 0.0444724444. Flat ring: 4->8 and 5->9 share node 0's 6*25e9
	// but run at the cluster's 25e9: 6*(1e-5 + 2.5e8/25e9) = 0.06006; tree
	// 4e-5 + 0.08.
	want := []Item{{DataAllReduce, AlgHierarchical, "cluster", 4*(2e-6+1e9/3/300e9) + 0.04002}}
	if diff := cmp.Diff(want, got.Items, cmpopts.EquateApprox(relTol, 0)); diff != "" {
		t.Errorf("EstimateStep items (-want +got):\n%s", diff)
	}
}

// randomLevels draws figures for cluster, leaf and node levels.
func randomLevels(r *rand.Rand) []Level {
	lv := make([]Level, 3)
	for i := range lv {
		lv[i] = Level{
			Name:             []string{"cluster", "leaf", "node"}[i],
			BandwidthGBps:    1 + r.Float64()*400,
			LatencyUs:        r.Float64() * 20,
			Oversubscription: []float64{0, 1, 2, 3.5}[r.IntN(4)],
		}
	}
	return lv
}

// TestPropertyBalancedIsPhaseRings checks the hierarchical all-reduce of a
// balanced group against the algorithm spelled out with the public
// primitives: innermost split first, the rings through the j-th member of
// every child, run together with RingAllReduce on the shard S/m (m members
// per child), the outermost phase the cheaper of ring and tree.
func TestPropertyBalancedIsPhaseRings(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const leaves, nodes, per = 4, 4, 8
	for i := range 300 {
		f := uniform(randomLevels(r), leaves, nodes, per)
		// k[0] leaves, k[1] nodes in each, k[2] chips in each node.
		k := [3]int{1 + r.IntN(leaves), 1 + r.IntN(nodes), 1 + r.IntN(per)}
		pick := func(n, k int) []int { return r.Perm(n)[:k] }
		var member [][][]int32 // member[a][b][c]
		for _, a := range pick(leaves, k[0]) {
			var bs [][]int32
			for _, b := range pick(nodes, k[1]) {
				var cs []int32
				for _, c := range pick(per, k[2]) {
					cs = append(cs, int32((a*nodes+b)*per+c))
				}
				bs = append(bs, cs)
			}
			member = append(member, bs)
		}
		var group []int32
		for _, bs := range member {
			for _, cs := range bs {
				group = append(group, cs...)
			}
		}
		const S = 3e8
		got, ok := HierarchicalAllReduce(f, S, group)

		// Rings of the phase at split level l (2 = node, 1 = leaf, 0 =
		// cluster): members that differ only in their index at l.
		rings := func(l int) [][]int32 {
			idx := map[[3]int][]int32{}
			for a, bs := range member {
				for b, cs := range bs {
					for c, chip := range cs {
						key := [3]int{a, b, c}
						key[l] = -1
						idx[key] = append(idx[key], chip)
					}
				}
			}
			var out [][]int32
			for _, ring := range idx {
				out = append(out, ring)
			}
			return out
		}
		var phases []int
		for l := 2; l >= 0; l-- {
			if k[l] > 1 {
				phases = append(phases, l)
			}
		}
		if len(phases) < 2 {
			if ok {
				t.Fatalf("case %d: fan-outs %v: got %+v, ok; want not applicable", i, k, got)
			}
			continue
		}
		want, m := 0.0, 1
		for j, l := range phases {
			x := S / float64(m)
			c := RingAllReduce(f, x, rings(l)...).Seconds
			if j == len(phases)-1 {
				c = min(c, TreeAllReduce(f, x, rings(l)...).Seconds)
			}
			want += c
			m *= k[l]
		}
		if !ok || !near(got.Seconds, want) {
			t.Fatalf("case %d: fan-outs %v on %+v: got %+v, %v; want %v", i, k, f.levels, got, ok, want)
		}
	}
}

// TestPropertyUnevenSplit: one group whose members sit in k nodes, each
// node's members in one node (so the imbalance is at one level), the nodes
// either all in one leaf or in k different leaves. For such a group the
// hierarchical time depends on the largest and the smallest node count only,
// and
//
//   - moving one member from a largest to a smallest node (when they differ
//     by two or more) never makes it slower, so
//   - when k divides the total, it is never below the balanced split over
//     the same k nodes;
//   - AllReduce is never above the flat ring or the tree and picks the
//     smallest of the three.
func TestPropertyUnevenSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	const leaves, nodes, per = 4, 4, 8
	const S = 1e9
	for i := range 500 {
		f := uniform(randomLevels(r), leaves, nodes, per)
		k := 2 + r.IntN(3)
		var doms []int // node indices
		if r.IntN(2) == 0 {
			leaf := r.IntN(leaves)
			for _, b := range r.Perm(nodes)[:k] {
				doms = append(doms, leaf*nodes+b)
			}
		} else {
			for _, a := range r.Perm(leaves)[:k] {
				doms = append(doms, a*nodes+r.IntN(nodes))
			}
		}
		counts := make([]int, k)
		for j := range counts {
			counts[j] = 1 + r.IntN(per)
		}
		if slices.Max(counts) < 2 {
			counts[0] = 2
		}
		build := func(counts []int) []int32 {
			var g []int32
			for j, d := range doms {
				for c := range counts[j] {
					g = append(g, int32(d*per+c))
				}
			}
			return g
		}
		hier := func(counts []int) float64 {
			c, ok := HierarchicalAllReduce(f, S, build(counts))
			if !ok {
				t.Fatalf("case %d: counts %v: not applicable", i, counts)
			}
			return c.Seconds
		}
		h := hier(counts)

		lo, hi := slices.Index(counts, slices.Min(counts)), slices.Index(counts, slices.Max(counts))
		if counts[hi]-counts[lo] >= 2 {
			moved := slices.Clone(counts)
			moved[hi]--
			moved[lo]++
			if hm := hier(moved); hm > h*(1+1e-12) {
				t.Fatalf("case %d on %+v: moving a member from a largest to a smallest node made it slower: %v %v -> %v %v",
					i, f.levels, counts, h, moved, hm)
			}
		}
		n := 0
		for _, c := range counts {
			n += c
		}
		if n%k == 0 {
			bal := make([]int, k)
			for j := range bal {
				bal[j] = n / k
			}
			if hb := hier(bal); h < hb*(1-1e-12) {
				t.Fatalf("case %d on %+v: uneven %v (%v) beats balanced %v (%v)", i, f.levels, counts, h, bal, hb)
			}
		}
		g := build(counts)
		best := AllReduce(f, S, g)
		ring, tree := RingAllReduce(f, S, g).Seconds, TreeAllReduce(f, S, g).Seconds
		if want := min(ring, tree, h); best.Seconds != want {
			t.Fatalf("case %d: AllReduce %+v, want min(ring %v, tree %v, hierarchical %v)", i, best, ring, tree, h)
		}
	}
}
