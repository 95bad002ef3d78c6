package planner

import (
	"math"
	"testing"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.10g, want %.10g", name, got, want)
	}
}

func TestFLOPsHandComputed(t *testing.T) {
	m := Model{Params: 1e9, Layers: 2, Hidden: 4, SeqLen: 8}
	// 6·N + 6·L·s·h = 6e9 + 6·2·8·4.
	near(t, "model", ModelFLOPsPerToken(m), 6e9+384, 1e-15)
	near(t, "none", HardwareFLOPsPerToken(m, RecomputeNone, 0), 6e9+384, 1e-15)
	near(t, "selective", HardwareFLOPsPerToken(m, RecomputeSelective, 0), 6e9+384+128, 1e-15)
	near(t, "full", HardwareFLOPsPerToken(m, RecomputeFull, 0), (6e9+384)*4/3, 1e-15)
	near(t, "partial half", HardwareFLOPsPerToken(m, RecomputePartial, 0.5), 6e9+384+0.5*(6e9+384)/3+0.5*128, 1e-15)
	// MoE: only active parameters count; AttnDim replaces Hidden.
	moe := Model{Params: 100e9, ActiveParams: 10e9, Layers: 10, Hidden: 1000, SeqLen: 100, AttnDim: 3000, Experts: 64, TopK: 4}
	near(t, "moe", ModelFLOPsPerToken(moe), 60e9+6*10*100*3000, 1e-15)
	near(t, "training", TrainingFLOPs(m, 1e6), (6e9+384)*1e6, 1e-15)
	// 1e21 FLOPs on 10 chips of 100 TFLOPS in 2e6 s: 1e21/(10·1e14·2e6) = 0.5.
	near(t, "mfu", MFU(1e21, 10, 100, 2e6), 0.5, 1e-15)
	if MFU(1, 0, 1, 1) != 0 {
		t.Error("MFU with no chips should be 0")
	}
}

func TestExpertSplit(t *testing.T) {
	// DeepSeek-V3: (671 − 37)·256/(256 − 8) = 654.45B in routed experts.
	m := presets["deepseek-v3"]
	near(t, "experts", m.ExpertParams(), 634e9*256/248, 1e-12)
	near(t, "dense", m.DenseParams(), 671e9-634e9*256/248, 1e-12)
	if d := presets["llama3-405b"]; d.ExpertParams() != 0 || d.DenseParams() != 405e9 {
		t.Errorf("dense model split = %g/%g", d.ExpertParams(), d.DenseParams())
	}
}

func TestActivationsHandComputed(t *testing.T) {
	m := Model{Params: 8e9, Layers: 4, Hidden: 4096, Heads: 32, SeqLen: 1024}
	sbh := 1024.0 * 1 * 4096 / 2 // s·b·h/t with b=1, t=2
	near(t, "none", ActivationBytesPerLayer(m, 1, 2, RecomputeNone), sbh*(34+5*32*1024.0/4096), 1e-15)
	near(t, "selective", ActivationBytesPerLayer(m, 1, 2, RecomputeSelective), sbh*34, 1e-15)
	near(t, "full", ActivationBytesPerLayer(m, 1, 2, RecomputeFull), sbh*2, 1e-15)
}

