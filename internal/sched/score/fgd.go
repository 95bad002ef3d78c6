package score

import (
	"math"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// FGD is fragmentation gradient descent: a job goes where the host's
// fragmentation (see FragModel) grows least. A share of a chip goes to the
// chip of the host where it grows least. Scores are
// 100·sigmoid(−Δfrag/1000): 50 for no change, higher when fragmentation
// falls. With quantize, scores are truncated to integers as in the paper's
// artifact (so that hosts within about 0.04 chip of each other tie).
type FGD struct {
	quantize bool
	withMem  bool
	models   *models
}

// NewFGD returns the FGD scorer.
func NewFGD(quantize, withMem bool) *FGD {
	return &FGD{quantize: quantize, withMem: withMem, models: &models{}}
}

// Name implements sched.Plugin.
func (*FGD) Name() string { return FGDName }

func (p *FGD) model(cs *sched.CycleState) *FragModel {
	if cs == nil || cs.Snapshot == nil || cs.Snapshot.Workload == nil {
		return nil
	}
	return p.models.get(cs.Snapshot.Workload, p.withMem)
}

func (p *FGD) value(before, after float64) float64 {
	x := maxScore / (1 + math.Exp(-(before-after)/1000))
	if p.quantize {
		return math.Trunc(x)
	}
	return x
}

// ScoreHost implements sched.HostScore.
func (p *FGD) ScoreHost(cs *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) float64 {
	m := p.model(cs)
	if m == nil {
		return 0
	}
	sc, _ := p.eval(m, j, st, h)
	return sc
}

// ChooseShare returns the chip on host h where a share of j raises the
// host's fragmentation least (the first such chip on ties), or -1.
func (p *FGD) ChooseShare(cs *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) pool.ChipID {
	m := p.model(cs)
	if m == nil {
		return -1
	}
	_, c := p.eval(m, j, st, h)
	return c
}

// eval scores host h for j and, for a share, names the chip.
func (p *FGD) eval(m *FragModel, j *sched.Job, st *pool.State, h pool.DomainID) (float64, pool.ChipID) {
	s := jobShape(j)
	if s.share() {
		return p.bestShare(m, s, st, h, nil)
	}
	t := st.Topology()
	v := viewHost(st, h)
	var buf, work [64]int32
	free := freeList(st, &v, buf[:0])
	before := m.Frag(t, v.kind, free, v.cpu, v.mem)
	cpu, mem := v.cpu-s.cpu, v.mem-s.mem
	w := scratch(&work, len(free))
	copy(w, free)
	for n := s.chips; n > 0; n-- {
		// Take the least free chip that holds the share (whole chips: a
		// fully free one).
		best := bestFitShare(w, int32(s.milli))
		if best < 0 {
			return 0, -1
		}
		w[best] -= int32(s.milli)
		if s.milli == pool.Full {
			w[best] = -1 // taken; not eligible again
		}
	}
	for i := range w {
		w[i] = max(w[i], 0)
	}
	return p.value(before, m.Frag(t, v.kind, w, cpu, mem)), -1
}

// bestShare scores host h for a share of shape s: the best over its chips
// that can hold the share of FGD's value, less penalty(free before, free
// after) of that chip when penalty is set; it names the chip, or -1.
func (p *FGD) bestShare(m *FragModel, s shape, st *pool.State, h pool.DomainID, penalty func(before, after int32) float64) (float64, pool.ChipID) {
	t := st.Topology()
	v := viewHost(st, h)
	var buf, work [64]int32
	free := freeList(st, &v, buf[:0])
	before := m.Frag(t, v.kind, free, v.cpu, v.mem)
	cpu, mem := v.cpu-s.cpu, v.mem-s.mem
	best, chip := -1.0, pool.ChipID(-1)
	w := scratch(&work, len(free))
	for i, f := range free {
		c := v.lo + pool.ChipID(i)
		if int(f) < s.milli || !sched.Accepts(t, s.job, t.ChipKind(c)) {
			continue
		}
		copy(w, free)
		w[i] -= int32(s.milli)
		sc := p.value(before, m.Frag(t, v.kind, w, cpu, mem))
		if penalty != nil {
			sc -= penalty(f, w[i])
		}
		if chip < 0 || sc > best {
			best, chip = sc, c
		}
	}
	if chip < 0 {
		return 0, -1
	}
	return best, chip
}
