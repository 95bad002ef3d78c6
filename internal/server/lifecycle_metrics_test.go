package server

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
)

// restartFigures returns, per cause, qun_job_restarts_total and the
// sample count and sum of qun_recovery_duration_seconds.
func restartFigures(t *testing.T, s *Server) map[string][3]float64 {
	t.Helper()
	fams, err := s.obs.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][3]float64{}
	for _, f := range fams {
		for _, m := range f.Metric {
			var cause string
			for _, l := range m.Label {
				if l.GetName() == "cause" {
					cause = l.GetValue()
				}
			}
			v := out[cause]
			switch f.GetName() {
			case "qun_job_restarts_total":
				v[0] = m.GetCounter().GetValue()
			case "qun_recovery_duration_seconds":
				v[1], v[2] = float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
			default:
				continue
			}
			out[cause] = v
		}
	}
	return out
}

// TestRestartMetricsEveryCause: one job fails a rank, loses a chip and
// loses its node in turn, recovering each time; the restart counter and
// the recovery histogram count each cause, with the fake clock's recovery
// times (the backoff: 10 s, 20 s, 40 s after detection).
func TestRestartMetricsEveryCause(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	nodes := []string{"n0", "n1", "n2", "n3"}
	reg := func(n string, bad ...int) {
		t.Helper()
		if _, err := e.c.RegisterNode(ctx, api.RegisterRequest{Name: n, BootID: "b" + n[1:], Address: "10.0.0." + n[1:], Devices: devices(bad...)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		reg(n)
	}
	beat := func(skip string) {
		for _, n := range nodes {
			if n != skip {
				e.heartbeat(n, "b"+n[1:], running(e.heartbeat(n, "b"+n[1:]))...)
			}
		}
	}
	j := e.submit(8)
	e.srv.Cycle()
	beat("")
	// recover waits out the backoff and brings the job up again.
	recover := func(what string, backoff time.Duration, skip string, attempt int) {
		t.Helper()
		if got := e.job(j.ID); got.State != api.JobRecovering {
			t.Fatalf("after %s: job %s (%s), want recovering", what, got.State, got.Reason)
		}
		beat(skip)
		e.clock.Advance(backoff)
		beat(skip)
		e.srv.Reconcile()
		e.srv.Cycle()
		beat(skip)
		if got := e.job(j.ID); got.State != api.JobRunning || got.Attempt != attempt {
			t.Fatalf("after %s and its backoff: job %s attempt %d (%s), want running attempt %d", what, got.State, got.Attempt, got.Reason, attempt)
		}
	}
	if got := restartFigures(t, e.srv); len(got) != 0 {
		t.Fatalf("restart figures before any fault: %v", got)
	}

	node := e.job(j.ID).Placement[0].Node
	as := e.heartbeat(node, "b"+node[1:])
	e.heartbeat(node, "b"+node[1:], exited(as, 3)...)
	recover("a rank exited 3", 10*time.Second, "", 1)

	p := e.job(j.ID).Placement[3]
	reg(p.Node, p.Devices[0])
	recover("a chip turned unhealthy", 20*time.Second, "", 2)

	lost := e.job(j.ID).Placement[0].Node
	for range 2 {
		e.clock.Advance(6 * time.Second)
		beat(lost)
	}
	e.srv.Reconcile()
	recover("its node was lost", 40*time.Second, lost, 3)

	want := map[string][3]float64{"rank-failed": {1, 1, 10}, "device-unhealthy": {1, 1, 20}, "node-lost": {1, 1, 40}}
	if diff := cmp.Diff(want, restartFigures(t, e.srv)); diff != "" {
		t.Errorf("restarts, recoveries and recovery seconds by cause (-want +got):\n%s", diff)
	}
}
