package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	dto "github.com/prometheus/client_model/go"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/golden"
	"github.com/qunhq/qun/internal/metrics"
)

// scrape reads the server's /metrics.
func (e *env) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	resp, err := http.Get(e.hs.URL + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /metrics: %s", resp.Status)
	}
	fams, err := metrics.ParseText(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return fams
}

// series returns a family's values keyed by their labels ("k=v,k=v").
func series(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	f := fams[name]
	if f == nil {
		return out
	}
	for _, m := range f.Metric {
		var ls []string
		for _, l := range m.Label {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Histogram != nil:
			v = float64(m.Histogram.GetSampleCount())
		}
		out[strings.Join(ls, ",")] = v
	}
	return out
}

// metricsScene is three of the four nodes ready, an 8-chip job and a
// 4-chip job running, a 32-chip job pending.
func metricsScene(t *testing.T) *env {
	e := newEnv(t, "")
	for i := range 3 {
		e.register(fmt.Sprintf("n%d", i), fmt.Sprintf("b%d", i))
	}
	a, b, c := e.submit(8), e.submit(4), e.submit(32)
	e.clock.Advance(30 * time.Second)
	e.srv.Cycle()
	for i := range 3 {
		name, boot := fmt.Sprintf("n%d", i), fmt.Sprintf("b%d", i)
		e.heartbeat(name, boot, running(e.heartbeat(name, boot))...)
	}
	for _, id := range []string{a.ID, b.ID} {
		if got := e.job(id); got.State != api.JobRunning {
			t.Fatalf("job %s is %s, want running", id, got.State)
		}
	}
	if got := e.job(c.ID); got.State != api.JobPending || got.ReasonCode == "" {
		t.Fatalf("job %s is %s with reason code %q, want pending with a code", c.ID, got.State, got.ReasonCode)
	}
	nodes := map[string]bool{}
	for _, p := range e.job(b.ID).Placement {
		nodes[p.Node] = true
	}
	if len(nodes) != 1 {
		t.Fatalf("the 4-chip job spans nodes %v; the figures below assume one node", nodes)
	}
	return e
}

