package server

import (
	"context"
	"net/http/httptest"
	"slices"
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
