package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/bench"
	"github.com/qunhq/qun/internal/pool"
)

func newBenchSchedCmd() *cobra.Command {
	var out output
	var poolFile string
	o := bench.SchedConfig{}
	c := &cobra.Command{
		Use:   "sched [--pool FILE]",
		Short: "Scheduler figures on the 524,288-chip Atlas 950 SuperCluster",
		Long: `Loads the pool (by default the 524,288-chip Atlas 950 SuperCluster,
examples/pools/atlas950-supercluster.yaml, read from the binary when the file
is not there), generates a queue of 1-, 8-, 64-, 1,024- and 8,192-chip jobs
across 100 tenants, and prints: single-chip placements per second, p50/p99
decision time of an 8,192-chip gang at 70% occupancy, the time of one
scheduling cycle with 100,000 pending jobs, and peak memory (VmHWM).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if o.Occupancy <= 0 || o.Occupancy >= 1 || o.Single < 1 || o.Trials < 1 || o.Pending < 1 || o.Tenants < 1 {
				return usageError{fmt.Errorf("sizes must be positive and occupancy between 0 and 1")}
			}
			topo, err := loadBenchPool(poolFile)
			if err != nil {
				return err
			}
			bar := newProgress(cmd)
			defer bar.Done()
			o.Pool, o.Progress, o.Steps = topo, &lineWriter{r: bar}, bar.Update
			r, err := bench.Sched(o)
			if err != nil {
				return err
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			return renderBenchSched(cmd.OutOrStdout(), r)
		},
	}
	out.register(c)
	c.Flags().StringVar(&poolFile, "pool", bench.SchedPool, "pool file")
	c.Flags().IntVar(&o.Single, "single", 50_000, "single-chip jobs placed for the placement rate")
	c.Flags().IntVar(&o.Trials, "trials", 200, "8,192-chip gang decisions timed")
	c.Flags().IntVar(&o.Pending, "pending", 100_000, "pending jobs in the full-cycle measurement")
	c.Flags().IntVar(&o.Tenants, "tenants", 100, "tenant queues")
	c.Flags().Float64Var(&o.Occupancy, "occupancy", 0.7, "pool occupancy for the gang and cycle measurements")
	c.Flags().Uint64Var(&o.Seed, "seed", 1, "random seed of the generated queue")
	c.Flags().StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the gang and cycle measurements to this file")
	return c
}

// loadBenchPool loads a benchmark's pool file (see bench.LoadPool); a file
// that cannot be read or parsed is bad input.
func loadBenchPool(path string) (*pool.Topology, error) {
	t, err := bench.LoadPool(path)
	if err != nil {
		return nil, badInput("pool file: %v", err)
	}
	return t, nil
}

func renderBenchSched(w io.Writer, r *bench.SchedResult) error {
	ok := func(good bool) string {
		if good {
			return "met"
		}
		return "MISSED"
	}
	_, err := fmt.Fprintf(w, `pool %s: %d chips, %d tenants, %d cores
single-chip placements/s   %10.0f   (%d jobs; target >= 10000: %s)
8192-chip gang p50 / p99   %7.1f / %.1f ms   (%d trials at %.0f%% occupancy, %d placed; target p99 <= 50 ms: %s)
cycle, %d pending      %10.1f ms   (%d started)
peak memory (VmHWM)        %10.1f MiB   (target <= 2048 MiB: %s)
`, r.Pool, r.Chips, r.Tenants, r.Cores,
		r.SingleChipPerSec, r.SingleChipJobs, ok(r.SingleChipPerSec >= 10_000),
		r.Gang8192P50Ms, r.Gang8192P99Ms, r.Gang8192Trials, r.Occupancy*100, r.Gang8192Placed, ok(r.Gang8192P99Ms <= 50),
		r.Cycle100kPending, r.Cycle100kPendingMs, r.Cycle100kStarted,
		float64(r.PeakRSSBytes)/(1<<20), ok(r.PeakRSSBytes <= 2<<30))
	return err
}