func TestMemoryHandComputed(t *testing.T) {
	m := Model{Params: 8e9, Layers: 4, Hidden: 4096, Heads: 32, SeqLen: 1024}
	p := Parallelism{TP: 2, PP: 2, DP: 4, EP: 1, MicroBatch: 1, MicroBatches: 8, Interleave: 1, Recompute: RecomputeNone}
	got := ComputeMemory(m, p, 1, 80, 0.1)
	// 8e9/(2·2) = 2e9 parameters per chip: 2 B weights, 2 B gradients;
	// optimizer 12 B over TP·PP·DP = 16 chips; activations: 2 layers per
	// stage × 2 micro-batches in flight × 74·s·b·h/t.
	near(t, "weights", got.WeightsGiB, 4e9/gib, 1e-12)
	near(t, "gradients", got.GradientsGiB, 4e9/gib, 1e-12)
	near(t, "optimizer", got.OptimizerGiB, 12*8e9/16/gib, 1e-12)
	act := 2 * 2 * 74 * 1024.0 * 4096 / 2
	near(t, "activations", got.ActivationsGiB, act/gib, 1e-12)
	near(t, "total", got.TotalGiB, (8e9+6e9+act)/gib, 1e-12)
	near(t, "usable", got.UsableGiB, 72, 1e-12)

	// ZeRO-0 keeps the whole optimizer state of the chip's parameters.
	near(t, "zero0", ComputeMemory(m, p, 0, 80, 0.1).OptimizerGiB, 12*2e9/gib, 1e-12)
	// Interleaving with v=2 on PP=2 multiplies activations by 1 + 1/4.
	p.Interleave = 2
	near(t, "interleave", ComputeMemory(m, p, 1, 80, 0.1).ActivationsGiB, 1.25*act/gib, 1e-12)
	// Full recompute keeps 2·sbh/t per layer plus one layer's working set.
	p.Interleave, p.Recompute = 1, RecomputeFull
	full := 2*2*2*1024.0*4096/2 + 74*1024.0*4096/2
	near(t, "full", ComputeMemory(m, p, 1, 80, 0.1).ActivationsGiB, full/gib, 1e-12)

	// MoE: experts are split by EP as well; optimizer by DP.
	moe := Model{Params: 100e9, ActiveParams: 10e9, Layers: 4, Hidden: 1024, SeqLen: 128, Experts: 10, TopK: 1}
	q := Parallelism{TP: 1, PP: 1, DP: 8, EP: 4, MicroBatch: 1, MicroBatches: 1, Interleave: 1, Recompute: RecomputeFull}
	e, d := moe.ExpertParams(), moe.DenseParams() // 100e9 and 0 here: (100−10)·10/9
	near(t, "moe experts", e, 100e9, 1e-12)
	mm := ComputeMemory(moe, q, 1, 80, 0)
	near(t, "moe weights", mm.WeightsGiB, 2*(d+e/4)/gib, 1e-12)
	near(t, "moe optimizer", mm.OptimizerGiB, 12*(d+e)/8/gib, 1e-12)
}

func TestStepVolumesHandComputed(t *testing.T) {
	m := Model{Params: 8e9, Layers: 8, Hidden: 4096, SeqLen: 2048}
	p := Parallelism{TP: 4, PP: 2, DP: 8, EP: 1, MicroBatch: 2, MicroBatches: 16, Interleave: 2, Recompute: RecomputeSelective}
	v := StepVolumes(m, p, DefaultAssumptions())
	// TP: 4 per layer per micro-batch of b·s·h·2 bytes, 4 layers per stage.
	want := Collective{Op: OpAllReduce, Group: 4, Stride: 1, Bytes: 2 * 2048 * 4096 * 2, Calls: 16 * 4 * 4}
	if v.Tensor[0] != want {
		t.Errorf("tensor = %+v, want %+v", v.Tensor[0], want)
	}
	// PP: b·s·h·2/TP, twice per micro-batch per virtual stage, stride TP·DP.
	wantPP := Collective{Op: OpP2P, Group: 2, Stride: 32, Bytes: 2 * 2048 * 4096 * 2 / 4, Calls: 16 * 2 * 2}
	if v.Pipeline[0] != wantPP {
		t.Errorf("pipeline = %+v, want %+v", v.Pipeline[0], wantPP)
	}
	// DP: 2 bytes per held parameter (8e9/(4·2)).
	wantDP := Collective{Op: OpAllReduce, Group: 8, Stride: 4, Bytes: 2 * 1e9, Calls: 1}
	if len(v.Data) != 1 || v.Data[0] != wantDP {
		t.Errorf("data = %+v, want %+v", v.Data, wantDP)
	}
	if v.Expert != nil {
		t.Errorf("dense model has expert traffic %+v", v.Expert)
	}

	moe := presets["deepseek-v3"]
	q := Parallelism{TP: 1, PP: 16, DP: 128, EP: 64, MicroBatch: 1, MicroBatches: 120, Interleave: 4, Recompute: RecomputeNone}
	a := DefaultAssumptions()
	a.DispatchBytes = 1
	ev := StepVolumes(moe, q, a)
	// 4096 tokens × 7168 × (1+2)/2 bytes per element, top-8, 4 MoE layers per stage, 4 calls each.
	wantEP := Collective{Op: OpAllToAll, Group: 64, Stride: 1, Bytes: 4096 * 7168 * 1.5, Calls: 120 * 4 * 4, FanOut: 8, RemoteCap: 4}
	if ev.Expert[0] != wantEP {
		t.Errorf("expert = %+v, want %+v", ev.Expert[0], wantEP)
	}
	if len(ev.Data) != 2 || ev.Data[1].Group != 2 || ev.Data[1].Stride != 64 {
		t.Errorf("expert gradients should reduce over DP/EP = 2 with stride EP: %+v", ev.Data)
	}
}

