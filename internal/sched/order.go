package sched

import (
	"container/heap"
	"slices"
	"sort"
	"strings"

	"github.com/qunhq/qun/internal/pool"
)

// AcceptedKinds returns the kinds of t that job j accepts (Accepts), in
// pool order.
func AcceptedKinds(t *pool.Topology, j *Job) []pool.KindID {
	return t.AcceptedKinds(j.Kinds, j.MinHBMGiB)
}

// Accepts reports whether job j may run on chips of kind k of t: a kind it
// lists (any when it lists none) with at least MinHBMGiB of memory
// (pool.ChipKind.AcceptedBy).
func Accepts(t *pool.Topology, j *Job, k pool.KindID) bool {
	return t.Kinds[k].AcceptedBy(j.Kinds, j.MinHBMGiB)
}

// less is the QueueSort order with a deterministic fallback: the profile's
// QueueSort when it decides, else submission time, else ID.
func (c *cycle) less(a, b *Job) bool {
	if c.prof.QueueSort != nil {
		if c.prof.QueueSort.Less(c.cs, a, b) {
			return true
		}
		if c.prof.QueueSort.Less(c.cs, b, a) {
			return false
		}
	} else if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.Submitted.Equal(b.Submitted) {
		return a.Submitted.Before(b.Submitted)
	}
	return a.ID < b.ID
}

// compare is less as a three-way comparison, for the slices package.
func (c *cycle) compare(a, b *Job) int {
	switch {
	case c.less(a, b):
		return -1
	case c.less(b, a):
		return 1
	}
	return 0
}

// order yields pending jobs one at a time: the queue heads are merged by
// less, and shares are read live, so a queue that starts a job falls back
// behind the others of its class within the same cycle.
type order struct {
	c      *cycle
	heads  []*qlist // heap
	byRoot map[string][]*qlist
}

type qlist struct {
	jobs []*Job
	pos  int // next job
	idx  int // heap index, -1 when exhausted
}

func newOrder(c *cycle, pending []*Job) *order {
	o := &order{c: c, byRoot: map[string][]*qlist{}}
	byQ := map[string]*qlist{}
	var names []string
	for _, j := range pending {
		l, ok := byQ[j.Queue]
		if !ok {
			l = &qlist{}
			byQ[j.Queue] = l
			names = append(names, j.Queue)
		}
		l.pos++ // counts the queue's jobs until they are added
	}
	for _, l := range byQ {
		l.jobs, l.pos = make([]*Job, 0, l.pos), 0
	}
	for _, j := range pending {
		l := byQ[j.Queue]
		l.jobs = append(l.jobs, j)
	}
	sort.Strings(names)
	for _, n := range names {
		l := byQ[n]
		slices.SortStableFunc(l.jobs, c.compare)
		l.idx = len(o.heads)
		o.heads = append(o.heads, l)
		root := n
		if i := strings.IndexByte(n, '/'); i > 0 {
			root = n[:i]
		}
		o.byRoot[root] = append(o.byRoot[root], l)
	}
	heap.Init(o)
	return o
}

func (o *order) Len() int { return len(o.heads) }
func (o *order) Less(i, k int) bool {
	a, b := o.heads[i], o.heads[k]
	return o.c.less(a.jobs[a.pos], b.jobs[b.pos])
}
func (o *order) Swap(i, k int) {
	o.heads[i], o.heads[k] = o.heads[k], o.heads[i]
	o.heads[i].idx = i
	o.heads[k].idx = k
}
func (o *order) Push(x any) { l := x.(*qlist); l.idx = len(o.heads); o.heads = append(o.heads, l) }
func (o *order) Pop() any {
	l := o.heads[len(o.heads)-1]
	o.heads = o.heads[:len(o.heads)-1]
	l.idx = -1
	return l
}

// next returns the next job, or nil when none is left.
func (o *order) next() *Job {
	if len(o.heads) == 0 {
		return nil
	}
	l := o.heads[0]
	j := l.jobs[l.pos]
	l.pos++
	if l.pos == len(l.jobs) {
		heap.Pop(o)
	} else {
		heap.Fix(o, 0)
	}
	return j
}

// changed restores the heap after the usage of queue changed: every queue
// under the same root may have moved.
func (o *order) changed(queue string) {
	root := queue
	if i := strings.IndexByte(queue, '/'); i > 0 {
		root = queue[:i]
	}
	for _, l := range o.byRoot[root] {
		if l.idx >= 0 {
			heap.Fix(o, l.idx)
		}
	}
}
