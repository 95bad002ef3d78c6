package bench

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

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/state"
)

// SchedPool is the pool of the scheduler benchmark, relative to the
// repository root (embedded in the binary, see LoadPool).
const SchedPool = "examples/pools/atlas950-supercluster.yaml"

// SchedResult is the scheduler benchmark's figures (what `qun bench
// sched -o json` prints).
type SchedResult struct {
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

// SchedConfig configures the scheduler benchmark. Every size must be
// positive and Occupancy between 0 and 1 (exclusive).
type SchedConfig struct {
	Pool      *pool.Topology // nil: SchedPool
	Single    int            // single-chip jobs placed for the placement rate
	Trials    int            // 8,192-chip gang decisions timed
	Pending   int            // pending jobs in the full-cycle measurement
	Tenants   int            // tenant queues
	Occupancy float64        // pool occupancy for the gang and cycle measurements
	Seed      uint64         // seed of the generated queue
	// CPUProfile, when set, is the file a CPU profile of the gang and
	// cycle measurements is written to.
	CPUProfile string
	// Progress receives a line per stage; nil discards them.
	Progress io.Writer
	// Steps receives the progress within the stages.
	Steps Steps
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

// Sched runs the scheduler benchmark: single-chip placements per second
// on the empty pool, p50/p99 decision time of an 8,192-chip gang at the
// occupancy, the time of one cycle with Pending jobs queued, and the
// process's peak memory (VmHWM).
func Sched(o SchedConfig) (*SchedResult, error) {
	if o.Occupancy <= 0 || o.Occupancy >= 1 || o.Single < 1 || o.Trials < 1 || o.Pending < 1 || o.Tenants < 1 {
		return nil, fmt.Errorf("sizes must be positive and occupancy between 0 and 1")
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	t := o.Pool
	if t == nil {
		var err error
		if t, err = LoadPool(SchedPool); err != nil {
			return nil, err
		}
	}
	prof := plugins.DefaultProfile()
	queues, tenants := benchQueues(t, o.Tenants)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	g := &benchGen{rng: rand.New(rand.NewPCG(o.Seed, 1)), tenants: tenants, now: now}
	r := &SchedResult{Pool: t.Name, Chips: t.NumChips(), Cores: runtime.NumCPU(), Tenants: o.Tenants,
		Occupancy: o.Occupancy, TargetPlacementsPerS: 10_000, TargetGang8192P99Ms: 50, TargetPeakRSSBytes: 2 << 30}
	rng := rand.New(rand.NewPCG(o.Seed, 2))

	// 1. Single-chip placements: one cycle places every job, then the plan
	// is applied.
	fmt.Fprintf(progress, "bench: %d single-chip jobs on an empty pool\n", o.Single)
	st := state.NewMemStore(t, queues, prof.FairShare.HalfLife)
	for range o.Single {
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
	fmt.Fprintf(progress, "bench: filling to %.0f%% with the job mix\n", o.Occupancy*100)
	st = state.NewMemStore(t, queues, prof.FairShare.HalfLife)
	if err := benchFill(st, g, t, o.Occupancy, now, rng, prof); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: %d decisions for an 8,192-chip gang\n", o.Trials)
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
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
	times := make([]float64, 0, o.Trials)
	for i := range o.Trials {
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
		o.Steps.step("bench sched: 8,192-chip gang decisions", i+1, o.Trials)
		if len(p.Start) == 1 {
			r.Gang8192Placed++
		}
	}
	sort.Float64s(times)
	r.Gang8192Trials = len(times)
	r.Gang8192P50Ms = percentile(times, 0.50)
	r.Gang8192P99Ms = percentile(times, 0.99)

	// 3. One full cycle with 100,000 pending jobs on the filled pool.
	fmt.Fprintf(progress, "bench: one cycle with %d pending jobs\n", o.Pending)
	for i := range o.Pending {
		if err := st.Submit(g.mixed()); err != nil {
			return nil, err
		}
		o.Steps.step("bench sched: queueing pending jobs", i+1, o.Pending)
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
