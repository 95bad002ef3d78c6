package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
)

// QualityConfig configures the placement-quality benchmark.
type QualityConfig struct {
	Occupancies []float64 // default 0.3, 0.6, 0.9
	// Backgrounds are the schedulers whose backgrounds are measured, one
	// row each per occupancy; default BackgroundOwn.
	Backgrounds []Background
	// Mix is the background's size distribution; nil is
	// NewBackgroundMix(DefaultMultiHostShare).
	Mix         *BackgroundMix
	Fills       int // background fills per occupancy; default 8
	JobsPerFill int // gangs placed on each fill; default 25
	Seed        uint64
	// Clock, when set, times each Decide; nil reports no times.
	Clock func() time.Time
	// Steps receives the gangs placed of each occupancy.
	Steps Steps
}

// QualityRow is one line of the benchmark: a pool at one occupancy on one
// background.
type QualityRow struct {
	Pool       string     `json:"pool"`
	Occupancy  float64    `json:"occupancy"`
	Background Background `json:"background"`
	Jobs       int        `json:"jobs"`     // gangs placed by both placements
	Unplaced   int        `json:"unplaced"` // gangs either placement could not place
	// Within110Share is the share of gangs whose modelled communication is
	// at most 1.10 × their lower bound.
	Within110Share float64 `json:"within_1_10_share"`
	// MedianSpeedup is the median over gangs of first-fit communication
	// time divided by topology-aware communication time.
	MedianSpeedup  float64 `json:"median_speedup_vs_firstfit"`
	MedianRatio    float64 `json:"median_ratio_to_bound"`
	FirstFitWithin float64 `json:"firstfit_within_1_10_share"`
	// FirstFitMedianRatio is the median of first-fit communication time
	// over the lower bound.
	FirstFitMedianRatio float64 `json:"firstfit_median_ratio_to_bound"`
	P50DecideMs         float64 `json:"p50_decide_ms,omitempty"`
	P99DecideMs         float64 `json:"p99_decide_ms,omitempty"`
}

func (c QualityConfig) withDefaults() (QualityConfig, error) {
	if len(c.Occupancies) == 0 {
		c.Occupancies = []float64{0.3, 0.6, 0.9}
	}
	if len(c.Backgrounds) == 0 {
		c.Backgrounds = []Background{BackgroundOwn}
	}
	for _, b := range c.Backgrounds {
		if !slices.Contains(Backgrounds, b) {
			return c, fmt.Errorf("unknown background %q (want one of %v)", b, Backgrounds)
		}
	}
	if c.Mix == nil {
		m, err := NewBackgroundMix(DefaultMultiHostShare)
		if err != nil {
			return c, err
		}
		c.Mix = m
	}
	if c.Fills == 0 {
		c.Fills = 8
	}
	if c.JobsPerFill == 0 {
		c.JobsPerFill = 25
	}
	return c, nil
}

// rowAcc accumulates one row.
type rowAcc struct {
	row                               QualityRow
	ratios, ffRatios, speedups, times []float64
	ffWithin                          int
}

func (a *rowAcc) add(d *place.Decision, ff *pool.Placement, ms float64, est *comm.Estimator) {
	if ms >= 0 {
		a.times = append(a.times, ms)
	}
	if !d.Placed || ff == nil {
		a.row.Unplaced++
		return
	}
	ffSec := est.EstimateStep(toInt32(ff.Chips()), d.Plan, d.Volumes).Seconds
	a.ratios = append(a.ratios, d.Ratio)
	ffRatio := place.Ratio(ffSec, d.LowerBound.Seconds)
	a.ffRatios = append(a.ffRatios, ffRatio)
	if ffRatio <= 1.10 {
		a.ffWithin++
	}
	sp := 1.0
	if d.Step.Seconds > 0 {
		sp = ffSec / d.Step.Seconds
	}
	a.speedups = append(a.speedups, sp)
}

func (a *rowAcc) finish() QualityRow {
	r := a.row
	r.Jobs = len(a.ratios)
	if r.Jobs > 0 {
		in := 0
		for _, x := range a.ratios {
			if x <= 1.10 {
				in++
			}
		}
		r.Within110Share = float64(in) / float64(r.Jobs)
		r.FirstFitWithin = float64(a.ffWithin) / float64(r.Jobs)
		r.MedianRatio = quantile(a.ratios, 0.5)
		r.FirstFitMedianRatio = quantile(a.ffRatios, 0.5)
		r.MedianSpeedup = quantile(a.speedups, 0.5)
	}
	if len(a.times) > 0 {
		r.P50DecideMs, r.P99DecideMs = quantile(a.times, 0.5), quantile(a.times, 0.99)
	}
	return r
}

