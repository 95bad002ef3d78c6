package cli

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/bench"
	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
)

// jobPlaceResult is what `qun job place -o json` prints.
type jobPlaceResult struct {
	Pool              string          `json:"pool"`
	Occupancy         float64         `json:"occupancy"`
	OccupancyReached  float64         `json:"occupancy_reached"`
	Seed              uint64          `json:"seed"`
	Chips             int             `json:"chips"`
	Decision          *place.Decision `json:"decision"`
	Ranks             []rankChip      `json:"ranks,omitempty"`
	BackgroundRunning int             `json:"background_gangs"`
}

type rankChip struct {
	Rank   int    `json:"rank"`
	Host   string `json:"host"`
	Device int    `json:"device"`
	Chip   string `json:"chip"`
}

func newJobPlaceCmd() *cobra.Command {
	var out output
	var poolFile string
	var occ float64
	var seed uint64
	cmd := &cobra.Command{
		Use:   "place --pool FILE [--occupancy 0.6 --seed N] JOB.yaml",
		Short: "Dry-run the topology-aware placement of a job on a pool",
		Long: `Show where a job would go on a pool: the chosen kind and domain, the rank
mapping, the modelled step communication broken down by collective and level,
its lower bound (the same gang in the best domain of an empty pool), the
per-kind completion estimate and why the other candidates lost. With
--occupancy the pool is first filled to that share with a seeded random mix of
gangs placed the same way (see docs/placement.md).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if poolFile == "" {
				return usageError{fmt.Errorf("--pool is required (see '%s --help')", cmd.CommandPath())}
			}
			if occ < 0 || occ > 0.98 {
				return badInput("--occupancy %g is out of range (0 to 0.98)", occ)
			}
			spec, err := loadJob(args[0])
			if err != nil {
				return err
			}
			topo, err := loadPool(poolFile)
			if err != nil {
				return err
			}
			st := pool.NewState(topo)
			pl := place.New(place.Options{})
			bg, err := bench.Fill(st, pl, occ, rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)))
			if err != nil {
				return err
			}
			j := place.FromSpec(spec.Name, spec)
			d := pl.Decide(j, st, place.Env{Pending: []place.Pending{place.PendingOf(j)}})
			res := jobPlaceResult{Pool: topo.Name, Occupancy: occ, Seed: seed, Chips: topo.NumChips(), Decision: d,
				OccupancyReached: 1 - float64(st.FreeChips(0))/float64(topo.NumChips()), BackgroundRunning: len(bg)}
			for i, c := range d.Chips {
				res.Ranks = append(res.Ranks, rankChip{Rank: i, Host: topo.Path(topo.ChipHost(c)), Device: topo.ChipIndex(c), Chip: topo.ChipName(c)})
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			renderPlace(cmd.OutOrStdout(), topo, j, &res)
			return nil
		},
	}
	out.register(cmd)
	cmd.Flags().StringVar(&poolFile, "pool", "", "pool file (required)")
	cmd.Flags().Float64Var(&occ, "occupancy", 0, "fill the pool to this share of chips first (0 to 0.98)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the occupancy generator")
	return cmd
}

func renderPlace(w io.Writer, topo *pool.Topology, j *place.Request, r *jobPlaceResult) {
	d := r.Decision
	fmt.Fprintf(w, "Job %s: %d ranks × %s chips on pool %s (%d chips), occupancy %.2f (seed %d, %d background gangs)\n",
		j.ID, j.Ranks, milliString(j.RankMilli), topo.Name, topo.NumChips(), r.OccupancyReached, r.Seed, r.BackgroundRunning)
	if !d.Placed {
		fmt.Fprintf(w, "Not placed: %s: %s\n", place.Name, d.Status)
	} else {
		fmt.Fprintf(w, "Placed on %s in %s %s, %d hosts; score %.3f (fragmentation %.2f)\n",
			d.Kind, d.Level, d.Domain, distinctHosts(topo, d.Chips), d.Score, d.Fragmentation)
	}
	if d.Plan.Ranks() > 1 && d.Plan.Validate(len(d.Chips)) == nil {
		src := "from the job"
		if d.VolumesDefaulted {
			src = "defaults derived from the plan, see docs/placement.md"
		}
		fmt.Fprintf(w, "Plan: tensor %d × pipeline %d × data %d (expert %d); bytes per chip and step (%s): tensor %s, pipeline %s, data %s, expert %s\n",
			d.Plan.Tensor, d.Plan.Pipeline, d.Plan.Data, max(d.Plan.Expert, 1), src,
			bytesString(d.Volumes.TensorBytes), bytesString(d.Volumes.PipelineBytes), bytesString(d.Volumes.DataBytes), bytesString(d.Volumes.ExpertBytes))
	}
	if d.Placed && len(d.Step.Items)+len(d.LowerBound.Items) > 0 {
		fmt.Fprintf(w, "\nModelled step communication %s, %.2f× its lower bound %s:\n", secString(d.Step.Seconds), d.Ratio, secString(d.LowerBound.Seconds))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "COLLECTIVE\tALGORITHM\tLEVEL\tTIME\tLOWER BOUND\tBOUND LEVEL")
		lb := map[string]comm.Item{}
		for _, it := range d.LowerBound.Items {
			lb[it.Collective] = it
		}
		for _, it := range d.Step.Items {
			b := lb[it.Collective]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Collective, it.Algorithm, it.Level, secString(it.Seconds), secString(b.Seconds), b.Level)
		}
		tw.Flush()
	}
	if d.Placed {
		fmt.Fprintln(w, "\nRank mapping:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RANKS\tHOST\tDEVICES")
		runs := hostRuns(topo, d.Chips, 24)
		for _, h := range runs {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", h[0], h[1], h[2])
		}
		tw.Flush()
	}
	if len(d.Kinds) > 0 {
		fmt.Fprintln(w, "\nKinds (per step: compute + communication; finish = expected wait + run):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tFAMILY\tFREE\tCOMPUTE\tCOMM\tWAIT\tFINISH\tOUTCOME")
		for _, k := range d.Kinds {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", k.Kind, k.Family, k.FreeChips, secString(k.ComputeSeconds), secString(k.CommSeconds),
				secString(k.WaitSeconds), secString(k.FinishSeconds), outcome(k.Reason, k.Detail))
		}
		tw.Flush()
	}
	if len(d.Candidates) > 0 {
		fmt.Fprintln(w, "\nCandidates (score = communication / lower bound + 0.05 × fragmentation):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tDOMAIN\tLEVEL\tFREE\tHOSTS\tCOMM\tRATIO\tFRAG\tSCORE\tOUTCOME")
		for _, c := range d.Candidates {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%.2f\t%.2f\t%.3f\t%s\n", c.Kind, c.Domain, c.Level, c.FreeChips, c.Hosts,
				secString(c.CommSec), c.Ratio, c.Frag, c.Score, outcome(c.Reason, c.Detail))
		}
		tw.Flush()
	}
	reasons := make([]string, 0, len(d.Skipped))
	for reason := range d.Skipped {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		fmt.Fprintf(w, "%d more feasible domains not evaluated: %s\n", d.Skipped[reason], reason)
	}
}

func distinctHosts(topo *pool.Topology, chips []pool.ChipID) int {
	seen := map[pool.DomainID]bool{}
	for _, c := range chips {
		seen[topo.ChipHost(c)] = true
	}
	return len(seen)
}

func outcome(reason, detail string) string {
	if detail == "" {
		return reason
	}
	return reason + ": " + detail
}

// hostRuns groups consecutive ranks on one host: [ranks, host, devices],
// at most limit lines plus one summarising the rest.
func hostRuns(topo *pool.Topology, chips []pool.ChipID, limit int) [][3]string {
	var out [][3]string
	var devs []string
	start := 0
	flush := func(end int) {
		if end == start {
			return
		}
		ranks := fmt.Sprint(start)
		if end-start > 1 {
			ranks = fmt.Sprintf("%d-%d", start, end-1)
		}
		out = append(out, [3]string{ranks, topo.Path(topo.ChipHost(chips[start])), strings.Join(devs, ",")})
		devs = devs[:0]
		start = end
	}
	for i, c := range chips {
		if i > start && topo.ChipHost(c) != topo.ChipHost(chips[start]) {
			flush(i)
		}
		devs = append(devs, fmt.Sprint(topo.ChipIndex(c)))
	}
	flush(len(chips))
	if len(out) > limit {
		n := len(out) - limit
		out = append(out[:limit], [3]string{"…", fmt.Sprintf("(%d more hosts)", n), ""})
	}
	return out
}

func milliString(m int) string { return job.Milli(m).String() }

func bytesString(b float64) string {
	switch {
	case b == 0:
		return "-"
	case b >= 1e9:
		return fmt.Sprintf("%.3g GB", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.3g MB", b/1e6)
	}
	return fmt.Sprintf("%.3g kB", b/1e3)
}

func secString(s float64) string {
	switch {
	case s == 0:
		return "0"
	case s > 1e12:
		return "unknown"
	case s >= 3600:
		return (time.Duration(s) * time.Second).Round(time.Minute).String()
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.3f ms", s*1e3)
}
