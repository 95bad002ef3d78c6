package comm

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// twoNodes8 is a cluster of 2 nodes x 8 chips (chips 0-7 and 8-15).
func twoNodes8() *fakeFabric {
	return uniform([]Level{
		{Name: "cluster", BandwidthGBps: 25, LatencyUs: 10},
		{Name: "node", BandwidthGBps: 300, LatencyUs: 2},
	}, 2, 8)
}

func TestMapRanksTensorGroupsStayInNode(t *testing.T) {
	f := twoNodes8()
	scrambled := []int32{3, 12, 0, 9, 15, 6, 1, 8, 14, 5, 11, 2, 7, 10, 4, 13}
	p := Plan{Tensor: 8, Data: 2}
	v := Volumes{TensorBytes: 2e9, DataBytes: 1e9}

	mapped := MapRanks(f, scrambled, p)
	if diff := cmp.Diff(seq(0, 16), slices.Sorted(slices.Values(mapped))); diff != "" {
		t.Fatalf("MapRanks is not a permutation of its input (-want +got):\n%s", diff)
	}
	for g := 0; g < 16; g += 8 {
		node := f.Domain(mapped[g], 1)
		for _, c := range mapped[g : g+8] {
			if f.Domain(c, 1) != node {
				t.Errorf("tensor group %v spans nodes", mapped[g:g+8])
				break
			}
		}
	}
	good := EstimateStep(f, mapped, p, v)
	bad := EstimateStep(f, scrambled, p, v)
	if good.Seconds > bad.Seconds {
		t.Errorf("EstimateStep(mapped) = %v > EstimateStep(scrambled) = %v", good.Seconds, bad.Seconds)
	}
	if !(good.Seconds < bad.Seconds) {
		t.Errorf("mapping did not help: mapped %v, scrambled %v", good.Seconds, bad.Seconds)
	}
}

func TestMapRanksIgnoresInputOrder(t *testing.T) {
	f := uniform(benchLevels(), 2, 2, 4, 8) // 128 chips
	chips := seq(0, 128)
	p := Plan{Tensor: 4, Pipeline: 4, Data: 8, Expert: 2}
	want := MapRanks(f, chips, p)
	r := rand.New(rand.NewPCG(7, 7))
	for range 20 {
		r.Shuffle(len(chips), func(i, j int) { chips[i], chips[j] = chips[j], chips[i] })
		if diff := cmp.Diff(want, MapRanks(f, chips, p)); diff != "" {
			t.Fatalf("MapRanks depends on input order (-first +shuffled):\n%s", diff)
		}
	}
}

// TestMapRanksFragmented packs tensor groups of 4 from nodes holding 6, 2 and
// 8 free chips: three groups fit inside a node, the leftovers of the first two
// nodes make the fourth.
func TestMapRanksFragmented(t *testing.T) {
	f := fab([]Level{{Name: "cluster"}, {Name: "node"}}, L(
		L(0, 1, 2, 3, 4, 5),
		L(10, 11),
		L(20, 21, 22, 23, 24, 25, 26, 27),
	))
	chips := []int32{27, 11, 0, 22, 5, 3, 20, 1, 24, 10, 2, 26, 4, 21, 23, 25}
	got := MapRanks(f, chips, Plan{Tensor: 4, Data: 4})
	want := []int32{0, 1, 2, 3, 20, 21, 22, 23, 24, 25, 26, 27, 4, 5, 10, 11}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MapRanks (-want +got):\n%s", diff)
	}
}

// TestMapRanksPipelineAndData checks a 3-level layout: with T=2, D=2, P=2 on
// threeLevel each stage is one leaf, and each data group one leaf.
func TestMapRanksPipelineAndData(t *testing.T) {
	f := threeLevel()
	got := MapRanks(f, []int32{7, 6, 5, 4, 3, 2, 1, 0}, Plan{Tensor: 2, Pipeline: 2, Data: 2})
	if diff := cmp.Diff(seq(0, 8), got); diff != "" {
		t.Errorf("MapRanks (-want +got):\n%s", diff)
	}
}

func TestMapRanksInvalidPlan(t *testing.T) {
	got := MapRanks(twoLevel(), []int32{5, 1, 7}, Plan{Tensor: 2})
	if diff := cmp.Diff([]int32{1, 5, 7}, got); diff != "" {
		t.Errorf("invalid plan: want topology order (-want +got):\n%s", diff)
	}
}
