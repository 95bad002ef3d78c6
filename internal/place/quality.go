package place

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// QualityConfig configures the placement-quality benchmark.
type QualityConfig struct {
	Occupancies []float64 // default 0.3, 0.6, 0.9
	Fills       int       // background fills per occupancy; default 8
	JobsPerFill int       // gangs placed on each fill; default 25
	Seed        uint64
	// Clock, when set, times each Decide; nil reports no times.
	Clock func() time.Time
}

// QualityRow is one line of the benchmark: a pool at one occupancy.
type QualityRow struct {
	Pool      string  `json:"pool"`
	Occupancy float64 `json:"occupancy"`
	Jobs      int     `json:"jobs"`     // gangs placed by both placements
	Unplaced  int     `json:"unplaced"` // gangs the topology-aware placement could not place
	// Within110Share is the share of gangs whose modelled communication is
	// at most 1.10 × their lower bound.
	Within110Share float64 `json:"within_1_10_share"`
	// MedianSpeedup is the median over gangs of first-fit communication
	// time divided by topology-aware communication time.
	MedianSpeedup  float64 `json:"median_speedup_vs_firstfit"`
	MedianRatio    float64 `json:"median_ratio_to_bound"`
	FirstFitWithin float64 `json:"firstfit_within_1_10_share"`
	P50DecideMs    float64 `json:"p50_decide_ms,omitempty"`
	P99DecideMs    float64 `json:"p99_decide_ms,omitempty"`
}

func (c QualityConfig) withDefaults() QualityConfig {
	if len(c.Occupancies) == 0 {
		c.Occupancies = []float64{0.3, 0.6, 0.9}
	}
	if c.Fills == 0 {
		c.Fills = 8
	}
	if c.JobsPerFill == 0 {
		c.JobsPerFill = 25
	}
	return c
}

// Quality runs the placement-quality benchmark on t: for every occupancy,
// Fills seeded backgrounds (see Fill), and on each JobsPerFill generated
// gangs (see BenchGang), each placed on the same state by pl and by
// FirstFit without being committed. A gang larger than the free chips is
// halved until it fits.
func Quality(t *pool.Topology, pl *Placer, cfg QualityConfig) ([]QualityRow, error) {
	cfg = cfg.withDefaults()
	fab := pl.Fabric(t)
	est := comm.NewEstimator(fab)
	var rows []QualityRow
	for oi, occ := range cfg.Occupancies {
		row := QualityRow{Pool: t.Name, Occupancy: occ}
		var ratios, speedups, times []float64
		ffWithin := 0
		for f := range cfg.Fills {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(oi)<<32|uint64(f)))
			st := pool.NewState(t)
			if _, err := Fill(st, pl, occ, rng); err != nil {
				return nil, err
			}
			for i := range cfg.JobsPerFill {
				j := BenchGang(rng, t, st)
				if j == nil {
					continue
				}
				j.ID = fmt.Sprintf("gang-%d-%d", f, i)
				var t0 time.Time
				if cfg.Clock != nil {
					t0 = cfg.Clock()
				}
				d := pl.Decide(j, st, Env{})
				if cfg.Clock != nil {
					times = append(times, float64(cfg.Clock().Sub(t0))/float64(time.Millisecond))
				}
				ff, err := FirstFit(st, j)
				if !d.Placed || err != nil {
					row.Unplaced++
					continue
				}
				ffSec := est.EstimateStep(toInt32(PlacementChips(ff)), d.Plan, d.Volumes).Seconds
				ratios = append(ratios, d.Ratio)
				if ratio(ffSec, d.LowerBound.Seconds) <= 1.10 {
					ffWithin++
				}
				sp := 1.0
				if d.Step.Seconds > 0 {
					sp = ffSec / d.Step.Seconds
				}
				speedups = append(speedups, sp)
			}
		}
		row.Jobs = len(ratios)
		if row.Jobs > 0 {
			in := 0
			for _, r := range ratios {
				if r <= 1.10 {
					in++
				}
			}
			row.Within110Share = float64(in) / float64(row.Jobs)
			row.FirstFitWithin = float64(ffWithin) / float64(row.Jobs)
			row.MedianRatio = quantile(ratios, 0.5)
			row.MedianSpeedup = quantile(speedups, 0.5)
		}
		if len(times) > 0 {
			row.P50DecideMs, row.P99DecideMs = quantile(times, 0.5), quantile(times, 0.99)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// BenchGang draws a gang for the benchmark: a size from 8 to 8,192 chips
// (log-uniform over powers of two, capped at the pool and halved until it
// fits the free chips), tensor parallelism 8 (the size itself below 8),
// pipeline parallelism 2 to 8 for a third of the gangs of 64 chips or more,
// expert parallelism 8 for a fifth of those with data parallelism of 8 or
// more, and one rank per chip, or per tensor group for a third of them.
// Volumes are the defaults of DefaultVolumes. It returns nil when fewer
// than 8 chips are free.
func BenchGang(rng *rand.Rand, t *pool.Topology, st *pool.State) *sched.Job {
	maxExp := 13
	for maxExp > 3 && 1<<maxExp > t.NumChips() {
		maxExp--
	}
	n := 1 << (3 + rng.IntN(maxExp-2))
	free := st.FreeChips(0)
	for n > 8 && n > free {
		n /= 2
	}
	if n > free {
		return nil
	}
	tp := min(8, n)
	p := job.Parallelism{Tensor: tp, Pipeline: 1}
	if n >= 64 && rng.IntN(3) == 0 {
		p.Pipeline = 2 << rng.IntN(3)
	}
	p.Data = n / (tp * p.Pipeline)
	if p.Data >= 8 && rng.IntN(5) == 0 {
		p.Expert = 8
	}
	j := &sched.Job{Queue: "bench", Plan: p, RankMilli: pool.Full, Ranks: n}
	if rng.IntN(3) == 0 {
		j.RankMilli, j.Ranks = tp*pool.Full, n/tp
	}
	return j
}

func toInt32(cs []pool.ChipID) []int32 {
	out := make([]int32, len(cs))
	for i, c := range cs {
		out[i] = int32(c)
	}
	return out
}

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
