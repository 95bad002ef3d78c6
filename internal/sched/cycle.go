package sched

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// This file is the cycle driver: Schedule and, in try, the stages one
// pending job goes through, in the order they run. Static feasibility is
// in static.go, reservations and backfill in reserve.go, preemption in
// preempt.go, the queue order in order.go.

const (
	defaultOverrunGrace    = time.Minute
	defaultPreemptTries    = 16
	conservativeMaxReserve = 64
)

// never is an end time beyond any reservation.
var never = time.Unix(1<<40, 0)

// Schedule runs one scheduling cycle: it orders the pending jobs and takes
// each through the stages of try, and returns the plan and the reasons for
// every decision. It reads nothing but its arguments and never changes snap.
// rng may be nil; the built-in plugins draw nothing from it.
func Schedule(snap *Snapshot, now time.Time, rng *rand.Rand, prof *Profile) (*Plan, Explanation) {
	c := newCycle(snap, now, rng, prof)
	c.run()
	return c.plan, c.cs.ex
}

type runJob struct {
	j     *Job
	p     *pool.Placement
	end   time.Time
	fresh bool // started in this cycle
}

// failKey is a class of jobs that fail or fit alike on one state: same
// accepted kinds, rank shape and count.
type failKey struct {
	kinds     string
	rankMilli int
	ranks     int
	cpu, mem  int64
	fenced    bool // on the state with the reservations' chips fenced
	ev        bool // on the state after evictions under way
}

func keyOf(j *Job, kk string) failKey {
	return failKey{kinds: kk, rankMilli: j.RankMilli, ranks: j.Ranks, cpu: j.CPUMilli, mem: j.MemoryMiB}
}

type cycle struct {
	snap *Snapshot
	now  time.Time
	prof *Profile
	cs   *CycleState
	q    *Quotas
	t    *pool.Topology
	memo *staticMemo

	st    *pool.State  // tentative: snapshot plus this cycle's starts
	down  []pool.Claim // what fences the hosts without a ready agent in st
	spare []pool.Claim // what fences the spare hosts in st (recover.go)

	fenced *pool.State // st plus the free chips of reservations; nil without
	until  time.Time   // earliest reservation time
	first  string      // job holding the earliest reservation
	held   []bool      // chips held by reservations, by ChipID; nil without
	resv   []Reservation

	evState  *pool.State // base with evictions under way done; nil until needed
	evAt     time.Time   // when the last of them ends
	running  []runJob
	victims  map[string]bool
	evicting bool // some running job is being evicted
	failed   map[failKey]*Status
	downFit  map[failKey]string // hosts without a ready agent a class would fit on ("": none)
	tries    int                // preemption attempts left
	reserves int                // reservations left
	plan     *Plan
	order    *order
}

func newCycle(snap *Snapshot, now time.Time, rng *rand.Rand, prof *Profile) *cycle {
	cs := NewCycleState(snap, prof)
	cs.Now, cs.Rand = now, rng
	n := len(snap.Pending)
	if snap.Depth > 0 {
		n = min(n, snap.Depth)
	}
	cs.ex = make(Explanation, n) // every job tried gets a record
	cs.Quotas = NewQuotas(snap, prof.FairShare.HalfLife)
	t := snap.Pool.Topology()
	c := &cycle{snap: snap, now: now, prof: prof, cs: cs, q: cs.Quotas, t: t, memo: memoOf(t),
		st: snap.Pool.Clone(), until: never, victims: map[string]bool{}, failed: map[failKey]*Status{},
		plan: &Plan{}}
	for _, h := range snap.NotReady {
		if cl, ok := fenceHost(c.st, h); ok {
			c.down = append(c.down, cl)
		}
	}
	for _, h := range snap.Cordoned {
		fenceHost(c.st, h) // for good: nothing in the cycle releases it
	}
	c.fenceSpares()
	c.tries = prof.Preemption.MaxAttempts
	if c.tries <= 0 {
		c.tries = defaultPreemptTries
	}
	switch prof.Backfill.Mode {
	case "easy", "":
		c.reserves = max(prof.Backfill.ReserveTop, 1)
	case "conservative":
		c.reserves = conservativeMaxReserve
	}
	for _, j := range snap.Running {
		if j.Placement == nil {
			continue
		}
		c.running = append(c.running, runJob{j: j, p: j.Placement, end: c.expectedEnd(j)})
		if j.Evicting {
			c.evicting = true
		}
	}
	return c
}

