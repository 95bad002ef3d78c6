package score

import (
	"slices"
	"sort"
	"strings"

	"github.com/qunhq/qun/internal/sched"
)

// History learns the workload from the jobs seen so far: every job that
// arrives (placed or not) counts once. It is what a live scheduler knows;
// nothing about jobs yet to come.
type History struct {
	counts map[histKey]float64
	n      float64
	built  float64 // n when w was built
	w      *sched.Workload
}

type histKey struct {
	chips, milli int
	cpu, mem     int64
	kinds        string
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{counts: map[histKey]float64{}} }

// Observe counts one arriving job.
func (h *History) Observe(j *sched.Job) {
	s := jobShape(j)
	k := histKey{chips: s.chips, milli: s.milli, cpu: s.cpu, mem: s.mem}
	if len(j.Kinds) > 0 {
		ks := slices.Clone(j.Kinds)
		slices.Sort(ks)
		k.kinds = strings.Join(ks, "|")
	}
	h.counts[k]++
	h.n++
}

// Len returns the number of jobs observed.
func (h *History) Len() int { return int(h.n) }

// Workload returns the distribution of the shapes seen so far. The value is
// rebuilt only once the history has grown by 16 jobs or by 2% since the
// last one (whichever comes first), so that scorers keep their memo tables
// between rebuilds; it is nil before the first job.
func (h *History) Workload() *sched.Workload {
	if h.n == 0 {
		return nil
	}
	if h.w != nil && h.n < h.built*1.02 && h.n < h.built+16 {
		return h.w
	}
	keys := make([]histKey, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		ca, cb := h.counts[keys[a]], h.counts[keys[b]]
		if ca != cb {
			return ca > cb
		}
		ka, kb := keys[a], keys[b]
		switch {
		case ka.cpu != kb.cpu:
			return ka.cpu > kb.cpu
		case ka.mem != kb.mem:
			return ka.mem > kb.mem
		case ka.milli != kb.milli:
			return ka.milli > kb.milli
		case ka.chips != kb.chips:
			return ka.chips > kb.chips
		}
		return ka.kinds > kb.kinds
	})
	w := &sched.Workload{}
	for _, k := range keys {
		var kinds []string
		if k.kinds != "" {
			kinds = strings.Split(k.kinds, "|")
		}
		w.Shapes = append(w.Shapes, sched.WorkloadShape{Chips: k.chips, Milli: k.milli, CPUMilli: k.cpu,
			MemoryMiB: k.mem, Kinds: kinds, Weight: h.counts[k] / h.n})
	}
	h.w, h.built = w, h.n
	return w
}
