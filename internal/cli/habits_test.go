package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/server"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testServer runs a server (loops not started: the test calls Cycle) on
// the four-node test pool.
func testServer(t *testing.T) (*server.Server, *api.Client, string, *stepClock) {
	t.Helper()
	topo, err := pool.LoadFile("../server/testdata/pool.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock := &stepClock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	srv, err := server.New(server.Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: t.TempDir(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := api.NewClient(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, hs.URL, clock
}

// background runs the CLI until the returned stop is called or it ends on
// its own; stop returns the exit code, done delivers it when it ends.
func background(t *testing.T, out *syncBuffer, args ...string) (stop func() int, done <-chan int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan int, 1)
	finished := make(chan struct{})
	code := -1
	var errb syncBuffer
	go func() {
		code = MainContext(ctx, args, strings.NewReader(""), out, &errb)
		close(finished)
		ch <- code
	}()
	stop = func() int {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Errorf("qun %s did not end after its context was cancelled", strings.Join(args, " "))
		}
		if errb.String() != "" {
			t.Logf("stderr: %s", errb.String())
		}
		return code
	}
	t.Cleanup(func() { stop() })
	return stop, ch
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func submitChips(t *testing.T, c *api.Client, queue string, chips int) api.Job {
	t.Helper()
	j, err := c.SubmitJob(context.Background(), []byte(fmt.Sprintf(
		`{"apiVersion":"qun/v1","kind":"Job","name":"w","queue":%q,"chips":%d,"command":["sleep","1"]}`, queue, chips)))
	if err != nil {
		t.Fatal(err)
	}
	return *j
}

func TestWatchRedrawsOnChange(t *testing.T) {
	_, c, url, _ := testServer(t)
	var out syncBuffer
	stop, _ := background(t, &out, "queue", "list", "-w", "--interval", "20ms", "--server", url)
	frames := func() int { return strings.Count(out.String(), "NAME") }
	eventually(t, "the first frame", func() bool { return frames() == 1 })
	time.Sleep(300 * time.Millisecond) // fifteen polls of an unchanged answer
	if n := frames(); n != 1 {
		t.Fatalf("%d frames while nothing changed, want 1:\n%s", n, out.String())
	}
	submitChips(t, c, "research", 1)
	eventually(t, "a redraw showing the new queue", func() bool { return strings.Contains(out.String(), "research") })
	time.Sleep(100 * time.Millisecond)
	if n := frames(); n != 2 {
		t.Errorf("%d frames after one change, want 2:\n%s", n, out.String())
	}
	if code := stop(); code != ExitOK {
		t.Errorf("watch ended with exit %d, want 0", code)
	}
}

