package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/planner"
	"github.com/qunhq/qun/internal/pool"
)

// ErrSetting marks an impossible experiment setting (bad input).
var ErrSetting = errors.New("bad setting")

// Interval is a checkpoint interval setting: a duration, or Auto (Young and
// Daly's optimum for the job's MTBF and the checkpoint write cost).
type Interval struct {
	Auto bool
	D    time.Duration
}

// ParseInterval reads "auto", "none", or a Go duration.
func ParseInterval(s string) (Interval, error) {
	switch s {
	case "auto":
		return Interval{Auto: true}, nil
	case "none", "0":
		return Interval{}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 30*24*time.Hour {
		return Interval{}, fmt.Errorf("%w: --checkpoint-interval %q: allowed: auto, none, or a duration from 1s to 720h", ErrSetting, s)
	}
	return Interval{D: d}, nil
}

func (iv Interval) String() string {
	switch {
	case iv.Auto:
		return "auto"
	case iv.D == 0:
		return "none"
	}
	return iv.D.String()
}

// ETTRConfig is one `qun sim --experiment ettr` invocation: every
// combination of recovery policy, checkpoint interval and spare count, over
// every seed, on the same drawn faults per seed.
type ETTRConfig struct {
	Pool       *pool.Topology
	PoolFile   string
	JobChips   int
	Days       float64
	Seeds      []int64
	Recoveries []string
	Intervals  []Interval
	// Spares are spare-host counts; -1 sizes them by Little's law at
	// SparePercentile.
	Spares          []int
	SpareLevel      string // level whose domains the spares spread over; "" = the root's children
	SparePercentile float64
	Faults          *FaultModel
	Cost            []string // NAME=DURATION overrides, for every policy
	Timeline        bool
	Progress        func(string)
}

// ETTRSummary is one setting's means over the seeds.
type ETTRSummary struct {
	Recovery          string    `json:"recovery"`
	Interval          string    `json:"checkpoint_interval"`
	IntervalS         float64   `json:"checkpoint_interval_s"`
	Spares            int       `json:"spares"`
	Runs              int       `json:"runs"`
	ETTR              float64   `json:"ettr"`
	ETTRStdev         float64   `json:"ettr_stdev"`
	ETTRMin           float64   `json:"ettr_min"`
	Faults            float64   `json:"faults"`
	MeanLossPerFaultS float64   `json:"mean_loss_per_fault_s"`
	LossBreakdownS    Breakdown `json:"loss_breakdown_s"`
	CheckpointS       float64   `json:"checkpoint_s"`
	WaitingS          float64   `json:"waiting_for_capacity_s"`
	SparesUsed        float64   `json:"spares_used"`
}

// ETTRReport is the experiment's result.
type ETTRReport struct {
	Experiment string  `json:"experiment"`
	Pool       string  `json:"pool"`
	PoolChips  int     `json:"pool_chips"`
	JobChips   int     `json:"job_chips"`
	Days       float64 `json:"days"`
	Seeds      []int64 `json:"seeds"`
	FaultModel string  `json:"fault_model"`
	// FaultRate is faults per million chip-hours; JobMTBFHours the job's
	// mean time between faults at that rate.
	FaultRate    float64          `json:"fault_rate_per_million_chip_hours"`
	JobMTBFHours float64          `json:"job_mtbf_hours"`
	Costs        map[string]Costs `json:"costs"`
	// AutoInterval is Daly's interval per policy (Young's first-order
	// value beside it), with that policy's checkpoint write cost.
	AutoIntervalS  map[string]float64 `json:"auto_interval_s"`
	YoungIntervalS map[string]float64 `json:"young_interval_s"`
	AutoSpares     int                `json:"auto_spares"`
	SpareLevel     string             `json:"spare_level"`
	// ETTR, Faults, MeanLossPerFaultS and LossBreakdownS repeat the first
	// setting's means, so one run reads at the top level.
	ETTR              float64        `json:"ettr"`
	Faults            float64        `json:"faults"`
	MeanLossPerFaultS float64        `json:"mean_loss_per_fault_s"`
	LossBreakdownS    Breakdown      `json:"loss_breakdown_s"`
	WaitingS          float64        `json:"waiting_for_capacity_s"`
	SparesUsed        float64        `json:"spares_used"`
	Summary           []ETTRSummary  `json:"summary"`
	IntervalSweep     *IntervalSweep `json:"interval_sweep,omitempty"`
	SpareSweep        *SpareSweep    `json:"spare_sweep,omitempty"`
	Runs              []*ETTRRun     `json:"runs"`
	WallSeconds       float64        `json:"wall_seconds"`
}

// IntervalSweep compares the swept intervals' best with the formula.
type IntervalSweep struct {
	Recovery  string  `json:"recovery"`
	Spares    int     `json:"spares"`
	BestS     float64 `json:"best_interval_s"`
	BestETTR  float64 `json:"best_ettr"`
	FormulaS  float64 `json:"formula_interval_s"`
	Deviation float64 `json:"deviation"` // |best − formula| / formula
}

// SpareSweep names the knee of the spare counts: the fewest spares whose
// mean ETTR is within KneeTolerance of the best count's.
type SpareSweep struct {
	Recovery string  `json:"recovery"`
	Interval string  `json:"checkpoint_interval"`
	Knee     int     `json:"knee"`
	KneeETTR float64 `json:"knee_ettr"`
	BestETTR float64 `json:"best_ettr"`
	Formula  int     `json:"formula_spares"`
}

// KneeTolerance is how far below the best a spare count's ETTR may be and
// still count as the knee (half a point).
const KneeTolerance = 0.005

// RunETTRExperiment runs every setting of c over every seed.
func RunETTRExperiment(c ETTRConfig) (*ETTRReport, error) {
	start := time.Now()
	t := c.Pool
	if c.Faults == nil {
		c.Faults = DefaultFaults()
	}
	if err := c.Faults.Check(t); err != nil {
		return nil, err
	}
	if len(c.Seeds) == 0 {
		c.Seeds = []int64{1}
	}
	if len(c.Recoveries) == 0 {
		c.Recoveries = []string{RecoveryQun}
	}
	if len(c.Intervals) == 0 {
		c.Intervals = []Interval{{Auto: true}}
	}
	if len(c.Spares) == 0 {
		c.Spares = []int{-1}
	}
	if c.SparePercentile == 0 {
		c.SparePercentile = 0.99
	}
	if !(c.SparePercentile > 0 && c.SparePercentile < 1) {
		return nil, fmt.Errorf("%w: --spare-percentile %g: allowed: above 0 and below 1", ErrSetting, c.SparePercentile)
	}
	if !(c.Days > 0 && c.Days <= 3650) {
		return nil, fmt.Errorf("%w: --days %g: allowed: above 0, at most 3650", ErrSetting, c.Days)
	}
	per, _, err := hostShape(t)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetting, err)
	}
	if c.JobChips <= 0 || c.JobChips%per != 0 || c.JobChips > t.NumChips() {
		return nil, fmt.Errorf("%w: --job-chips %d: allowed: a positive multiple of %d (chips per host) up to the pool's %d",
			ErrSetting, c.JobChips, per, t.NumChips())
	}
	costs := map[string]Costs{}
	for _, rec := range c.Recoveries {
		if rec != RecoveryQun && rec != RecoveryBaseline {
			return nil, fmt.Errorf("%w: --recovery %q: allowed: qun, baseline", ErrSetting, rec)
		}
		cs := DefaultCosts(rec)
		for _, kv := range c.Cost {
			if err := cs.SetCost(kv); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrSetting, err)
			}
		}
		costs[rec] = cs
	}
	spareLevel, err := resolveSpareLevel(t, c.SpareLevel)
	if err != nil {
		return nil, err
	}
	rate := c.Faults.Total()
	mtbf := math.Inf(1)
	if rate > 0 {
		mtbf = 1e6 / (rate * float64(c.JobChips)) // hours
	}
	rep := &ETTRReport{Experiment: "ettr", Pool: c.PoolFile, PoolChips: t.NumChips(), JobChips: c.JobChips, Days: c.Days,
		Seeds: c.Seeds, FaultModel: c.Faults.Name, FaultRate: rate, JobMTBFHours: mtbf, Costs: costs,
		AutoIntervalS: map[string]float64{}, YoungIntervalS: map[string]float64{}, SpareLevel: t.Levels[spareLevel].Name}
	for rec, cs := range costs {
		rep.AutoIntervalS[rec] = planner.DalyInterval(cs.CkptWrite.Seconds(), mtbf*3600)
		rep.YoungIntervalS[rec] = planner.YoungInterval(cs.CkptWrite.Seconds(), mtbf*3600)
	}
	rep.AutoSpares = planner.Spares(meanHostsDown(c.Faults, t, c.JobChips), c.SparePercentile)
	hostsFree := len(t.Hosts()) - c.JobChips/per
	for _, n := range c.Spares {
		if n < -1 {
			return nil, fmt.Errorf("%w: --spares %d: allowed: auto or a count from 0", ErrSetting, n)
		}
		if n > hostsFree || n == -1 && rep.AutoSpares > hostsFree {
			want := n
			if n == -1 {
				want = rep.AutoSpares
			}
			return nil, fmt.Errorf("%w: --spares %d: pool %s has %d hosts and the job takes %d, so at most %d can be spares",
				ErrSetting, want, t.Name, len(t.Hosts()), c.JobChips/per, hostsFree)
		}
	}
	span := time.Duration(c.Days * 24 * float64(time.Hour))
	idx := map[string]int{}
	for _, seed := range c.Seeds {
		drawn := DrawFaults(c.Faults, t, span, seed)
		for _, rec := range c.Recoveries {
			for _, iv := range c.Intervals {
				d := iv.D
				if iv.Auto {
					d = time.Duration(rep.AutoIntervalS[rec] * float64(time.Second)).Round(time.Second)
				}
				for _, n := range c.Spares {
					if n == -1 {
						n = rep.AutoSpares
					}
					label := fmt.Sprintf("%s interval %s spares %d seed %d", rec, iv, n, seed)
					o := ETTROptions{Pool: t, JobChips: c.JobChips, Span: span, Seed: seed, Recovery: rec, Costs: costs[rec],
						Interval: d, Spares: PickSpares(t, spareLevel, n), Faults: c.Faults, Drawn: drawn, Timeline: c.Timeline}
					if c.Progress != nil {
						o.Progress = func(at time.Duration) {
							c.Progress(fmt.Sprintf("%s: day %.0f of %g", label, at.Hours()/24, c.Days))
						}
					}
					run, err := RunETTR(o)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", label, err)
					}
					if c.Progress != nil {
						c.Progress(fmt.Sprintf("%s: ettr %.4f, %d faults (%.1fs)", label, run.ETTR, run.Faults, run.WallSeconds))
					}
					key := fmt.Sprintf("%s|%s|%d", rec, iv, n)
					if _, ok := idx[key]; !ok {
						idx[key] = len(rep.Summary)
						rep.Summary = append(rep.Summary, ETTRSummary{Recovery: rec, Interval: iv.String(), IntervalS: d.Seconds(), Spares: n})
					}
					rep.Runs = append(rep.Runs, run)
				}
			}
		}
	}
	summarise(rep)
	rep.IntervalSweep = intervalSweep(rep, c)
	rep.SpareSweep = spareSweep(rep, c)
	rep.WallSeconds = time.Since(start).Seconds()
	return rep, nil
}

