package cli

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/state"
)

// superclusterYAML is examples/pools/atlas950-supercluster.yaml: 64
// SuperPoDs of 128 racks of 8 boards of 8 chips, 524,288 chips.
const superclusterYAML = `apiVersion: qun/v1
kind: Pool
name: atlas950-supercluster
description: 64 Atlas 950 SuperPoDs (524,288 x 950DT)
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 10, oversubscription: 2}
  - {name: superpod, bandwidthGBps: 500, latencyUs: 2}
  - {name: rack, bandwidthGBps: 1000, latencyUs: 1}
  - {name: board, host: true, bandwidthGBps: 1000, latencyUs: 0.5}
templates:
  board:
    level: board
    cpuMilli: 192000
    memoryMiB: 1048576
    chips: {kind: 950DT, count: 8}
  rack:
    level: rack
    powerBudgetW: 96000
    children:
      - {template: board, count: 8, name: "b{i}"}
  superpod:
    level: superpod
    children:
      - {template: rack, count: 128, name: "r{i}"}
root:
  name: sc
  level: cluster
  children:
    - {template: superpod, count: 64, name: "pod{i}"}
`

// benchSchedResult is what `qun bench sched -o json` prints.
type benchSchedResult struct {
	Pool                 string  `json:"pool"`
	Chips                int     `json:"chips"`
	Cores                int     `json:"cores"`
	Tenants              int     `json:"tenants"`
	SingleChipJobs       int     `json:"single_chip_jobs"`
	SingleChipPerSec     float64 `json:"single_chip_placements_per_sec"`
	Occupancy            float64 `json:"occupancy"`
	Gang8192Trials       int     `json:"gang8192_trials"`
	Gang8192P50Ms        float64 `json:"gang8192_p50_ms"`
	Gang8192P99Ms        float64 `json:"gang8192_p99_ms"`
	Gang8192Placed       int     `json:"gang8192_placed"`
	Cycle100kPendingMs   float64 `json:"cycle_100k_pending_ms"`
	Cycle100kPending     int     `json:"cycle_100k_pending"`
	Cycle100kStarted     int     `json:"cycle_100k_started"`
	PeakRSSBytes         int64   `json:"peak_rss_bytes"`
	TargetPlacementsPerS float64 `json:"target_single_chip_placements_per_sec"`
	TargetGang8192P99Ms  float64 `json:"target_gang8192_p99_ms"`
	TargetPeakRSSBytes   int64   `json:"target_peak_rss_bytes"`
}

type benchSchedOpts struct {
	single, trials, pending, tenants int
	occupancy                        float64
	seed                             uint64
	cpuprofile                       string
}

