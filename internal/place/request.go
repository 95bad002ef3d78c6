package place

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// Request is a gang as placement sees it: identical ranks, what each
// needs, which chip kinds it accepts, and what it says about its
// communication and run time. A scheduler adapts its own job type to it
// (internal/sched/plugins/topology.go); FromSpec builds one from a job
// spec.
type Request struct {
	ID    string
	Ranks int
	// RankMilli is chips per rank in thousandths: 250 is a quarter chip,
	// 8000 is 8 chips, 0 is CPU only.
	RankMilli int
	CPUMilli  int64 // per rank
	MemoryMiB int64 // per rank
	// Kinds are the accepted chip kinds, preferred first; empty accepts
	// any kind with at least MinHBMGiB of memory.
	Kinds       []string
	MinHBMGiB   float64
	MixFamilies bool // may one gang mix collective families (HCCL and NCCL)
	Plan        job.Parallelism
	Volumes     job.Communication
	// Duration is the expected run time on the first kind Kinds lists (the
	// fastest accepted kind when Kinds is empty); 0 when unknown.
	Duration time.Duration
}

// FromSpec returns the request of a normalized job spec.
func FromSpec(id string, s *job.Spec) *Request {
	return &Request{
		ID: id, Ranks: s.RankCount(), RankMilli: s.RankMilli(),
		CPUMilli: s.CPUMilliPerRank, MemoryMiB: s.MemoryMiBPerRank,
		Kinds: append([]string(nil), s.Accept.Kinds...), MinHBMGiB: s.Accept.MinHBMGiB, MixFamilies: s.Accept.MixFamilies,
		Plan: s.Plan(), Volumes: s.Communication, Duration: time.Duration(s.Duration),
	}
}

// WholeChips reports whether each rank takes whole chips, and how many.
func (r *Request) WholeChips() (int, bool) {
	if r.RankMilli >= pool.Full && r.RankMilli%pool.Full == 0 {
		return r.RankMilli / pool.Full, true
	}
	return 0, false
}

// AcceptedKinds returns the kinds of t that r accepts, in pool order: the
// kinds it names (any when it names none) with at least MinHBMGiB
// (pool.ChipKind.AcceptedBy).
func AcceptedKinds(t *pool.Topology, r *Request) []pool.KindID {
	return t.AcceptedKinds(r.Kinds, r.MinHBMGiB)
}

// gang is a request as the search sees it.
type gang struct {
	req    *Request
	ranks  int
	k      int   // whole chips per rank; 0 for shared or CPU-only ranks
	milli  int   // thousandths per rank when shared
	n      int   // whole chips in all (ranks × k)
	unit   int   // preferred chips per host visit: the tensor group when it is a multiple of k
	cpu    int64 // per rank
	mem    int64
	hbmGiB float64 // smallest memory among accepted kinds present
	plan   comm.Plan
	vol    comm.Volumes
	volDef bool
}

// option is a set of kinds one gang may use: one kind, or several when the
// job allows mixing families.
type option struct {
	kinds  []pool.KindID
	name   string
	family string
	tflops float64 // slowest kind
	hbm    float64
	powerW float64 // most power-hungry kind
}

func (o *option) free(st *pool.State, d pool.DomainID) int {
	n := 0
	for _, k := range o.kinds {
		n += st.FreeChipsOfKind(d, k)
	}
	return n
}

func (o *option) freeMilli(st *pool.State, d pool.DomainID) int64 {
	var n int64
	for _, k := range o.kinds {
		n += st.FreeMilliOfKind(d, k)
	}
	return n
}

// options returns the single-kind options, then (when the request allows
// mixing families and accepts several kinds) the mixed one.
func options(t *pool.Topology, r *Request, kinds []pool.KindID) (single []option, mixed *option) {
	mk := func(ks []pool.KindID) option {
		o := option{kinds: ks, tflops: math.Inf(1), hbm: math.Inf(1)}
		var names, fams []string
		for _, k := range ks {
			ck := t.Kinds[k]
			names = append(names, ck.Name)
			if !slices.Contains(fams, ck.Collective) {
				fams = append(fams, ck.Collective)
			}
			o.tflops = min(o.tflops, ck.BF16TFLOPS)
			o.hbm = min(o.hbm, ck.HBMGiB)
			o.powerW = max(o.powerW, ck.PowerW)
		}
		o.name = strings.Join(names, "+")
		o.family = strings.Join(fams, "+")
		return o
	}
	for _, k := range kinds {
		single = append(single, mk([]pool.KindID{k}))
	}
	if r.MixFamilies && len(kinds) > 1 {
		m := mk(kinds)
		mixed = &m
	}
	return single, mixed
}

// newGang derives the gang of r; hbm is the smallest memory among the
// accepted kinds.
func newGang(r *Request, hbm float64) (*gang, error) {
	g := &gang{req: r, ranks: r.Ranks, cpu: r.CPUMilli, mem: r.MemoryMiB, hbmGiB: hbm}
	if r.Ranks <= 0 {
		return nil, fmt.Errorf("a job needs at least one rank, got %d", r.Ranks)
	}
	switch {
	case r.RankMilli == 0:
		return g, nil
	case r.RankMilli < 0:
		return nil, fmt.Errorf("negative chips per rank (%d thousandths)", r.RankMilli)
	case r.RankMilli < pool.Full:
		g.milli = r.RankMilli
		g.plan = comm.Plan{Tensor: 1, Pipeline: 1, Data: 1, Expert: 1}
		return g, nil
	}
	k, ok := r.WholeChips()
	if !ok {
		return nil, fmt.Errorf("%d thousandths per rank is neither a whole number of chips nor a fraction of one", r.RankMilli)
	}
	g.k = k
	g.n = k * r.Ranks
	g.plan = PlanFor(r.Plan, g.n)
	g.vol, g.volDef = VolumesFor(r.Volumes, g.plan, hbm)
	g.unit = k
	if t := g.plan.Tensor; t > k && t%k == 0 {
		g.unit = t
	}
	return g, nil
}
