package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Report is what `qun sim` writes: every run, and per policy the means over
// seeds. AllocAt130, AllocCurve and WallSeconds repeat the first policy's
// figures at the top for scripts.
type Report struct {
	Experiment  string          `json:"experiment"` // "fgd" or "replay"
	Trace       string          `json:"trace"`
	Nodes       string          `json:"nodes"`
	Policies    []string        `json:"policies"`
	Seeds       []int64         `json:"seeds"`
	AllocAt130  *float64        `json:"alloc_at_130,omitempty"`
	AllocCurve  []*float64      `json:"alloc_curve,omitempty"`
	Summary     []PolicySummary `json:"summary"`
	FGD         []*FGDResult    `json:"fgd_runs,omitempty"`
	Replay      []*ReplayResult `json:"replay_runs,omitempty"`
	WallSeconds float64         `json:"wall_seconds"`
}

// PolicySummary is one policy's figures averaged over the seeds.
type PolicySummary struct {
	Policy string `json:"policy"`
	Runs   int    `json:"runs"`
	// FGD experiment.
	AllocAt130    *float64   `json:"alloc_at_130,omitempty"`
	AllocStdev    *float64   `json:"alloc_at_130_stdev,omitempty"`
	FailedPods    *float64   `json:"failed_pods,omitempty"`
	AllocCurve    []*float64 `json:"alloc_curve,omitempty"`
	FragCurve     []*float64 `json:"frag_curve,omitempty"`
	FragAt100     *float64   `json:"frag_at_100,omitempty"`
	IdleGPUsAt130 *float64   `json:"idle_gpus_at_130,omitempty"`
	// Packing bound (FGDOptions.Bound): means over the runs that have each
	// figure (see FGDResult).
	FirstFailureArrived      *float64 `json:"first_failure_arrived,omitempty"`
	ShareChipsAtFirstFailure *float64 `json:"share_chips_at_first_failure,omitempty"`
	ShareChipsBound          *float64 `json:"share_chips_bound,omitempty"`
	ShareBoundGap            *float64 `json:"share_bound_gap_gpus,omitempty"`
	// Replay.
	MeanUtil *float64 `json:"mean_util,omitempty"`
	WaitMean *float64 `json:"wait_mean_s,omitempty"`
	WaitP90  *float64 `json:"wait_p90_s,omitempty"`
	JCTMean  *float64 `json:"jct_mean_s,omitempty"`
	JCTP90   *float64 `json:"jct_p90_s,omitempty"`
}

func ptr(v float64) *float64 { v = round2(v); return &v }

func meanCurve(cs [][]*float64) []*float64 {
	if len(cs) == 0 {
		return nil
	}
	out := make([]*float64, len(cs[0]))
	for x := range out {
		var s float64
		n := 0
		for _, c := range cs {
			if x < len(c) && c[x] != nil {
				s += *c[x]
				n++
			}
		}
		if n == len(cs) {
			out[x] = ptr(s / float64(n))
		}
	}
	return out
}

// Summarise fills Summary and the headline fields from the runs.
func (r *Report) Summarise() {
	r.Summary = nil
	for _, p := range r.Policies {
		s := PolicySummary{Policy: p}
		var allocs, failed []float64
		var curves, frags [][]*float64
		for _, f := range r.FGD {
			if f.Policy == p {
				allocs = append(allocs, f.AllocAt130)
				failed = append(failed, float64(f.Failed))
				curves = append(curves, f.AllocCurve)
				frags = append(frags, f.FragCurve)
			}
		}
		if len(allocs) > 0 {
			s.Runs = len(allocs)
			m, sd := meanStdev(allocs)
			s.AllocAt130, s.AllocStdev = ptr(m), ptr(sd)
			fm, _ := meanStdev(failed)
			s.FailedPods = ptr(fm)
			s.AllocCurve, s.FragCurve = meanCurve(curves), meanCurve(frags)
			if v := s.FragCurve[100]; v != nil {
				s.FragAt100 = v
			}
			if len(r.FGD) > 0 {
				s.IdleGPUsAt130 = ptr(float64(r.FGD[0].CapacityGPUs) * (100 - m) / 100)
			}
			s.summariseBound(r.FGD)
		}
		var util, wm, w90, jm, j90 []float64
		for _, rr := range r.Replay {
			if rr.Policy == p {
				util = append(util, rr.MeanUtil)
				wm, w90 = append(wm, rr.Wait.Mean), append(w90, rr.Wait.P90)
				jm, j90 = append(jm, rr.JCT.Mean), append(j90, rr.JCT.P90)
			}
		}
		if len(util) > 0 {
			s.Runs = len(util)
			mean := func(v []float64) *float64 { m, _ := meanStdev(v); return ptr(m) }
			s.MeanUtil, s.WaitMean, s.WaitP90, s.JCTMean, s.JCTP90 = mean(util), mean(wm), mean(w90), mean(jm), mean(j90)
		}
		r.Summary = append(r.Summary, s)
	}
	if len(r.Summary) > 0 && r.Summary[0].AllocAt130 != nil {
		r.AllocAt130, r.AllocCurve = r.Summary[0].AllocAt130, r.Summary[0].AllocCurve
	}
}

