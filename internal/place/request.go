package place

import (
	"fmt"
	"math"
	"strings"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// request is a job as the search sees it.
type request struct {
	job    *sched.Job
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

// acceptedKinds returns the pool's kinds that j accepts.
func acceptedKinds(t *pool.Topology, j *sched.Job) []pool.KindID { return sched.AcceptedKinds(t, j) }

// options returns the single-kind options, then (when the job allows
// mixing families and accepts several kinds) the mixed one.
func options(t *pool.Topology, j *sched.Job, kinds []pool.KindID) (single []option, mixed *option) {
	mk := func(ks []pool.KindID) option {
		o := option{kinds: ks, tflops: math.Inf(1), hbm: math.Inf(1)}
		var names, fams []string
		for _, k := range ks {
			ck := t.Kinds[k]
			names = append(names, ck.Name)
			if !contains(fams, ck.Collective) {
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
	if j.MixFamilies && len(kinds) > 1 {
		m := mk(kinds)
		mixed = &m
	}
	return single, mixed
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// newRequest derives the request of j; hbm is the smallest memory among
// the accepted kinds.
func newRequest(j *sched.Job, hbm float64) (*request, error) {
	r := &request{job: j, ranks: j.Ranks, cpu: j.CPUMilli, mem: j.MemoryMiB, hbmGiB: hbm}
	if j.Ranks <= 0 {
		return nil, fmt.Errorf("a job needs at least one rank, got %d", j.Ranks)
	}
	switch {
	case j.RankMilli == 0:
		return r, nil
	case j.RankMilli < 0:
		return nil, fmt.Errorf("negative chips per rank (%d thousandths)", j.RankMilli)
	case j.RankMilli < pool.Full:
		r.milli = j.RankMilli
		r.plan = comm.Plan{Tensor: 1, Pipeline: 1, Data: 1, Expert: 1}
		return r, nil
	}
	k, ok := j.WholeChips()
	if !ok {
		return nil, fmt.Errorf("%d thousandths per rank is neither a whole number of chips nor a fraction of one", j.RankMilli)
	}
	r.k = k
	r.n = k * j.Ranks
	r.plan = PlanFor(j.Plan, r.n)
	r.vol, r.volDef = VolumesFor(j.Volumes, r.plan, hbm)
	r.unit = k
	if t := r.plan.Tensor; t > k && t%k == 0 {
		r.unit = t
	}
	return r, nil
}
