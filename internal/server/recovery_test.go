package server

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/server/fakeagent"
)

// TestCrashingRankRestartsInPlaceThenFails runs a real server loop with a
// fake agent whose ranks all exit 3 shortly after they start: the job
// restarts in place (same devices, next attempt) up to maxRestarts, then
// fails with its whole history.
func TestCrashingRankRestartsInPlaceThenFails(t *testing.T) {
	srv, err := New(Config{Pool: testPool(t), Profile: plugins.DefaultProfile(), DataDir: t.TempDir(),
		NodeTimeout: 2 * time.Second, Heartbeat: 10 * time.Millisecond, CycleEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	hs := newHTTP(t, srv)
	c, _ := api.NewClient(hs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ag := &fakeagent.Agent{Client: c, Name: "n0", BootID: "b0", Interval: 10 * time.Millisecond,
		RunFor: func(fakeagent.Key) time.Duration { return 30 * time.Millisecond }, ExitCode: func(fakeagent.Key) int { return 3 },
		Check: fakeagent.DisjointDevices}
	done := make(chan struct{})
	go func() { ag.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	spec := `{"apiVersion":"qun/v1","kind":"Job","name":"crashy","chips":2,"command":["train"],
		"restartPolicy":{"maxRestarts":2,"backoff":"20ms"}}`
	j, err := c.SubmitJob(ctx, []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	var got *api.Job
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got, err = c.GetJob(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		if got.State.Terminal() {
			break
		}
	}
	if got.State != api.JobFailed || got.Attempt != 2 {
		t.Fatalf("job %s attempt %d (%s); want failed at attempt 2", got.State, got.Attempt, got.Reason)
	}
	var paths, causes []string
	for i, h := range got.History {
		paths, causes = append(paths, h.Path), append(causes, h.Cause)
		if h.Attempt != i || h.DetectedAt.IsZero() || h.EndedAt == nil {
			t.Errorf("history[%d] = %+v; want attempt %d with detection and end times", i, h, i)
		}
		if i < 2 && h.RecoveredAt == nil {
			t.Errorf("history[%d] has no recovered_at though attempt %d ran", i, i+1)
		}
	}
	if diff := cmp.Diff([]string{"restart-in-place", "restart-in-place", "give-up"}, paths); diff != "" {
		t.Errorf("recovery paths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"rank-failed", "rank-failed", "rank-failed"}, causes); diff != "" {
		t.Errorf("causes (-want +got):\n%s", diff)
	}
	var attempts []int
	for _, k := range ag.Seen() {
		if !slices.Contains(attempts, k.Attempt) {
			attempts = append(attempts, k.Attempt)
		}
	}
	slices.Sort(attempts)
	if diff := cmp.Diff([]int{0, 1, 2}, attempts); diff != "" {
		t.Errorf("attempts the agent ran (-want +got):\n%s", diff)
	}
	for _, err := range ag.Errors() {
		t.Error(err)
	}
}

// newHTTP serves srv on a test listener (127.0.0.1:0) and closes it and
// the server at the end of the test.
func newHTTP(t *testing.T, srv *Server) string {
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs.URL
}

func devices(bad ...int) []api.Device {
	out := make([]api.Device, 8)
	for i := range out {
		out[i] = api.Device{Index: i, Kind: "H100", Vendor: "nvidia", UUID: "GPU-" + strconv.Itoa(i), HBMMiB: 81920, Healthy: !slices.Contains(bad, i)}
	}
	return out
}

// TestUnhealthyChip: a chip a rank holds turns unhealthy (the node
// re-registers with it unhealthy): the job recovers by re-placement off
// that chip, and the chip gets no new work until it is healthy again.
func TestUnhealthyChip(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	reg := func(n string, bad ...int) {
		t.Helper()
		if _, err := e.c.RegisterNode(ctx, api.RegisterRequest{Name: n, BootID: "b" + n[1:], Address: "10.0.0." + n[1:], Devices: devices(bad...)}); err != nil {
			t.Fatal(err)
		}
	}
	nodes := []string{"n0", "n1", "n2", "n3"}
	for _, n := range nodes {
		reg(n)
	}
	beat := func() map[string][]api.Assignment {
		out := map[string][]api.Assignment{}
		for _, n := range nodes {
			as := e.heartbeat(n, "b"+n[1:])
			out[n] = e.heartbeat(n, "b"+n[1:], running(as)...)
		}
		return out
	}
	j := e.submit(8)
	e.srv.Cycle()
	beat()
	got := e.job(j.ID)
	if got.State != api.JobRunning {
		t.Fatalf("job %s, want running", got.State)
	}
	node, dev := got.Placement[3].Node, got.Placement[3].Devices[0]
	reg(node, dev)
	if got = e.job(j.ID); got.State != api.JobRecovering || !strings.Contains(got.Reason, "device-unhealthy") {
		t.Fatalf("after device %d of %s turned unhealthy: %s (%s), want recovering", dev, node, got.State, got.Reason)
	}
	beat()
	e.clock.Advance(10 * time.Second)
	beat()
	e.srv.Reconcile()
	e.srv.Cycle()
	beat()
	got = e.job(j.ID)
	if got.State != api.JobRunning || got.Attempt != 1 || got.History[0].Cause != "device-unhealthy" {
		t.Fatalf("after the backoff: %s attempt %d %+v, want running attempt 1 after device-unhealthy", got.State, got.Attempt, got.History)
	}
	onBad := func() bool { return liveRankOn(ctx, e.c, node, dev) }
	if onBad() {
		t.Fatalf("a rank runs on unhealthy device %d of %s: %+v", dev, node, got.Placement)
	}
	// Fill the pool: 31 healthy chips for 32 chips of jobs, so one job
	// waits, and none lands on the unhealthy chip.
	var more []string
	for range 3 {
		more = append(more, e.submit(8).ID)
	}
	e.srv.Cycle()
	if onBad() {
		t.Fatal("new work landed on the unhealthy chip")
	}
	pending := 0
	for _, id := range more {
		if e.job(id).State == api.JobPending {
			pending++
		}
	}
	if pending != 1 {
		t.Fatalf("%d of 3 new jobs pending; want 1 (the pool has one unhealthy chip)", pending)
	}
	// Healthy again: the waiting job is placed.
	reg(node)
	e.srv.Cycle()
	for _, id := range more {
		if st := e.job(id).State; st == api.JobPending {
			t.Fatalf("job %s still pending after the chip recovered", id)
		}
	}
}

// TestFaultDuringPreemptionGrace: a node of a job being preempted is lost
// during the grace period: the job still goes back to the queue (no restart
// counted), its history entry names the fault, and the preemptor runs.
func TestFaultDuringPreemptionGrace(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	nodes := []string{"n0", "n1", "n2", "n3"}
	for _, n := range nodes {
		e.register(n, "b"+n[1:])
	}
	run := map[string][]api.Assignment{}
	beat := func(skip string) {
		for _, n := range nodes {
			if n != skip {
				as := e.heartbeat(n, "b"+n[1:], running(run[n])...)
				run[n] = e.heartbeat(n, "b"+n[1:], running(as)...)
			}
		}
	}
	low, err := e.c.SubmitJob(ctx, []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"low","chips":32,"command":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Cycle()
	beat("")
	if got := e.job(low.ID); got.State != api.JobRunning {
		t.Fatalf("low: %s, want running", got.State)
	}
	high, err := e.c.SubmitJob(ctx, []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"high","priority":100,"chips":8,"command":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Cycle()
	got := e.job(low.ID)
	if got.State != api.JobStopping || !strings.Contains(got.Reason, "preempted by "+high.ID) {
		t.Fatalf("low after the preemptor came: %s (%s), want stopping, preempted", got.State, got.Reason)
	}
	// During the grace period n2 dies; the others stop their ranks.
	e.clock.Advance(11 * time.Second)
	beat("n2")
	e.srv.Reconcile()
	beat("n2")
	got = e.job(low.ID)
	if got.State != api.JobPending || got.Attempt != 1 || len(got.History) != 1 {
		t.Fatalf("low: %s attempt %d history %+v, want pending attempt 1 with one history entry", got.State, got.Attempt, got.History)
	}
	h := got.History[0]
	if h.Cause != "preempted" || h.Path != "requeue" || !strings.Contains(h.Detail, "node n2 lost during the grace period") || h.EndedAt == nil {
		t.Fatalf("history[0] = %+v, want preempted → requeue naming n2's loss", h)
	}
	e.srv.Cycle()
	if got := e.job(high.ID); got.State != api.JobStarting {
		t.Fatalf("high: %s, want starting", got.State)
	}
	ex, err := e.c.ExplainJob(ctx, low.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range ex.Records {
		found = found || r.Plugin == "recovery" && r.Reason == "requeue" && strings.Contains(r.Detail, "n2 lost")
	}
	if !found {
		t.Errorf("explain lacks the recovery record: %+v", ex.Records)
	}
	// One restart, for preempted, and no recovery: the node's loss during
	// the grace period ended nothing more.
	if diff := cmp.Diff(map[string][3]float64{"preempted": {1, 0, 0}}, restartFigures(t, e.srv)); diff != "" {
		t.Errorf("restarts, recoveries and recovery seconds by cause (-want +got):\n%s", diff)
	}
}

// liveRankOn reports whether a rank of a job that has not ended is placed on
// device dev of node, as the API lists them.
func liveRankOn(ctx context.Context, c *api.Client, node string, dev int) bool {
	list, _ := c.ListJobs(ctx, api.ListJobsOptions{})
	for _, x := range list.Jobs {
		for _, p := range x.Placement {
			if p.Node == node && slices.Contains(p.Devices, dev) && !x.State.Terminal() {
				return true
			}
		}
	}
	return false
}
