package sched

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// AnyKind is the quota key that stands for every chip kind no queue names.
const AnyKind = "*"

// Quotas is the queue tree of one cycle with each queue's usage, its
// guaranteed quota, borrowing and lending limits, and its fair share. Jobs
// started during the cycle are charged as they start, so later decisions see
// them. Not safe for concurrent use.
//
// Quota keys are chip kind names; a chip of a kind that no queue names is
// counted under AnyKind ("*"). Guarantees and lending limits are per leaf
// queue; borrowing limits apply at every level; an inner queue's guarantee
// is its own if given, else the sum of its children's.
type Quotas struct {
	nodes    map[string]*qnode
	leaves   []*qnode
	keys     []string       // keys[0] is AnyKind
	keyIdx   map[string]int // key name → index
	keyOf    []int          // pool.KindID → key index
	capacity []int64        // thousandths per key in the pool
	total    float64        // all chips of the pool
	histNorm float64        // multiplies decayed chip-seconds into a share
	topo     *pool.Topology
	scratch  []int64
}

type qnode struct {
	name     string
	parent   *qnode
	children []*qnode
	weight   float64
	guar     []int64 // per key
	borrow   []int64 // per key; -1 unlimited
	lend     []int64 // per key; -1 all unused
	usage    []int64 // per key, running jobs in the subtree
	pending  []int64 // per key, demand of the leaf's pending jobs
	hist     float64 // decayed chip-seconds
	share    float64 // cached Share
	path     []*qnode
}

