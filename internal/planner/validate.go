package planner

import (
	"fmt"
	"math"
)

// ValidationRow compares one predicted figure with a published one.
type ValidationRow struct {
	Run        string  `json:"run"`
	Kind       string  `json:"kind"`
	Metric     string  `json:"metric"`
	Predicted  float64 `json:"predicted"`
	Published  float64 `json:"published"`
	ErrorPct   float64 `json:"error_pct"`  // 100·(predicted − published)/published
	Calibrated bool    `json:"calibrated"` // the kind's efficiency was fitted to this run
	Plan       string  `json:"plan"`
}

// Validation is a full validation report.
type Validation struct {
	Rows []ValidationRow `json:"rows"`
	// Efficiency is the fitted achieved fraction of peak per calibrated kind.
	Efficiency map[string]float64 `json:"efficiency"`
}

// PublishedRun is a training run with published figures, set up as a
// planner request. Sources are in docs/planner-sources.md.
type PublishedRun struct {
	Name      string
	Kind      string
	Model     Model
	Chips     int
	Tokens    float64
	BatchTok  float64
	Fixed     Parallelism
	Overlap   *Overlap // the stack's documented overlap, where it differs from the default
	Dispatch  float64  // MoE dispatch bytes per element, when published
	Metric    string   // "mfu" or "chip_hours"
	Published float64
}

// PublishedRuns returns the runs the planner is checked against. The first
// is the calibration run for H100; H800 (same silicon as H100) and A100
// carry that calibration over, so their runs are validation.
func PublishedRuns() []PublishedRun {
	llama, gpt3, dsv3 := presets["llama3-405b"], presets["gpt3-175b"], presets["deepseek-v3"]
	def := DefaultAssumptions().Overlap
	mega := def
	mega.Tensor = OverlappedByDesign // MegaScale fuses TP/SP collectives with the adjacent GEMMs
	dual := def
	dual.Expert, dual.Pipeline = OverlappedByDesign, OverlappedByDesign // DualPipe hides all-to-all and PP sends
	return []PublishedRun{
		{Name: "llama3-405b", Kind: "H100", Model: llama, Chips: 16384, Tokens: 15.6e12, BatchTok: 16 << 20,
			Fixed: Parallelism{TP: 8, PP: 16, MicroBatch: 1}, Metric: "mfu", Published: 0.41},
		{Name: "llama3-405b", Kind: "H100", Model: llama, Chips: 16384, Tokens: 15.6e12, BatchTok: 16 << 20,
			Fixed: Parallelism{TP: 8, PP: 16, MicroBatch: 1}, Metric: "chip_hours", Published: 30.84e6},
		{Name: "megascale-175b", Kind: "A100", Model: gpt3, Chips: 12288, Tokens: 300e9, BatchTok: 6144 * 2048,
			Overlap: &mega, Metric: "mfu", Published: 0.552},
		{Name: "deepseek-v3", Kind: "H800", Model: dsv3, Chips: 2048, Tokens: 14.8e12, BatchTok: 15360 * 4096,
			Fixed: Parallelism{TP: 1, PP: 16, EP: 64, MicroBatch: 1}, Overlap: &dual, Dispatch: 1,
			Metric: "chip_hours", Published: 2.664e6},
	}
}

// calibrationRun is the run each calibrated kind is fitted to (index into
// PublishedRuns).
var calibrationRun = map[string]int{"H100": 0}

func (r PublishedRun) request(a Assumptions, comm CommEstimator) Request {
	a = a.Clone()
	if r.Overlap != nil {
		a.Overlap = *r.Overlap
	}
	if r.Dispatch > 0 {
		a.DispatchBytes = r.Dispatch
	}
	return Request{Model: r.Model, Tokens: r.Tokens, Targets: []Target{{Kind: r.Kind}}, Chips: r.Chips,
		GlobalBatchTokens: r.BatchTok, Fixed: r.Fixed, Assumptions: &a, Comm: comm}
}

func (r PublishedRun) predict(a Assumptions, comm CommEstimator) (float64, KindResult, error) {
	res, err := Plan(r.request(a, comm))
	if err != nil {
		return 0, KindResult{}, fmt.Errorf("run %s: %w", r.Name, err)
	}
	kr := res.Kinds[0]
	if r.Metric == "mfu" {
		return kr.MFU, kr, nil
	}
	return kr.ChipHours, kr, nil
}

// Validate calibrates with the default assumptions and the built-in
// communication model and returns the rows.
func Validate() []ValidationRow {
	v, err := ValidateWith(DefaultAssumptions(), nil)
	if err != nil {
		return []ValidationRow{{Run: "error", Metric: err.Error()}}
	}
	return v.Rows
}

// ValidateWith fits the achieved fraction of peak of each calibrated kind to
// its calibration run (bisection on the predicted metric), applies it to
// that kind and as the default for uncalibrated kinds, and predicts every
// published run.
func ValidateWith(a Assumptions, comm CommEstimator) (*Validation, error) {
	runs := PublishedRuns()
	a = a.Clone()
	if comm == nil {
		comm = &CommModel{} // one cache for every run and bisection step
	}
	out := &Validation{Efficiency: map[string]float64{}}
	for kind, i := range calibrationRun {
		eff, err := fit(runs[i], a, comm)
		if err != nil {
			return nil, err
		}
		a.Efficiency[kind] = eff
		a.DefaultEfficiency = eff
		out.Efficiency[kind] = eff
	}
	for i, r := range runs {
		pred, kr, err := r.predict(a, comm)
		if err != nil {
			return nil, err
		}
		_, calibratedKind := calibrationRun[r.Kind]
		calibrated := calibratedKind && runs[calibrationRun[r.Kind]].Name == r.Name
		_ = i
		out.Rows = append(out.Rows, ValidationRow{
			Run: r.Name, Kind: r.Kind, Metric: r.Metric, Predicted: pred, Published: r.Published,
			ErrorPct: round(100*(pred-r.Published)/r.Published, 1), Calibrated: calibrated,
			Plan: fmt.Sprintf("TP%d PP%d DP%d EP%d mb%d v%d %s", kr.Plan.TP, kr.Plan.PP, kr.Plan.DP, kr.Plan.EP,
				kr.Plan.MicroBatch, kr.Plan.Interleave, kr.Plan.Recompute),
		})
	}
	return out, nil
}

// fit finds the efficiency at which run r's predicted metric equals the
// published one.
func fit(r PublishedRun, a Assumptions, comm CommEstimator) (float64, error) {
	lo, hi := 0.05, 1.0
	at := func(eff float64) (float64, error) {
		b := a.Clone()
		b.Efficiency[r.Kind] = eff
		v, _, err := r.predict(b, comm)
		return v, err
	}
	for i := 0; i < 40; i++ {
		mid := (lo + hi) / 2
		v, err := at(mid)
		if err != nil {
			return 0, err
		}
		// MFU rises with efficiency; chip-hours fall.
		if (r.Metric == "mfu") == (v < r.Published) {
			lo = mid
		} else {
			hi = mid
		}
	}
	eff := (lo + hi) / 2
	if eff >= 0.999 || eff <= 0.051 {
		return 0, fmt.Errorf("calibration on %s did not converge (efficiency %.3f)", r.Name, eff)
	}
	return math.Round(eff*1000) / 1000, nil
}
