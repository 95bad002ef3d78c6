package server

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
)

// submitTo submits a job of chips to queue.
func (e *env) submitTo(queue string, chips int) api.Job {
	e.t.Helper()
	j, err := e.c.SubmitJob(context.Background(), quick(chips).Queue(queue).JSON(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	return *j
}

// queueUsage returns the listed fair-share usage of a queue.
func queueUsage(t *testing.T, e *env, name string) float64 {
	t.Helper()
	l, err := e.c.ListQueues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range l.Queues {
		if q.Name == name {
			return q.UsageChipSeconds
		}
	}
	return 0
}

// TestFairShareUsageSurvivesRestart: the server counts decayed usage of
// running jobs (the default profile halves it every 168 hours), the
// scheduler gets it, and a restarted server carries on from the stored
// history instead of forgetting it.
func TestFairShareUsageSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	e.register("n0", "b0")
	j := e.submit(8)
	e.srv.Cycle()
	e.heartbeat("n0", "b0", running(e.heartbeat("n0", "b0"))...)
	if got := e.job(j.ID); got.State != api.JobRunning {
		t.Fatalf("job %s, want running", got.State)
	}
	e.clock.Advance(time.Hour)
	e.srv.Cycle()
	// 8 chips for an hour, decayed within the hour: 8·(1−2^(−1/168))/λ.
	lambda := math.Ln2 / (168 * 3600)
	want := 8 * (1 - math.Exp(-lambda*3600)) / lambda
	before := queueUsage(t, e, "default")
	if math.Abs(before-want) > 1e-6*want {
		t.Fatalf("usage after an hour = %.3f chip-seconds, want %.3f", before, want)
	}
	e.close()

	e2 := newEnv(t, dir)
	e2.clock.Advance(time.Hour) // to where the first server's clock stopped
	if got := queueUsage(t, e2, "default"); got != before {
		t.Errorf("usage after restart = %.3f, want the stored %.3f", got, before)
	}
	// The job kept its chips through the restart: the next cycle counts
	// the hour since the stored history, decaying the old part.
	e2.clock.Advance(time.Hour)
	e2.srv.Cycle()
	want2 := before*math.Exp(-lambda*3600) + want
	if got := queueUsage(t, e2, "default"); math.Abs(got-want2) > 1e-6*want2 {
		t.Errorf("usage an hour after restart = %.3f, want %.3f", got, want2)
	}
}

// TestFairShareHistoryOrdersQueues: of two queues asking for the same
// chips at once, the one that has used less lately goes first, even when
// it asked later — and a restart does not forget who that is.
func TestFairShareHistoryOrdersQueues(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	e.register("n0", "b0")
	first := e.submitTo("busy", 8)
	e.srv.Cycle()
	as := e.heartbeat("n0", "b0")
	e.heartbeat("n0", "b0", running(as)...)
	e.clock.Advance(24 * time.Hour)
	e.srv.Cycle() // usage is counted at cycles (at least every CycleEvery)
	e.heartbeat("n0", "b0", exited(as, 0)...)
	e.srv.Cycle()
	if got := e.job(first.ID); got.State != api.JobSucceeded {
		t.Fatalf("first job %s, want succeeded", got.State)
	}
	busy := e.submitTo("busy", 8) // submitted first
	e.clock.Advance(time.Second)
	idle := e.submitTo("idle", 8)
	e.close()

	e2 := newEnv(t, dir)
	e2.clock.Advance(24*time.Hour + time.Second)
	e2.register("n0", "b0")
	e2.srv.Cycle()
	if got := e2.job(idle.ID); got.State != api.JobStarting && got.State != api.JobRunning {
		t.Errorf("queue idle's job is %s, want started before busy's (busy used 8 chips for a day)", got.State)
	}
	if got := e2.job(busy.ID); got.State != api.JobPending {
		t.Errorf("queue busy's job is %s, want pending", got.State)
	}
}
