package comm

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestEstimateStepHandComputed(t *testing.T) {
	a := twoLevel()
	tests := map[string]struct {
		chips []int32
		plan  Plan
		vol   Volumes
		want  Estimate
	}{
		// T=4, D=2 on chips 0..7: tensor groups are the nodes, data groups
		// {0,4} {1,5} {2,6} {3,7}.
		// Tensor, inside a node: ring 6*(2e-6 + 2.5e8/200e9) = 0.007512
		// (tree 8e-6 + 0.01; hierarchical does not apply).
		// Data: 4 rings leave node 0 through 4*25e9 -> 25e9 each:
		// ring 2*(1e-5 + 5e8/25e9) = 0.04002 (tree 2e-5 + 0.08).
		"tp4 dp2": {
			seq(0, 8), Plan{Tensor: 4, Data: 2}, Volumes{TensorBytes: 1e9, DataBytes: 1e9},
			Estimate{Seconds: 0.047532, Items: []Item{
				{TensorAllReduce, AlgRing, "node", 0.007512},
				{DataAllReduce, AlgRing, "cluster", 0.04002},
			}},
		},
		// T=2, P=2, D=2, E=2: stage 0 = node 0, stage 1 = node 1.
		// Tensor {0,1}: 2*(2e-6 + 5e7/200e9) = 0.000504.
		// Pipeline 0->4 .. 3->7 at once, 25e9 each: 1e-5 + 1e8/25e9 = 0.00401.
		// Data {0,2} {1,3} {4,6} {5,7}: 2*(2e-6 + 5e8/200e9) = 0.005004.
		// Expert (same groups): 2e-6 + 5e8/200e9 = 0.002502.
		// Sum 0.01202.
		"tp2 pp2 dp2 ep2": {
			seq(0, 8), Plan{Tensor: 2, Pipeline: 2, Data: 2, Expert: 2},
			Volumes{TensorBytes: 1e8, PipelineBytes: 1e8, DataBytes: 1e9, ExpertBytes: 1e9},
			Estimate{Seconds: 0.01202, Items: []Item{
				{TensorAllReduce, AlgRing, "node", 0.000504},
				{PipelineP2P, AlgP2P, "cluster", 0.00401},
				{DataAllReduce, AlgRing, "node", 0.005004},
				{ExpertAllToAll, AlgPairwise, "node", 0.002502},
			}},
		},
		// Zero volumes and unit dimensions produce no items.
		"nothing to do": {seq(0, 8), Plan{Data: 8}, Volumes{TensorBytes: 1e9}, Estimate{}},
	}
	opt := cmpopts.EquateApprox(relTol, 0)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := EstimateStep(a, tc.chips, tc.plan, tc.vol)
			if diff := cmp.Diff(tc.want, got, opt, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("EstimateStep (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEstimateStepInvalidPlan(t *testing.T) {
	for name, p := range map[string]Plan{
		"fewer ranks than chips": {Tensor: 4},
		"expert does not fit":    {Data: 8, Expert: 3},
		"negative":               {Tensor: -1, Data: 8},
		"more ranks than chips":  {Tensor: 4, Data: 4},
	} {
		t.Run(name, func(t *testing.T) {
			got := EstimateStep(twoLevel(), seq(0, 8), p, Volumes{DataBytes: 1})
			if !math.IsInf(got.Seconds, 1) || len(got.Items) != 0 {
				t.Errorf("got %+v, want +Inf and no items", got)
			}
		})
	}
}

// TestDataParallelContention shows the oversubscribed cluster level shared by
// concurrent data-parallel groups. On threeLevel with T=2, D=4 each data group
// takes one chip per node: {0,2,4,6} and {1,3,5,7}.
func TestDataParallelContention(t *testing.T) {
	b := threeLevel()
	v := Volumes{DataBytes: 1e9}
	p := Plan{Tensor: 2, Data: 4}
	both := EstimateStep(b, seq(0, 8), p, v)
	// Flat ring 0,2,4,6 (and 1,3,5,7 at once): hops 2->4 and 3->5 both
	// leave leaf 0 (4 job chips, 4*25e9 shared by 2 -> 50e9) and node 1
	// (2*50e9 shared by 2); all hops get 50e9; the cross-leaf hop is the
	// bottleneck: 6*(1e-5 + 2.5e8/50e9) = 0.03006.
	// Tree: 4*1e-5 + 2e9/50e9 = 0.04004.
	// Hierarchical: leaf phase {0,2},{1,3},..: 0->2 and 1->3 leave node 0
	// (2*50e9 / 2): 2*(5e-6 + 5e8/50e9) = 0.02001; cluster phase on 5e8:
	// {0,4} {2,6} {1,5} {3,7} all leave leaf 0 (4*25e9 / 4 = 25e9):
	// 2*(1e-5 + 2.5e8/25e9) = 0.02002; total 0.04003. The contention on the
	// oversubscribed cluster level makes the flat ring the cheapest here.
	want := []Item{{DataAllReduce, AlgRing, "cluster", 0.03006}}
	if diff := cmp.Diff(want, both.Items, cmpopts.EquateApprox(relTol, 0)); diff != "" {
		t.Errorf("two groups (-want +got):\n%s", diff)
	}
	// With T=1 the single group 0..7 goes hierarchical in 0.022532 (see
	// TestPrimitivesHandComputed): fewer groups contend for the leaf uplinks.
	one := EstimateStep(b, seq(0, 8), Plan{Data: 8}, v)
	if !(one.Seconds < both.Seconds) {
		t.Errorf("one data group of 8 took %v, two groups of 4 took %v; want fewer contending hops to be faster", one.Seconds, both.Seconds)
	}
}

func TestEstimatorReuse(t *testing.T) {
	f := uniform(benchLevels(), 2, 4, 4, 8)
	e := NewEstimator(f)
	chips := seq(0, 256)
	p := Plan{Tensor: 8, Pipeline: 2, Data: 16, Expert: 4}
	v := Volumes{1e8, 1e7, 1e9, 1e8}
	first := e.EstimateStep(chips, p, v)
	_ = e.EstimateStep(seq(0, 8), Plan{Tensor: 8}, v)
	again := e.EstimateStep(chips, p, v)
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("reused Estimator differs (-first +again):\n%s", diff)
	}
	if diff := cmp.Diff(first, EstimateStep(f, chips, p, v)); diff != "" {
		t.Errorf("Estimator differs from EstimateStep (-method +func):\n%s", diff)
	}
}
