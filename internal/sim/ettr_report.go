package sim

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// JSON encodes the report, indented. Only the wall_seconds fields differ
// between two runs of the same command.
func (r *ETTRReport) JSON() ([]byte, error) { return indentedJSON(r) }

// WriteDir writes report.json, report.md and progress.svg into dir.
func (r *ETTRReport) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), js, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "progress.svg"), r.ProgressChart().SVG(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ettr.svg"), r.RunningChart().SVG(), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	if err := r.Markdown(&md, "progress.svg"); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), md.Bytes(), 0o644)
}

// ProgressChart plots productive time against wall time for the first seed
// of every setting (at most eight), with the first setting's faults marked.
func (r *ETTRReport) ProgressChart() *Chart {
	c := &Chart{Title: fmt.Sprintf("Training progress, %d chips, seed %d", r.JobChips, r.firstSeed()),
		XLabel: "wall time (days)", YLabel: "productive time (days)", MarkLabel: "fault"}
	ideal := Series{Name: "no faults", X: []float64{0, r.Days}, Y: []float64{0, r.Days}}
	c.Series = append(c.Series, ideal)
	for i, run := range r.firstRuns() {
		if i == 7 {
			break
		}
		s := Series{Name: fmt.Sprintf("%s %s", run.Recovery, fmtInterval(run.IntervalS))}
		pts := run.Timeline
		step := max(1, len(pts)/1500)
		s.X, s.Y = append(s.X, 0), append(s.Y, 0)
		for k := 0; k < len(pts); k += step {
			s.X = append(s.X, pts[k].T/24)
			s.Y = append(s.Y, pts[k].Work/24)
		}
		if n := len(pts); n > 0 {
			s.X, s.Y = append(s.X, pts[n-1].T/24), append(s.Y, pts[n-1].Work/24)
		}
		c.Series = append(c.Series, s)
		if i == 0 {
			for _, h := range run.FaultHours {
				c.Marks = append(c.Marks, h/24)
			}
		}
	}
	return c
}

// RunningChart plots the ETTR so far (productive ÷ wall time since the first
// start) for the same runs as ProgressChart: each fault is a dip.
func (r *ETTRReport) RunningChart() *Chart {
	c := &Chart{Title: fmt.Sprintf("ETTR so far, %d chips, seed %d", r.JobChips, r.firstSeed()),
		XLabel: "wall time (days)", YLabel: "ETTR so far", MarkLabel: "fault"}
	for i, run := range r.firstRuns() {
		if i == 8 {
			break
		}
		s := Series{Name: fmt.Sprintf("%s %s", run.Recovery, fmtInterval(run.IntervalS))}
		pts := run.Timeline
		step := max(1, len(pts)/1500)
		for k := 0; k < len(pts); k += step {
			if pts[k].T >= 6 { // the first hours say little
				s.X, s.Y = append(s.X, pts[k].T/24), append(s.Y, pts[k].Work/pts[k].T)
			}
		}
		c.Series = append(c.Series, s)
		if i == 0 {
			for _, h := range run.FaultHours {
				c.Marks = append(c.Marks, h/24)
			}
		}
	}
	return c
}

func (r *ETTRReport) firstSeed() int64 {
	if len(r.Seeds) == 0 {
		return 0
	}
	return r.Seeds[0]
}

// firstRuns is the first seed's run of every setting, in summary order.
func (r *ETTRReport) firstRuns() []*ETTRRun {
	var out []*ETTRRun
	for _, s := range r.Summary {
		for _, run := range r.Runs {
			if run.Seed == r.firstSeed() && run.Recovery == s.Recovery && run.IntervalS == s.IntervalS && run.Spares == s.Spares {
				out = append(out, run)
				break
			}
		}
	}
	return out
}

func fmtInterval(s float64) string {
	switch {
	case s == 0:
		return "no checkpoints"
	case s < 60:
		return fmt.Sprintf("ckpt %.0fs", s)
	case s < 3600:
		return fmt.Sprintf("ckpt %.1fm", s/60)
	}
	return fmt.Sprintf("ckpt %.1fh", s/3600)
}

// Markdown writes the report; plot names the progress chart's file ("" for
// none).
func (r *ETTRReport) Markdown(w io.Writer, plot string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# ETTR: one %d-chip training job for %g days\n\n", r.JobChips, r.Days)
	fmt.Fprintf(&b, "Pool `%s` (%d chips), fault model %s: %.2f faults per million chip-hours, job MTBF %.2f h; seeds %s.\n\n",
		r.Pool, r.PoolChips, r.FaultModel, r.FaultRate, r.JobMTBFHours, seedRange(r.Seeds))
	b.WriteString("| recovery | checkpoint | spares | runs | ETTR | stdev | min | faults | loss/fault s | detect | stop | replace | restart | rework | waiting | straggle | checkpoint s | spares used |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Summary {
		l := s.LossBreakdownS
		n := max(s.Faults, 1)
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %.4f | %.4f | %.4f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f |\n",
			s.Recovery, s.Interval+" ("+fmtInterval(s.IntervalS)+")", s.Spares, s.Runs, s.ETTR, s.ETTRStdev, s.ETTRMin, s.Faults,
			s.MeanLossPerFaultS, l.Detect/n, l.Stop/n, l.Replace/n, l.Restart/n, l.Rework/n, l.Waiting/n, l.Straggle/n, s.CheckpointS, s.SparesUsed)
	}
	b.WriteString("\nLoss columns are seconds per fault; checkpoint is the time blocked writing checkpoints over the run.\n")
	for _, rec := range slices.Sorted(maps.Keys(r.AutoIntervalS)) {
		s := r.AutoIntervalS[rec]
		fmt.Fprintf(&b, "\nCheckpoint interval `auto` for %s: Daly %.0f s (Young %.0f s), write cost %s.\n", rec, s, r.YoungIntervalS[rec], r.Costs[rec].CkptWrite)
	}
	fmt.Fprintf(&b, "\nSpares by Little's law at the 99th percentile over the %s level: %d hosts.\n", r.SpareLevel, r.AutoSpares)
	if sw := r.IntervalSweep; sw != nil {
		fmt.Fprintf(&b, "\n**Interval sweep** (%s, %d spares): best %.0f s (ETTR %.4f); formula %.0f s; off by %.0f%%.\n",
			sw.Recovery, sw.Spares, sw.BestS, sw.BestETTR, sw.FormulaS, 100*sw.Deviation)
	}
	if sw := r.SpareSweep; sw != nil {
		fmt.Fprintf(&b, "\n**Spare sweep** (%s, checkpoint %s): knee at %d spares (ETTR %.4f, best %.4f); formula %d.\n",
			sw.Recovery, sw.Interval, sw.Knee, sw.KneeETTR, sw.BestETTR, sw.Formula)
	}
	if plot != "" {
		fmt.Fprintf(&b, "\n![progress over time, faults marked](%s)\n", plot)
		fmt.Fprintf(&b, "\n![ETTR so far, faults marked](%s)\n", filepath.Join(filepath.Dir(plot), "ettr.svg"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func seedRange(s []int64) string {
	if len(s) == 0 {
		return ""
	}
	contiguous := true
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1]+1 {
			contiguous = false
		}
	}
	if contiguous && len(s) > 2 {
		return fmt.Sprintf("%d–%d", s[0], s[len(s)-1])
	}
	var parts []string
	for _, x := range s {
		parts = append(parts, fmt.Sprint(x))
	}
	return strings.Join(parts, ", ")
}
