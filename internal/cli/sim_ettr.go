package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sim"
)

// ettrFlags are the flags of `qun sim --experiment ettr`.
type ettrFlags struct {
	pool, faults, spareLevel string
	jobChips                 int
	days, percentile         float64
	recovery, intervals      string
	spares                   string
	costs                    []string
}

func (e *ettrFlags) register(f *pflag.FlagSet) {
	f.StringVar(&e.pool, "pool", "", "ettr: the pool file")
	f.IntVar(&e.jobChips, "job-chips", 0, "ettr: chips of the training job (default: the pool's chips less its spares)")
	f.Float64Var(&e.days, "days", 30, "ettr: simulated days")
	f.StringVar(&e.recovery, "recovery", sim.RecoveryQun, "ettr: recovery policies, comma-separated: qun, baseline")
	f.StringVar(&e.intervals, "checkpoint-interval", "auto", "ettr: checkpoint intervals, comma-separated: auto (Young/Daly), none, or durations")
	f.StringVar(&e.spares, "spares", "auto", "ettr: spare hosts (only recovery may take them), comma-separated: auto (Little's law) or counts")
	f.StringVar(&e.spareLevel, "spare-level", "", "ettr: the level whose domains the spares spread over (default: the root's children)")
	f.Float64Var(&e.percentile, "spare-percentile", 0.99, "ettr: the share of time auto spares cover every host out for repair")
	f.StringVar(&e.faults, "faults", "", "ettr: a fault file (docs/faults-sim.md); default: Llama 3's published mix")
	f.StringArrayVar(&e.costs, "cost", nil, "ettr: override a recovery cost, NAME=DURATION (repeatable; names: "+strings.Join(sim.CostNames, ", ")+")")
}

// runETTR runs the ETTR experiment.
func runETTR(cmd *cobra.Command, e *ettrFlags, out *output, seeds []int64, dir string, quiet bool) error {
	if e.pool == "" {
		return usageError{errors.New("--experiment ettr needs --pool FILE")}
	}
	t, err := pool.LoadFile(e.pool)
	if err != nil {
		return badInput("%v", err)
	}
	c := sim.ETTRConfig{Pool: t, PoolFile: e.pool, JobChips: e.jobChips, Days: e.days, Seeds: seeds,
		SpareLevel: e.spareLevel, SparePercentile: e.percentile, Cost: e.costs, Timeline: dir != "" || out.format == "md"}
	if c.JobChips == 0 {
		c.JobChips = t.NumChips()
	}
	c.Recoveries = strings.Split(e.recovery, ",")
	for _, s := range strings.Split(e.intervals, ",") {
		iv, err := sim.ParseInterval(strings.TrimSpace(s))
		if err != nil {
			return badInput("%v", err)
		}
		c.Intervals = append(c.Intervals, iv)
	}
	for _, s := range strings.Split(e.spares, ",") {
		n, err := sim.ParseSpares(strings.TrimSpace(s))
		if err != nil {
			return badInput("%v", err)
		}
		c.Spares = append(c.Spares, n)
	}
	if e.faults != "" {
		if c.Faults, err = sim.ReadFaultFile(e.faults); err != nil {
			return badInput("%v", err)
		}
	}
	if !quiet && isTerminal(cmd.ErrOrStderr()) {
		errw := cmd.ErrOrStderr()
		c.Progress = func(line string) { fmt.Fprintln(errw, "sim: "+line) }
	}
	// A run allocates many short-lived placements and keeps little: less
	// frequent collection halves its time at a few hundred MiB.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	r, err := sim.RunETTRExperiment(c)
	if err != nil {
		if errors.Is(err, sim.ErrSetting) || errors.Is(err, sim.ErrFaultFile) {
			return badInput("%v", err)
		}
		return err
	}
	if dir != "" {
		if err := r.WriteDir(dir); err != nil {
			return err
		}
	}
	w := cmd.OutOrStdout()
	switch out.format {
	case "json":
		js, err := r.JSON()
		if err != nil {
			return err
		}
		_, err = w.Write(js)
		return err
	case "md":
		plot := ""
		if dir != "" {
			plot = "progress.svg"
		}
		return r.Markdown(w, plot)
	}
	return renderETTR(w, r, dir)
}

func renderETTR(w io.Writer, r *sim.ETTRReport, dir string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RECOVERY\tCHECKPOINT\tSPARES\tRUNS\tETTR\tFAULTS\tLOSS/FAULT s\tDETECT\tSTOP\tREPLACE\tRESTART\tREWORK\tWAITING s\tSPARES USED\t")
	for _, s := range r.Summary {
		n := max(s.Faults, 1)
		l := s.LossBreakdownS
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.4f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t\n", s.Recovery, s.Interval, s.Spares, s.Runs,
			s.ETTR, s.Faults, s.MeanLossPerFaultS, l.Detect/n, l.Stop/n, l.Replace/n, l.Restart/n, l.Rework/n, s.WaitingS, s.SparesUsed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if dir != "" {
		fmt.Fprintf(w, "\nReport written to %s (report.md, report.json, progress.svg, ettr.svg)\n", dir)
	}
	return nil
}