// run takes the pending jobs through try in the cycle's order. With
// Snapshot.Depth set it tries at most Depth of them; running and recovering
// jobs do not count and are tried wherever they are in the order, so past
// the depth the order is walked only while some of them are left.
func (c *cycle) run() {
	c.order = newOrder(c, c.snap.Pending)
	depth := c.snap.Depth
	if depth <= 0 {
		for j := c.order.next(); j != nil; j = c.order.next() {
			c.try(j)
		}
		return
	}
	always := 0 // running and recovering jobs not yet reached
	for _, j := range c.snap.Pending {
		if uncounted(j) {
			always++
		}
	}
	for j := c.order.next(); j != nil; j = c.order.next() {
		switch {
		case uncounted(j):
			always--
		case depth > 0:
			depth--
		default:
			if always == 0 {
				return
			}
			continue
		}
		c.try(j)
	}
}

// uncounted reports whether j is tried whatever the cycle's depth: it runs
// (try explains it as running) or it recovers.
func uncounted(j *Job) bool { return j.Placement != nil || j.Recover != nil }

// try takes one pending job through the stages of the cycle, in order:
//
//  1. static feasibility (NeverFits): could any state of the pool hold it?
//     If not, it is unresolvable;
//  2. Admit: may its queue use chips of some accepted kind now?
//  3. Place: chips for every rank on the cycle's state, with the chips of
//     reservations fenced off when the job would run past them;
//  4. PostPlace: may it run on the placement found (the quota of the kind it
//     landed on)?
//  5. start: the placement is committed to the cycle's state and the queue
//     charged.
//
// A job the pool cannot hold now (Place says unschedulable) is blocked:
// it waits for evictions under way, preempts, or gets a reservation
// (blocked, in reserve.go).
func (c *cycle) try(j *Job) {
	if j.Placement != nil {
		c.explain(j.ID, Record{Plugin: PluginCycle, Reason: ReasonRunning})
		return
	}
	if j.Recover != nil {
		c.recover(j)
		return
	}
	// 1. Static feasibility.
	kinds := c.cs.Kinds(j)
	kk := c.cs.kindsKey(kinds)
	if s := neverFits(c.memo, c.t, j, kinds, kk); s != nil {
		c.explainStatus(j.ID, s)
		return
	}
	// 2. Admit.
	for _, a := range c.prof.Admit {
		if s := a.Admit(c.cs, j); !s.IsSuccess() {
			c.explainStatus(j.ID, s)
			return
		}
	}
	// 3. Place.
	end := c.endOf(j)
	fenced := c.fenced != nil && end.After(c.until)
	p, s := c.place(j, kk, fenced)
	if p != nil {
		// 4. PostPlace.
		if s := c.postPlace(j, p); s != nil {
			c.explainStatus(j.ID, s)
			return
		}
		// 5. Start.
		c.start(j, p, end, fenced)
		return
	}
	if fenced && c.delays(j, kk, end) {
		return
	}
	c.explainStatus(j.ID, s)
	if s.Code != Unschedulable {
		return
	}
	c.explainNotReady(j, kk)
	c.blocked(j, kinds)
}

// place runs the profile's Place plugin for j on the cycle's state (fenced:
// with the reservations' chips held), remembering the classes that fail.
func (c *cycle) place(j *Job, kk string, fenced bool) (*pool.Placement, *Status) {
	st := c.st
	if fenced {
		st = c.fenced
	}
	key := keyOf(j, kk)
	key.fenced = fenced
	if s, bad := c.failed[key]; bad {
		return nil, s
	}
	p, s := c.prof.Place.Place(c.cs, j, st)
	if p != nil {
		return p, nil
	}
	if s == nil {
		s = &Status{Code: Error, Plugin: c.prof.Place.Name(), Reason: ReasonNoPlacement}
	}
	if s.Code == Unschedulable {
		c.failed[key] = s
	}
	return nil, s
}