// twoLevel is a fabric of 8-chip domains at 100 GB/s under a 10 GB/s network.
var twoLevel = Fabric{Name: "test", Levels: []Level{
	{Name: "net", BandwidthGBps: 10, LatencyUs: 10, Oversubscription: 1},
	{Name: "node", Size: 8, BandwidthGBps: 100, LatencyUs: 1, Oversubscription: 1},
}}

func TestAlphaBetaHandComputed(t *testing.T) {
	ab := AlphaBeta{}
	const S = 1e9
	// Ring inside one node: 2(n−1)/n·S/B + 2(n−1)·α.
	near(t, "ring", ab.Seconds(twoLevel, Collective{Op: OpAllReduce, Group: 8, Stride: 1, Bytes: S, Calls: 3}),
		3*(2*7.0/8*S/100e9+14*1e-6), 1e-12)
	// 16 ranks over two nodes: reduce-scatter in the node, ring of 2 on S/8 across.
	near(t, "hierarchical", ab.Seconds(twoLevel, Collective{Op: OpAllReduce, Group: 16, Stride: 1, Bytes: S, Calls: 1}),
		2*7.0/8*S/100e9+14e-6+2*0.5*S/8/10e9+2*10e-6, 1e-12)
	// Stride 8: one rank per node, a flat ring over the network.
	near(t, "strided", ab.Seconds(twoLevel, Collective{Op: OpAllReduce, Group: 4, Stride: 8, Bytes: S, Calls: 1}),
		2*3.0/4*S/10e9+6*10e-6, 1e-12)
	// P2P across nodes and inside one.
	near(t, "p2p out", ab.Seconds(twoLevel, Collective{Op: OpP2P, Group: 2, Stride: 8, Bytes: S, Calls: 2}), 2*(S/10e9+10e-6), 1e-12)
	near(t, "p2p in", ab.Seconds(twoLevel, Collective{Op: OpP2P, Group: 2, Stride: 4, Bytes: S, Calls: 1}), S/100e9+1e-6, 1e-12)
	// All-to-all over 16 ranks (2 nodes), fan-out 4: 4·7/16 copies stay in
	// the node, 4·8/16 leave it.
	near(t, "a2a", ab.Seconds(twoLevel, Collective{Op: OpAllToAll, Group: 16, Stride: 1, Bytes: S, Calls: 1, FanOut: 4}),
		S*4*8/16/10e9+10e-6+S*4*7/16/100e9+1e-6, 1e-12)
	// Node-limited routing caps off-node copies at 1; the other copy is forwarded inside.
	near(t, "a2a capped", ab.Seconds(twoLevel, Collective{Op: OpAllToAll, Group: 16, Stride: 1, Bytes: S, Calls: 1, FanOut: 4, RemoteCap: 1}),
		S*1/10e9+10e-6+S*(4*7.0/16+1)/100e9+1e-6, 1e-12)
	// Oversubscription divides the level's bandwidth.
	over := Fabric{Name: "o", Levels: []Level{twoLevel.Levels[0], twoLevel.Levels[1]}}
	over.Levels[0].Oversubscription = 4
	near(t, "oversubscribed", ab.Seconds(over, Collective{Op: OpP2P, Group: 2, Stride: 8, Bytes: S, Calls: 1}), S/2.5e9+10e-6, 1e-12)
}

