package server

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
)

// newSpareEnv is newEnv on testdata/pool-spare.yaml (n3 is a spare).
func newSpareEnv(t *testing.T) *env {
	t.Helper()
	topo, err := pool.LoadFile("testdata/pool-spare.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	srv, err := New(Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: t.TempDir(), Clock: clock, NodeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	c, err := api.NewClient(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, hs: hs, c: c, clock: clock}
	t.Cleanup(e.close)
	return e
}

// TestGradedRecoveryUsesTheSpare: a 24-rank job runs on n0..n2; n3 is a
// spare, which an ordinary job does not take. n1 is lost: the survivors
// are stopped but keep their chips, and after the backoff only n1's ranks
// are placed again, on the spare; the survivors' placement is unchanged.
func TestGradedRecoveryUsesTheSpare(t *testing.T) {
	e := newSpareEnv(t)
	ctx := context.Background()
	nodes := []string{"n0", "n1", "n2", "n3"}
	for _, n := range nodes {
		e.register(n, "b"+n[1:])
	}
	j := e.submit(24)
	e.srv.Cycle()
	other := e.submit(8)
	e.srv.Cycle()
	if got := e.job(other.ID); got.State != api.JobPending {
		t.Fatalf("an ordinary job is %s on %+v; the only free node is a spare", got.State, got.Placement)
	}
	as := map[string][]api.Assignment{}
	beat := func(skip string) {
		for _, n := range nodes {
			if n != skip {
				as[n] = e.heartbeat(n, "b"+n[1:], running(as[n])...)
			}
		}
	}
	beat("")
	beat("")
	before := e.job(j.ID)
	if before.State != api.JobRunning {
		t.Fatalf("job %s, want running", before.State)
	}
	byNode := map[string]bool{}
	for _, p := range before.Placement {
		byNode[p.Node] = true
	}
	if byNode["n3"] || len(byNode) != 3 {
		t.Fatalf("job placed on %v; want three nodes, not the spare n3", byNode)
	}
	// n1 stops heartbeating.
	e.clock.Advance(6 * time.Second)
	beat("n1")
	e.clock.Advance(6 * time.Second)
	e.srv.Reconcile()
	beat("n1")
	if got := e.job(j.ID); got.State != api.JobRecovering {
		t.Fatalf("after n1 was lost: %s (%s), want recovering", got.State, got.Reason)
	}
	for _, n := range []string{"n0", "n2"} {
		if len(as[n]) != 0 {
			t.Fatalf("survivors on %s not told to stop: %d assignments", n, len(as[n]))
		}
	}
	e.clock.Advance(10 * time.Second)
	beat("n1")
	e.srv.Reconcile()
	e.srv.Cycle()
	got := e.job(j.ID)
	if got.State != api.JobStarting || got.Attempt != 1 {
		t.Fatalf("after the backoff: %s attempt %d (%s), want starting attempt 1", got.State, got.Attempt, got.Reason)
	}
	var moves []api.RankMove
	for r, p := range got.Placement {
		was := before.Placement[r]
		switch {
		case was.Node == "n1":
			if p.Node != "n3" {
				t.Errorf("lost rank %d went to %s, want the spare n3", r, p.Node)
			}
			moves = append(moves, api.RankMove{Rank: r, From: "n1", To: "n3"})
		case p.Node != was.Node || !slices.Equal(p.Devices, was.Devices):
			t.Errorf("surviving rank %d moved from %s %v to %s %v", r, was.Node, was.Devices, p.Node, p.Devices)
		}
	}
	h := got.History[0]
	if h.Cause != "node-lost" || !strings.Contains(h.Detail, "n1") || h.Path != "re-place" {
		t.Errorf("history[0] = %+v; want node-lost n1, re-place", h)
	}
	if diff := cmp.Diff(moves, h.Replaced); diff != "" {
		t.Errorf("replaced (-want +got):\n%s", diff)
	}
	ex, err := e.c.ExplainJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, r := range ex.Records {
		reasons = append(reasons, r.Reason)
	}
	if !slices.Contains(reasons, "replace-subset") {
		t.Errorf("explain records %v; want replace-subset", reasons)
	}
	if got := e.job(other.ID); got.State != api.JobPending {
		t.Errorf("the ordinary job is %s; the spare went to the recovery", got.State)
	}
}

// TestGroupGoneIsTheAgentsWord: the lifecycle's GroupGone is the reason an
// agent reports for a rank whose process group vanished.
func TestGroupGoneIsTheAgentsWord(t *testing.T) {
	if lifecycle.GroupGone != api.RankEndGroupGone {
		t.Fatalf("lifecycle.GroupGone %q, api.RankEndGroupGone %q", lifecycle.GroupGone, api.RankEndGroupGone)
	}
}
