package planner

import "math"

// Reliability is the fault model of one run.
type Reliability struct {
	JobMTBFHours      float64 `json:"job_mtbf_hours"`              // chip MTBF / chips
	CheckpointSeconds float64 `json:"checkpoint_seconds"`          // δ: time to write one checkpoint
	IntervalMinutes   float64 `json:"checkpoint_interval_minutes"` // Daly's optimum
	YoungMinutes      float64 `json:"young_interval_minutes"`      // Young's first-order optimum
	// Spares are the hosts to keep spare: the p-quantile of the hosts in
	// repair at once (Spares), at one host per fault.
	Spares           int     `json:"spares"`
	ExpectedFailures float64 `json:"expected_failures"`
	Waste            float64 `json:"waste"`           // fraction of wall time lost
	EffectiveRatio   float64 `json:"effective_ratio"` // 1 − waste
}

// DalyInterval returns the checkpoint interval that minimises lost time for
// checkpoint write time delta and job MTBF m (same unit), by Daly's
// higher-order formula τ = √(2δM)·[1 + ⅓·√(δ/2M) + (δ/2M)/9] − δ, or M when
// δ ≥ 2M. Young's first-order τ = √(2δM) is its leading term.
func DalyInterval(delta, m float64) float64 {
	if delta <= 0 {
		return 0
	}
	if delta >= 2*m {
		return m
	}
	x := delta / (2 * m)
	return math.Sqrt(2*delta*m)*(1+math.Sqrt(x)/3+x/9) - delta
}

// Waste returns the fraction of time lost to checkpoints and failures for
// interval tau, write time delta, restart time r and job MTBF m:
// δ/τ (writing) + (τ+δ)/2M (work redone after a fault, half an interval on
// average) + R/M (restarting). It is capped at 1.
func Waste(tau, delta, r, m float64) float64 {
	if m <= 0 {
		return 1
	}
	w := r / m
	if tau > 0 {
		w += delta/tau + (tau+delta)/(2*m)
	}
	return math.Min(w, 1)
}

// reliabilityFor returns the fault model for chips chips training a model of
// params parameters for computeHours of fault-free time.
func reliabilityFor(a Assumptions, chips int, params, computeHours float64) Reliability {
	m := a.ChipMTBFHours / float64(chips) * 3600 // seconds
	delta := params * a.CheckpointBytesPP / (a.CheckpointGBps * 1e9)
	tau := DalyInterval(delta, m)
	w := Waste(tau, delta, a.Restart.Seconds(), m)
	r := Reliability{
		JobMTBFHours:      m / 3600,
		CheckpointSeconds: delta,
		IntervalMinutes:   tau / 60,
		YoungMinutes:      YoungInterval(delta, m) / 60,
		Spares:            Spares(float64(chips)/a.ChipMTBFHours*a.RepairHours, a.SparePercentile),
		Waste:             w,
		EffectiveRatio:    1 - w,
	}
	if r.EffectiveRatio > 0 {
		r.ExpectedFailures = computeHours / r.EffectiveRatio / r.JobMTBFHours
	}
	return r
}
