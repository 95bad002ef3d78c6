package planner

// Recompute is the activation recomputation policy of a plan.
type Recompute string

// Recomputation policies (Korthikanti et al. 2022).
const (
	RecomputeNone      Recompute = "none"      // keep every activation
	RecomputeSelective Recompute = "selective" // recompute the attention core (what FlashAttention does)
	RecomputeFull      Recompute = "full"      // keep only each layer's input; rerun the layer's forward pass
	// RecomputePartial recomputes the fewest layers of each stage in full
	// that make the plan fit, and the rest selectively (Megatron's
	// "block" method with --recompute-num-layers).
	RecomputePartial Recompute = "partial"
)

var recomputes = []Recompute{RecomputeNone, RecomputeSelective, RecomputePartial, RecomputeFull}

// ModelFLOPsPerToken returns the model FLOPs of training on one token:
// 6·N_active for the parameter matrix products (2 forward, 4 backward) plus
// 6·L·s·d for causal attention, where d is AttnDim (Hidden unless set):
// forward Q·Kᵀ and A·V cost 2·s·d each per token and layer, causal masking
// halves that, and backward doubles forward. Recomputation is not counted:
// this is the numerator of MFU.
func ModelFLOPsPerToken(m Model) float64 {
	return 6*m.active() + 6*float64(m.Layers)*float64(m.SeqLen)*m.attnDim()
}

// HardwareFLOPsPerToken returns the FLOPs the chips execute per token, with
// recomputation: full recompute repeats the forward pass (+1/3), selective
// recompute repeats the forward attention core (+2·L·s·d). fullShare is the
// fraction of layers recomputed in full under RecomputePartial (the rest
// are selective); other policies ignore it.
func HardwareFLOPsPerToken(m Model, rc Recompute, fullShare float64) float64 {
	f := ModelFLOPsPerToken(m)
	attn := 2 * float64(m.Layers) * float64(m.SeqLen) * m.attnDim()
	switch rc {
	case RecomputeFull:
		return f + f/3
	case RecomputeSelective:
		return f + attn
	case RecomputePartial:
		return f + fullShare*f/3 + (1-fullShare)*attn
	}
	return f
}

// TrainingFLOPs returns the model FLOPs of training on tokens tokens.
func TrainingFLOPs(m Model, tokens float64) float64 { return ModelFLOPsPerToken(m) * tokens }

// MFU returns model FLOPs utilisation: model FLOPs over chips·peak·seconds.
func MFU(modelFLOPs float64, chips int, peakTFLOPS, seconds float64) float64 {
	if chips <= 0 || peakTFLOPS <= 0 || seconds <= 0 {
		return 0
	}
	return modelFLOPs / (float64(chips) * peakTFLOPS * 1e12 * seconds)
}
