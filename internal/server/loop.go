package server

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/state"
)

// loop runs scheduling cycles when triggered (a submission, a completion,
// a node change) and at least every CycleEvery, until Close. A triggered
// cycle tries only the first TriggeredDepth pending jobs (Slurm's
// default_queue_depth); the ticker's cycles, and a triggered one when no
// full cycle began within CycleEvery on the server's clock, try them all.
func (s *Server) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.CycleEvery)
	defer t.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		tick := false
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-t.C:
			tick = true
		}
		start := time.Now()
		s.cycle(s.depth(tick))
		// Space cycles so that a burst of triggers costs one cycle, and
		// by at least a cycle's own duration so that scheduling takes at
		// most half of a core from the API.
		gap.Reset(max(s.cfg.MinCycleGap, time.Since(start)))
		select {
		case <-s.stop:
			return
		case <-gap.C:
		}
	}
}

// depth is how many pending jobs the loop's next cycle tries (0: all):
// all for the ticker's cycle (tick) and when no full cycle began within
// CycleEvery (kicks keep coming and win the select), else
// Config.TriggeredDepth.
func (s *Server) depth(tick bool) int {
	if tick || s.clock.Now().Sub(s.lastFull) >= s.cfg.CycleEvery {
		return 0
	}
	return max(s.cfg.TriggeredDepth, 0) // -1: all
}

// Cycle runs one full scheduling cycle (every pending job is tried) on a
// snapshot and commits its plan through the plan applier. Only one
// goroutine may call it at a time (the loop, or a test that did not Start
// the server).
func (s *Server) Cycle() { s.cycle(0) }

// cycle is Cycle trying at most depth pending jobs (sched.Snapshot.Depth;
// 0: all of them).
func (s *Server) cycle(depth int) {
	defer s.observeCycle(time.Now())
	s.mu.Lock()
	if s.usable() != nil {
		s.mu.Unlock()
		return
	}
	now := s.clock.Now()
	s.pruneBySeq()
	if !s.anyPending() {
		// Nothing to decide: a cycle without pending jobs plans nothing
		// (sched's TestNothingPendingNothingPlanned). The fair-share
		// history still advances, as a cycle would advance it, and the
		// pool's state is not copied (on a large pool that copy was most
		// of an idle server's CPU).
		s.advanceUsage(now, s.runningViews(now))
		s.queue() // the history is written at most once a minute alone
		s.lastFull = now
		s.mu.Unlock()
		return
	}
	snap := s.snapshot(now)
	s.mu.Unlock()
	if depth <= 0 || depth >= len(snap.Pending) {
		depth = 0
		s.lastFull = now
	}
	snap.Depth = depth
	plan, ex := sched.Schedule(snap, now, s.rng, s.cfg.Profile)
	s.mu.Lock()
	if s.usable() != nil {
		s.mu.Unlock()
		return
	}
	s.apply(plan, ex, now)
	want := s.queue()
	s.mu.Unlock()
	// The loop paces itself on its commits: the next cycle plans on a
	// durable state, and a cycle's placements reach agents only once
	// durable anyway (Heartbeat awaits them).
	_ = s.await(want)
}

// snapshot builds the scheduler's input, its pending jobs in sequence
// order (the order of their IDs, cmpID), which bySeq keeps without a sort.
// Callers hold mu and have pruned bySeq; the snapshot shares nothing the
// server mutates afterwards.
func (s *Server) snapshot(now time.Time) *sched.Snapshot {
	t := s.cfg.Pool
	st := s.st.Clone()
	ready := map[pool.DomainID]bool{}
	for _, n := range s.nodes {
		if n.State == api.NodeReady {
			ready[n.host] = true
		}
	}
	snap := &sched.Snapshot{Pool: st, Queues: s.cfg.Queues}
	for _, h := range t.Hosts() {
		if !ready[h] {
			snap.NotReady = append(snap.NotReady, h) // the cycle fences them and says so
		}
	}
	for _, n := range s.nodes {
		if n.State == api.NodeReady {
			fenceDevices(st, n.host, unhealthy(n.Devices))
		}
		if n.Cordoned {
			snap.Cordoned = append(snap.Cordoned, n.host)
		}
	}
	slices.Sort(snap.Cordoned)
	snap.Pending = make([]*sched.Job, 0, len(s.bySeq))
	for _, j := range s.bySeq {
		if j.LC.Schedulable() {
			snap.Pending = append(snap.Pending, s.pendingView(j))
		}
	}
	snap.Running = s.runningViews(now)
	s.advanceUsage(now, snap.Running)
	snap.Usage = s.usageCopy()
	return snap
}

// pruneBySeq drops the jobs that ended since the last cycle from bySeq.
// Callers hold mu.
func (s *Server) pruneBySeq() {
	live := s.bySeq[:0]
	for _, j := range s.bySeq {
		if s.active[j.ID] == j {
			live = append(live, j)
		}
	}
	clear(s.bySeq[len(live):])
	s.bySeq = live
}

// anyPending reports whether some active job waits to be scheduled.
// Callers hold mu and have pruned bySeq.
func (s *Server) anyPending() bool {
	for _, j := range s.bySeq {
		if j.LC.Schedulable() {
			return true
		}
	}
	return false
}