// summariseBound fills the packing-bound means from the policy's runs.
func (s *PolicySummary) summariseBound(runs []*FGDResult) {
	var arrived, chips, bound, gap []float64
	for _, f := range runs {
		if f.Policy != s.Policy {
			continue
		}
		if f.FirstFailureArrived != nil {
			arrived = append(arrived, *f.FirstFailureArrived)
		}
		if f.ShareChipsAtFirstFailure != nil {
			chips = append(chips, float64(*f.ShareChipsAtFirstFailure))
		}
		if f.ShareChipsBound != nil {
			bound = append(bound, *f.ShareChipsBound)
		}
		if f.ShareBoundGap != nil {
			gap = append(gap, *f.ShareBoundGap)
		}
	}
	mean := func(v []float64) *float64 {
		if len(v) == 0 {
			return nil
		}
		m, _ := meanStdev(v)
		return ptr(m)
	}
	s.FirstFailureArrived, s.ShareChipsAtFirstFailure = mean(arrived), mean(chips)
	s.ShareChipsBound, s.ShareBoundGap = mean(bound), mean(gap)
}

// HasBound reports whether any policy has packing-bound figures.
func (r *Report) HasBound() bool {
	for _, s := range r.Summary {
		if s.ShareChipsAtFirstFailure != nil {
			return true
		}
	}
	return false
}

func meanStdev(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	var d float64
	for _, x := range v {
		d += (x - m) * (x - m)
	}
	return m, math.Sqrt(d / float64(len(v)))
}

// JSON encodes the report, indented.
func (r *Report) JSON() ([]byte, error) { return indentedJSON(r) }

// indentedJSON encodes v with two-space indentation and a final newline.
func indentedJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Plot file names written by WriteDir.
const (
	PlotAlloc   = "alloc.svg"
	PlotFrag    = "frag.svg"
	PlotUtil    = "util.svg"
	PlotWaitCDF = "wait_cdf.svg"
)

// Charts returns the report's plots by file name.
func (r *Report) Charts() map[string]*Chart {
	out := map[string]*Chart{}
	if len(r.FGD) > 0 {
		alloc := &Chart{Title: "GPU share allocated against arrived load", XLabel: "arrived GPU share of capacity (%)", YLabel: "allocated GPU share (%)"}
		frag := &Chart{Title: "Fragmented GPU share against arrived load", XLabel: "arrived GPU share of capacity (%)", YLabel: "fragmented GPU share (%)"}
		for _, s := range r.Summary {
			alloc.Series = append(alloc.Series, curveSeries(s.Policy, s.AllocCurve))
			frag.Series = append(frag.Series, curveSeries(s.Policy, s.FragCurve))
		}
		out[PlotAlloc], out[PlotFrag] = alloc, frag
	}
	if len(r.Replay) > 0 {
		util := &Chart{Title: "GPU utilisation over time", XLabel: "time (hours from the first arrival)", YLabel: "allocated GPU share (%)"}
		wait := &Chart{Title: "Waiting time CDF", XLabel: "waiting time (s, log scale; 0 not shown)", YLabel: "share of jobs", LogX: true}
		for _, rr := range r.Replay {
			if rr.Seed != r.Seeds[0] {
				continue
			}
			s := Series{Name: rr.Policy}
			var t0 int64
			if len(rr.Util) > 0 {
				t0 = rr.Util[0].T
			}
			for _, u := range rr.Util {
				s.X = append(s.X, float64(u.T-t0)/3600)
				s.Y = append(s.Y, u.Util)
			}
			util.Series = append(util.Series, s)
			c := Series{Name: rr.Policy}
			for _, p := range rr.WaitCDF {
				c.X = append(c.X, p.V)
				c.Y = append(c.Y, p.P)
			}
			wait.Series = append(wait.Series, c)
		}
		out[PlotUtil], out[PlotWaitCDF] = util, wait
	}
	return out
}

