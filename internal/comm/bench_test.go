package comm

import (
	"math/rand/v2"
	"testing"
)

// benchLevels is a 4-level fabric: cluster, spine, leaf, node.
func benchLevels() []Level {
	return []Level{
		{Name: "cluster", BandwidthGBps: 25, LatencyUs: 12, Oversubscription: 4},
		{Name: "spine", BandwidthGBps: 50, LatencyUs: 8, Oversubscription: 2},
		{Name: "leaf", BandwidthGBps: 50, LatencyUs: 5},
		{Name: "node", BandwidthGBps: 450, LatencyUs: 2},
	}
}

func benchStep(b *testing.B, scramble bool) {
	f := uniform(benchLevels(), 4, 16, 16, 8) // 8,192 chips
	chips := seq(0, 8192)
	if scramble {
		r := rand.New(rand.NewPCG(1, 2))
		r.Shuffle(len(chips), func(i, j int) { chips[i], chips[j] = chips[j], chips[i] })
	}
	p := Plan{Tensor: 8, Pipeline: 8, Data: 128, Expert: 8}
	v := Volumes{TensorBytes: 4e9, PipelineBytes: 2e8, DataBytes: 2e9, ExpertBytes: 1e9}
	e := NewEstimator(f)
	b.ReportAllocs()
	for b.Loop() {
		e.EstimateStep(chips, p, v)
	}
}

// BenchmarkEstimateStep measures a step estimate for 8,192 chips on a 4-level
// fabric with every kind of parallelism, chips in topology order.
func BenchmarkEstimateStep(b *testing.B) { benchStep(b, false) }

// BenchmarkEstimateStepScrambled is the same with chips in random order (no
// locality for the domain cache, a full topology sort).
func BenchmarkEstimateStepScrambled(b *testing.B) { benchStep(b, true) }

// BenchmarkEstimateStepFresh builds a new Estimator every time, as the
// package-level EstimateStep does.
func BenchmarkEstimateStepFresh(b *testing.B) {
	f := uniform(benchLevels(), 4, 16, 16, 8)
	chips := seq(0, 8192)
	p := Plan{Tensor: 8, Pipeline: 8, Data: 128, Expert: 8}
	v := Volumes{TensorBytes: 4e9, PipelineBytes: 2e8, DataBytes: 2e9, ExpertBytes: 1e9}
	b.ReportAllocs()
	for b.Loop() {
		EstimateStep(f, chips, p, v)
	}
}

func BenchmarkMapRanks(b *testing.B) {
	f := uniform(benchLevels(), 4, 16, 16, 8)
	chips := seq(0, 8192)
	p := Plan{Tensor: 8, Pipeline: 8, Data: 128, Expert: 8}
	b.ReportAllocs()
	for b.Loop() {
		MapRanks(f, chips, p)
	}
}
