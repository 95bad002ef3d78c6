package server

import (
	"fmt"
	"slices"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// step applies one lifecycle event to a job and carries out its actions;
// the job is marked for the next batch when a durable fact of it changed.
// Callers hold mu.
func (s *Server) step(j *jobRec, ev lifecycle.Event) {
	before := markOf(&j.LC)
	a, err := j.LC.Apply(ev)
	if err != nil {
		s.log.Warn("lifecycle event refused", "job", j.ID, "event", ev.Kind, "err", err)
		return
	}
	s.observeLifecycle(&j.LC, before)
	s.act(j, a)
}

// act carries out lifecycle actions. Stop needs nothing: a rank of a job
// that is not starting or running is no longer assigned, so its agent stops
// it (SIGTERM, then SIGKILL after the grace). Callers hold mu.
func (s *Server) act(j *jobRec, a lifecycle.Actions) {
	if len(a.ReleaseRanks) > 0 && !a.Release {
		s.releaseRanks(j, a.ReleaseRanks)
	}
	if a.Release {
		s.release(j)
		if !a.Done {
			j.Placement, j.Ranks = nil, nil
		}
	}
	if a.Launch && j.claims != nil {
		// A new attempt on the allocation held: fresh rank statuses.
		j.Placement = placementOf(s.cfg.Pool, j.claims)
		j.Ranks = make([]api.RankStatus, len(j.claims))
		for r, rp := range j.Placement {
			j.Ranks[r] = api.RankStatus{Rank: r, Node: rp.Node, State: api.RankStarting}
		}
		s.addPlaced(j)
	}
	if a.Place != nil {
		s.trigger()
	}
	if !a.Changed {
		return
	}
	s.sync(j)
	if a.Launch && j.claims != nil {
		s.buildAssignments(j)
	}
	j.sj = schedJob(j)
	if a.Done {
		delete(s.active, j.ID)
		s.log.Info("job finished", "job", j.ID, "state", j.State, "reason", j.Reason)
	}
	s.touchIfDurable(j) // rank liveness alone is soft
}

// releaseRanks gives back the claims of the lost ranks of a job whose
// survivors keep theirs (graded recovery): the job leaves the placed set
// and waits, schedulable, for the scheduler to place those ranks again.
// Callers hold mu.
func (s *Server) releaseRanks(j *jobRec, ranks []int) {
	if j.claims == nil {
		return
	}
	var give []pool.Claim
	for _, r := range ranks {
		if r >= 0 && r < len(j.claims) && j.claims[r].Host != pool.NoDomain {
			give = append(give, j.claims[r])
			j.claims[r] = pool.Claim{Host: pool.NoDomain}
		}
	}
	s.closeUsage(j, s.clock.Now())
	if err := s.st.Release(give...); err != nil {
		s.log.Error("releasing lost ranks failed", "job", j.ID, "err", err)
	}
	j.assign = nil
	s.dropPlaced(j)
	s.trigger()
}

// heldClaims returns the claims a job holds now: every rank's, or while it
// waits for a subset re-placement its survivors'.
func heldClaims(j *jobRec) []pool.Claim {
	var out []pool.Claim
	for _, c := range j.claims {
		if c.Host != pool.NoDomain {
			out = append(out, c)
		}
	}
	return out
}

// recovery is the scheduler's view of a job waiting for its lost ranks to
// be placed next to its survivors; nil for any other job.
func recovery(t *pool.Topology, j *jobRec) *sched.Recovery {
	if len(j.LC.Kept) == 0 || j.claims == nil || j.LC.Placed {
		return nil
	}
	r := &sched.Recovery{Keep: cloneClaims(j.claims)}
	for i, c := range j.claims {
		if c.Host != pool.NoDomain {
			continue
		}
		r.Lost = append(r.Lost, i)
		if i < len(j.LC.Ranks) {
			if h, ok := t.HostByName(j.LC.Ranks[i].Node); ok && !slices.Contains(r.From, h) {
				r.From = append(r.From, h)
			}
		}
	}
	return r
}

// pendingView is the scheduler's view of a schedulable job: with what
// its survivors hold while it waits for a subset re-placement.
func (s *Server) pendingView(j *jobRec) *sched.Job {
	r := recovery(s.cfg.Pool, j)
	if r == nil {
		return j.sj
	}
	sj := *j.sj
	sj.Recover = r
	return &sj
}

// recoverKept re-takes, after a restart, the claims of the survivors of a
// job that waited for a subset re-placement (from its stored placement);
// when they no longer fit, the job gives everything back and is placed
// whole. Callers hold mu.
func (s *Server) recoverKept(j *jobRec) {
	if len(j.LC.Kept) == 0 {
		return
	}
	claims, err := claimsOf(s.cfg.Pool, j.spec, j.Placement)
	if err == nil && len(claims) != len(j.LC.Ranks) {
		err = fmt.Errorf("%d stored rank placements for %d ranks", len(claims), len(j.LC.Ranks))
	}
	if err == nil {
		for r := range claims {
			if !slices.Contains(j.LC.Kept, r) {
				claims[r] = pool.Claim{Host: pool.NoDomain}
			}
		}
		var kept []pool.Claim
		for _, c := range claims {
			if c.Host != pool.NoDomain {
				kept = append(kept, c)
			}
		}
		if err = s.st.Allocate(kept...); err == nil {
			j.claims = claims
			return
		}
	}
	s.log.Warn("a recovering job's survivors' chips cannot be re-taken; placing the whole gang again", "job", j.ID, "err", err)
	j.LC.Kept, j.LC.Ranks = nil, nil
	s.touch(j)
}

// keptOn returns the jobs waiting for a subset re-placement whose
// survivors hold chips on a node, in ID order. Callers hold mu.
func (s *Server) keptOn(node string) []*jobRec {
	var out []*jobRec
	for _, j := range s.active {
		if len(j.LC.Kept) == 0 || j.LC.Placed {
			continue
		}
		for _, r := range j.LC.Kept {
			if r < len(j.LC.Ranks) && j.LC.Ranks[r].Node == node {
				out = append(out, j)
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *jobRec) int { return cmpID(a.ID, b.ID) })
	return out
}

// sync mirrors the lifecycle state into the client-visible fields.
func (s *Server) sync(j *jobRec) {
	lc := &j.LC
	j.State, j.Reason, j.Attempt = api.JobState(lc.State), lc.Reason, lc.Attempt
	j.StartedAt, j.FinishedAt = lc.RunningAt, lc.FinishedAt
	j.History = historyOf(lc.History)
}

func historyOf(h []lifecycle.Attempt) []api.Attempt {
	if len(h) == 0 {
		return nil
	}
	out := make([]api.Attempt, len(h))
	for i, a := range h {
		out[i] = api.Attempt{Attempt: a.Attempt, Cause: string(a.Cause), Detail: a.Detail, Nodes: a.Nodes,
			StartedAt: a.StartedAt, DetectedAt: a.DetectedAt, EndedAt: a.EndedAt, RecoveredAt: a.RecoveredAt,
			Path: string(a.Path), Why: a.Why}
		for _, m := range a.Replaced {
			out[i].Replaced = append(out[i].Replaced, api.RankMove{Rank: m.Rank, From: m.From, To: m.To})
		}
	}
	return out
}

// tickJobs lets time pass for the jobs waiting on it (restart backoff).
// Callers hold mu.
func (s *Server) tickJobs(now time.Time) {
	for _, j := range s.active {
		if j.LC.State == lifecycle.Recovering || j.LC.State == lifecycle.Stopping {
			s.step(j, lifecycle.Event{Kind: lifecycle.EvTick, At: now})
		}
	}
}

// legacyLifecycle rebuilds the lifecycle state of a job stored before the
// lifecycle existed.
func legacyLifecycle(j *jobRec) lifecycle.Job {
	lc := lifecycle.Job{State: lifecycle.State(j.State), Target: lifecycle.State(j.Target), Reason: j.Reason,
		Attempt: j.Attempt, RunningAt: j.StartedAt, FinishedAt: j.FinishedAt, PlacedAt: j.SubmittedAt}
	if lc.State == lifecycle.Stopping && lc.Target == "" {
		lc.Target = lifecycle.Failed
	}
	if !lc.State.Terminal() && lc.State != lifecycle.Pending && len(j.Placement) > 0 {
		lc.Placed = true
		lc.Ranks = make([]lifecycle.Rank, len(j.Placement))
		for r, rp := range j.Placement {
			lc.Ranks[r] = lifecycle.Rank{Node: rp.Node}
			if r < len(j.Ranks) {
				st := j.Ranks[r]
				lc.Ranks[r].Up = st.State != api.RankStarting
				lc.Ranks[r].Exited = st.State == api.RankExited
				lc.Ranks[r].ExitCode, lc.Ranks[r].Signal = st.ExitCode, st.Signal
			}
		}
	}
	return lc
}