func resolveSpareLevel(t *pool.Topology, name string) (int, error) {
	if name == "" {
		return min(1, t.HostLevel), nil
	}
	lv, ok := t.LevelIndex(name)
	if !ok || lv > t.HostLevel {
		var names []string
		for i := 0; i <= t.HostLevel; i++ {
			names = append(names, t.Levels[i].Name)
		}
		return 0, fmt.Errorf("%w: --spare-level %q: allowed: %s", ErrSetting, name, strings.Join(names, ", "))
	}
	return lv, nil
}

// PickSpares sets n hosts aside, deterministically: round robin over the
// domains at level lvl in pool order, each giving its last hosts first.
func PickSpares(t *pool.Topology, lvl, n int) []pool.DomainID {
	doms := t.DomainsAt(lvl)
	per := make([][]pool.DomainID, len(doms))
	pos := map[pool.DomainID]int{}
	for i, d := range doms {
		pos[d] = i
	}
	for _, h := range t.Hosts() {
		if i, ok := pos[t.Ancestor(h, lvl)]; ok {
			per[i] = append(per[i], h)
		}
	}
	var out []pool.DomainID
	for round := 0; len(out) < n; round++ {
		took := false
		for i := range per {
			if k := len(per[i]) - 1 - round; k >= 0 && len(out) < n {
				out = append(out, per[i][k])
				took = true
			}
		}
		if !took {
			break
		}
	}
	return out
}

