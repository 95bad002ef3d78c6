package planner

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Format is an output format of Render.
type Format string

// Output formats (flag -o).
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
)

// ParseFormat checks a -o value; "" means table.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", FormatTable:
		return FormatTable, nil
	case FormatJSON:
		return FormatJSON, nil
	}
	return "", inputErrorf("-o %q: allowed formats are table, json", s)
}

// Report is what Render prints: *Result, *Comparison or *Validation.
type Report interface{ report() }

func (*Result) report()     {}
func (*Comparison) report() {}
func (*Validation) report() {}

// Render writes r to w as a table or as indented JSON.
func Render(w io.Writer, r Report, f Format) error {
	if f == FormatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if v, ok := r.(*Validation); ok {
			return enc.Encode(v.Rows) // the rows are the contract
		}
		return enc.Encode(r)
	}
	if f != FormatTable && f != "" {
		return inputErrorf("unknown format %q", f)
	}
	switch v := r.(type) {
	case *Result:
		return renderResult(w, v)
	case *Comparison:
		for i, res := range v.Results {
			if i > 0 {
				if _, err := fmt.Fprintln(w); err != nil {
					return err
				}
			}
			if err := renderResult(w, res); err != nil {
				return err
			}
		}
		return nil
	case *Validation:
		return renderValidation(w, v)
	}
	return fmt.Errorf("render: unsupported report %T", r)
}

