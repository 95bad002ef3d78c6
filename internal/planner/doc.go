// Package planner is Qun's capacity and cost planner: for a model, a token
// budget and one or more chip kinds (or pools) it finds the best parallelism
// plan that fits in HBM, prices a training step (compute, pipeline bubble,
// communication after overlap), and turns that into chips needed for a
// deadline or time to finish on given chips, energy, cost and the expected
// faults with the checkpoint interval that minimises lost time.
//
// # Using it
//
// A Request maps one-to-one onto the flags of `qun plan`:
//
//	m, _ := planner.Preset("dense-70b")
//	res, err := planner.Plan(planner.Request{
//		Model:    m,
//		Tokens:   15e12,
//		Targets:  []planner.Target{{Kind: "910C"}, {Kind: "H100"}},
//		Deadline: 30 * 24 * time.Hour,
//	})
//	// res is non-nil whenever the request itself is valid; targets that
//	// cannot be planned carry an Error and are joined into err.
//	planner.Render(os.Stdout, res, planner.FormatTable)
//
// Compare runs several models on several kinds side by side; Validate
// reproduces the published runs the planner is calibrated and checked on.
// Every error caused by the input wraps ErrInput (exit code 2 in the CLI);
// FitError, DeadlineError and UnknownKindError carry the details.
//
// # The model
//
// FLOPs per token are 6·N_active + 6·L·s·d (ModelFLOPsPerToken); memory is
// mixed-precision Adam with ZeRO-1 plus Korthikanti et al.'s activation
// formula (ComputeMemory); each parallelism dimension's traffic is a
// closed-form volume (StepVolumes) priced on a Fabric by a CommEstimator
// (CommModel over internal/comm by default, AlphaBeta as the built-in
// fallback). One achieved-fraction-of-peak factor per chip kind, fitted to
// the Llama 3 405B run for H100, turns FLOPs into seconds. docs/planner.md
// states every formula, default and source.
//
// # Caveats
//
//   - The efficiency factor of kinds without a published run (910B, 910C,
//     H20, 950DT) is H100's, carried over; it is printed as such and should
//     be overridden with measured figures.
//   - Pipeline stages are assumed balanced apart from ⌈L/PP⌉ rounding;
//     embeddings, the output layer and MoE load imbalance are not modelled.
//   - Ranks are laid out in Megatron order (TP fastest, then DP, then PP);
//     a pool whose domains are unequal must be described by its levels'
//     common sizes (PoolTarget rejects unequal ones).
//   - Plan does no I/O and starts no goroutines; a CommModel may be shared
//     by concurrent calls.
package planner
