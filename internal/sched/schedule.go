package sched

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// Reasons the cycle driver records (constant strings).
const (
	ReasonPlaced           = "placed"
	ReasonNoKind           = "no-accepted-kind"
	ReasonTooLarge         = "larger-than-pool"
	ReasonShape            = "shape"
	ReasonHostCPU          = "host-cpu"
	ReasonHostMemory       = "host-memory"
	ReasonReserved         = "reserved"
	ReasonNoReservation    = "no-reservation"
	ReasonDelays           = "would-delay-reservation"
	ReasonWaitEvictions    = "waiting-for-evictions"
	ReasonPreempting       = "preempting"
	ReasonEvicted          = "evicted"
	ReasonQuotaAfterFit    = "quota-for-kind"
	ReasonNotConsidered    = "not-considered"
	ReasonPriority         = "priority"
	ReasonReclaim          = "reclaim"
	ReasonNoVictims        = "no-victims"
	ReasonRunning          = "already-running"
	PluginBackfill         = "backfill"
	PluginPreemption       = "preemption"
	PluginCycle            = "cycle"
	defaultOverrunGrace    = time.Minute
	defaultPreemptTries    = 16
	conservativeMaxReserve = 64
)

// never is an end time beyond any reservation.
var never = time.Unix(1<<40, 0)

// Schedule runs one scheduling cycle: it orders the pending jobs, admits,
// places, reserves and preempts, and returns the plan and the reasons for
// every decision. It reads nothing but its arguments and never changes snap.
// rng may be nil; the built-in plugins draw nothing from it.
func Schedule(snap *Snapshot, now time.Time, rng *rand.Rand, prof *Profile) (*Plan, Explanation) {
	c := newCycle(snap, now, rng, prof)
	c.run()
	return c.plan, c.cs.ex
}

type runJob struct {
	j     *Job
	p     *Placement
	end   time.Time
	fresh bool // started in this cycle
}

type failKey struct {
	kinds     string
	rankMilli int
	ranks     int
	cpu, mem  int64
	fenced    bool
	ev        bool // on the state after evictions under way
}

type cycle struct {
	snap *Snapshot
	now  time.Time
	prof *Profile
	cs   *CycleState
	q    *Quotas
	t    *pool.Topology

	st     *pool.State // tentative: snapshot plus this cycle's starts
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
	tries    int // preemption attempts left
	reserves int // reservations left
	plan     *Plan
	order    *order
}