func renderResult(w io.Writer, r *Result) error {
	m := r.Model
	kind := "dense"
	if m.IsMoE() {
		kind = fmt.Sprintf("MoE, %s active, %d experts top-%d", si(m.active()), m.Experts, m.TopK)
	}
	head := fmt.Sprintf("model %s (%s parameters, %s; %d layers, hidden %d, sequence %d), %s tokens",
		m.Name, si(m.Params), kind, m.Layers, m.Hidden, m.SeqLen, si(r.Tokens))
	if r.Mode == "deadline" {
		head += fmt.Sprintf(", deadline %.1f days", r.DeadlineDay)
	} else {
		head += fmt.Sprintf(", %s chips", thousands(float64(r.Chips)))
	}
	if _, err := fmt.Fprintln(w, head); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(k KindResult) string) {
		cells := []string{label}
		for _, k := range r.Kinds {
			if k.Error != "" {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, f(k))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	hdr := []string{""}
	for _, k := range r.Kinds {
		hdr = append(hdr, k.Kind)
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t")+"\t")
	row("chips", func(k KindResult) string { return thousands(float64(k.Chips)) })
	row("TP / PP / DP / EP", func(k KindResult) string {
		return fmt.Sprintf("%d/%d/%d/%d", k.Plan.TP, k.Plan.PP, k.Plan.DP, k.Plan.EP)
	})
	row("micro-batch × count, virtual stages", func(k KindResult) string {
		return fmt.Sprintf("%d×%d, %d", k.Plan.MicroBatch, k.Plan.MicroBatches, k.Plan.Interleave)
	})
	row("recompute", func(k KindResult) string {
		if k.Plan.Recompute == RecomputePartial {
			return fmt.Sprintf("partial %d/%d", k.Plan.RecomputeLayers, layersPerStage(r.Model.Layers, k.Plan.PP))
		}
		return string(k.Plan.Recompute)
	})
	row("memory/chip GiB: weights", func(k KindResult) string { return f1(k.Memory.WeightsGiB) })
	row("  gradients", func(k KindResult) string { return f1(k.Memory.GradientsGiB) })
	row("  optimizer (ZeRO-1)", func(k KindResult) string { return f1(k.Memory.OptimizerGiB) })
	row("  activations", func(k KindResult) string { return f1(k.Memory.ActivationsGiB) })
	row("  total / usable", func(k KindResult) string {
		return fmt.Sprintf("%s / %s", f1(k.Memory.TotalGiB), f1(k.Memory.UsableGiB))
	})
	row("step s: total", func(k KindResult) string { return f2(k.Step.Seconds) })
	row("  compute", func(k KindResult) string { return f2(k.Step.ComputeSeconds) })
	row("  pipeline bubble", func(k KindResult) string { return f2(k.Step.BubbleSeconds) })
	row("  comm exposed", func(k KindResult) string { return f2(k.Step.ExposedComm) })
	row("  comm TP/PP/DP/EP", func(k KindResult) string {
		c := k.Step.Comm
		return fmt.Sprintf("%s/%s/%s/%s", f2(c.Tensor), f2(c.Pipeline), f2(c.Data), f2(c.Expert))
	})
	row("MFU", func(k KindResult) string { return pct(k.MFU) })
	row("tokens/s", func(k KindResult) string { return si(k.TokensPerSecond) })
	row("days: fault-free / wall", func(k KindResult) string {
		return fmt.Sprintf("%s / %s", f1(k.ComputeDays), f1(k.WallDays))
	})
	row("chip-hours", func(k KindResult) string { return si(k.ChipHours) })
	row("job MTBF h", func(k KindResult) string { return f2(k.Reliability.JobMTBFHours) })
	row("checkpoint write s / every min (Daly)", func(k KindResult) string {
		return fmt.Sprintf("%s / %s", f1(k.Reliability.CheckpointSeconds), f1(k.Reliability.IntervalMinutes))
	})
	row("Young's first-order interval min", func(k KindResult) string { return f1(k.Reliability.YoungMinutes) })
	row("spare hosts (Little's law)", func(k KindResult) string { return thousands(float64(k.Reliability.Spares)) })
	row("expected failures", func(k KindResult) string { return thousands(k.Reliability.ExpectedFailures) })
	row("effective training ratio", func(k KindResult) string { return pct(k.Reliability.EffectiveRatio) })
	row("average power MW", func(k KindResult) string { return f2(k.Energy.AvgMW) })
	row("energy MWh", func(k KindResult) string { return thousands(k.Energy.MWh) })
	if r.hasCost() {
		row("cost", func(k KindResult) string { return thousands(k.Cost) })
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range r.Kinds {
		if k.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", k.Kind, k.Error)
		} else {
			fmt.Fprintf(w, "%s: %s; fabric %s\n", k.Kind, k.Limit, k.Fabric)
		}
	}
	fmt.Fprintln(w, "assumptions (change with the flag shown or an --assumptions file):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range r.Assumptions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.Name, a.Value, a.Flag, a.Source)
	}
	return tw.Flush()
}

func (r *Result) hasCost() bool {
	for _, k := range r.Kinds {
		if k.Cost > 0 {
			return true
		}
	}
	return false
}

func renderValidation(w io.Writer, v *Validation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tkind\tmetric\tpredicted\tpublished\terror %\tcalibrated\tplan")
	for _, r := range v.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%+.1f\t%t\t%s\n", r.Run, r.Kind, r.Metric,
			metricValue(r.Metric, r.Predicted), metricValue(r.Metric, r.Published), r.ErrorPct, r.Calibrated, r.Plan)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(v.Efficiency)) {
		fmt.Fprintf(w, "calibrated achieved fraction of peak: %s %.3f\n", k, v.Efficiency[k])
	}
	return nil
}

func metricValue(metric string, v float64) string {
	if metric == "mfu" {
		return pct(v)
	}
	return si(v)
}

func f1(x float64) string  { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string  { return fmt.Sprintf("%.2f", x) }
func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// si formats a count with a k/M/G/T suffix.
func si(x float64) string {
	switch a := math.Abs(x); {
	case math.IsInf(a, 0):
		return "inf"
	case a >= 1e12:
		return fmt.Sprintf("%.1fT", x/1e12)
	case a >= 1e9:
		return fmt.Sprintf("%.1fB", x/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

// thousands formats a rounded number with comma separators.
func thousands(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return "inf"
	}
	s := fmt.Sprintf("%.0f", math.Abs(x))
	var b strings.Builder
	if x < 0 && s != "0" {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
