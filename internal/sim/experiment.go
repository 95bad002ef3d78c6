package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/score"
	"github.com/qunhq/qun/internal/sim/trace"
)

// CurveMax is the last arrived-load percent of the FGD curves.
const CurveMax = 130

// FGDResult is one policy and seed of the FGD experiment. Curves are indexed
// by the arrived GPU share in integer percent (0 to CurveMax); a null entry
// has no event within one percent.
type FGDResult struct {
	Policy       string     `json:"policy"`
	Seed         int64      `json:"seed"`
	Pods         int        `json:"pods"`
	Failed       int        `json:"failed"`
	FailedMilli  int64      `json:"failed_gpu_milli"`
	CapacityGPUs int64      `json:"capacity_gpus"`
	AllocAt130   float64    `json:"alloc_at_130"`
	AllocCurve   []*float64 `json:"alloc_curve"`
	FragCurve    []*float64 `json:"frag_curve"`
	FinalAlloc   float64    `json:"final_alloc"`
	FinalArrived float64    `json:"final_arrived"`
	// FailedByShape counts failed pods by "GPUs x thousandths".
	FailedByShape map[string]int `json:"failed_by_shape"`
	// The packing bound (FGDOptions.Bound), at the first pod that fails:
	// the arrived GPU share (percent, that pod included), the GPUs holding
	// shares (pods of one GPU with less than a whole one), the clairvoyant
	// LP lower bound on the GPUs those same shares need (ShareBound; CPU and
	// memory ignored), and the difference. Absent without the option or
	// when no pod fails; the bound and the gap are absent when ShareBound
	// fails, with its error in ShareBoundError.
	FirstFailureArrived      *float64 `json:"first_failure_arrived,omitempty"`
	ShareChipsAtFirstFailure *int     `json:"share_chips_at_first_failure,omitempty"`
	ShareChipsBound          *float64 `json:"share_chips_bound,omitempty"`
	ShareBoundGap            *float64 `json:"share_bound_gap_gpus,omitempty"`
	ShareBoundError          string   `json:"share_bound_error,omitempty"`
	WallSeconds              float64  `json:"wall_seconds"`
}

// FGDOptions configures RunFGD.
type FGDOptions struct {
	Policy string
	// Profile, when set, is run instead of the profile Policy names
	// (Policy is then only the label).
	Profile *sched.Profile
	Seed    int64
	Ratio   float64 // workload tuning ratio; the paper uses 1.3
	// Lean leaves running jobs out of the snapshots where the policy
	// cannot use them (same plans, a cycle no longer costs O(running)).
	Lean bool
	// Bound records the packing bound at the first pod that fails (see
	// FGDResult.ShareChipsBound).
	Bound    bool
	Progress func(done, total int)
}

// toSchedJob converts a trace job to the scheduler's one-rank job.
func toSchedJob(j *trace.Job, id string) *sched.Job {
	sj := &sched.Job{ID: id, Queue: j.Tenant, Ranks: 1, CPUMilli: j.CPUMilli, MemoryMiB: j.MemoryMiB, Kinds: j.Models,
		Submitted: Epoch.Add(time.Duration(j.Submit) * time.Second), Duration: time.Duration(j.Duration) * time.Second}
	switch {
	case j.GPUs == 0:
	case j.Sharing():
		sj.RankMilli = j.GPUMilli
	default:
		sj.RankMilli = j.GPUs * pool.Full
	}
	return sj
}