// Quality runs the placement-quality benchmark on t. For every occupancy
// it makes Fills seeded backgrounds with FillWith: one placed by pl (when a
// requested background needs it) and one by FirstFitPlace (likewise), from the
// same seed. On each it places the same JobsPerFill generated gangs (see
// BenchGang; a gang larger than the free chips of either background is
// halved until it fits) with pl and with FirstFitPlace, without committing
// them, and compares the two on the background each row asks for: the
// topology background, the first-fit background, or each placement on the
// background of its own scheduler (BackgroundOwn).
func Quality(t *pool.Topology, pl *place.Placer, cfg QualityConfig) ([]QualityRow, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	fab := pl.Fabric(t)
	est := comm.NewEstimator(fab)
	needTopo := slices.Contains(cfg.Backgrounds, BackgroundTopology) || slices.Contains(cfg.Backgrounds, BackgroundOwn)
	needFF := slices.Contains(cfg.Backgrounds, BackgroundFirstFit) || slices.Contains(cfg.Backgrounds, BackgroundOwn)
	var rows []QualityRow
	for oi, occ := range cfg.Occupancies {
		accs := map[Background]*rowAcc{}
		for _, b := range cfg.Backgrounds {
			accs[b] = &rowAcc{row: QualityRow{Pool: t.Name, Occupancy: occ, Background: b}}
		}
		for f := range cfg.Fills {
			stream := uint64(oi)<<32 | uint64(f)
			var stTopo, stFF *pool.State
			if needTopo {
				stTopo = pool.NewState(t)
				if _, err := FillWith(stTopo, TopologyPlace(pl), cfg.Mix, occ, rand.New(rand.NewPCG(cfg.Seed, stream))); err != nil {
					return nil, err
				}
			}
			if needFF {
				stFF = pool.NewState(t)
				if _, err := FillWith(stFF, FirstFitPlace, cfg.Mix, occ, rand.New(rand.NewPCG(cfg.Seed, stream))); err != nil {
					return nil, err
				}
			}
			gangs := rand.New(rand.NewPCG(cfg.Seed, stream|1<<63))
			for i := range cfg.JobsPerFill {
				j := BenchGang(gangs, t, fewestFree(stTopo, stFF))
				if j == nil {
					continue
				}
				cfg.Steps.step(fmt.Sprintf("bench place: %s at %.0f%%", t.Name, occ*100), f*cfg.JobsPerFill+i+1, cfg.Fills*cfg.JobsPerFill)
				j.ID = fmt.Sprintf("gang-%d-%d", f, i)
				decide := func(st *pool.State) (*place.Decision, float64) {
					if cfg.Clock == nil {
						return pl.Decide(j, st, place.Env{}), -1
					}
					t0 := cfg.Clock()
					d := pl.Decide(j, st, place.Env{})
					return d, float64(cfg.Clock().Sub(t0)) / float64(time.Millisecond)
				}
				var dTopo *place.Decision
				var msTopo float64
				if stTopo != nil {
					dTopo, msTopo = decide(stTopo)
				}
				for _, b := range cfg.Backgrounds {
					switch b {
					case BackgroundTopology:
						accs[b].add(dTopo, FirstFitPlace(j, stTopo), msTopo, est)
					case BackgroundFirstFit:
						d, ms := decide(stFF)
						accs[b].add(d, FirstFitPlace(j, stFF), ms, est)
					case BackgroundOwn:
						accs[b].add(dTopo, FirstFitPlace(j, stFF), msTopo, est)
					}
				}
			}
		}
		for _, b := range cfg.Backgrounds {
			rows = append(rows, accs[b].finish())
		}
	}
	return rows, nil
}

// fewestFree returns whichever non-nil state has fewer free chips.
func fewestFree(a, b *pool.State) *pool.State {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.FreeChips(0) < a.FreeChips(0):
		return b
	}
	return a
}

// BenchGang draws a gang for the benchmark: a size from 8 to 8,192 chips
// (log-uniform over powers of two, capped at the pool and halved until it
// fits the free chips), tensor parallelism 8 (the size itself below 8),
// pipeline parallelism 2 to 8 for a third of the gangs of 64 chips or more,
// expert parallelism 8 for a fifth of those with data parallelism of 8 or
// more, and one rank per chip, or per tensor group for a third of them.
// Volumes are the defaults of place.DefaultVolumes. It returns nil when fewer
// than 8 chips are free.
func BenchGang(rng *rand.Rand, t *pool.Topology, st *pool.State) *place.Request {
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
	j := &place.Request{Plan: p, RankMilli: pool.Full, Ranks: n}
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