func newBenchSchedCmd() *cobra.Command {
	var out output
	o := benchSchedOpts{}
	c := &cobra.Command{
		Use:   "sched",
		Short: "Scheduler figures on the 524,288-chip Atlas 950 SuperCluster",
		Long: `Generates the 524,288-chip Atlas 950 SuperCluster and a queue of 1-, 8-, 64-,
1,024- and 8,192-chip jobs across 100 tenants, and prints: single-chip
placements per second, p50/p99 decision time of an 8,192-chip gang at 70%
occupancy, the time of one scheduling cycle with 100,000 pending jobs, and
peak memory (VmHWM).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if o.occupancy <= 0 || o.occupancy >= 1 || o.single < 1 || o.trials < 1 || o.pending < 1 || o.tenants < 1 {
				return usageError{fmt.Errorf("sizes must be positive and occupancy between 0 and 1")}
			}
			r, err := runBenchSched(o, cmd.ErrOrStderr())
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
	c.Flags().IntVar(&o.single, "single", 50_000, "single-chip jobs placed for the placement rate")
	c.Flags().IntVar(&o.trials, "trials", 200, "8,192-chip gang decisions timed")
	c.Flags().IntVar(&o.pending, "pending", 100_000, "pending jobs in the full-cycle measurement")
	c.Flags().IntVar(&o.tenants, "tenants", 100, "tenant queues")
	c.Flags().Float64Var(&o.occupancy, "occupancy", 0.7, "pool occupancy for the gang and cycle measurements")
	c.Flags().Uint64Var(&o.seed, "seed", 1, "random seed of the generated queue")
	c.Flags().StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the gang and cycle measurements to this file")
	return c
}

type benchShape struct {
	ranks, chips int
	weight       float64
}

// benchMix is the job mix by count: 1, 8, 64, 1,024 and 8,192 chips.
var benchMix = []benchShape{{1, 1, 0.60}, {1, 8, 0.28}, {8, 8, 0.09}, {128, 8, 0.025}, {1024, 8, 0.005}}

type benchGen struct {
	rng     *rand.Rand
	tenants []string
	n       int
	now     time.Time
}

func (g *benchGen) job(s benchShape) *sched.Job {
	g.n++
	return &sched.Job{
		ID: "j" + strconv.Itoa(g.n), Queue: g.tenants[g.rng.IntN(len(g.tenants))], Priority: g.rng.IntN(3),
		Submitted: g.now.Add(time.Duration(g.n) * time.Millisecond), Ranks: s.ranks, RankMilli: s.chips * pool.Full,
		Duration: time.Duration(30+g.rng.IntN(600)) * time.Minute,
	}
}

func (g *benchGen) mixed() *sched.Job {
	x := g.rng.Float64()
	for _, s := range benchMix {
		if x < s.weight {
			return g.job(s)
		}
		x -= s.weight
	}
	return g.job(benchMix[0])
}

func benchQueues(t *pool.Topology, tenants int) ([]sched.Queue, []string) {
	var qs []sched.Queue
	var names []string
	orgs := map[string]bool{}
	per := int64(t.NumChips()) * pool.Full / int64(tenants)
	for i := range tenants {
		org := fmt.Sprintf("org%d", i%10)
		if !orgs[org] {
			orgs[org] = true
			qs = append(qs, sched.Queue{Name: org, Weight: 1})
		}
		name := fmt.Sprintf("%s/team%d", org, i)
		qs = append(qs, sched.Queue{Name: name, Parent: org, Weight: float64(1 + i%3), Guaranteed: map[string]int64{"950DT": per}})
		names = append(names, name)
	}
	return qs, names
}

func runBenchSched(o benchSchedOpts, progress io.Writer) (*benchSchedResult, error) {
	t, err := pool.Load("atlas950-supercluster.yaml", []byte(superclusterYAML), pool.DefaultCatalog())
	if err != nil {
		return nil, err
	}
	prof := plugins.DefaultProfile()
	queues, tenants := benchQueues(t, o.tenants)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	g := &benchGen{rng: rand.New(rand.NewPCG(o.seed, 1)), tenants: tenants, now: now}
	r := &benchSchedResult{Pool: t.Name, Chips: t.NumChips(), Cores: runtime.NumCPU(), Tenants: o.tenants,
		Occupancy: o.occupancy, TargetPlacementsPerS: 10_000, TargetGang8192P99Ms: 50, TargetPeakRSSBytes: 2 << 30}
	rng := rand.New(rand.NewPCG(o.seed, 2))

	// 1. Single-chip placements: one cycle places every job, then the plan
	// is applied.
	fmt.Fprintf(progress, "bench: %d single-chip jobs on an empty pool\n", o.single)
	st := state.NewMemStore(t, queues, prof.FairShare.HalfLife)
	for range o.single {
		if err := st.Submit(g.job(benchMix[0])); err != nil {
			return nil, err
		}
	}
	snap, _ := st.Snapshot(now)
	t0 := time.Now()
	plan, _ := sched.Schedule(snap, now, rng, prof)
	if err := st.Apply(plan, now); err != nil {
		return nil, err
	}
	el := time.Since(t0)
	r.SingleChipJobs = len(plan.Start)
	r.SingleChipPerSec = float64(len(plan.Start)) / el.Seconds()

	// 2. Fill to the occupancy with the job mix, then time 8,192-chip gang
	// decisions (a fresh fill order each trial group).
	fmt.Fprintf(progress, "bench: filling to %.0f%% with the job mix\n", o.occupancy*100)
	st = state.NewMemStore(t, queues, prof.FairShare.HalfLife)
	if err := benchFill(st, g, t, o.occupancy, now, rng, prof); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: %d decisions for an 8,192-chip gang\n", o.trials)
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	base, _ := st.Snapshot(now)
	times := make([]float64, 0, o.trials)
	for i := range o.trials {
		gang := g.job(benchMix[4])
		gang.Priority = 1
		s := *base
		s.Pending = []*sched.Job{gang}
		if i%10 == 0 {
			runtime.GC() // start each group of trials without the fill's garbage
		}
		t0 := time.Now()
		p, _ := sched.Schedule(&s, now, rng, prof)
		times = append(times, float64(time.Since(t0).Microseconds())/1000)
		if len(p.Start) == 1 {
			r.Gang8192Placed++
		}
	}
	sort.Float64s(times)
	r.Gang8192Trials = len(times)
	r.Gang8192P50Ms = percentile(times, 0.50)
	r.Gang8192P99Ms = percentile(times, 0.99)

	// 3. One full cycle with 100,000 pending jobs on the filled pool.
	fmt.Fprintf(progress, "bench: one cycle with %d pending jobs\n", o.pending)
	for range o.pending {
		if err := st.Submit(g.mixed()); err != nil {
			return nil, err
		}
	}
	snap, _ = st.Snapshot(now)
	runtime.GC()
	t0 = time.Now()
	plan, _ = sched.Schedule(snap, now, rng, prof)
	r.Cycle100kPendingMs = float64(time.Since(t0).Microseconds()) / 1000
	r.Cycle100kPending = len(snap.Pending)
	r.Cycle100kStarted = len(plan.Start)
	if err := st.Apply(plan, now); err != nil {
		return nil, err
	}
	runtime.KeepAlive(snap)
	r.PeakRSSBytes = peakRSS()
	return r, nil
}

// benchFill submits mixed jobs until their chips reach the occupancy and
// schedules them, cycle by cycle, then completes a random tenth and refills,
// so the free chips are scattered the way a busy pool's are.
func benchFill(st *state.MemStore, g *benchGen, t *pool.Topology, occ float64, now time.Time, rng *rand.Rand, prof *sched.Profile) error {
	target := int(occ * float64(t.NumChips()))
	for round := 0; round < 2; round++ {
		for pass := 0; pass < 6; pass++ {
			p := st.Pool()
			used := t.NumChips() - p.FreeChips(0)
			if used >= target-64 {
				break
			}
			sum := 0
			for sum < target-used {
				j := g.mixed()
				if j.Ranks*j.RankMilli/pool.Full > target-used-sum && j.Ranks > 1 {
					continue
				}
				sum += j.Ranks * j.RankMilli / pool.Full
				if err := st.Submit(j); err != nil {
					return err
				}
			}
			snap, _ := st.Snapshot(now)
			fill := *prof
			fill.Backfill.Mode, fill.Preemption.Enabled = "off", false
			plan, _ := sched.Schedule(snap, now, rng, &fill)
			if err := st.Apply(plan, now); err != nil {
				return err
			}
		}
		snap, _ := st.Snapshot(now)
		for _, j := range snap.Pending {
			if err := st.Complete(j.ID, now); err != nil {
				return err
			}
		}
		if round == 0 {
			for _, j := range snap.Running {
				if rng.IntN(10) == 0 {
					if err := st.Complete(j.ID, now); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func renderBenchSched(w io.Writer, r *benchSchedResult) error {
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