// meanHostsDown is Little's law over the job's hosts: Σ over fault kinds
// of arrival rate × hosts taken × mean repair time.
func meanHostsDown(m *FaultModel, t *pool.Topology, jobChips int) float64 {
	per, _, _ := hostShape(t)
	l := 0.0
	for _, k := range m.Kinds {
		if k.Effect == Crash || k.Repair == 0 {
			continue
		}
		hosts := 1.0
		if lv, ok := t.LevelIndex(k.Scope); ok && k.Scope != ScopeChip && k.Scope != ScopeHost {
			if ds := t.DomainsAt(lv); len(ds) > 0 {
				hosts = float64(t.Size(ds[0]) / per)
			}
		}
		l += k.Rate / 1e6 * float64(jobChips) * hosts * k.Repair.Hours()
	}
	return l
}

func summarise(rep *ETTRReport) {
	groups := map[string][]*ETTRRun{}
	for _, r := range rep.Runs {
		key := fmt.Sprintf("%s|%g|%d", r.Recovery, r.IntervalS, r.Spares)
		groups[key] = append(groups[key], r)
	}
	for i := range rep.Summary {
		s := &rep.Summary[i]
		runs := groups[fmt.Sprintf("%s|%g|%d", s.Recovery, s.IntervalS, s.Spares)]
		s.Runs = len(runs)
		var e []float64
		var faults, loss float64
		for _, r := range runs {
			e = append(e, r.ETTR)
			faults += float64(r.Faults)
			loss += r.LossBreakdownS.Sum()
			s.LossBreakdownS.add(r.LossBreakdownS, 1/float64(len(runs)))
			s.CheckpointS += r.CheckpointS / float64(len(runs))
			s.WaitingS += r.WaitingS / float64(len(runs))
			s.SparesUsed += float64(r.SparesUsed) / float64(len(runs))
		}
		s.ETTR, s.ETTRStdev = meanStdev(e)
		s.ETTRMin = slices.Min(e)
		s.Faults = faults / float64(len(runs))
		if faults > 0 {
			s.MeanLossPerFaultS = loss / faults
		}
	}
	if len(rep.Summary) > 0 {
		s := rep.Summary[0]
		rep.ETTR, rep.Faults, rep.MeanLossPerFaultS, rep.LossBreakdownS = s.ETTR, s.Faults, s.MeanLossPerFaultS, s.LossBreakdownS
		rep.WaitingS, rep.SparesUsed = s.WaitingS, s.SparesUsed
	}
}