// NewQuotas builds the queue tree of a snapshot and charges its running jobs.
// Queues that jobs name but the snapshot does not declare are added as roots
// (with their missing ancestors) of weight 1 with no guarantee and no limits.
func NewQuotas(snap *Snapshot, halfLife time.Duration) *Quotas {
	t := snap.Pool.Topology()
	q := &Quotas{nodes: map[string]*qnode{}, keys: []string{AnyKind}, keyIdx: map[string]int{AnyKind: 0}}
	named := map[string]bool{}
	for _, qu := range snap.Queues {
		for _, m := range []map[string]int64{qu.Guaranteed, qu.Borrowing, qu.Lending} {
			for k := range m {
				if k != AnyKind {
					named[k] = true
				}
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(named)) {
		q.keyIdx[k] = len(q.keys)
		q.keys = append(q.keys, k)
	}
	q.keyOf = make([]int, len(t.Kinds))
	q.capacity = make([]int64, len(q.keys))
	q.topo = t
	q.scratch = make([]int64, len(q.keys))
	for i, k := range t.Kinds {
		if x, ok := q.keyIdx[k.Name]; ok {
			q.keyOf[i] = x
		}
		n := int64(t.KindCount(0, pool.KindID(i)))
		q.capacity[q.keyOf[i]] += n * pool.Full
		q.total += float64(n)
	}
	if halfLife > 0 && q.total > 0 {
		q.histNorm = math.Ln2 / (q.total * halfLife.Seconds())
	}
	for i := range snap.Queues {
		q.add(&snap.Queues[i])
	}
	for _, j := range snap.Pending {
		n := q.node(j.Queue)
		if ks := AcceptedKinds(t, j); len(ks) > 0 && j.RankMilli > 0 {
			n.pending[q.keyOf[ks[0]]] += j.TotalMilli()
		}
	}
	for _, j := range snap.Running {
		q.node(j.Queue)
	}
	// Inner guarantees default to the sum of the children's.
	var fill func(n *qnode)
	fill = func(n *qnode) {
		for _, c := range n.children {
			fill(c)
		}
		if len(n.children) == 0 {
			return
		}
		for k := range q.keys {
			if n.guar[k] < 0 {
				n.guar[k] = 0
				for _, c := range n.children {
					n.guar[k] += c.guar[k]
				}
			}
		}
	}
	for _, n := range q.nodes {
		if n.parent == nil {
			fill(n)
		}
	}
	for _, n := range q.nodes {
		for k := range n.guar {
			n.guar[k] = max(n.guar[k], 0)
		}
		if len(n.children) == 0 {
			q.leaves = append(q.leaves, n)
		}
		n.hist = snap.Usage[n.name]
	}
	sort.Slice(q.leaves, func(i, j int) bool { return q.leaves[i].name < q.leaves[j].name })
	for _, j := range snap.Running {
		if j.Placement != nil {
			q.Charge(j, j.Placement, +1)
		}
	}
	for _, n := range q.nodes {
		q.refresh(n)
	}
	return q
}

func (q *Quotas) add(qu *Queue) {
	n := q.node(qu.Name)
	if qu.Weight > 0 {
		n.weight = qu.Weight
	}
	for name, v := range qu.Guaranteed {
		n.guar[q.keyIdx[name]] = v
	}
	for name, v := range qu.Borrowing {
		n.borrow[q.keyIdx[name]] = v
	}
	for name, v := range qu.Lending {
		n.lend[q.keyIdx[name]] = v
	}
}

// node returns the queue named by path, creating it and its ancestors.
func (q *Quotas) node(path string) *qnode {
	if n, ok := q.nodes[path]; ok {
		return n
	}
	k := len(q.keys)
	n := &qnode{name: path, weight: 1, guar: make([]int64, k), borrow: make([]int64, k), lend: make([]int64, k), usage: make([]int64, k), pending: make([]int64, k)}
	for i := range k {
		n.guar[i], n.borrow[i], n.lend[i] = -1, -1, -1
	}
	q.nodes[path] = n
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		n.parent = q.node(path[:i])
		n.parent.children = append(n.parent.children, n)
	}
	for a := n; a != nil; a = a.parent {
		n.path = append(n.path, a)
	}
	for i, j := 0, len(n.path)-1; i < j; i, j = i+1, j-1 {
		n.path[i], n.path[j] = n.path[j], n.path[i]
	}
	return n
}

// Key returns the quota key that chips of kind k count under.
func (q *Quotas) Key(k pool.KindID) string { return q.keys[q.keyOf[k]] }

// Charge adds (sign +1) or removes (-1) a placement of j to its queue's usage.
func (q *Quotas) Charge(j *Job, p *pool.Placement, sign int) {
	n := q.node(j.Queue)
	clear(q.scratch)
	if len(p.Kinds) == 1 {
		// One kind for the gang: no need to look at every chip.
		q.scratch[q.keyOf[p.Kinds[0]]] = j.TotalMilli()
	} else {
		for _, c := range p.Ranks {
			for _, g := range c.Grants {
				q.scratch[q.keyOf[q.topo.ChipKind(g.Chip)]] += int64(g.Milli)
			}
		}
	}
	for k, v := range q.scratch {
		if v == 0 {
			continue
		}
		for a := n; a != nil; a = a.parent {
			a.usage[k] += int64(sign) * v
		}
	}
	for a := n; a != nil; a = a.parent {
		q.refresh(a)
	}
}

func (q *Quotas) refresh(n *qnode) {
	dom := 0.0
	for k, u := range n.usage {
		if q.capacity[k] > 0 {
			dom = max(dom, float64(u)/float64(q.capacity[k]))
		}
	}
	n.share = (dom + n.hist*q.histNorm) / n.weight
}

// Share returns the weighted dominant share of a queue: its largest
// fraction of any quota key's pool capacity in use, plus its decayed
// historical usage as a fraction of the pool, divided by its weight.
func (q *Quotas) Share(queue string) float64 { return q.node(queue).share }

// CompareShares orders two queues by hierarchical fair share: it compares
// the shares of their ancestors at the first level where their paths differ
// (organisations first, then teams). It returns -1, 0 or +1.
func (q *Quotas) CompareShares(a, b string) int {
	if a == b {
		return 0
	}
	pa, pb := q.node(a).path, q.node(b).path
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		switch {
		case pa[i].share < pb[i].share:
			return -1
		case pa[i].share > pb[i].share:
			return 1
		}
		return 0
	}
	return 0
}

// Demand returns the quota key index and thousandths a job would use on kind k.
func (q *Quotas) demand(j *Job, k pool.KindID) (int, int64) { return q.keyOf[k], j.TotalMilli() }

