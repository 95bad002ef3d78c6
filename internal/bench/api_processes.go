package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
)

// APIProcessComparison is `qun bench api --compare-auth R --processes`:
// the benchmark itself, `qun bench api` as a user runs it, with
// authentication off and on, one fresh process per run, 2R runs in the
// order off, on, on, off, ... so that a drifting machine load falls on
// both alike. Each run is the whole benchmark (its own server, clients
// and agents), so nothing is shared between the modes but the machine.
// Single runs on a shared machine spread by a third, so the result gives
// the ratio of the medians with a 90% bootstrap interval: the evidence
// that the ratio is what it is, not one lucky pair.
type APIProcessComparison struct {
	Cores  int          `json:"cores"`
	Rounds int          `json:"rounds"`
	Off    []*APIResult `json:"auth_off"`
	On     []*APIResult `json:"auth_on"`
	// Medians over the runs of each mode.
	OffSubmissionsPerSec float64 `json:"auth_off_submissions_per_sec"`
	OnSubmissionsPerSec  float64 `json:"auth_on_submissions_per_sec"`
	OffCPUPerSubmission  float64 `json:"auth_off_cpu_per_submission_us"`
	OnCPUPerSubmission   float64 `json:"auth_on_cpu_per_submission_us"`
	OffGang32Ms          float64 `json:"auth_off_gang32_submit_to_running_ms"`
	OnGang32Ms           float64 `json:"auth_on_gang32_submit_to_running_ms"`
	// SubmissionsRatio is on ÷ off of the medians, SubmissionsRatio90 the
	// 5th and 95th percentiles of that ratio over bootstrap resamples of
	// the runs (BootstrapResamples, a fixed seed: the same runs give the
	// same interval). CPUPerSubmissionRatio is off ÷ on of the medians
	// (below 1 when authentication costs CPU), Gang32Ratio on ÷ off.
	SubmissionsRatio      float64    `json:"submissions_per_sec_ratio"`
	SubmissionsRatio90    [2]float64 `json:"submissions_per_sec_ratio_90"`
	CPUPerSubmissionRatio float64    `json:"cpu_per_submission_ratio"`
	Gang32Ratio           float64    `json:"gang32_ratio"`
	BootstrapResamples    int        `json:"bootstrap_resamples"`
}

// APIRunner runs the whole API benchmark once, in its own process, with
// authentication on (secure) or off.
type APIRunner func(ctx context.Context, secure bool) (*APIResult, error)

const bootstrapResamples = 4000

// APICompareProcesses runs the comparison with run, rounds runs of each
// mode.
func APICompareProcesses(ctx context.Context, run APIRunner, rounds int, steps Steps) (*APIProcessComparison, error) {
	if rounds < 1 {
		return nil, fmt.Errorf("rounds must be positive")
	}
	c := &APIProcessComparison{Cores: runtime.NumCPU(), Rounds: rounds, BootstrapResamples: bootstrapResamples}
	for i := range 2 * rounds {
		steps.step("bench api: runs, authentication off and on", i, 2*rounds)
		on := i%4 == 1 || i%4 == 2
		r, err := run(ctx, on)
		if err != nil {
			return nil, fmt.Errorf("run %d (auth %t): %w", i+1, on, err)
		}
		if r.Auth != on {
			return nil, fmt.Errorf("run %d: asked for authentication %t, the run reports %t", i+1, on, r.Auth)
		}
		if on {
			c.On = append(c.On, r)
		} else {
			c.Off = append(c.Off, r)
		}
	}
	rate, cpu, gang := (*APIResult).rate, (*APIResult).cpu, (*APIResult).gang
	off, on := figures(c.Off, rate), figures(c.On, rate)
	c.OffSubmissionsPerSec, c.OnSubmissionsPerSec = median(off), median(on)
	c.OffCPUPerSubmission, c.OnCPUPerSubmission = median(figures(c.Off, cpu)), median(figures(c.On, cpu))
	c.OffGang32Ms, c.OnGang32Ms = median(figures(c.Off, gang)), median(figures(c.On, gang))
	c.SubmissionsRatio = c.OnSubmissionsPerSec / c.OffSubmissionsPerSec
	c.SubmissionsRatio90 = bootstrapRatio(off, on, bootstrapResamples)
	c.CPUPerSubmissionRatio = c.OffCPUPerSubmission / c.OnCPUPerSubmission
	c.Gang32Ratio = c.OnGang32Ms / c.OffGang32Ms
	return c, nil
}

// The figures the comparisons take medians of.
func (r *APIResult) rate() float64 { return r.SubmissionsPerSec }
func (r *APIResult) cpu() float64  { return r.CPUPerSubmissionUs }
func (r *APIResult) gang() float64 { return r.Gang32SubmitToRun }

// figures is f of each of rs.
func figures(rs []*APIResult, f func(*APIResult) float64) []float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return v
}

// bootstrapRatio returns the 5th and 95th percentiles of median(on) ÷
// median(off) over n resamples (with replacement, each mode on its own)
// of the runs, from a fixed seed.
func bootstrapRatio(off, on []float64, n int) [2]float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	resample := func(v []float64, buf []float64) float64 {
		for i := range buf {
			buf[i] = v[rng.IntN(len(v))]
		}
		return median(buf)
	}
	bo, bn := make([]float64, len(off)), make([]float64, len(on))
	ratios := make([]float64, n)
	for i := range ratios {
		ratios[i] = resample(on, bn) / resample(off, bo)
	}
	sort.Float64s(ratios)
	return [2]float64{ratios[n*5/100], ratios[n*95/100]}
}
