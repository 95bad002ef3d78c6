package score

import (
	"maps"
	"slices"
	"sync"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// QunOptions are the knobs of Qun's scorer.
type QunOptions struct {
	// Strand is the penalty, in score points per chip, for chips a
	// placement strands: left free on a host whose CPU or memory runs out
	// first at the workload's CPU and memory per chip.
	Strand float64
	// Order is the penalty for a host's position in the snapshot's host
	// order, in score points across the whole order: a consistent
	// preference that fills hosts one after another.
	Order float64
	// Waste is the penalty, in score points per chip, for the change in
	// the chip's expected waste (see wasteTable) a share causes.
	Waste float64
	// Patience (0 to 1) is, in the expected-waste model, the probability
	// that a chip stays open for a later share when the next one to
	// arrive does not fit it; 0 ends the chip's filling at the first share
	// that does not fit.
	Patience float64
}

// DefaultQunOptions are the options of Qun's default profile, chosen on the
// openb default trace (docs/simulator.md shows the search).
var DefaultQunOptions = QunOptions{Strand: 100, Order: 120, Waste: 5000, Patience: 0.98}

// Qun is Qun's own placement policy: fragmentation gradient descent measured
// against the workload learnt from the jobs seen so far (memory included),
// plus three terms FGD lacks. A stranding term keeps CPU and memory in step
// with the chips they serve, so chips are not left idle on hosts whose CPU
// or memory is gone; a consistent host preference (first fit's ordering,
// traded smoothly against fragmentation) fills hosts one at a time, keeping
// whole hosts free for large jobs; and an expected-waste term sends a share
// where the chip's leftover is likeliest to be filled by the learnt shares.
// See docs/simulator.md.
type Qun struct {
	o   QunOptions
	fgd *FGD
	pos hostPositions

	ratio perWorkload[*sched.Workload, [2]float64]
	waste perWorkload[*sched.Workload, []float64]
}

// NewQun returns Qun's scorer with the default options.
func NewQun() *Qun { return NewQunWith(DefaultQunOptions) }

// NewQunWith returns Qun's scorer with options.
func NewQunWith(o QunOptions) *Qun { return &Qun{o: o, fgd: NewFGD(false, true)} }

// Name implements sched.Plugin.
func (*Qun) Name() string { return QunName }

// ScoreHost implements sched.HostScore.
func (q *Qun) ScoreHost(cs *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) float64 {
	var s float64
	if q.o.Waste != 0 && jobShape(j).share() {
		s, _ = q.evalShare(cs, j, st, h)
	} else {
		s = q.fgd.ScoreHost(cs, j, st, h)
	}
	if q.o.Strand != 0 && cs != nil && cs.Snapshot != nil && cs.Snapshot.Workload != nil {
		r := q.ratios(cs.Snapshot.Workload)
		v := viewHost(st, h)
		sh := jobShape(j)
		before := stranded(float64(v.freeMilli), float64(v.cpu), float64(v.mem), r)
		after := stranded(float64(v.freeMilli-sh.total()), float64(v.cpu-sh.cpu), float64(v.mem-sh.mem), r)
		s -= q.o.Strand * (after - before) / pool.Full
	}
	if q.o.Order != 0 {
		s -= q.o.Order * q.pos.of(cs, st, h)
	}
	return s
}

// ChooseShare picks the chip for a share of j on host h: FGD's choice
// (see FGD.ChooseShare) less the expected-waste term.
func (q *Qun) ChooseShare(cs *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) pool.ChipID {
	if q.o.Waste != 0 {
		_, c := q.evalShare(cs, j, st, h)
		return c
	}
	return q.fgd.ChooseShare(cs, j, st, h)
}

// evalShare scores host h for a share of j as FGD does, less the waste
// term, and names the chip.
func (q *Qun) evalShare(cs *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) (float64, pool.ChipID) {
	m := q.fgd.model(cs)
	if m == nil {
		return 0, -1
	}
	wt := q.wasteTable(cs.Snapshot.Workload)
	return q.fgd.bestShare(m, jobShape(j), st, h, func(before, after int32) float64 {
		return q.o.Waste * (wt[min(int(after), pool.Full)] - wt[min(int(before), pool.Full)]) / pool.Full
	})
}

// wasteTable returns, for each free share 0..Full of a chip, its expected
// waste if shares arrive at the workload's rates, each landing on the chip
// when it fits, and the chip's filling ends at a share that does not fit
// with probability 1−c (c the Patience):
// W(L) = (L·(1−F(L))·(1−c) + Σ_{s≤L} p_s·W(L−s)) / (1 − (1−F(L))·c),
// with p_s the probability of a share of s among the shares and F(L) that
// of a share of at most L. With c = 0 it is L·(1−F(L)) + Σ p_s·W(L−s).
func (q *Qun) wasteTable(w *sched.Workload) []float64 {
	return q.waste.get(w, func() []float64 { return q.buildWaste(w) })
}

func (q *Qun) buildWaste(w *sched.Workload) []float64 {
	p := map[int]float64{}
	var tot float64
	for _, s := range w.Shapes {
		if s.Chips == 1 && s.Milli > 0 && s.Milli < pool.Full {
			p[s.Milli] += s.Weight
			tot += s.Weight
		}
	}
	sizes := slices.Sorted(maps.Keys(p))
	t := make([]float64, pool.Full+1)
	if tot > 0 {
		for l := 1; l <= pool.Full; l++ {
			var f, e float64
			for _, sz := range sizes {
				if sz > l {
					break
				}
				f += p[sz] / tot
				e += p[sz] / tot * t[l-sz]
			}
			if f == 0 { // no share fits: the whole leftover is waste
				t[l] = float64(l)
				continue
			}
			miss := 1 - f
			t[l] = (float64(l)*miss*(1-q.o.Patience) + e) / (1 - miss*q.o.Patience)
		}
	}
	return t
}

// stranded is the chip share a host cannot use because its CPU or memory
// runs out first, at the workload's CPU and memory per chip.
func stranded(free, cpu, mem float64, r [2]float64) float64 {
	usable := free
	if r[0] > 0 {
		usable = min(usable, cpu/r[0])
	}
	if r[1] > 0 {
		usable = min(usable, mem/r[1])
	}
	return free - max(usable, 0)
}

// ratios returns the workload's CPU and memory per chip thousandth, over the
// shapes that take chips.
func (q *Qun) ratios(w *sched.Workload) [2]float64 {
	return q.ratio.get(w, func() [2]float64 { return workloadRatios(w) })
}

func workloadRatios(w *sched.Workload) [2]float64 {
	var cpu, mem, gpu float64
	for _, s := range w.Shapes {
		if s.Chips > 0 {
			cpu += s.Weight * float64(s.CPUMilli)
			mem += s.Weight * float64(s.MemoryMiB)
			gpu += s.Weight * float64(s.Chips*s.Milli)
		}
	}
	var r [2]float64
	if gpu > 0 {
		r = [2]float64{cpu / gpu, mem / gpu}
	}
	return r
}

// hostPositions maps hosts to their position in the snapshot's host order,
// as a fraction of the hosts; cached per order slice.
type hostPositions struct {
	mu    sync.Mutex
	order []pool.DomainID
	pos   []float64 // by DomainID
}

func (hp *hostPositions) of(cs *sched.CycleState, st *pool.State, h pool.DomainID) float64 {
	if cs == nil || cs.Snapshot == nil {
		return 0
	}
	order := cs.Snapshot.HostOrder
	if order == nil {
		order = st.Topology().Hosts()
	}
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if len(hp.order) != len(order) || len(order) == 0 || &hp.order[0] != &order[0] {
		hp.order = order
		hp.pos = make([]float64, st.Topology().NumDomains())
		for i, d := range order {
			hp.pos[d] = float64(i) / float64(len(order))
		}
	}
	return hp.pos[h]
}