// TestCommModelAgreesWithAlphaBeta is a differential test: on the cases
// where both models reduce to the same closed form they must agree.
func TestCommModelAgreesWithAlphaBeta(t *testing.T) {
	cm := &CommModel{}
	cases := map[string]Collective{
		"ring in node": {Op: OpAllReduce, Group: 8, Stride: 1, Bytes: 1e9, Calls: 5},
		"p2p in node":  {Op: OpP2P, Group: 2, Stride: 2, Bytes: 1e8, Calls: 7},
		"p2p cross":    {Op: OpP2P, Group: 2, Stride: 8, Bytes: 1e8, Calls: 7},
		"ring strided": {Op: OpAllReduce, Group: 4, Stride: 8, Bytes: 3e9, Calls: 1},
	}
	for name, c := range cases {
		a, b := AlphaBeta{}.Seconds(twoLevel, c), cm.Seconds(twoLevel, c)
		if math.Abs(a-b) > 0.02*a {
			t.Errorf("%s: alpha-beta %.6g s, comm %.6g s", name, a, b)
		}
	}
	// An all-reduce across nodes may pick a better algorithm than alpha-beta's
	// hierarchical one, never a worse one by much.
	c := Collective{Op: OpAllReduce, Group: 64, Stride: 1, Bytes: 1e9, Calls: 1}
	if a, b := (AlphaBeta{}).Seconds(twoLevel, c), cm.Seconds(twoLevel, c); b > 1.05*a {
		t.Errorf("comm %.4g s is much slower than alpha-beta %.4g s", b, a)
	}
}

func TestExposedComm(t *testing.T) {
	c := CommSeconds{Tensor: 1, Pipeline: 2, Data: 4, Expert: 8}
	o := Overlap{Tensor: 0, Pipeline: 0.5, Data: 1, Expert: 0.5}
	// Hidden 0 + 1 + 4 + 4 = 9 ≤ compute 10: exposed 15 − 9 = 6.
	near(t, "fits", exposedComm(c, o, 10), 6, 1e-12)
	// Compute 5 hides only 5 of the 9: exposed 6 + 4.
	near(t, "exceeds", exposedComm(c, o, 5), 10, 1e-12)
}

func TestDalyAndWaste(t *testing.T) {
	// δ = 100 s, M = 20,000 s: √(2δM) = 2000, x = δ/2M = 0.0025.
	near(t, "daly", DalyInterval(100, 20000), 2000*(1+0.05/3+0.0025/9)-100, 1e-12)
	near(t, "daly degenerate", DalyInterval(50000, 20000), 20000, 0)
	// Waste = δ/τ + (τ+δ)/2M + R/M.
	near(t, "waste", Waste(2000, 100, 600, 20000), 100.0/2000+2100.0/40000+600.0/20000, 1e-12)
	near(t, "waste capped", Waste(10, 100, 1e6, 20000), 1, 0)

	// Llama 3 scale: 16,384 chips at 50,700 h give a job MTBF of 3.09 h.
	a := DefaultAssumptions()
	r := reliabilityFor(a, 16384, 405e9, 1000)
	near(t, "job mtbf", r.JobMTBFHours, 50700.0/16384, 1e-12)
	near(t, "delta", r.CheckpointSeconds, 405e9*14/1e12, 1e-12)
	near(t, "ratio", r.EffectiveRatio, 1-r.Waste, 1e-12)
	near(t, "failures", r.ExpectedFailures, 1000/r.EffectiveRatio/r.JobMTBFHours, 1e-12)
	if r.EffectiveRatio < 0.85 || r.EffectiveRatio > 0.95 {
		t.Errorf("Llama 3 effective ratio %.3f; the paper reports > 90%%", r.EffectiveRatio)
	}
}
