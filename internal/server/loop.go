package server

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// loop runs scheduling cycles when triggered (a submission, a completion,
// a node change) and at least every CycleEvery, until Close.
func (s *Server) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.CycleEvery)
	defer t.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-t.C:
		}
		start := time.Now()
		s.Cycle()
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

// Cycle runs one scheduling cycle on a snapshot and commits its plan
// through the plan applier. Only one goroutine may call it at a time (the
// loop, or a test that did not Start the server).
func (s *Server) Cycle() {
	s.mu.Lock()
	if s.usable() != nil {
		s.mu.Unlock()
		return
	}
	now := s.clock.Now()
	snap := s.snapshot(now)
	s.mu.Unlock()
	plan, ex := sched.Schedule(snap, now, s.rng, s.cfg.Profile)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.usable() != nil {
		return
	}
	s.apply(plan, ex, now)
}

// snapshot builds the scheduler's input. Callers hold mu; the snapshot
// shares nothing the server mutates afterwards.
func (s *Server) snapshot(now time.Time) *sched.Snapshot {
	t := s.cfg.Pool
	st := s.st.Clone()
	ready := map[pool.DomainID]bool{}
	for _, n := range s.nodes {
		if n.State == api.NodeReady {
			ready[n.host] = true
		}
	}
	for _, h := range t.Hosts() {
		if !ready[h] {
			fenceHost(st, h)
		}
	}
	snap := &sched.Snapshot{Pool: st, Queues: s.cfg.Queues}
	for _, j := range s.active {
		if j.State == api.JobPending {
			snap.Pending = append(snap.Pending, j.sj)
		}
	}
	slices.SortFunc(snap.Pending, func(a, b *sched.Job) int { return cmpID(a.ID, b.ID) })
	for _, j := range s.placed {
		sj := *j.sj
		sj.Placement = &sched.Placement{Kinds: kindsOf(t, j.claims), Ranks: j.claims}
		sj.Started = j.SubmittedAt
		if j.StartedAt != nil {
			sj.Started = *j.StartedAt
		}
		if j.State == api.JobStopping {
			sj.Evicting, sj.EvictAt = true, now
			if j.EvictAt != nil {
				sj.EvictAt = *j.EvictAt
			}
		}
		snap.Running = append(snap.Running, &sj)
	}
	slices.SortFunc(snap.Running, func(a, b *sched.Job) int { return cmpID(a.ID, b.ID) })
	return snap
}

// cmpID orders job IDs by their sequence number.
func cmpID(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// fenceHost takes every free chip, CPU and byte of memory of a host that
// has no ready agent, so the scheduler places nothing there.
func fenceHost(st *pool.State, h pool.DomainID) {
	t := st.Topology()
	c := pool.Claim{Host: h, CPUMilli: st.FreeCPU(h), MemoryMiB: st.FreeMemory(h)}
	lo, hi := t.ChipRange(h)
	for chip := lo; chip < hi; chip++ {
		if f := st.ChipFree(chip); f > 0 {
			c.Grants = append(c.Grants, pool.Grant{Chip: chip, Milli: int32(f)})
		}
	}
	if st.Allocate(c) != nil {
		// The host is at its rank limit: nothing more can land there anyway.
		return
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

// apply is the plan applier: it re-checks every start against the newest
// state (the job is still pending, every rank's host has a ready agent,
// the gang's claims fit), takes the allocations, and commits every changed
// job in one transaction. A start that no longer fits is dropped; the next
// cycle tries again. Callers hold mu.
func (s *Server) apply(plan *sched.Plan, ex sched.Explanation, now time.Time) {
	for _, a := range plan.Start {
		j := s.active[a.JobID]
		if j == nil || j.State != api.JobPending || j.holds() {
			continue
		}
		if err := s.checkStart(j, a.Placement.Ranks); err != nil {
			s.log.Warn("plan start dropped", "job", j.ID, "err", err)
			continue
		}
		claims := cloneClaims(a.Placement.Ranks)
		if err := s.st.Allocate(claims...); err != nil {
			s.log.Warn("plan start no longer fits", "job", j.ID, "err", err)
			continue
		}
		s.place(j, claims, now)
		s.log.Info("job placed", "job", j.ID, "ranks", len(claims))
	}
	for _, e := range plan.Evict {
		j := s.placed[e.JobID]
		if j == nil || j.State != api.JobStarting && j.State != api.JobRunning {
			continue
		}
		at := now.Add(e.Grace)
		s.stopJob(j, api.JobPending, fmt.Sprintf("preempted by %s (%s)", e.Preemptor, e.Reason), now)
		j.EvictAt = &at
		s.progress(j, now)
	}
	for _, r := range plan.Reservations {
		if j := s.active[r.JobID]; j != nil && j.Reserved == nil {
			at := now
			j.Reserved = &at
			j.sj = schedJob(j)
			s.touch(j)
		}
	}
	for id, recs := range ex {
		j := s.jobs[id]
		if j == nil {
			continue
		}
		j.expl = recs
	}
	if err := s.commit(); err != nil {
		return
	}
}

// checkStart verifies that a placement is a whole gang on ready nodes.
func (s *Server) checkStart(j *jobRec, claims []pool.Claim) error {
	if len(claims) != j.sj.Ranks {
		return fmt.Errorf("placement has %d ranks, the job %d", len(claims), j.sj.Ranks)
	}
	t := s.cfg.Pool
	for r, c := range claims {
		if c.Host < 0 || int(c.Host) >= t.NumDomains() {
			return fmt.Errorf("rank %d: no host %d", r, c.Host)
		}
		n := s.nodes[t.Path(c.Host)]
		if n == nil || n.State != api.NodeReady {
			return fmt.Errorf("rank %d: host %s has no ready agent", r, t.Path(c.Host))
		}
		var milli int64
		for _, g := range c.Grants {
			milli += int64(g.Milli)
		}
		if milli != int64(j.sj.RankMilli) {
			return fmt.Errorf("rank %d: %d thousandths of chips placed, %d requested", r, milli, j.sj.RankMilli)
		}
	}
	return nil
}

func cloneClaims(in []pool.Claim) []pool.Claim {
	out := make([]pool.Claim, len(in))
	for i, c := range in {
		out[i] = c
		out[i].Grants = append([]pool.Grant(nil), c.Grants...)
	}
	return out
}
