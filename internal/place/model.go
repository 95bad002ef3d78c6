package place

import (
	"math"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/job"
)

// Assumptions of the default communication and compute model, used when a
// job gives no per-step volumes (see docs/placement.md).
const (
	// StateBytesPerParam is the memory one parameter takes in mixed-precision
	// training with Adam: bf16 weights and gradients, fp32 master weights
	// and two moments.
	StateBytesPerParam = 16
	// StateShareOfHBM is the share of a chip's memory taken by model state;
	// the rest holds activations.
	StateShareOfHBM = 0.5
	// TokensPerChipStep is the tokens each data-parallel replica processes
	// per step (every chip of the replica works on all of them).
	TokensPerChipStep = 4096
	// FLOPsPerParamToken is the training FLOPs per parameter and token
	// (forward and backward).
	FLOPsPerParamToken = 6
	// AssumedMFU is the share of peak throughput a step achieves.
	AssumedMFU = 0.4
	// DefaultRunSeconds is the run time assumed for a job that gives none.
	DefaultRunSeconds = 3600
)

// PlanFor returns the comm plan of a job spread over units (chips for
// whole-chip ranks): the job's parallelism when it fits, with Data derived
// when it was not given, else pure data parallelism.
func PlanFor(p job.Parallelism, units int) comm.Plan {
	q := comm.Plan{Tensor: max(p.Tensor, 1), Pipeline: max(p.Pipeline, 1), Data: p.Data, Expert: max(p.Expert, 1)}
	if q.Data == 0 && units%(q.Tensor*q.Pipeline) == 0 {
		q.Data = units / (q.Tensor * q.Pipeline)
	}
	if q.Validate(units) != nil {
		return comm.Plan{Tensor: 1, Pipeline: 1, Data: units, Expert: 1}
	}
	return q
}

// ParamsPerChip is the parameters one chip holds when its model state
// fills StateShareOfHBM of hbmGiB.
func ParamsPerChip(hbmGiB float64) float64 {
	return StateShareOfHBM * hbmGiB * (1 << 30) / StateBytesPerParam
}

// DefaultVolumes derives a step's per-chip volumes from the plan when a job
// gives none, for a dense transformer trained Megatron-style:
//
//   - each chip holds p = ParamsPerChip(hbmGiB) parameters; a replica
//     (T×P chips) holds 12·L·h² = p·T·P with L = h/128 layers, which gives
//     the hidden size h;
//   - each replica processes τ = TokensPerChipStep tokens per step;
//   - data all-reduce: the bf16 gradient, 2p bytes;
//   - tensor all-reduce: 4 all-reduces of the τ×h bf16 activations per
//     layer (2 forward, 2 backward) over the chip's L/P layers: 8·τ·h·L/P;
//   - pipeline transfer: the activations forward and their gradients
//     backward, sharded over the tensor group: 4·τ·h/T;
//   - expert all-to-all: dispatch and combine, forward and backward, of the
//     τ×h activations per layer, sharded over the tensor group: 8·τ·h·L/(P·T).
//
// Each volume is set only when its dimension exceeds 1. hbmGiB is the
// smallest memory among the kinds the job accepts, so the job's size does
// not depend on where it runs.
func DefaultVolumes(p comm.Plan, hbmGiB float64) comm.Volumes {
	q := PlanNorm(p)
	params := ParamsPerChip(hbmGiB)
	h := math.Cbrt(params * float64(q.Tensor*q.Pipeline) * 128 / 12)
	layers := h / 128 / float64(q.Pipeline) // per stage
	tau := float64(TokensPerChipStep)
	var v comm.Volumes
	if q.Data > 1 {
		v.DataBytes = 2 * params
	}
	if q.Tensor > 1 {
		v.TensorBytes = 8 * tau * h * layers
	}
	if q.Pipeline > 1 {
		v.PipelineBytes = 4 * tau * h / float64(q.Tensor)
	}
	if q.Expert > 1 {
		v.ExpertBytes = 8 * tau * h * layers / float64(q.Tensor)
	}
	return v
}

// PlanNorm returns p with zero sizes read as 1.
func PlanNorm(p comm.Plan) comm.Plan {
	return comm.Plan{Tensor: max(p.Tensor, 1), Pipeline: max(p.Pipeline, 1), Data: max(p.Data, 1), Expert: max(p.Expert, 1)}
}

// VolumesFor returns the job's volumes, or DefaultVolumes when it gives
// none; defaulted reports which.
func VolumesFor(c job.Communication, p comm.Plan, hbmGiB float64) (v comm.Volumes, defaulted bool) {
	if c == (job.Communication{}) {
		return DefaultVolumes(p, hbmGiB), true
	}
	return comm.Volumes{TensorBytes: c.TensorBytes, PipelineBytes: c.PipelineBytes, DataBytes: c.DataBytes, ExpertBytes: c.ExpertBytes}, false
}

// ComputeSeconds is the modelled compute time of one step on a chip of
// tflops dense BF16 TFLOPS: FLOPsPerParamToken × params × TokensPerChipStep
// at AssumedMFU. params per chip is DataBytes/2 when the job all-reduces
// gradients, else ParamsPerChip(hbmGiB).
func ComputeSeconds(v comm.Volumes, hbmGiB, tflops float64) float64 {
	params := v.DataBytes / 2
	if params <= 0 {
		params = ParamsPerChip(hbmGiB)
	}
	if tflops <= 0 {
		return math.Inf(1)
	}
	return FLOPsPerParamToken * params * TokensPerChipStep / (tflops * 1e12 * AssumedMFU)
}