// postPlace runs the profile's PostPlace plugins on a placement of j; the
// first refusal wins.
func (c *cycle) postPlace(j *Job, p *pool.Placement) *Status {
	for _, pp := range c.prof.PostPlace {
		if s := pp.PostPlace(c.cs, j, p); !s.IsSuccess() {
			return s
		}
	}
	return nil
}

// start commits a placement to the cycle's tentative state, charges the
// job's queue and records the start (ReasonPlaced, once).
func (c *cycle) start(j *Job, p *pool.Placement, end time.Time, fencedFit bool) {
	if err := c.st.Allocate(p.Ranks...); err != nil {
		// A plugin returned a placement that does not fit: a bug.
		c.explain(j.ID, Record{Plugin: c.prof.Place.Name(), Reason: ReasonBadPlacement, Detail: err.Error()})
		return
	}
	if c.fenced != nil {
		if fencedFit {
			if err := c.fenced.Allocate(p.Ranks...); err != nil {
				c.refence()
			}
		} else if err := c.fenced.Allocate(c.unheld(p.Ranks)...); err != nil {
			c.refence()
		}
	}
	c.q.Charge(j, p, +1)
	if len(p.Kinds) > 0 {
		c.q.Started(j, p.Kinds[0])
	}
	c.order.changed(j.Queue)
	c.running = append(c.running, runJob{j: j, p: p, end: end, fresh: true})
	c.plan.Start = append(c.plan.Start, Assignment{JobID: j.ID, Placement: *p})
	c.explainPlaced(j, p)
}

// explainPlaced records where j starts, as the job's last record. A Place
// plugin may have recorded its own ReasonPlaced record (how it chose); the
// summary of the placement joins that record, so a start has one placed
// record.
func (c *cycle) explainPlaced(j *Job, p *pool.Placement) {
	r := Record{Plugin: c.prof.Place.Name(), Reason: ReasonPlaced, Detail: c.describe(p)}
	rs := c.cs.ex[j.ID]
	for i, old := range rs {
		if old.Plugin == r.Plugin && old.Reason == ReasonPlaced {
			if old.Detail != "" {
				r.Detail = old.Detail + "; " + r.Detail
			}
			r.Score = old.Score
			c.cs.ex[j.ID] = append(rs[:i], rs[i+1:]...)
			break
		}
	}
	c.explain(j.ID, r)
}

// endOf is when j would end if it started now (never without a duration).
func (c *cycle) endOf(j *Job) time.Time {
	if d := c.duration(j); d > 0 {
		return c.now.Add(d)
	}
	return never
}

// expectedEnd is when a running job is assumed to stop: its eviction time
// while it is being evicted, else start + duration, but never earlier than
// now + OverrunGrace (a job past its expected end is assumed to end soon,
// and its reservations slide forward every cycle it keeps running).
func (c *cycle) expectedEnd(j *Job) time.Time {
	if j.Evicting {
		if j.EvictAt.After(c.now) {
			return j.EvictAt
		}
		return c.now
	}
	d := c.duration(j)
	if d <= 0 {
		return never
	}
	end := j.Started.Add(d)
	grace := c.prof.Backfill.OverrunGrace
	if grace <= 0 {
		grace = defaultOverrunGrace
	}
	if lo := c.now.Add(grace); end.Before(lo) {
		end = lo
	}
	return end
}

func (c *cycle) duration(j *Job) time.Duration {
	if j.Duration > 0 {
		return j.Duration
	}
	return c.prof.Backfill.DefaultDuration
}

func (c *cycle) explain(id string, r Record) { c.cs.Explain(id, r) }

func (c *cycle) explainStatus(id string, s *Status) {
	c.explain(id, Record{Plugin: s.Plugin, Reason: s.Reason, Detail: s.Detail})
}

