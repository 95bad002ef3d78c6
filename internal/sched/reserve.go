package sched

import (
	"fmt"
	"sort"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// This file holds what the cycle does for a blocked job — one that passes
// its quota but does not fit the pool now: wait for evictions under way,
// preempt (preempt.go), or reserve the earliest capacity, whose free chips
// are then fenced so that backfilled jobs running past the reservation keep
// off them.

// blocked handles a job that fits the quotas but not the pool now: it waits
// for evictions under way, preempts, or gets a reservation.
func (c *cycle) blocked(j *Job, kinds []pool.KindID) {
	if c.evicting {
		if at, p := c.afterEvictions(j); p != nil {
			c.explain(j.ID, Record{Plugin: PluginPreemption, Reason: ReasonWaitEvictions})
			c.reserve(j, at, p, "evictions under way end")
			return
		}
	}
	if c.prof.Preemption.Enabled && c.tries > 0 {
		c.tries--
		if c.preempt(j, kinds) {
			return
		}
	}
	if c.reserves > 0 && c.prof.Backfill.Mode != "off" {
		c.reserves--
		at, p := c.earliest(j, kinds)
		if p == nil {
			c.explain(j.ID, Record{Plugin: PluginBackfill, Reason: ReasonNoReservation,
				Detail: "does not fit even when every running job with a known end has ended"})
			return
		}
		c.reserve(j, at, p, "enough capacity frees up")
	}
}

// delays reports whether j, which does not fit the fenced state, would fit
// without the reservations' fences; it then waits only because it would
// delay them, and the explanation says so.
func (c *cycle) delays(j *Job, kk string, end time.Time) bool {
	key := keyOf(j, kk)
	if _, bad := c.failed[key]; bad {
		return false
	}
	p, s := c.trial(j, c.st)
	if p != nil {
		c.explain(j.ID, Record{Plugin: PluginBackfill, Reason: ReasonDelays,
			Detail: fmt.Sprintf("ends %s, after the reservation of %s at %s", fmtAt(c.now, end), c.first, fmtAt(c.now, c.until))})
		return true
	}
	if s != nil && s.Code == Unschedulable {
		c.failed[key] = s
	}
	return false
}

func (c *cycle) reserve(j *Job, at time.Time, p *pool.Placement, why string) {
	c.resv = append(c.resv, Reservation{JobID: j.ID, At: at, Placement: p})
	c.plan.Reservations = append(c.plan.Reservations, Reservation{JobID: j.ID, At: at, Placement: p})
	if p != nil {
		c.fence(p)
	}
	if at.Before(c.until) {
		c.until, c.first = at, j.ID
	}
	c.explain(j.ID, Record{Plugin: PluginBackfill, Reason: ReasonReserved, Detail: fmt.Sprintf("%s at %s", why, fmtAt(c.now, at))})
}

// unheld returns claims without the grants on held chips.
func (c *cycle) unheld(claims []pool.Claim) []pool.Claim {
	if c.held == nil {
		return claims
	}
	out := make([]pool.Claim, len(claims))
	for i, cl := range claims {
		out[i] = pool.Claim{Host: cl.Host, CPUMilli: cl.CPUMilli, MemoryMiB: cl.MemoryMiB}
		for _, g := range cl.Grants {
			if !c.held[g.Chip] {
				out[i].Grants = append(out[i].Grants, g)
			}
		}
	}
	return out
}

// refence rebuilds the fenced state from the tentative one.
func (c *cycle) refence() {
	c.fenced = c.st.Clone()
	for _, r := range c.resv {
		if r.Placement != nil {
			c.fence(r.Placement)
		}
	}
	for k := range c.failed {
		if k.fenced {
			delete(c.failed, k)
		}
	}
}

// fence holds the chips of p that are free now, so that jobs running past
// the reservation keep off them.
func (c *cycle) fence(p *pool.Placement) {
	if c.fenced == nil {
		c.fenced = c.st.Clone()
	}
	// Fencing only takes chips away from the fenced state: failures stay
	// failures, so the memo of failed classes is kept.
	if c.held == nil {
		c.held = make([]bool, c.t.NumChips())
	}
	byHost := map[pool.DomainID][]pool.Grant{}
	var hosts []pool.DomainID
	for _, cl := range p.Ranks {
		for _, g := range cl.Grants {
			c.held[g.Chip] = true
			if c.fenced.ChipFree(g.Chip) >= int(g.Milli) {
				if _, ok := byHost[cl.Host]; !ok {
					hosts = append(hosts, cl.Host)
				}
				byHost[cl.Host] = append(byHost[cl.Host], g)
			}
		}
	}
	for _, h := range hosts {
		// Best effort: a host at its rank limit keeps its chips unfenced.
		_ = c.fenced.Allocate(pool.Claim{Host: h, Grants: byHost[h]})
	}
}

// afterEvictions reports whether j fits once the evictions under way end,
// on a state shared by the cycle: later jobs see the room taken.
func (c *cycle) afterEvictions(j *Job) (time.Time, *pool.Placement) {
	if c.evState == nil {
		c.evState = c.base()
		c.evAt = c.now
		for _, r := range c.running {
			if r.j.Evicting || c.victims[r.j.ID] {
				_ = c.evState.Release(c.unheld(r.p.Ranks)...)
				c.fenceSparesIn(c.evState)
				if r.end.After(c.evAt) {
					c.evAt = r.end
				}
			}
		}
	}
	key := keyOf(j, c.cs.kindsKey(c.cs.Kinds(j)))
	key.ev = true
	if _, bad := c.failed[key]; bad {
		return c.evAt, nil
	}
	p, s := c.trial(j, c.evState)
	if p == nil {
		if s != nil && s.Code == Unschedulable {
			c.failed[key] = s
		}
		return c.evAt, nil
	}
	_ = c.evState.Allocate(p.Ranks...)
	return c.evAt, p
}

// evicted tells the shared after-evictions state about new victims and
// where their preemptor will run.
func (c *cycle) evicted(victims []candidate, p *pool.Placement, at time.Time) {
	if c.evState == nil {
		return
	}
	for _, v := range victims {
		_ = c.evState.Release(c.unheld(v.r.p.Ranks)...)
	}
	c.fenceSparesIn(c.evState)
	_ = c.evState.Allocate(p.Ranks...)
	if at.After(c.evAt) {
		c.evAt = at
	}
	for k := range c.failed {
		if k.ev {
			delete(c.failed, k)
		}
	}
}

// base returns a scratch copy of the state that reservations bind.
func (c *cycle) base() *pool.State {
	if c.fenced != nil {
		return c.fenced.Clone()
	}
	return c.st.Clone()
}

// earliest finds the first time at which j fits, releasing running jobs in
// order of expected end on a scratch state, and where it would run then.
// Placement is tried at geometrically spaced release steps once enough
// chips of an accepted kind are free, so the answer may be a little later
// than the true earliest; it is never earlier.
func (c *cycle) earliest(j *Job, kinds []pool.KindID) (time.Time, *pool.Placement) {
	rs := make([]runJob, 0, len(c.running))
	for _, r := range c.running {
		if r.end.Before(never) {
			rs = append(rs, r)
		}
	}
	sort.SliceStable(rs, func(a, b int) bool { return rs[a].end.Before(rs[b].end) })
	st := c.base()
	need := j.TotalMilli()
	freeOK := func() bool {
		var f int64
		for _, k := range kinds {
			f += st.FreeMilliOfKind(0, k)
		}
		return f >= need || j.RankMilli == 0
	}
	next := 0
	for i := 0; i < len(rs); {
		at := rs[i].end
		for ; i < len(rs) && !rs[i].end.After(at); i++ {
			_ = st.Release(c.unheld(rs[i].p.Ranks)...)
		}
		c.fenceSparesIn(st)
		if i < next && i < len(rs) || !freeOK() {
			continue
		}
		if p, _ := c.trial(j, st); p != nil {
			return at, p
		}
		next = i + max(1, i/8)
	}
	return never, nil
}

// trial places j in st for a simulation (would it fit, and where, after
// these evictions or at that time): through the Place plugin's Feasibility
// when it has one, else through Place.
func (c *cycle) trial(j *Job, st *pool.State) (*pool.Placement, *Status) {
	if f, ok := c.prof.Place.(Feasibility); ok {
		return f.Feasible(c.cs, j, st)
	}
	return c.prof.Place.Place(c.cs, j, st)
}