func newCycle(snap *Snapshot, now time.Time, rng *rand.Rand, prof *Profile) *cycle {
	cs := NewCycleState(snap, prof)
	cs.Now, cs.Rand = now, rng
	cs.ex = Explanation{}
	cs.Quotas = NewQuotas(snap, prof.FairShare.HalfLife)
	c := &cycle{snap: snap, now: now, prof: prof, cs: cs, q: cs.Quotas, t: snap.Pool.Topology(),
		st: snap.Pool.Clone(), until: never, victims: map[string]bool{}, failed: map[failKey]*Status{},
		plan: &Plan{}}
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

func (c *cycle) run() {
	c.order = newOrder(c, c.snap.Pending)
	for j := c.order.next(); j != nil; j = c.order.next() {
		c.try(j)
	}
}

func kindsKey(ks []pool.KindID) string {
	var b strings.Builder
	for _, k := range ks {
		fmt.Fprintf(&b, "%d,", k)
	}
	return b.String()
}

// try schedules one pending job.
func (c *cycle) try(j *Job) {
	if j.Placement != nil {
		c.explain(j.ID, Record{Plugin: PluginCycle, Reason: ReasonRunning})
		return
	}
	kinds := AcceptedKinds(c.t, j)
	kk := kindsKey(kinds)
	if s := neverFits(c.t, j, kinds, kk); s != nil {
		c.explainStatus(j.ID, s)
		return
	}
	for _, a := range c.prof.Admit {
		if s := a.Admit(c.cs, j); !s.IsSuccess() {
			c.explainStatus(j.ID, s)
			return
		}
	}
	end := c.now.Add(c.duration(j))
	if c.duration(j) <= 0 {
		end = never
	}
	useFence := c.fenced != nil && end.After(c.until)
	st := c.st
	if useFence {
		st = c.fenced
	}
	key := failKey{kk, j.RankMilli, j.Ranks, j.CPUMilli, j.MemoryMiB, useFence, false}
	s, memo := c.failed[key]
	var p *Placement
	if !memo {
		p, s = c.prof.Place.Place(c.cs, j, st)
	}
	if p != nil {
		if len(c.prof.Admit) > 0 && len(p.Kinds) > 0 {
			if qs := c.q.Check(j, p.Kinds[0]); qs != nil {
				qs.Reason = ReasonQuotaAfterFit + ": " + qs.Reason
				c.explainStatus(j.ID, qs)
				return
			}
		}
		c.start(j, p, end, useFence)
		c.explain(j.ID, Record{Plugin: c.prof.Place.Name(), Reason: ReasonPlaced, Detail: c.describe(p)})
		return
	}
	if s == nil {
		s = &Status{Code: Error, Plugin: c.prof.Place.Name(), Reason: "no-placement"}
	}
	if !memo && s.Code == Unschedulable {
		c.failed[key] = s
	}
	if useFence {
		// Would it fit without the reservations' chips? Then it waits only
		// because it would delay them.
		ukey := key
		ukey.fenced = false
		if _, bad := c.failed[ukey]; !bad {
			if up, us := c.trial(j, c.st); up != nil {
				c.explain(j.ID, Record{Plugin: PluginBackfill, Reason: ReasonDelays,
					Detail: fmt.Sprintf("ends %s, after the reservation of %s at %s", fmtAt(c.now, end), c.first, fmtAt(c.now, c.until))})
				return
			} else if us != nil && us.Code == Unschedulable {
				c.failed[ukey] = us
			}
		}
	}
	c.explainStatus(j.ID, s)
	if s.Code != Unschedulable {
		return
	}
	c.blocked(j, kinds)
}

// NeverFits reports why no state of pool t could ever hold job j — no
// accepted chip kind, more chips than the pool has of the accepted kinds,
// or a rank size the shape rules forbid on every host — or nil when some
// state could. The scheduler leaves such a job unresolvable; the server
// and `qun job validate --pool` reject it with the same reason.
func NeverFits(t *pool.Topology, j *Job) *Status {
	kinds := AcceptedKinds(t, j)
	return neverFits(t, j, kinds, kindsKey(kinds))
}

// neverFits is NeverFits for j's accepted kinds, kk being kindsKey(kinds).
func neverFits(t *pool.Topology, j *Job, kinds []pool.KindID, kk string) *Status {
	if len(kinds) == 0 && j.RankMilli > 0 {
		var have []string
		for _, k := range t.Kinds {
			have = append(have, k.Name)
		}
		return &Status{Code: Unresolvable, Plugin: PluginCycle, Reason: ReasonNoKind,
			Detail: fmt.Sprintf("the pool has no chip kind the job accepts (%s; the pool has %s)", acceptString(j), strings.Join(have, ", "))}
	}
	if j.RankMilli <= 0 {
		return nil
	}
	var total int64
	for _, k := range kinds {
		total += int64(t.KindCount(0, k)) * pool.Full
	}
	if j.TotalMilli() > total {
		return &Status{Code: Unresolvable, Plugin: PluginCycle, Reason: ReasonTooLarge,
			Detail: fmt.Sprintf("needs %s chips; the pool has %s of accepted kinds", milliString(j.TotalMilli()), milliString(total))}
	}
	if n, whole := j.WholeChips(); whole {
		if err := rankFits(t, n, kinds, kk); err != nil {
			return &Status{Code: Unresolvable, Plugin: PluginCycle, Reason: ReasonShape, Detail: err.Error()}
		}
	}
	if j.CPUMilli > 0 || j.MemoryMiB > 0 {
		if reason, err := hostHolds(t, j, kinds, kk); err != nil {
			return &Status{Code: Unresolvable, Plugin: PluginCycle, Reason: reason, Detail: err.Error()}
		}
	}
	return nil
}

// hostHolds returns a reason and an error unless some host has the CPU
// and memory of one of j's ranks and, when j takes chips, as many chips of
// an accepted kind as a rank takes (one for a share). The reason is
// ReasonHostCPU when no such host has the CPU, else ReasonHostMemory.
// Answers are memoised like rankFits; kk is kindsKey(kinds).
func hostHolds(t *pool.Topology, j *Job, kinds []pool.KindID, kk string) (string, error) {
	chips := 0
	if j.RankMilli > 0 {
		chips = max(1, int(j.RankMilli/pool.Full))
	}
	k := staticKey{t: t, kinds: kk, chips: chips, cpu: j.CPUMilli, mem: j.MemoryMiB, host: true}
	if v, ok := rankFitsMemo.Load(k); ok {
		a := v.(fitsAnswer)
		return a.reason, a.err
	}
	var maxCPU, maxMem int64
	ans := fitsAnswer{}
	for _, h := range t.Hosts() {
		have := 0
		for _, kd := range kinds {
			have += t.KindCount(h, kd)
		}
		if have < chips {
			continue
		}
		if t.CPUMilli(h) >= j.CPUMilli && t.MemoryMiB(h) >= j.MemoryMiB {
			rankFitsMemo.Store(k, ans)
			return "", nil
		}
		maxCPU, maxMem = max(maxCPU, t.CPUMilli(h)), max(maxMem, t.MemoryMiB(h))
	}
	host := t.Levels[t.HostLevel].Name
	ans.reason = ReasonHostMemory
	if maxCPU < j.CPUMilli {
		ans.reason = ReasonHostCPU
	}
	ans.err = fmt.Errorf("a rank needs %d CPU thousandths and %d MiB of memory on one %s; no %s with its chips has both (the most CPU is %d, the most memory %d MiB)",
		j.CPUMilli, j.MemoryMiB, host, host, maxCPU, maxMem)
	rankFitsMemo.Store(k, ans)
	return ans.reason, ans.err
}

// acceptString says which kinds a job accepts, for messages.
func acceptString(j *Job) string {
	var parts []string
	if len(j.Kinds) > 0 {
		parts = append(parts, "kinds "+strings.Join(j.Kinds, ", "))
	}
	if j.MinHBMGiB > 0 {
		parts = append(parts, fmt.Sprintf("at least %g GiB HBM", j.MinHBMGiB))
	}
	if len(parts) == 0 {
		return "any kind"
	}
	return "accepts " + strings.Join(parts, " with ")
}

// rankFitsMemo remembers the static answers of rankFits and hostHolds,
// which depend only on the immutable topology and the rank's needs;
// computing a RankFits answer builds an empty state of the pool.
var rankFitsMemo sync.Map // staticKey → fitsAnswer

// staticKey identifies one static question: a rank of chips (of the kinds
// kindsKey lists) under the shape rules, or with host set, also cpu and
// mem on one host.
type staticKey struct {
	t        *pool.Topology
	kinds    string
	chips    int
	cpu, mem int64
	host     bool
}

type fitsAnswer struct {
	reason string // hostHolds only
	err    error
}

// rankFits is t.RankFits(n, kinds), memoised; kk is kindsKey(kinds).
func rankFits(t *pool.Topology, n int, kinds []pool.KindID, kk string) error {
	k := staticKey{t: t, kinds: kk, chips: n}
	if v, ok := rankFitsMemo.Load(k); ok {
		return v.(fitsAnswer).err
	}
	err := t.RankFits(n, kinds)
	rankFitsMemo.Store(k, fitsAnswer{err: err})
	return err
}

// start commits a placement to the cycle's tentative state.
func (c *cycle) start(j *Job, p *Placement, end time.Time, fencedFit bool) {
	if err := c.st.Allocate(p.Ranks...); err != nil {
		// A plugin returned a placement that does not fit: a bug.
		c.explain(j.ID, Record{Plugin: c.prof.Place.Name(), Reason: "invalid-placement", Detail: err.Error()})
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
func (c *cycle) fence(p *Placement) {
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

func (c *cycle) reserve(j *Job, at time.Time, p *Placement, why string) {
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

// afterEvictions reports whether j fits once the evictions under way end,
// on a state shared by the cycle: later jobs see the room taken.
func (c *cycle) afterEvictions(j *Job) (time.Time, *Placement) {
	if c.evState == nil {
		c.evState = c.base()
		c.evAt = c.now
		for _, r := range c.running {
			if r.j.Evicting || c.victims[r.j.ID] {
				_ = c.evState.Release(c.unheld(r.p.Ranks)...)
				if r.end.After(c.evAt) {
					c.evAt = r.end
				}
			}
		}
	}
	key := failKey{kindsKey(c.cs.Kinds(j)), j.RankMilli, j.Ranks, j.CPUMilli, j.MemoryMiB, false, true}
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
func (c *cycle) evicted(victims []candidate, p *Placement, at time.Time) {
	if c.evState == nil {
		return
	}
	for _, v := range victims {
		_ = c.evState.Release(c.unheld(v.r.p.Ranks)...)
	}
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
func (c *cycle) earliest(j *Job, kinds []pool.KindID) (time.Time, *Placement) {
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
func (c *cycle) trial(j *Job, st *pool.State) (*Placement, *Status) {
	if f, ok := c.prof.Place.(Feasibility); ok {
		return f.Feasible(c.cs, j, st)
	}
	return c.prof.Place.Place(c.cs, j, st)
}

// describe summarises a placement for an explanation: the hosts and chips.
func (c *cycle) describe(p *Placement) string {
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
		return fmt.Sprintf("%d ranks, %s chips%s on %s", len(p.Ranks), milliString(milli), kind, strings.Join(names, ","))
	}
	return fmt.Sprintf("%d ranks, %s chips%s on %d hosts from %s", len(p.Ranks), milliString(milli), kind, len(order), c.t.Path(order[0]))
}

// fmtAt formats a time relative to now ("+1h30m").
func fmtAt(now, at time.Time) string {
	if !at.Before(never) {
		return "never"
	}
	d := at.Sub(now)
	return "+" + d.String()
}