// fenceHost takes every free chip, CPU and byte of memory of host h in st,
// so nothing is placed there, and returns the claim that does (false when
// the host is at its rank limit: nothing can land there anyway).
func fenceHost(st *pool.State, h pool.DomainID) (pool.Claim, bool) {
	t := st.Topology()
	c := pool.Claim{Host: h, CPUMilli: st.FreeCPU(h), MemoryMiB: st.FreeMemory(h)}
	lo, hi := t.ChipRange(h)
	for chip := lo; chip < hi; chip++ {
		if f := st.ChipFree(chip); f > 0 {
			c.Grants = append(c.Grants, pool.Grant{Chip: chip, Milli: int32(f)})
		}
	}
	if st.Allocate(c) != nil {
		return pool.Claim{}, false
	}
	return c, true
}

// explainNotReady tells a job that cannot be placed now whether it would
// be if the hosts without a ready agent were back, and names them: "insufficient
// chips" alone would hide that the chips are there but unusable.
func (c *cycle) explainNotReady(j *Job, kk string) {
	if len(c.down) == 0 {
		return
	}
	if c.downFit == nil {
		c.downFit = map[failKey]string{}
	}
	key := keyOf(j, kk)
	hosts, ok := c.downFit[key]
	if !ok {
		_ = c.st.Release(c.down...)
		c.cs.upAll = true
		p, _ := c.trial(j, c.st)
		c.cs.upAll = false
		if err := c.st.Allocate(c.down...); err != nil {
			panic("sched: re-fencing hosts without a ready agent: " + err.Error()) // it was just released
		}
		if p != nil {
			hosts = c.downHosts(p)
		}
		c.downFit[key] = hosts
	}
	if hosts != "" {
		c.explain(j.ID, Record{Plugin: PluginCycle, Reason: ReasonHostNotReady,
			Detail: "it would fit with hosts that have no ready agent: " + hosts})
	}
}

// downHosts names the hosts without a ready agent that p uses (at most 4).
func (c *cycle) downHosts(p *pool.Placement) string {
	down := map[pool.DomainID]bool{}
	for _, cl := range c.down {
		down[cl.Host] = true
	}
	var names []string
	seen := map[pool.DomainID]bool{}
	for _, cl := range p.Ranks {
		if down[cl.Host] && !seen[cl.Host] {
			seen[cl.Host] = true
			names = append(names, c.t.Path(cl.Host))
		}
	}
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("and %d more", len(names)-4))
	}
	return strings.Join(names, ", ")
}

// describe summarises a placement for an explanation: the hosts and chips.
func (c *cycle) describe(p *pool.Placement) string {
	hosts := map[pool.DomainID]int{}
	var order []pool.DomainID
	var milli int64
	for _, cl := range p.Ranks {
		if _, ok := hosts[cl.Host]; !ok {
			order = append(order, cl.Host)
		}
		hosts[cl.Host]++
		for _, g := range cl.Grants {
			milli += int64(g.Milli)
		}
	}
	kind := ""
	if len(p.Kinds) > 0 {
		kind = " " + c.t.Kinds[p.Kinds[0]].Name
	}
	if len(order) <= 4 {
		names := make([]string, len(order))
		for i, h := range order {
			names[i] = c.t.Path(h)
		}
		return fmt.Sprintf("%d ranks, %s chips%s on %s", len(p.Ranks), job.Milli(milli), kind, strings.Join(names, ","))
	}
	return fmt.Sprintf("%d ranks, %s chips%s on %d hosts from %s", len(p.Ranks), job.Milli(milli), kind, len(order), c.t.Path(order[0]))
}

// fmtAt formats a time relative to now ("+1h30m").
func fmtAt(now, at time.Time) string {
	if !at.Before(never) {
		return "never"
	}
	d := at.Sub(now)
	return "+" + d.String()
}

// FenceHost takes everything free on host h, as the cycle does for a host
// without a ready agent; callers that mirror the scheduler's view (metrics)
// use it so their free figures match what the scheduler could place.
func FenceHost(st *pool.State, h pool.DomainID) { fenceHost(st, h) }
