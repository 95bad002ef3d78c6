package planner

import "math"

// Bytes per parameter of mixed-precision Adam training.
const (
	weightBytes    = 2  // BF16 weights
	gradBytes      = 2  // BF16 gradients
	optimizerBytes = 12 // FP32 master weights, first and second moments
	gib            = 1 << 30
)

// Parallelism is one way to lay a training job over chips. Data parallelism
// DP counts model replicas; expert parallelism EP splits the routed experts
// across EP of those replicas (so EP divides DP), as Megatron-Core does.
// Chips = TP·PP·DP.
type Parallelism struct {
	TP           int       `json:"tensor"`
	PP           int       `json:"pipeline"`
	DP           int       `json:"data"`
	EP           int       `json:"expert"`
	MicroBatch   int       `json:"micro_batch"`   // sequences per micro-batch
	MicroBatches int       `json:"micro_batches"` // micro-batches per replica per step
	Interleave   int       `json:"interleave"`    // virtual pipeline stages per chip
	Recompute    Recompute `json:"recompute"`
	// RecomputeLayers is, under RecomputePartial, how many layers of each
	// stage are recomputed in full; the planner sets it.
	RecomputeLayers int `json:"recompute_layers,omitempty"`
}

// fullShare is the fraction of a stage's layers recomputed in full.
func (p Parallelism) fullShare(layers int) float64 {
	switch p.Recompute {
	case RecomputeFull:
		return 1
	case RecomputePartial:
		return float64(p.RecomputeLayers) / float64(layersPerStage(layers, p.PP))
	}
	return 0
}

// Chips returns TP·PP·DP.
func (p Parallelism) Chips() int { return p.TP * p.PP * p.DP }

// Memory is the per-chip HBM use of a plan, in GiB, on the busiest
// (first) pipeline stage.
type Memory struct {
	WeightsGiB     float64 `json:"weights_gib"`
	GradientsGiB   float64 `json:"gradients_gib"`
	OptimizerGiB   float64 `json:"optimizer_gib"`
	ActivationsGiB float64 `json:"activations_gib"`
	TotalGiB       float64 `json:"total_gib"`
	UsableGiB      float64 `json:"usable_gib"` // HBM less the safety margin
	HBMGiB         float64 `json:"hbm_gib"`
}

// Fits reports whether the total is within the usable HBM.
func (m Memory) Fits() bool { return m.TotalGiB <= m.UsableGiB }

// layersPerStage returns ⌈L/PP⌉, the layers of the fullest stage.
func layersPerStage(layers, pp int) int { return (layers + pp - 1) / pp }

// ActivationBytesPerLayer returns the activation bytes one transformer layer
// keeps for one micro-batch of b sequences on one chip, with tensor and
// sequence parallelism of degree t (Korthikanti et al. 2022, eq. 2–5):
//
//	none:      s·b·h·(34 + 5·a·s/h) / t
//	selective: s·b·h·34 / t
//	full:      s·b·h·2 / t   (the layer input only)
func ActivationBytesPerLayer(m Model, b, t int, rc Recompute) float64 {
	s, h, a := float64(m.SeqLen), float64(m.Hidden), float64(m.heads())
	sbh := s * float64(b) * h / float64(t)
	switch rc {
	case RecomputeFull:
		return 2 * sbh
	case RecomputeSelective:
		return 34 * sbh
	default:
		return sbh * (34 + 5*a*s/h)
	}
}

// ComputeMemory returns the per-chip memory of plan p for model m on a chip
// with hbmGiB of HBM, keeping margin (a fraction) free.
//
// Weights and gradients of dense parameters are split by TP·PP, those of
// routed experts by TP·PP·EP. With ZeRO stage 1 the optimizer state is also
// split over the data-parallel group (DP replicas for dense parameters,
// DP/EP for experts); with stage 0 it is not. Activations follow 1F1B: the
// first stage holds min(PP, micro-batches) micro-batches of ⌈L/PP⌉ layers,
// ×(1 + (PP−1)/(PP·v)) with v virtual stages; full recomputation adds one
// layer's working set while it is rerun. Under RecomputePartial,
// RecomputeLayers of each stage's layers keep only their input and the rest
// keep the selective set.
func ComputeMemory(m Model, p Parallelism, zero int, hbmGiB, margin float64) Memory {
	tp, pp, ep, dp := float64(p.TP), float64(p.PP), float64(max(p.EP, 1)), float64(p.DP)
	dense, expert := m.DenseParams(), m.ExpertParams()
	params := dense/(tp*pp) + expert/(tp*pp*ep)
	optParams := params
	if zero >= 1 {
		optParams = dense/(tp*pp*dp) + expert/(tp*pp*dp)
	}
	ls := layersPerStage(m.Layers, p.PP)
	inflight := float64(min(p.PP, max(p.MicroBatches, 1)))
	perMB := float64(ls) * ActivationBytesPerLayer(m, p.MicroBatch, p.TP, p.Recompute)
	if p.Recompute == RecomputePartial {
		n := min(p.RecomputeLayers, ls)
		perMB = float64(n)*ActivationBytesPerLayer(m, p.MicroBatch, p.TP, RecomputeFull) +
			float64(ls-n)*ActivationBytesPerLayer(m, p.MicroBatch, p.TP, RecomputeSelective)
	}
	act := inflight * perMB
	if p.Interleave > 1 {
		act *= 1 + (pp-1)/(pp*float64(p.Interleave))
	}
	if p.Recompute == RecomputeFull || (p.Recompute == RecomputePartial && p.RecomputeLayers > 0) {
		act += ActivationBytesPerLayer(m, p.MicroBatch, p.TP, RecomputeNone)
	}
	mem := Memory{
		WeightsGiB:     params * weightBytes / gib,
		GradientsGiB:   params * gradBytes / gib,
		OptimizerGiB:   optParams * optimizerBytes / gib,
		ActivationsGiB: act / gib,
		HBMGiB:         hbmGiB,
		UsableGiB:      hbmGiB * (1 - margin),
	}
	mem.TotalGiB = mem.WeightsGiB + mem.GradientsGiB + mem.OptimizerGiB + mem.ActivationsGiB
	return mem
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