func curveSeries(name string, c []*float64) Series {
	s := Series{Name: name}
	for x, v := range c {
		if v != nil {
			s.X = append(s.X, float64(x))
			s.Y = append(s.Y, *v)
		}
	}
	return s
}

// Markdown renders the human report; plots are referenced by file name.
func (r *Report) Markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Qun simulation report\n\n")
	fmt.Fprintf(&b, "- Experiment: %s\n- Trace: %s\n- Nodes: %s\n- Seeds: %s\n\n", r.Experiment, r.Trace, r.Nodes, seedList(r.Seeds))
	if len(r.FGD) > 0 {
		b.WriteString("## GPU share allocated at 130% arrived load\n\n")
		b.WriteString("| policy | runs | alloc at 130 (%) | stdev | idle GPUs | failed pods | frag at 100 (%) |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Summary {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", s.Policy, s.Runs, f2(s.AllocAt130), f2(s.AllocStdev),
				f2(s.IdleGPUsAt130), f2(s.FailedPods), f2(s.FragAt100))
		}
		b.WriteString("\n![allocation](" + PlotAlloc + ")\n\n![fragmentation](" + PlotFrag + ")\n\n")
		if r.HasBound() {
			b.WriteString("## Packing bound at the first failure\n\n")
			b.WriteString("GPUs holding shares when the first pod fails, against the LP lower bound on the GPUs those shares need " +
				"(Gilmore–Gomory; CPU and memory ignored, so the bound is optimistic). Means over seeds.\n\n")
			b.WriteString("| policy | arrived at first failure (%) | share GPUs | LP bound | gap (GPUs) |\n|---|---:|---:|---:|---:|\n")
			for _, s := range r.Summary {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", s.Policy, f2(s.FirstFailureArrived), f2(s.ShareChipsAtFirstFailure),
					f2(s.ShareChipsBound), f2(s.ShareBoundGap))
			}
			b.WriteString("\n")
		}
		b.WriteString("### Runs\n\n| policy | seed | pods | failed | alloc at 130 (%) |\n|---|---:|---:|---:|---:|\n")
		for _, f := range r.FGD {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %.2f |\n", f.Policy, f.Seed, f.Pods, f.Failed, f.AllocAt130)
		}
		b.WriteString("\n")
	}
	if len(r.Replay) > 0 {
		b.WriteString("## Replay\n\n| policy | runs | mean util (%) | wait mean (s) | wait p90 (s) | JCT mean (s) | JCT p90 (s) |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Summary {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", s.Policy, s.Runs, f2(s.MeanUtil), f2(s.WaitMean), f2(s.WaitP90), f2(s.JCTMean), f2(s.JCTP90))
		}
		b.WriteString("\n![utilisation](" + PlotUtil + ")\n\n![waiting time](" + PlotWaitCDF + ")\n\n")
		for _, rr := range r.Replay {
			fmt.Fprintf(&b, "### %s, seed %d\n\n%d jobs, %d started, %d never started, %d cycles over %.1f days.\n\n",
				rr.Policy, rr.Seed, rr.Jobs, rr.Started, rr.NeverStarted, rr.Cycles, float64(rr.SpanSeconds)/86400)
			b.WriteString("| tenant | jobs | wait mean (s) | wait p90 (s) | JCT mean (s) | JCT p90 (s) |\n|---|---:|---:|---:|---:|---:|\n")
			for _, t := range rr.Tenants {
				fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %.2f |\n", t.Tenant, t.Jobs, t.Wait.Mean, t.Wait.P90, t.JCT.Mean, t.JCT.P90)
			}
			b.WriteString("\n")
		}
	}
	return []byte(b.String())
}

func f2(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *v)
}

func seedList(s []int64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}

// WriteDir writes report.json, report.md and the plots into dir.
func (r *Report) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	files := map[string][]byte{"report.json": js, "report.md": r.Markdown()}
	for name, c := range r.Charts() {
		files[name] = c.SVG()
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return nil
}