func TestMetricsMatchTheState(t *testing.T) {
	e := metricsScene(t)
	e.srv.Metrics().JobRestarted("node-lost")
	e.srv.Metrics().ObserveRecovery("node-lost", 12)
	fams := e.scrape()
	pendingReason := e.job("j-000003").ReasonCode
	// n3 has no agent: its 8 chips are down and offer nothing. Of the
	// ready 24, 12 are allocated: n?-a full (8), n?-b half (4), n?-c free.
	// Node level: free 0+4+8 = 12, largest blocks 0+1+8 = 9 → 1 − 9/12.
	// Cluster level: free 12, largest block 8 → 1 − 8/12.
	want := map[string]map[string]float64{
		"qun_chips":                        {"kind=H100,state=alloc": 12, "kind=H100,state=idle": 12, "kind=H100,state=down": 8, "kind=H100,state=drain": 0},
		"qun_nodes":                        {"state=alloc": 1, "state=mix": 1, "state=idle": 1, "state=down": 1, "state=drain": 0},
		"qun_running_jobs":                 {"queue=default": 2},
		"qun_pending_jobs":                 {"queue=default,reason=" + pendingReason: 1},
		"qun_domain_free_chips":            {"level=cluster": 0, "level=node": 8},
		"qun_fragmentation_ratio":          {"level=cluster": 1 - 8.0/12, "level=node": 1 - 9.0/12},
		"qun_largest_placeable_gang_chips": {"kind=H100,level=cluster": 12, "kind=H100,level=node": 8},
		"qun_queue_usage_chips":            {"kind=H100,queue=default": 12},
		"qun_queue_guarantee_chips":        {"kind=H100,queue=default": 0},
		"qun_queue_borrowed_chips":         {"kind=H100,queue=default": 12},
		"qun_admission_wait_time_seconds":  {"queue=default": 2},
		"qun_job_restarts_total":           {"cause=node-lost": 1},
		"qun_recovery_duration_seconds":    {"cause=node-lost": 1},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, series(fams, name), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if h := fams["qun_admission_wait_time_seconds"].Metric[0].Histogram; h.GetSampleSum() != 60 {
		t.Errorf("admission waits sum to %g s, want 60 (two jobs placed 30 s after submission)", h.GetSampleSum())
	}
	if n := series(fams, "qun_scheduling_cycle_duration_seconds")[""]; n < 1 {
		t.Errorf("%g scheduling cycles observed, want at least 1", n)
	}
}

// TestMetricsGolden fixes the name, type, help and label names of every
// Qun metric the server exports.
func TestMetricsGolden(t *testing.T) {
	e := metricsScene(t)
	e.srv.Metrics().JobRestarted("node-lost")
	e.srv.Metrics().ObserveRecovery("node-lost", 12)
	golden.Check(t, "testdata/metrics.golden", []byte(metrics.Describe(e.scrape(), "qun_")))
}

func TestUsageAddsChipHours(t *testing.T) {
	e := newEnv(t, "")
	for i := range 4 {
		e.register(fmt.Sprintf("n%d", i), fmt.Sprintf("b%d", i))
	}
	ctx := context.Background()
	t0 := e.clock.Now()
	submit := func(chips int, queue string) api.Job {
		j, err := e.c.SubmitJob(ctx, []byte(fmt.Sprintf(`{"apiVersion":"qun/v1","kind":"Job","name":"u","queue":%q,"chips":%d,"command":["sleep","1"]}`, queue, chips)))
		if err != nil {
			t.Fatal(err)
		}
		return *j
	}
	// A: 8 chips of team-a from t0 to t0+2h. B: 4 chips of team-b from
	// t0+1h, still held at t0+3h.
	a := submit(8, "team-a")
	e.srv.Cycle()
	e.clock.Advance(time.Hour)
	b := submit(4, "team-b")
	e.srv.Cycle()
	e.clock.Advance(time.Hour)
	if _, err := e.c.CancelJob(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		name, boot := fmt.Sprintf("n%d", i), fmt.Sprintf("b%d", i)
		as := e.heartbeat(name, boot)
		var reps []api.RankReport
		for _, r := range running(as) {
			if r.JobID == b.ID {
				reps = append(reps, r)
			}
		}
		e.heartbeat(name, boot, reps...)
	}
	if got := e.job(a.ID); got.State != api.JobCancelled {
		t.Fatalf("job A is %s, want cancelled", got.State)
	}
	e.clock.Advance(time.Hour)
	// [t0+30m, t0+2h30m): A 1.5 h × 8 = 12, B 1.5 h × 4 = 6 chip-hours.
	got, err := e.c.Usage(ctx, api.UsageOptions{Since: t0.Add(30 * time.Minute), Until: t0.Add(150 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	want := []api.UsageRow{{Queue: "team-a", Kind: "H100", ChipHours: 12, Jobs: 1}, {Queue: "team-b", Kind: "H100", ChipHours: 6, Jobs: 1}}
	if diff := cmp.Diff(want, got.Rows); diff != "" || got.TotalChipHours != 18 {
		t.Errorf("usage rows (-want +got):\n%s\ntotal %g, want 18", diff, got.TotalChipHours)
	}
	// Until now: B's open allocation counts up to now (t0+3h): 2 h × 4.
	got, err = e.c.Usage(ctx, api.UsageOptions{Since: t0, Queue: "team-b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]api.UsageRow{{Queue: "team-b", Kind: "H100", ChipHours: 8, Jobs: 1}}, got.Rows); diff != "" {
		t.Errorf("team-b until now (-want +got):\n%s", diff)
	}
	// The facts survive a restart.
	e.close()
	e2 := newEnv(t, e.dir)
	e2.clock.now = e.clock.now
	got, err = e2.c.Usage(ctx, api.UsageOptions{Since: t0.Add(30 * time.Minute), Until: t0.Add(150 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if got.TotalChipHours != 18 {
		t.Errorf("after a restart: total %g chip-hours, want 18", got.TotalChipHours)
	}
	for _, tc := range []struct {
		name string
		o    api.UsageOptions
		code string
	}{
		{"unknown queue", api.UsageOptions{Queue: "nobody"}, api.CodeNotFound},
		{"empty period", api.UsageOptions{Since: t0, Until: t0}, api.CodeBadData},
	} {
		if _, err := e2.c.Usage(ctx, tc.o); code(err) != tc.code {
			t.Errorf("%s: error %v, want code %s", tc.name, err, tc.code)
		}
	}
	resp, err := http.Get(e2.hs.URL + "/v1/usage?since=yesterday")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("since=yesterday: %s, want 400", resp.Status)
	}
}

func TestEstimatedStartFromReservation(t *testing.T) {
	e := newEnv(t, "")
	for i := range 4 {
		e.register(fmt.Sprintf("n%d", i), fmt.Sprintf("b%d", i))
	}
	ctx := context.Background()
	big, err := e.c.SubmitJob(ctx, []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"big","chips":32,"duration":"1h","command":["sleep","1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Cycle()
	next := e.submit(8)
	e.srv.Cycle()
	got := e.job(next.ID)
	if e.job(big.ID).State != api.JobStarting || got.State != api.JobPending {
		t.Fatalf("big %s, next %s: want starting and pending", e.job(big.ID).State, got.State)
	}
	now := e.clock.Now()
	if got.EstimatedStart == nil || got.EstimatedStart.Before(now) || got.EstimatedStart.After(now.Add(time.Hour)) {
		t.Fatalf("estimated start %v, want within the hour the running job has left (now %v)", got.EstimatedStart, now)
	}
	if _, err := e.c.CancelJob(ctx, big.ID); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		e.heartbeat(fmt.Sprintf("n%d", i), fmt.Sprintf("b%d", i))
	}
	e.srv.Cycle()
	if got := e.job(next.ID); got.EstimatedStart != nil {
		t.Errorf("placed job still shows an estimated start %v", got.EstimatedStart)
	}
}