func TestJobLogsFollowEndsWhenTheRankExits(t *testing.T) {
	srv, c, url, _ := testServer(t)
	ctx := context.Background()
	if _, err := c.RegisterNode(ctx, api.RegisterRequest{Name: "n0", BootID: "b0", Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	j := submitChips(t, c, "default", 1)
	srv.Cycle()
	hb, err := c.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b0"})
	if err != nil || len(hb.Assignments) != 1 {
		t.Fatalf("heartbeat: %v, %d assignments, want 1", err, len(hb.Assignments))
	}
	rep := api.RankReport{JobID: j.ID, Rank: 0, State: api.RankRunning, PID: 42}
	if _, err := c.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b0", Ranks: []api.RankReport{rep}}); err != nil {
		t.Fatal(err)
	}
	appendLog := func(s string) {
		if err := c.AppendLogs(ctx, j.ID, api.LogOptions{Attempt: 0}, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	appendLog("step 1\n")
	var out syncBuffer
	_, done := background(t, &out, "job", "logs", j.ID, "-f", "--server", url)
	eventually(t, "the first line", func() bool { return out.String() == "step 1\n" })
	appendLog("step 2\n")
	eventually(t, "the appended line", func() bool { return out.String() == "step 1\nstep 2\n" })
	select {
	case code := <-done:
		t.Fatalf("logs -f ended (exit %d) while the rank still runs", code)
	case <-time.After(700 * time.Millisecond):
	}
	appendLog("done\n")
	zero := 0
	rep.State, rep.ExitCode = api.RankExited, &zero
	if _, err := c.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b0", Ranks: []api.RankReport{rep}}); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("logs -f exit %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not end after the rank exited")
	}
	if got, want := out.String(), "step 1\nstep 2\ndone\n"; got != want {
		t.Errorf("followed log %q, want %q (each byte once)", got, want)
	}
}

func TestUsageCommand(t *testing.T) {
	srv, c, url, clock := testServer(t)
	ctx := context.Background()
	for i := range 4 {
		if _, err := c.RegisterNode(ctx, api.RegisterRequest{Name: fmt.Sprintf("n%d", i), BootID: "b", Address: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := clock.Now()
	// team-a: 8 chips for 2 h from t0 and 2 chips for 1 h from t0+1h;
	// team-b: 16 chips from t0+1h, still held.
	a := submitChips(t, c, "team-a", 8)
	srv.Cycle()
	clock.advance(time.Hour)
	a2, b := submitChips(t, c, "team-a", 2), submitChips(t, c, "team-b", 16)
	srv.Cycle()
	clock.advance(time.Hour)
	for _, id := range []string{a.ID, a2.ID} {
		if _, err := c.CancelJob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 { // acknowledge the cancellations: no ranks run
		if _, err := c.Heartbeat(ctx, fmt.Sprintf("n%d", i), api.HeartbeatRequest{BootID: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	if j, _ := c.GetJob(ctx, b.ID); j.State != api.JobStarting {
		t.Fatalf("team-b's job is %s, want starting", j.State)
	}
	clock.advance(time.Hour)
	// Over [t0+30m, t0+3h): team-a 8×1.5 + 2×1 = 14, team-b 16×2 = 32.
	period := []string{"--since", t0.Add(30 * time.Minute).Format(time.RFC3339), "--until", t0.Add(3 * time.Hour).Format(time.RFC3339), "--server", url}
	code, stdout, stderr := run(t, append([]string{"usage", "-o", "json"}, period...)...)
	if code != ExitOK {
		t.Fatalf("usage: exit %d: %s", code, stderr)
	}
	var r api.UsageReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, row := range r.Rows {
		got[row.Queue+"/"+row.Kind] = row.ChipHours
	}
	if got["team-a/H100"] != 14 || got["team-b/H100"] != 32 || len(got) != 2 || r.TotalChipHours != 46 {
		t.Errorf("usage %v total %g, want team-a 14, team-b 32, total 46", got, r.TotalChipHours)
	}
	code, stdout, _ = run(t, append([]string{"usage"}, period...)...)
	for _, want := range []string{"team-a  H100  14.00       2", "team-b  H100  32.00       1", "TOTAL         46.00"} {
		if code != ExitOK || !strings.Contains(stdout, want) {
			t.Errorf("usage table lacks %q:\n%s", want, stdout)
		}
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"usage", "--queue", "nobody"}, `no queue "nobody"`},
		{[]string{"usage", "--since", "yesterday"}, `--since "yesterday": want an RFC 3339 time`},
		{[]string{"usage", "--until", "-5x"}, `--until "-5x": a relative time is -`},
		{[]string{"usage", "--since", "-1h", "--until", "-2h"}, "--since -1h is not before --until -2h"},
		{[]string{"usage", "-o", "xml"}, `--output "xml" is not a format (allowed: table, wide, json, yaml)`},
		{[]string{"node", "list", "-o", "csv"}, "allowed: table, wide, json, yaml"},
	} {
		code, _, stderr := run(t, append(tc.args, "--server", url)...)
		if code != ExitBadInput || !strings.Contains(stderr, tc.msg) {
			t.Errorf("qun %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.msg)
		}
	}
}

func TestNodeListSlurmStates(t *testing.T) {
	srv, c, url, _ := testServer(t)
	ctx := context.Background()
	devs := make([]api.Device, 8)
	for i := range devs {
		devs[i] = api.Device{Index: i, Kind: "H100", Healthy: true}
	}
	for i := range 3 {
		if _, err := c.RegisterNode(ctx, api.RegisterRequest{Name: fmt.Sprintf("n%d", i), BootID: "b", Address: "127.0.0.1", Devices: devs}); err != nil {
			t.Fatal(err)
		}
	}
	submitChips(t, c, "default", 8)
	submitChips(t, c, "default", 3)
	srv.Cycle()
	code, stdout, stderr := run(t, "node", "list", "--server", url)
	if code != ExitOK {
		t.Fatalf("node list: exit %d: %s", code, stderr)
	}
	states := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		states[strings.Fields(line)[1]]++
	}
	if states["alloc"] != 1 || states["mix"] != 1 || states["idle"] != 1 {
		t.Errorf("node states %v, want one alloc, one mix, one idle:\n%s", states, stdout)
	}
}

func TestJobListReasonCodesAndStart(t *testing.T) {
	srv, c, url, _ := testServer(t)
	ctx := context.Background()
	for i := range 4 {
		if _, err := c.RegisterNode(ctx, api.RegisterRequest{Name: fmt.Sprintf("n%d", i), BootID: "b", Address: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SubmitJob(ctx, []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"big","chips":32,"duration":"2h","command":["x"]}`)); err != nil {
		t.Fatal(err)
	}
	srv.Cycle()
	next := submitChips(t, c, "default", 8)
	srv.Cycle()
	j, err := c.GetJob(ctx, next.ID)
	if err != nil || j.EstimatedStart == nil || j.ReasonCode == "" {
		t.Fatalf("pending job: %v, estimated start %v, reason code %q; want both", err, j.EstimatedStart, j.ReasonCode)
	}
	code, stdout, _ := run(t, "job", "list", "--start", "--server", url)
	if code != ExitOK || !strings.Contains(stdout, "START") || !strings.Contains(stdout, j.EstimatedStart.Format(time.RFC3339)+"  "+j.ReasonCode) {
		t.Errorf("job list --start lacks the estimated start %s and reason code %s:\n%s", j.EstimatedStart.Format(time.RFC3339), j.ReasonCode, stdout)
	}
}

func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"", "now", "-24h", "-7d", "-1d12h", "2026-01-02T15:04:05Z", "-", "-d", "-0s", "-99999999d", "-1d-1h", "yesterday"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen("--since", s, now)
		if err != nil {
			if !strings.Contains(err.Error(), "--since") {
				t.Errorf("error %q does not name the flag", err)
			}
			return
		}
		if strings.HasPrefix(s, "-") && !got.Before(now) {
			t.Errorf("relative %q gave %v, not before now", s, got)
		}
	})
}
