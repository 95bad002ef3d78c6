package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/bench"
	"github.com/qunhq/qun/internal/place"
)

// defaultBenchPlacePools are the pools of the placement-quality benchmark,
// relative to the repository root.
var defaultBenchPlacePools = []string{
	"examples/pools/atlas950-superpod.yaml",
	"examples/pools/dgx-h100-superpod.yaml",
	"examples/pools/cloudmatrix384.yaml",
}

func newBenchPlaceCmd() *cobra.Command {
	var out output
	var pools []string
	var occ string
	var fills, jobs int
	var seed uint64
	var backgrounds string
	var multiHost float64
	cmd := &cobra.Command{
		Use:   "place [--pool FILE ...] [--occupancy 0.3,0.6,0.9] [--background own,topology,firstfit] [--fills 8 --jobs 25 --seed 1]",
		Short: "Placement quality: topology-aware placement against its lower bound and first fit",
		Long: `For every pool and occupancy, fill the pool (--fills times) with a churned
background of gangs of 1 to 64 chips (sizes from the Alibaba openb trace
weighted by chips, plus --multi-host-share of the chips in gangs of 16 to 64
chips), placed by the topology-aware placer and by a topology-oblivious first
fit. Then place the same generated gangs of 8 to 8,192 chips with realistic
parallelism plans (--jobs per fill) with both placements, without committing
them, and print the share of gangs within 1.10x of their lower bound and the
median speedup of modelled communication over first fit. --background says
which background each row compares on: own (each placement on the background
its own scheduler left: the default), topology or firstfit (both placements on
that one). Decide times are wall-clock and vary by machine. Without --pool it
runs the Atlas 950 SuperPoD, DGX H100 SuperPOD and CloudMatrix384 example
pools (paths relative to the repository root, read from the binary when the
files are not there).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			occs, err := parseOccupancies(occ)
			if err != nil {
				return err
			}
			if fills < 1 || jobs < 1 {
				return badInput("--fills and --jobs must be at least 1")
			}
			bgs, err := parseBackgrounds(backgrounds)
			if err != nil {
				return err
			}
			mix, err := bench.NewBackgroundMix(multiHost)
			if err != nil {
				return badInput("--multi-host-share: %v", err)
			}
			if len(pools) == 0 {
				pools = defaultBenchPlacePools
			}
			var rows []bench.QualityRow
			bar := newProgress(cmd)
			defer bar.Done()
			for _, f := range pools {
				topo, err := loadBenchPool(f)
				if err != nil {
					return err
				}
				r, err := bench.Quality(topo, place.New(place.Options{}), bench.QualityConfig{
					Occupancies: occs, Backgrounds: bgs, Mix: mix, Fills: fills, JobsPerFill: jobs, Seed: seed, Clock: time.Now, Steps: bar.Update})
				if err != nil {
					return err
				}
				rows = append(rows, r...)
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			renderBenchPlace(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	out.register(cmd)
	cmd.Flags().StringArrayVar(&pools, "pool", nil, "pool file (repeatable)")
	cmd.Flags().StringVar(&occ, "occupancy", "0.3,0.6,0.9", "comma-separated occupancies (0 to 0.98)")
	cmd.Flags().StringVar(&backgrounds, "background", "own", "comma-separated backgrounds: own, topology, firstfit")
	cmd.Flags().Float64Var(&multiHost, "multi-host-share", bench.DefaultMultiHostShare, "share of background chips in gangs of 16 to 64 chips (0 to 1)")
	cmd.Flags().IntVar(&fills, "fills", 8, "background fills per pool and occupancy")
	cmd.Flags().IntVar(&jobs, "jobs", 25, "gangs placed on each fill")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the generators")
	return cmd
}

func parseOccupancies(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 || v > 0.98 {
			return nil, badInput("--occupancy: %q is not a share from 0 to 0.98", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseBackgrounds(s string) ([]bench.Background, error) {
	var out []bench.Background
	for _, f := range strings.Split(s, ",") {
		b := bench.Background(strings.TrimSpace(f))
		if !slices.Contains(bench.Backgrounds, b) {
			return nil, badInput("--background: %q is not one of own, topology, firstfit", f)
		}
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out, nil
}

func renderBenchPlace(w io.Writer, rows []bench.QualityRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "POOL\tOCCUPANCY\tBACKGROUND\tGANGS\tUNPLACED\tWITHIN 1.10× BOUND\tFIRST FIT WITHIN\tFIRST FIT MEDIAN RATIO\tMEDIAN SPEEDUP VS FIRST FIT\tMEDIAN RATIO\tDECIDE p50 ms\tp99 ms\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.0f%%\t%s\t%d\t%d\t%.1f%%\t%.1f%%\t%.3f\t%.2f×\t%.3f\t%.2f\t%.2f\t\n", r.Pool, r.Occupancy*100, r.Background, r.Jobs, r.Unplaced,
			r.Within110Share*100, r.FirstFitWithin*100, r.FirstFitMedianRatio, r.MedianSpeedup, r.MedianRatio, r.P50DecideMs, r.P99DecideMs)
	}
	tw.Flush()
}