// RunFGD runs the FGD paper's experiment for one policy and seed: every job
// of the prepared list gets one scheduling cycle, in order; a job that fits
// nowhere fails for good.
func RunFGD(nodes []trace.Node, pods []trace.Job, o FGDOptions) (*FGDResult, error) {
	start := time.Now()
	setup, err := PrepareFGD(nodes, pods, o.Seed, o.Ratio)
	if err != nil {
		return nil, err
	}
	t, err := BuildPool("openb", setup.Nodes, DefaultMaxPods)
	if err != nil {
		return nil, err
	}
	prof := o.Profile
	if prof == nil {
		if prof, err = Profile(o.Policy); err != nil {
			return nil, err
		}
	}
	c := newCluster(t, prof, rand.New(setup.Rand))
	c.lean = o.Lean && o.Profile == nil && score.StateOnly(o.Policy)
	hosts := t.Hosts()
	for _, i := range setup.NodeOrder {
		c.hostOrder = append(c.hostOrder, hosts[i])
	}
	c.workload = setup.Typical
	// Live history for policies that learn from the jobs seen so far.
	hist := score.NewHistory()
	learn := o.Profile != nil || score.LearnsHistory(o.Policy)

	frag := newFragTracker(t, c.st, setup.Typical)
	c.hook = frag.update

	total := float64(setup.CapacityMilli)
	res := &FGDResult{Policy: o.Policy, Seed: o.Seed, Pods: len(setup.Jobs), CapacityGPUs: setup.CapacityMilli / pool.Full,
		FailedByShape: map[string]int{}}
	bins := newBins()
	var arrived int64
	var shares *shareTracker
	if o.Bound {
		shares = newShareTracker(t.NumChips())
	}
	pending := make([]*sched.Job, 1)
	for i := range setup.Jobs {
		j := &setup.Jobs[i]
		sj := toSchedJob(j, j.Name)
		if learn {
			hist.Observe(sj)
			c.workload = hist.Workload()
		}
		arrived += j.TotalMilli()
		pending[0] = sj
		started, err := c.cycle(Epoch, pending)
		if err != nil {
			return nil, err
		}
		if len(started) == 0 {
			if shares != nil && res.Failed == 0 {
				shares.record(res, 100*float64(arrived)/total)
			}
			res.FailedByShape[fmt.Sprintf("%dx%d", j.GPUs, j.GPUMilli)]++
			res.Failed++
			res.FailedMilli += j.TotalMilli()
		} else if shares != nil && res.Failed == 0 {
			for _, sj := range started {
				shares.add(sj.Placement)
			}
		}
		used := float64(setup.CapacityMilli - c.st.FreeMilli(0))
		bins.add(arrived, used, frag.total, total)
		if o.Progress != nil && (i%500 == 0 || i == len(setup.Jobs)-1) {
			o.Progress(i+1, len(setup.Jobs))
		}
	}
	res.AllocCurve, res.FragCurve = bins.curves()
	if v := res.AllocCurve[CurveMax]; v != nil {
		res.AllocAt130 = *v
	}
	res.FinalAlloc = round2(100 * float64(setup.CapacityMilli-c.st.FreeMilli(0)) / total)
	res.FinalArrived = round2(100 * float64(arrived) / total)
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// bins accumulates per-event figures by arrived percent, as the artifact's
// analysis does: the arrived share is rounded to an integer percent (half
// to even), each event's allocation to two decimals, and a percent with no
// event takes the events within one percent of it.
type bins struct {
	sum, fsum []float64
	n         []int
}

func newBins() *bins {
	const size = CurveMax + 2
	return &bins{sum: make([]float64, size), fsum: make([]float64, size), n: make([]int, size)}
}

func (b *bins) add(arrived int64, used, frag, total float64) {
	x := math.RoundToEven(100 * float64(arrived) / total)
	if x < 0 || x > CurveMax+1 {
		return
	}
	i := int(x)
	b.sum[i] += round2(100 * used / total)
	b.fsum[i] += round2(100 * frag / total)
	b.n[i]++
}

func (b *bins) curves() (alloc, frag []*float64) {
	alloc = make([]*float64, CurveMax+1)
	frag = make([]*float64, CurveMax+1)
	for x := 0; x <= CurveMax; x++ {
		s, f, n := b.sum[x], b.fsum[x], b.n[x]
		if n == 0 {
			for y := max(0, x-1); y <= x+1 && y < len(b.n); y++ {
				s, f, n = s+b.sum[y], f+b.fsum[y], n+b.n[y]
			}
		}
		if n == 0 {
			continue
		}
		a, g := round2(s/float64(n)), round2(f/float64(n))
		alloc[x], frag[x] = &a, &g
	}
	return alloc, frag
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// fragTracker keeps the cluster's fragmentation (against the typical
// workload) up to date, recomputing only hosts that changed.
type fragTracker struct {
	t     *pool.Topology
	st    *pool.State
	m     *score.FragModel
	per   []float64 // by host index
	idx   map[pool.DomainID]int
	total float64
	buf   []int32
}

func newFragTracker(t *pool.Topology, st *pool.State, w *sched.Workload) *fragTracker {
	f := &fragTracker{t: t, st: st, m: score.NewFragModel(w, false), idx: map[pool.DomainID]int{}}
	for i, h := range t.Hosts() {
		f.idx[h] = i
		f.per = append(f.per, 0)
		f.update(h)
	}
	return f
}

func (f *fragTracker) update(h pool.DomainID) {
	i, ok := f.idx[h]
	if !ok {
		return
	}
	lo, hi := f.t.ChipRange(h)
	f.buf = f.buf[:0]
	for c := lo; c < hi; c++ {
		f.buf = append(f.buf, int32(f.st.ChipFree(c)))
	}
	var v float64
	if hi > lo {
		v = f.m.Frag(f.t, f.t.ChipKind(lo), f.buf, f.st.FreeCPU(h), f.st.FreeMemory(h))
	}
	f.total += v - f.per[i]
	f.per[i] = v
}

// shareTracker keeps the GPU shares placed so far and the chips they sit
// on, for the packing bound.
type shareTracker struct {
	milli []int
	used  []bool // by chip
	chips int
}

func newShareTracker(chips int) *shareTracker {
	return &shareTracker{used: make([]bool, chips)}
}

func (s *shareTracker) add(p *pool.Placement) {
	if p == nil {
		return
	}
	for _, cl := range p.Ranks {
		for _, g := range cl.Grants {
			if g.Milli >= pool.Full {
				continue
			}
			s.milli = append(s.milli, int(g.Milli))
			if !s.used[g.Chip] {
				s.used[g.Chip] = true
				s.chips++
			}
		}
	}
}

// record writes the packing figures into res.
func (s *shareTracker) record(res *FGDResult, arrivedPct float64) {
	a, n := round2(arrivedPct), s.chips
	res.FirstFailureArrived, res.ShareChipsAtFirstFailure = &a, &n
	b, err := ShareBound(s.milli, pool.Full)
	if err != nil {
		res.ShareBoundError = err.Error()
		return
	}
	bound, gap := round2(b), round2(float64(n)-b)
	res.ShareChipsBound, res.ShareBoundGap = &bound, &gap
}

func (r *FGDResult) String() string {
	return fmt.Sprintf("%s seed %d: alloc@130 %.2f%%, %d of %d pods failed", r.Policy, r.Seed, r.AllocAt130, r.Failed, r.Pods)
}
