package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/sched/score"
	"github.com/qunhq/qun/internal/sim"
	"github.com/qunhq/qun/internal/sim/trace"
)

func newSimCmd() *cobra.Command {
	var (
		out                          = output{formats: []string{"table", "json", "md"}}
		c                            sim.Config
		ettr                         ettrFlags
		policies, seeds, dir, tracef string
		quiet                        bool
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Replay a workload through the scheduler on a virtual clock",
		Long: `Replay a trace (or the embedded synthetic workload) through the same
scheduler and plan applier as the server, on a virtual clock, and report.

Experiments:
  replay  jobs arrive at their submit time and leave after their duration,
          waiting in the queue when they do not fit (default)
  fgd     the FGD paper's method on an openb pod list: shuffled pods, tuned
          to --ratio × the GPU capacity, one attempt each, no departures
  ettr    one large training job on --pool under drawn faults: effective
          training time ratio and where the time went (docs/faults-sim.md)

--trace takes an openb pod list (.csv; the node list is read from
openb_node_list_gpu_node.csv beside it unless --nodes is given) or a generic
JSONL job trace (see docs/simulator.md). Policies: ` + strings.Join(score.Policies(), ", ") + `,
and ` + sim.ServerDefault + ` (the server's default profile). Defaults: replay runs ` + sim.ServerDefault + `,
fgd runs ` + score.DefaultPolicy + `. --profile FILE runs any scheduler profile file instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			c.Trace = tracef
			if policies != "" {
				c.Policies = strings.Split(policies, ",")
			}
			s, err := parseSeeds(seeds)
			if err != nil {
				return usageError{err}
			}
			c.Seeds = s
			if c.Experiment == "ettr" {
				return runETTR(cmd, &ettr, &out, s, dir, quiet)
			}
			if !quiet {
				bar := newProgress(cmd)
				defer bar.Done()
				c.Progress = func(line string) { bar.Println("sim: " + line) }
				if bar.Terminal() {
					c.Steps = func(label string, done, total int) { bar.Update("sim: "+label, done, total) }
				}
			}
			r, err := sim.Run(c)
			if err != nil {
				if errors.Is(err, trace.ErrInvalid) {
					return badInput("%s", strings.TrimPrefix(err.Error(), trace.ErrInvalid.Error()+": "))
				}
				// A trace or node list that cannot be read is a file the
				// user named (--trace, --nodes): bad input, like a pool file.
				var pe *fs.PathError
				if errors.As(err, &pe) {
					return badInput("%v", err)
				}
				return err
			}
			if dir != "" {
				if err := r.WriteDir(dir); err != nil {
					return err
				}
			}
			if out.format == "md" {
				_, err := cmd.OutOrStdout().Write(r.Markdown())
				return err
			}
			if out.json() {
				js, err := r.JSON()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(js)
				return err
			}
			return renderSim(cmd.OutOrStdout(), r, dir)
		},
	}
	f := cmd.Flags()
	f.StringVar(&tracef, "trace", "", "workload: openb pod list (.csv) or JSONL job trace; empty: embedded synthetic workload")
	f.StringVar(&c.Nodes, "nodes", "", "openb node list (default: openb_node_list_gpu_node.csv beside --trace)")
	f.StringVar(&c.Experiment, "experiment", "replay", "replay, fgd or ettr")
	f.StringVar(&c.ProfileFile, "profile", "", "a scheduler profile file, as qun server --profile takes, to run instead of --policy")
	f.StringVar(&policies, "policy", "", "comma-separated placement profiles, each optionally with scorer arguments after colons, e.g. qun:patience=0.9:order=0 (default: replay "+sim.ServerDefault+", fgd "+score.DefaultPolicy+")")
	f.StringVar(&seeds, "seed", "42", "seeds: N, N,M or N-M")
	f.Float64Var(&c.Ratio, "ratio", 1.3, "fgd: tune the pod list to this multiple of the GPU capacity")
	f.BoolVar(&c.PackingBound, "packing-bound", false, "fgd: at the first failed pod, compare the GPUs holding shares with the LP lower bound on the GPUs those shares need")
	f.StringVar(&dir, "out", "", "write report.json, report.md and SVG plots into this directory")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines on stderr")
	ettr.register(f)
	out.register(cmd)
	return cmd
}

// parseSeeds reads "42", "42,43" or "42-51".
func parseSeeds(s string) ([]int64, error) {
	var out []int64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseInt(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seed %q: %q is not a number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(hi, 10, 64); err != nil || b < a || b-a > 10000 {
				return nil, fmt.Errorf("--seed %q: %q is not a range of at most 10000 seeds", s, part)
			}
		}
		for x := a; x <= b; x++ {
			out = append(out, x)
		}
	}
	return out, nil
}

func renderSim(w io.Writer, r *sim.Report, dir string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if r.Experiment == "fgd" {
		fmt.Fprintln(tw, "POLICY\tRUNS\tALLOC@130 %\tSTDEV\tIDLE GPUs\tFAILED PODS\t")
		for _, s := range r.Summary {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", s.Policy, s.Runs, f2(s.AllocAt130), f2(s.AllocStdev), f2(s.IdleGPUsAt130), f2(s.FailedPods))
		}
		if r.HasBound() {
			fmt.Fprintln(tw, "\nPOLICY\tFIRST FAIL ARRIVED %\tSHARE GPUs\tLP BOUND\tGAP GPUs\t")
			for _, s := range r.Summary {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", s.Policy, f2(s.FirstFailureArrived), f2(s.ShareChipsAtFirstFailure), f2(s.ShareChipsBound), f2(s.ShareBoundGap))
			}
		}
	} else {
		fmt.Fprintln(tw, "POLICY\tRUNS\tMEAN UTIL %\tWAIT MEAN s\tWAIT P90 s\tJCT MEAN s\tJCT P90 s\t")
		for _, s := range r.Summary {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", s.Policy, s.Runs, f2(s.MeanUtil), f2(s.WaitMean), f2(s.WaitP90), f2(s.JCTMean), f2(s.JCTP90))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if dir != "" {
		fmt.Fprintf(w, "\nReport written to %s (report.md, report.json, plots)\n", dir)
	}
	return nil
}

func f2(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}
