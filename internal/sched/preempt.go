package sched

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// maxMinimise caps the victims re-checked one by one after a victim set is
// found.
const maxMinimise = 32

type candidate struct {
	r      runJob
	reason string // ReasonPriority or ReasonReclaim
	kind   pool.KindID
	chips  int64
	lost   int64 // seconds of work since the last checkpoint
}

// preempt looks for running jobs whose eviction lets j run, and evicts the
// cheapest set that does. The rules (docs/scheduler.md):
//
//   - only whole gangs that started in an earlier cycle and are not already
//     being evicted;
//   - a job of the same queue with lower priority; or a job of a queue that
//     borrows beyond its guarantee, when j has higher priority or j's queue
//     reclaims its own guarantee (it stays within it with j), and only while
//     the victim's queue is still borrowing;
//   - victims are taken lowest priority first, then fewest chips, then least
//     work lost since the last checkpoint;
//   - the eviction happens only if the placement plugin places j on the
//     state without the victims and the profile's PostPlace plugins (the
//     quota) accept that placement with the victims' usage gone.
func (c *cycle) preempt(j *Job, kinds []pool.KindID) bool {
	cands := c.candidates(j, kinds)
	if len(cands) == 0 {
		c.explain(j.ID, Record{Plugin: PluginPreemption, Reason: ReasonNoVictims})
		return false
	}
	st := c.st.Clone()
	borrow := map[string]int64{}
	var chosen []candidate
	var p *pool.Placement
	next := 0
	need := j.TotalMilli()
	for i, cd := range cands {
		if cd.reason == ReasonReclaim || cd.r.j.Queue != j.Queue {
			left, ok := borrow[cd.r.j.Queue+"\x00"+c.q.Key(cd.kind)]
			if !ok {
				left = c.q.Borrowing(cd.r.j.Queue, cd.kind)
			}
			if left <= 0 {
				continue
			}
			borrow[cd.r.j.Queue+"\x00"+c.q.Key(cd.kind)] = left - cd.chips
		}
		if err := st.Release(cd.r.p.Ranks...); err != nil {
			continue
		}
		c.fenceSparesIn(st) // a victim on a spare frees it for recovery only
		chosen = append(chosen, cd)
		if i < next && i < len(cands)-1 {
			continue
		}
		var free int64
		for _, k := range kinds {
			free += st.FreeMilliOfKind(0, k)
		}
		if free < need {
			continue
		}
		if p, _ = c.trial(j, st); p != nil {
			break
		}
		next = i + max(1, i/8)
	}
	if p == nil {
		c.explain(j.ID, Record{Plugin: PluginPreemption, Reason: ReasonNoVictims,
			Detail: fmt.Sprintf("evicting all %d eligible jobs would not make room", len(cands))})
		return false
	}
	// Drop victims that turn out not to be needed, most expensive first.
	for i := len(chosen) - 1; i >= 0 && i >= len(chosen)-maxMinimise; i-- {
		if st.Allocate(chosen[i].r.p.Ranks...) != nil {
			continue
		}
		if q, _ := c.trial(j, st); q != nil {
			p = q
			chosen = append(chosen[:i], chosen[i+1:]...)
			continue
		}
		_ = st.Release(chosen[i].r.p.Ranks...)
	}
	// PostPlace (the quota check), with the victims' usage gone.
	for _, cd := range chosen {
		c.q.Charge(cd.r.j, cd.r.p, -1)
	}
	qs := c.postPlace(j, p)
	grace := c.prof.Preemption.Grace
	if qs != nil || grace > 0 {
		for _, cd := range chosen {
			c.q.Charge(cd.r.j, cd.r.p, +1)
		}
	}
	if qs != nil {
		c.explain(j.ID, Record{Plugin: PluginPreemption, Reason: ReasonNoVictims, Detail: "quota would still refuse: " + qs.Detail})
		return false
	}
	names := make([]string, len(chosen))
	for i, cd := range chosen {
		names[i] = cd.r.j.ID
		c.victims[cd.r.j.ID] = true
		c.plan.Evict = append(c.plan.Evict, Eviction{JobID: cd.r.j.ID, Preemptor: j.ID, Reason: cd.reason, Grace: grace})
		c.explain(cd.r.j.ID, Record{Plugin: PluginPreemption, Reason: ReasonEvicted,
			Detail: fmt.Sprintf("by %s (%s), %s chips, %ds since checkpoint", j.ID, cd.reason, job.Milli(cd.chips), cd.lost)})
	}
	c.explain(j.ID, Record{Plugin: PluginPreemption, Reason: ReasonPreempting, Detail: strings.Join(names, ",")})
	if grace > 0 {
		c.evicting = true
		c.evicted(chosen, p, c.now.Add(grace))
		c.reserve(j, c.now.Add(grace), p, "victims stop")
		return true
	}
	// No grace: the victims stop now and j starts in the same plan.
	for _, cd := range chosen {
		_ = c.st.Release(cd.r.p.Ranks...)
		c.spare = append(c.spare, c.fenceSparesIn(c.st)...)
		for i := range c.running {
			if c.running[i].j == cd.r.j {
				c.running = append(c.running[:i], c.running[i+1:]...)
				break
			}
		}
		c.order.changed(cd.r.j.Queue)
	}
	if c.fenced != nil {
		c.refence()
	}
	clear(c.failed)
	// The victims' chips are free now: place j for real, not as a trial.
	if q, _ := c.prof.Place.Place(c.cs, j, c.st); q != nil {
		p = q
	}
	c.start(j, p, c.endOf(j), false)
	return true
}

// candidates lists the running jobs j may evict, cheapest first.
func (c *cycle) candidates(j *Job, kinds []pool.KindID) []candidate {
	var out []candidate
	for _, r := range c.running {
		v := r.j
		if r.fresh || v.Evicting || c.victims[v.ID] || v == j {
			continue
		}
		k, ok := placementKind(c.t, r.p)
		if !ok || !slices.Contains(kinds, k) {
			continue
		}
		reason := ""
		switch {
		case v.Queue == j.Queue && v.Priority < j.Priority:
			reason = ReasonPriority
		case v.Queue != j.Queue && c.q.Borrowing(v.Queue, k) > 0:
			if c.q.Within(j, k) {
				reason = ReasonReclaim
			} else if v.Priority < j.Priority {
				reason = ReasonPriority
			}
		}
		if reason == "" {
			continue
		}
		since := v.Started
		if v.LastCheckpoint.After(since) {
			since = v.LastCheckpoint
		}
		out = append(out, candidate{r: r, reason: reason, kind: k, chips: v.TotalMilli(), lost: int64(c.now.Sub(since).Seconds())})
	}
	sort.SliceStable(out, func(a, b int) bool {
		x, y := out[a], out[b]
		if x.r.j.Priority != y.r.j.Priority {
			return x.r.j.Priority < y.r.j.Priority
		}
		if x.chips != y.chips {
			return x.chips < y.chips
		}
		if x.lost != y.lost {
			return x.lost < y.lost
		}
		return x.r.j.ID < y.r.j.ID
	})
	return out
}

func placementKind(t *pool.Topology, p *pool.Placement) (pool.KindID, bool) {
	if len(p.Kinds) > 0 {
		return p.Kinds[0], true
	}
	for _, cl := range p.Ranks {
		for _, g := range cl.Grants {
			return t.ChipKind(g.Chip), true
		}
	}
	return 0, false
}