// Check reports whether job j may use kind k under the quotas as they stand:
// nil, or a Status naming the queue and limit.
func (q *Quotas) Check(j *Job, k pool.KindID) *Status {
	key, amt := q.demand(j, k)
	if amt == 0 {
		return nil
	}
	n := q.node(j.Queue)
	if n.usage[key]+amt <= n.guar[key] {
		return nil // the queue's own guarantee is always available
	}
	for a := n; a != nil; a = a.parent {
		if b := a.borrow[key]; b >= 0 && a.usage[key]+amt > a.guar[key]+b {
			return &Status{Code: Unschedulable, Plugin: PluginQuota, Reason: ReasonBorrowLimit,
				Detail: fmt.Sprintf("queue %s would use %s of %s (guaranteed %s, may borrow %s)", a.name,
					job.Milli(a.usage[key]+amt), q.keys[key], job.Milli(a.guar[key]), job.Milli(b))}
		}
	}
	if ceiling, held := q.ceiling(key, n); held > 0 && n.usage[key]+amt > ceiling {
		return &Status{Code: Unschedulable, Plugin: PluginQuota, Reason: ReasonNoLendable,
			Detail: fmt.Sprintf("queue %s would use %s of %s; other queues lend it at most %s (%s in the pool, %s of idle guarantees not lent)",
				n.name, job.Milli(n.usage[key]+amt), q.keys[key], job.Milli(ceiling), job.Milli(q.capacity[key]), job.Milli(held))}
	}
	return nil
}

// ceiling returns the most leaf n may use of a key under the lending limits
// of the other leaves, and how much of their idle guarantee they keep: what
// their lending limits keep back, and what their own pending jobs want (idle
// guarantee its owner is asking for is not lent). It ignores how full the
// pool is: whether the chips are free now is the placement's question.
func (q *Quotas) ceiling(key int, n *qnode) (ceiling, held int64) {
	for _, l := range q.leaves {
		if l == n {
			continue
		}
		idle := l.guar[key] - l.usage[key]
		if idle <= 0 {
			continue
		}
		keep := min(idle, l.pending[key])
		if l.lend[key] >= 0 {
			keep = max(keep, idle-l.lend[key])
		}
		held += keep
	}
	return q.capacity[key] - held, held
}

// Started records that pending job j started on kind k: its demand no
// longer holds its queue's idle guarantee back.
func (q *Quotas) Started(j *Job, k pool.KindID) {
	n := q.node(j.Queue)
	key := q.keyOf[k]
	n.pending[key] = max(0, n.pending[key]-j.TotalMilli())
}

// Within reports whether queue's usage of kind k plus j's demand stays
// within its guarantee (the queue may reclaim what it lent).
func (q *Quotas) Within(j *Job, k pool.KindID) bool {
	key, amt := q.demand(j, k)
	n := q.node(j.Queue)
	return n.usage[key]+amt <= n.guar[key]
}

// Borrowing returns how many thousandths of kind k the queue uses beyond
// its guarantee (0 when it is within it).
func (q *Quotas) Borrowing(queue string, k pool.KindID) int64 {
	n := q.node(queue)
	key := q.keyOf[k]
	return max(0, n.usage[key]-n.guar[key])
}

// Usage returns a queue's usage and guarantee for the key of kind k, in
// thousandths.
func (q *Quotas) Usage(queue string, k pool.KindID) (used, guaranteed int64) {
	n := q.node(queue)
	key := q.keyOf[k]
	return n.usage[key], n.guar[key]
}

// DecayUsage advances decayed historical usage from one time to another:
// every value decays by half per halfLife and every running job adds its
// chips × seconds (decayed within the interval) to its queue and each
// ancestor. It returns a new map; with halfLife 0 it returns nil.
func DecayUsage(prev map[string]float64, running []*Job, from, to time.Time, halfLife time.Duration) map[string]float64 {
	if halfLife <= 0 {
		return nil
	}
	dt := to.Sub(from).Seconds()
	if dt < 0 {
		dt = 0
	}
	lambda := math.Ln2 / halfLife.Seconds()
	f := math.Exp(-lambda * dt)
	out := make(map[string]float64, len(prev))
	for k, v := range prev {
		if v*f >= 1 { // below one chip-second, history is noise
			out[k] = v * f
		}
	}
	gain := (1 - f) / lambda // ∫ decay over the interval, in seconds
	for _, j := range running {
		if j.Placement == nil {
			continue
		}
		chips := float64(j.TotalMilli()) / pool.Full
		for p := j.Queue; ; {
			out[p] += chips * gain
			i := strings.LastIndexByte(p, '/')
			if i <= 0 {
				break
			}
			p = p[:i]
		}
	}
	return out
}