// runningViews is the scheduler's view of the placed jobs, in ID order.
// Callers hold mu.
func (s *Server) runningViews(now time.Time) []*sched.Job {
	t := s.cfg.Pool
	out := make([]*sched.Job, 0, len(s.placed))
	for _, j := range s.placed {
		sj := *j.sj
		sj.Placement = &pool.Placement{Kinds: kindsOf(t, j.claims), Ranks: j.claims}
		sj.Started = j.LC.PlacedAt
		if j.LC.Evicting() {
			sj.Evicting, sj.EvictAt = true, now
			for _, t := range []time.Time{j.LC.EvictAt, j.LC.RestartAt} {
				if t.After(sj.EvictAt) {
					sj.EvictAt = t
				}
			}
		}
		out = append(out, &sj)
	}
	slices.SortFunc(out, func(a, b *sched.Job) int { return cmpID(a.ID, b.ID) })
	return out
}

// cmpID orders job IDs by their sequence number.
func cmpID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// fenceDevices takes what is free of the chips a node reports unhealthy,
// so the scheduler places no new work on them until they are healthy again.
func fenceDevices(st *pool.State, h pool.DomainID, bad map[int]bool) {
	if len(bad) == 0 {
		return
	}
	t := st.Topology()
	lo, hi := t.ChipRange(h)
	for chip := lo; chip < hi; chip++ {
		if f := st.ChipFree(chip); f > 0 && bad[t.ChipIndex(chip)] {
			// A claim of a chip without CPU or memory; at the host's rank
			// limit nothing more lands there anyway.
			_ = st.Allocate(pool.Claim{Host: h, Grants: []pool.Grant{{Chip: chip, Milli: int32(f)}}})
		}
	}
}

// kindsOf lists the distinct chip kinds of claims in first-seen order.
func kindsOf(t *pool.Topology, claims []pool.Claim) []pool.KindID {
	var out []pool.KindID
	seen := map[pool.KindID]bool{}
	for _, c := range claims {
		for _, g := range c.Grants {
			if k := t.ChipKind(g.Chip); !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// apply commits a plan through state.ApplyToPool, the verifier every store
// shares: the plan is re-checked against the newest state (jobs still
// pending or placed, every rank's claim exactly what its job asks, every host
// with a ready agent, the gangs fit) and its allocations are taken all or
// nothing. Victims keep their chips until their ranks have really stopped,
// so a plan whose starts need an eviction's chips conflicts; it is then
// applied without its starts, so the evictions go ahead and the next cycle
// places the starts on the freed chips. Every changed job is written by
// the next batch, in one transaction. Callers hold mu.
func (s *Server) apply(plan *sched.Plan, ex sched.Explanation, now time.Time) {
	opt := state.ApplyOptions{HostReady: s.hostReady}
	if err := state.ApplyToPool(s.st, plan, serverJobs{s}, opt); err != nil {
		s.log.Warn("plan conflicts with the newest state; applying its evictions only", "err", err)
		plan = &sched.Plan{Evict: plan.Evict, Reservations: plan.Reservations}
		if err := state.ApplyToPool(s.st, plan, serverJobs{s}, opt); err != nil {
			s.log.Warn("plan dropped", "err", err)
			return
		}
	}
	for _, a := range plan.Start {
		j := s.active[a.JobID]
		s.place(j, cloneClaims(a.Placement.Ranks), now)
		s.log.Info("job placed", "job", j.ID, "ranks", len(a.Placement.Ranks))
	}
	for _, e := range plan.Evict {
		j := s.placed[e.JobID]
		s.step(j, lifecycle.Event{Kind: lifecycle.EvPreempted, At: now, EvictAt: now.Add(e.Grace),
			Detail: fmt.Sprintf("preempted by %s (%s)", e.Preemptor, e.Reason)})
	}
	for _, r := range plan.Reservations {
		if j := s.active[r.JobID]; j != nil && j.LC.Schedulable() && j.LC.Reserved.IsZero() {
			j.LC.Reserved = now
			j.sj = schedJob(j)
			s.touch(j)
		}
	}
	s.noteCycle(plan, now)
	for id, recs := range ex {
		if j := s.jobs[id]; j != nil {
			j.expl = recs
		}
	}
}

// hostReady reports whether a host has a ready agent to run ranks.
func (s *Server) hostReady(h pool.DomainID) error {
	t := s.cfg.Pool
	if h < 0 || int(h) >= t.NumDomains() {
		return fmt.Errorf("no host %d", h)
	}
	if n := s.nodes[t.Path(h)]; n == nil || n.State != api.NodeReady {
		return fmt.Errorf("host %s has no ready agent", t.Path(h))
	}
	return nil
}

// serverJobs is the plan verifier's view of the server's jobs.
type serverJobs struct{ s *Server }

func (v serverJobs) Pending(id string) (*sched.Job, bool) {
	j := v.s.active[id]
	if j == nil || !j.LC.Schedulable() || j.holds() && len(j.LC.Kept) == 0 {
		return nil, false
	}
	return v.s.pendingView(j), true
}

func (v serverJobs) Placed(id string) (*sched.Job, bool) {
	j := v.s.placed[id]
	if j == nil || j.State != api.JobStarting && j.State != api.JobRunning {
		return nil, false
	}
	sj := *j.sj
	sj.Placement = &pool.Placement{Ranks: j.claims}
	return &sj, true
}

func cloneClaims(in []pool.Claim) []pool.Claim {
	out := make([]pool.Claim, len(in))
	for i, c := range in {
		out[i] = c
		out[i].Grants = append([]pool.Grant(nil), c.Grants...)
	}
	return out
}
