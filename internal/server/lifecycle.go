package server

import (
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/lifecycle"
)

// step applies one lifecycle event to a job and carries out its actions;
// the job is marked for the next commit when it changed. Callers hold mu.
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
		s.placed[j.ID] = j
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
	s.touch(j)
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
