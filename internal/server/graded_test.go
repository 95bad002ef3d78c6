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

// TestCordonAndDrain: an unknown node is refused and nothing changes; a
// cordoned node keeps its running job but gets no new work; drain moves
// the job's ranks there off it; uncordon lets work back.
func TestCordonAndDrain(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	nodes := []string{"n0", "n1", "n2", "n3"}
	for _, n := range nodes {
		e.register(n, "b"+n[1:])
	}
	if _, err := e.c.CordonNode(ctx, "n9", ""); code(err) != api.CodeNotFound {
		t.Fatalf("cordon n9: %v, want not found", err)
	}
	l, _ := e.c.ListNodes(ctx)
	for _, n := range l.Nodes {
		if n.Cordoned {
			t.Fatalf("a refused cordon changed node %s", n.Name)
		}
	}
	as := map[string][]api.Assignment{}
	beat := func() {
		for _, n := range nodes {
			as[n] = e.heartbeat(n, "b"+n[1:], running(as[n])...)
		}
	}
	if n, err := e.c.CordonNode(ctx, "n3", "bad fan"); err != nil || !n.Cordoned || n.CordonReason != "bad fan" {
		t.Fatalf("cordon n3: %+v %v", n, err)
	}
	j := e.submit(16)
	e.srv.Cycle()
	beat()
	beat()
	first := e.job(j.ID)
	if first.State != api.JobRunning {
		t.Fatalf("job %s (%s)", first.State, first.Reason)
	}
	on := first.Placement[0].Node
	k := e.submit(16) // 16 chips free, 8 of them on the cordoned n3
	e.srv.Cycle()
	if got := e.job(k.ID); got.State != api.JobPending {
		t.Fatalf("a job that needs the cordoned node's chips is %s on %+v", got.State, got.Placement)
	}
	if _, err := e.c.CancelJob(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	beat()
	if _, err := e.c.DrainNode(ctx, on, ""); err != nil {
		t.Fatal(err)
	}
	beat()
	got := e.job(j.ID)
	if got.State != api.JobRecovering || len(got.History) != 1 || !strings.Contains(got.History[0].Detail, "drained") {
		t.Fatalf("after drain: %s %+v, want recovering, node-lost drained", got.State, got.History)
	}
	e.clock.Advance(10 * time.Second)
	beat()
	e.srv.Reconcile()
	e.srv.Cycle()
	got = e.job(j.ID)
	if got.State != api.JobStarting {
		t.Fatalf("after the backoff: %s (%s)", got.State, got.Reason)
	}
	for r, p := range got.Placement {
		if p.Node == on {
			t.Errorf("rank %d is back on drained node %s", r, on)
		}
		if was := first.Placement[r].Node; was != on && p.Node != was {
			t.Errorf("rank %d moved from %s to %s though its node was not drained", r, was, p.Node)
		}
	}
	if n, err := e.c.UncordonNode(ctx, "n3"); err != nil || n.Cordoned {
		t.Fatalf("uncordon: %+v %v", n, err)
	}
	m := e.submit(8)
	e.srv.Cycle()
	if got := e.job(m.ID); got.State == api.JobPending || got.Placement[0].Node != "n3" {
		t.Fatalf("after uncordon a job that fits only on n3 is %s on %+v: %s", got.State, got.Placement, got.Reason)
	}
}

// TestRestartWhileWaitingForReplacement: a job waits, holding its
// survivors' chips, for room for its lost ranks; the server restarts; the
// survivors' chips are held again (another job cannot take them), and when
// the lost node is back only its ranks are placed there.
func TestRestartWhileWaitingForReplacement(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	nodes := []string{"n0", "n1", "n2", "n3"}
	for _, n := range nodes {
		e.register(n, "b"+n[1:])
	}
	j := e.submit(32) // every chip
	e.srv.Cycle()
	as := map[string][]api.Assignment{}
	beat := func(e *env, skip string) {
		for _, n := range nodes {
			if n != skip {
				as[n] = e.heartbeat(n, "b"+n[1:], running(as[n])...)
			}
		}
	}
	beat(e, "")
	beat(e, "")
	before := e.job(j.ID)
	e.clock.Advance(6 * time.Second)
	beat(e, "n2")
	e.clock.Advance(6 * time.Second)
	e.srv.Reconcile()
	beat(e, "n2")
	e.clock.Advance(10 * time.Second)
	beat(e, "n2")
	e.srv.Reconcile()
	e.srv.Cycle()
	if got := e.job(j.ID); got.State != api.JobRecovering {
		t.Fatalf("with n2 lost and no room elsewhere: %s (%s), want recovering", got.State, got.Reason)
	}
	e.close()

	e2 := newEnv(t, dir)
	other := e2.submit(8)
	beat(e2, "n2")
	e2.srv.Cycle()
	if got := e2.job(other.ID); got.State != api.JobPending {
		t.Fatalf("after the restart another job took a survivor's chips: %s on %+v", got.State, got.Placement)
	}
	// n2 is back: only its ranks go there; the survivors keep theirs.
	e2.register("n2", "b2")
	beat(e2, "")
	e2.srv.Cycle()
	got := e2.job(j.ID)
	if got.State != api.JobStarting || got.Attempt != 1 {
		t.Fatalf("after n2 came back: %s attempt %d (%s)", got.State, got.Attempt, got.Reason)
	}
	for r, p := range got.Placement {
		if was := before.Placement[r]; p.Node != was.Node || !slices.Equal(p.Devices, was.Devices) {
			t.Errorf("rank %d moved from %s %v to %s %v", r, was.Node, was.Devices, p.Node, p.Devices)
		}
	}
	if got := e2.job(other.ID); got.State != api.JobPending {
		t.Errorf("the other job is %s; the pool is the recovered job's", got.State)
	}
}
