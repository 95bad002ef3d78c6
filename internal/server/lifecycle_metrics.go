package server

import "github.com/qunhq/qun/internal/lifecycle"

// lcMark is what the restart metrics compare across one lifecycle event:
// the attempt, and how far the history's recoveries had got.
type lcMark struct {
	attempt, history int
	recovered        bool // the last history entry has its RecoveredAt
}

func markOf(lc *lifecycle.Job) lcMark {
	m := lcMark{attempt: lc.Attempt, history: len(lc.History)}
	if n := len(lc.History); n > 0 {
		m.recovered = lc.History[n-1].RecoveredAt != nil
	}
	return m
}

// observeLifecycle counts what one lifecycle event did to a job for the
// restart metrics, whatever the cause: a new attempt of a job that had been
// placed is a restart (qun_job_restarts_total{cause}: node-lost,
// device-unhealthy, rank-failed, rank-signaled, preempted), and an attempt
// whose next one got every rank running is a recovery
// (qun_recovery_duration_seconds{cause}, from the fault's detection).
func (s *Server) observeLifecycle(lc *lifecycle.Job, before lcMark) {
	n := len(lc.History)
	if n == 0 {
		return
	}
	last := &lc.History[n-1]
	if lc.Attempt > before.attempt {
		s.obs.m.JobRestarted(string(last.Cause))
	}
	if last.RecoveredAt != nil && (n != before.history || !before.recovered) {
		s.obs.m.ObserveRecovery(string(last.Cause), last.RecoveredAt.Sub(last.DetectedAt).Seconds())
	}
}