func intervalSweep(rep *ETTRReport, c ETTRConfig) *IntervalSweep {
	if len(c.Intervals) < 3 {
		return nil
	}
	rec, spares := rep.Summary[0].Recovery, rep.Summary[0].Spares
	var best *ETTRSummary
	for i := range rep.Summary {
		s := &rep.Summary[i]
		if s.Recovery != rec || s.Spares != spares || s.IntervalS == 0 {
			continue
		}
		if best == nil || s.ETTR > best.ETTR {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	f := rep.AutoIntervalS[rec]
	return &IntervalSweep{Recovery: rec, Spares: spares, BestS: best.IntervalS, BestETTR: best.ETTR, FormulaS: f,
		Deviation: math.Abs(best.IntervalS-f) / f}
}

func spareSweep(rep *ETTRReport, c ETTRConfig) *SpareSweep {
	if len(c.Spares) < 3 {
		return nil
	}
	rec, iv := rep.Summary[0].Recovery, rep.Summary[0].Interval
	var rows []ETTRSummary
	for _, s := range rep.Summary {
		if s.Recovery == rec && s.Interval == iv {
			rows = append(rows, s)
		}
	}
	slices.SortFunc(rows, func(a, b ETTRSummary) int { return a.Spares - b.Spares })
	best := 0.0
	for _, s := range rows {
		best = math.Max(best, s.ETTR)
	}
	for _, s := range rows {
		if s.ETTR >= best-KneeTolerance {
			return &SpareSweep{Recovery: rec, Interval: iv, Knee: s.Spares, KneeETTR: s.ETTR, BestETTR: best, Formula: rep.AutoSpares}
		}
	}
	return nil
}

// ParseSpares reads "auto" or a count.
func ParseSpares(s string) (int, error) {
	if s == "auto" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: --spares %q: allowed: auto or a count from 0", ErrSetting, s)
	}
	return n, nil
}
