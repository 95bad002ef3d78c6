package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/job/jobtest"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	srv   *Server
	hs    *httptest.Server
	c     *api.Client
	clock *fakeClock
	dir   string
}

func testPool(t testing.TB) *pool.Topology {
	t.Helper()
	topo, err := pool.LoadFile("testdata/pool.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// newEnv starts a server on a temp data dir with a fake clock; the loops are
// not started: tests call Cycle and Reconcile.
func newEnv(t *testing.T, dir string) *env { t.Helper(); return newEnvWith(t, dir, nil) }

// newEnvWith is newEnv with the config changed by set (when not nil).
func newEnvWith(t *testing.T, dir string, set func(*Config)) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg := Config{Pool: testPool(t), Profile: plugins.DefaultProfile(), DataDir: dir, Clock: clock, NodeTimeout: 10 * time.Second}
	if set != nil {
		set(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	c, err := api.NewClient(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, hs: hs, c: c, clock: clock, dir: dir}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.hs.Close()
	e.srv.Close()
}

// quick is the job most tests submit: chips ranks of one chip each.
func quick(chips int) *jobtest.Wrapper {
	return jobtest.Make("quick").Chips("", chips).Command("sleep", "1")
}

func (e *env) submit(chips int) api.Job {
	e.t.Helper()
	j, err := e.c.SubmitJob(context.Background(), quick(chips).JSON(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	return *j
}

func (e *env) register(name, boot string) {
	e.t.Helper()
	if _, err := e.c.RegisterNode(context.Background(), api.RegisterRequest{Name: name, BootID: boot, Address: "10.0.0." + name[1:]}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) heartbeat(name, boot string, ranks ...api.RankReport) []api.Assignment {
	e.t.Helper()
	r, err := e.c.Heartbeat(context.Background(), name, api.HeartbeatRequest{BootID: boot, Ranks: ranks})
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Assignments
}

func (e *env) job(id string) api.Job {
	e.t.Helper()
	j, err := e.c.GetJob(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return *j
}

// running reports every assignment as running.
func running(as []api.Assignment) []api.RankReport {
	var out []api.RankReport
	for _, a := range as {
		out = append(out, api.RankReport{JobID: a.JobID, Attempt: a.Attempt, Rank: a.Rank, State: api.RankRunning, PID: 100 + a.Rank})
	}
	return out
}

func exited(as []api.Assignment, code int) []api.RankReport {
	out := running(as)
	for i := range out {
		out[i].State, out[i].ExitCode = api.RankExited, &code
	}
	return out
}

func code(err error) string { return api.ErrorCode(err) }

func TestJobLifecycle(t *testing.T) {
	e := newEnv(t, "")
	e.register("n0", "b0")
	j := e.submit(8)
	if j.ID != "j-000001" || j.State != api.JobPending {
		t.Fatalf("submitted job = %s %s, want j-000001 pending", j.ID, j.State)
	}
	e.srv.Cycle()
	if got := e.job(j.ID); got.State != api.JobStarting || len(got.Placement) != 8 {
		t.Fatalf("after a cycle: %s with %d ranks placed, want starting with 8", got.State, len(got.Placement))
	}
	as := e.heartbeat("n0", "b0")
	if len(as) != 8 {
		t.Fatalf("%d assignments, want 8", len(as))
	}
	a := as[3]
	want := map[string]string{"RANK": "3", "LOCAL_RANK": "0", "GROUP_RANK": "3", "WORLD_SIZE": "8", "MASTER_ADDR": "10.0.0.0", "CUDA_VISIBLE_DEVICES": "3", "QUN_JOB_ID": j.ID}
	for k, v := range want {
		if a.Env[k] != v {
			t.Errorf("assignment env %s = %q, want %q", k, a.Env[k], v)
		}
	}
	e.heartbeat("n0", "b0", running(as)...)
	if got := e.job(j.ID); got.State != api.JobRunning || got.StartedAt == nil {
		t.Fatalf("after ranks run: %s, want running with a start time", got.State)
	}
	if left := e.heartbeat("n0", "b0", exited(as, 0)...); len(left) != 0 {
		t.Errorf("%d assignments after every rank exited, want 0", len(left))
	}
	got := e.job(j.ID)
	if got.State != api.JobSucceeded || got.FinishedAt == nil {
		t.Fatalf("after ranks exit 0: %s, want succeeded", got.State)
	}
	// The chips are free again: a second 8-chip job is placed.
	j2 := e.submit(8)
	e.srv.Cycle()
	if got := e.job(j2.ID); got.State != api.JobStarting {
		t.Fatalf("second job: %s, want starting", got.State)
	}
}

func TestRankFailureStopsGang(t *testing.T) {
	e := newEnv(t, "")
	e.register("n0", "b0")
	e.register("n1", "b1")
	j := e.submit(16)
	e.srv.Cycle()
	a0, a1 := e.heartbeat("n0", "b0"), e.heartbeat("n1", "b1")
	if len(a0) != 8 || len(a1) != 8 {
		t.Fatalf("assignments %d and %d, want 8 and 8", len(a0), len(a1))
	}
	e.heartbeat("n0", "b0", running(a0)...)
	// One rank on n1 fails: the job recovers; every other rank is no
	// longer listed, so its agent stops it.
	reps := running(a1)
	one := 3
	reps[0].State, reps[0].ExitCode = api.RankExited, &one
	e.heartbeat("n1", "b1", reps...)
	if got := e.job(j.ID); got.State != api.JobRecovering || !strings.Contains(got.Reason, "exited with code 3") {
		t.Fatalf("after a rank failed: %s (%s), want recovering", got.State, got.Reason)
	}
	if as := e.heartbeat("n0", "b0", running(a0)...); len(as) != 0 {
		t.Fatalf("n0 still told to run %d ranks", len(as))
	}
	e.heartbeat("n0", "b0") // n0's ranks are gone
	e.heartbeat("n1", "b1") // and n1's
	e.srv.Reconcile()
	if got := e.job(j.ID); got.State != api.JobRecovering || got.Attempt != 0 {
		t.Fatalf("before the backoff ended: %s attempt %d, want recovering attempt 0", got.State, got.Attempt)
	}
	e.clock.Advance(10 * time.Second)
	e.heartbeat("n0", "b0")
	e.heartbeat("n1", "b1")
	e.srv.Reconcile()
	got := e.job(j.ID)
	if got.State != api.JobStarting || got.Attempt != 1 || len(got.History) != 1 || got.History[0].Path != "restart-in-place" {
		t.Fatalf("after the backoff: %s attempt %d history %+v, want starting attempt 1 restarted in place", got.State, got.Attempt, got.History)
	}
	// In place: the same devices, the next attempt.
	b0 := e.heartbeat("n0", "b0")
	if len(b0) != 8 || b0[0].Attempt != 1 || !cmp.Equal(b0[0].Devices, a0[0].Devices) {
		t.Fatalf("n0 got %d assignments (first %+v), want 8 of attempt 1 on the same devices", len(b0), b0)
	}
	wantEnv := map[string]string{"QUN_ATTEMPT": "1", "TORCHELASTIC_RESTART_COUNT": "1", "TORCHELASTIC_RUN_ID": j.ID, "TORCHELASTIC_MAX_RESTARTS": "3"}
	for k, v := range wantEnv {
		if b0[0].Env[k] != v {
			t.Errorf("attempt 1 env %s = %q, want %q", k, b0[0].Env[k], v)
		}
	}
}

func TestNodeLost(t *testing.T) {
	e := newEnv(t, "")
	e.register("n0", "b0")
	e.register("n1", "b1")
	j := e.submit(16)
	e.srv.Cycle()
	a0, a1 := e.heartbeat("n0", "b0"), e.heartbeat("n1", "b1")
	e.heartbeat("n0", "b0", running(a0)...)
	e.heartbeat("n1", "b1", running(a1)...)
	e.clock.Advance(6 * time.Second)
	e.heartbeat("n0", "b0", running(a0)...)
	e.clock.Advance(6 * time.Second)
	e.srv.Reconcile()
	nodes, err := e.c.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, n := range nodes.Nodes {
		states[n.Name] = n.State
	}
	if diff := cmp.Diff(map[string]string{"n0": api.NodeReady, "n1": api.NodeLost}, states); diff != "" {
		t.Errorf("node states (-want +got):\n%s", diff)
	}
	if as := e.heartbeat("n0", "b0", running(a0)...); len(as) != 0 {
		t.Fatalf("n0 still runs %d ranks of a job whose node was lost", len(as))
	}
	e.heartbeat("n0", "b0")
	if got := e.job(j.ID); got.State != api.JobRecovering || !strings.Contains(got.Reason, "n1 lost") {
		t.Fatalf("job %s (%s), want recovering because n1 was lost", got.State, got.Reason)
	}
	// A lost node that heartbeats again is ready, with nothing to run.
	if as := e.heartbeat("n1", "b1"); len(as) != 0 {
		t.Errorf("lost node got %d assignments", len(as))
	}
	// After the backoff the gang is placed again, as attempt 1.
	e.clock.Advance(10 * time.Second)
	e.heartbeat("n0", "b0")
	e.heartbeat("n1", "b1")
	e.srv.Reconcile()
	e.srv.Cycle()
	got := e.job(j.ID)
	if got.State != api.JobStarting || got.Attempt != 1 || len(got.History) != 1 || got.History[0].Cause != "node-lost" ||
		!strings.Contains(got.History[0].Detail, "n1") {
		t.Fatalf("after the backoff: %s attempt %d history %+v, want starting attempt 1 after node-lost n1", got.State, got.Attempt, got.History)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, "")
	e.register("n0", "b0")
	ctx := context.Background()
	placed, pending := e.submit(8), e.submit(8)
	e.srv.Cycle()
	as := e.heartbeat("n0", "b0")
	e.heartbeat("n0", "b0", running(as)...)
	got, err := e.c.CancelJob(ctx, pending.ID)
	if err != nil || got.State != api.JobCancelled {
		t.Fatalf("cancel pending: %v, %v", got, err)
	}
	got, err = e.c.CancelJob(ctx, placed.ID)
	if err != nil || got.State != api.JobStopping {
		t.Fatalf("cancel running: state %v, err %v; want stopping", got.State, err)
	}
	e.heartbeat("n0", "b0", exited(as, 143)...)
	if got := e.job(placed.ID); got.State != api.JobCancelled {
		t.Fatalf("after ranks stopped: %s, want cancelled", got.State)
	}
	if _, err := e.c.CancelJob(ctx, placed.ID); code(err) != api.CodeConflict {
		t.Errorf("cancelling a cancelled job: %v, want conflict", err)
	}
	if _, err := e.c.CancelJob(ctx, "j-999999"); code(err) != api.CodeNotFound {
		t.Errorf("cancelling an unknown job: %v, want not_found", err)
	}
}

func TestSubmitErrors(t *testing.T) {
	e := newEnv(t, "")
	tests := map[string]struct {
		body   string
		fields []string
	}{
		"empty":         {``, []string{""}},
		"syntax":        {`{"name":`, []string{""}},
		"unknown field": {`{"apiVersion":"qun/v1","kind":"Job","name":"a","command":["x"],"bogus":1}`, []string{"bogus"}},
		"wrong type":    {`{"apiVersion":"qun/v1","kind":"Job","name":"a","command":"x"}`, []string{"command"}},
		"two values":    {`{"apiVersion":"qun/v1","kind":"Job","name":"a","command":["x"]} {}`, []string{""}},
		"many problems": {`{"apiVersion":"qun/v2","kind":"Job","name":"A","chips":-1}`, []string{"apiVersion", "chips", "command", "name"}},
		"unknown kind":  {`{"apiVersion":"qun/v1","kind":"Job","name":"a","command":["x"],"accept":{"kinds":["910B"]}}`, []string{"accept"}},
		"too many":      {`{"apiVersion":"qun/v1","kind":"Job","name":"a","command":["x"],"chips":64}`, []string{"chips"}},
		"no host's CPU": {`{"apiVersion":"qun/v1","kind":"Job","name":"a","command":["x"],"cpuMilliPerRank":65000}`, []string{"cpuMilliPerRank"}},
		"no host's RAM": {`{"apiVersion":"qun/v1","kind":"Job","name":"a","command":["x"],"memoryMiBPerRank":600000}`, []string{"memoryMiBPerRank"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := e.c.SubmitJob(context.Background(), []byte(tc.body))
			var ae *api.Error
			if !asAPI(err, &ae) || ae.Code != api.CodeBadData {
				t.Fatalf("error %v, want bad_data", err)
			}
			var fields []string
			for _, p := range ae.Problems {
				fields = append(fields, p.Field)
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("problem fields (-want +got):\n%s", diff)
			}
		})
	}
	big := bytes.Repeat([]byte(" "), maxSpecBytes+1)
	if _, err := e.c.SubmitJob(context.Background(), big); code(err) != api.CodeTooLarge {
		t.Errorf("oversized spec: %v, want too_large", err)
	}
	l, err := e.c.ListJobs(context.Background(), api.ListJobsOptions{})
	if err != nil || len(l.Jobs) != 0 {
		t.Errorf("rejected specs left %d jobs (err %v)", len(l.Jobs), err)
	}
}

func asAPI(err error, ae **api.Error) bool {
	e, ok := err.(*api.Error)
	*ae = e
	return ok
}

func TestListGetExplain(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	e.register("n0", "b0")
	a, b := e.submit(8), e.submit(8)
	e.srv.Cycle()
	l, err := e.c.ListJobs(ctx, api.ListJobsOptions{State: api.JobPending})
	if err != nil || len(l.Jobs) != 1 || l.Jobs[0].ID != b.ID {
		t.Fatalf("pending jobs = %v (err %v), want only %s", l, err, b.ID)
	}
	l, err = e.c.ListJobs(ctx, api.ListJobsOptions{Queue: "default"})
	if err != nil || len(l.Jobs) != 2 || l.Jobs[0].ID != a.ID {
		t.Fatalf("jobs of default = %v (err %v)", l, err)
	}
	l, err = e.c.ListJobs(ctx, api.ListJobsOptions{Queue: "nope"})
	if err != nil || len(l.Jobs) != 0 {
		t.Fatalf("jobs of an unknown queue = %v (err %v)", l, err)
	}
	if _, err := e.c.ListJobs(ctx, api.ListJobsOptions{State: "sleeping"}); code(err) != api.CodeBadData {
		t.Errorf("bad state filter: %v, want bad_data", err)
	}
	if _, err := e.c.GetJob(ctx, "j-000077"); code(err) != api.CodeNotFound {
		t.Errorf("unknown job: %v, want not_found", err)
	}
	ex, err := e.c.ExplainJob(ctx, b.ID)
	if err != nil || len(ex.Records) == 0 {
		t.Fatalf("explain pending: %v, %v", ex, err)
	}
	ex, err = e.c.ExplainJob(ctx, a.ID)
	if err != nil || len(ex.Records) == 0 || ex.Records[len(ex.Records)-1].Reason != "placed" {
		t.Fatalf("explain placed: %+v, %v", ex, err)
	}
	if _, err := e.c.ExplainJob(ctx, "x"); code(err) != api.CodeNotFound {
		t.Errorf("explain unknown: %v, want not_found", err)
	}
	q, err := e.c.ListQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantQ := []api.Queue{{Name: "default", Weight: 1, InUse: map[string]int64{"H100": 8000}, Pending: 1, Running: 1}}
	if diff := cmp.Diff(wantQ, q.Queues); diff != "" {
		t.Errorf("queues (-want +got):\n%s", diff)
	}
	raw, err := e.c.Pool(ctx)
	if err != nil || !bytes.Contains(raw, []byte(`"four-nodes"`)) {
		t.Errorf("pool: %s, %v", raw, err)
	}
}

func TestNodeErrors(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	reg := func(r api.RegisterRequest) error { _, err := e.c.RegisterNode(ctx, r); return err }
	if err := reg(api.RegisterRequest{Name: "n9", BootID: "b"}); code(err) != api.CodeBadData {
		t.Errorf("register a host not in the pool: %v, want bad_data", err)
	}
	if err := reg(api.RegisterRequest{Name: "n0", Devices: []api.Device{{Index: 1}, {Index: 1}}}); code(err) != api.CodeBadData || len(err.(*api.Error).Problems) != 2 {
		t.Errorf("register without boot ID, duplicate device: %v, want bad_data with 2 problems", err)
	}
	e.register("n0", "b0")
	e.register("n0", "b0") // idempotent
	if err := reg(api.RegisterRequest{Name: "n0", BootID: "other"}); code(err) != api.CodeConflict {
		t.Errorf("second agent for a live node: %v, want conflict", err)
	}
	hb := func(name, boot string) error {
		_, err := e.c.Heartbeat(ctx, name, api.HeartbeatRequest{BootID: boot})
		return err
	}
	if err := hb("n1", "b1"); code(err) != api.CodeNotFound {
		t.Errorf("heartbeat of an unregistered node: %v, want not_found", err)
	}
	if err := hb("zz", "b1"); code(err) != api.CodeNotFound {
		t.Errorf("heartbeat of an unknown host: %v, want not_found", err)
	}
	if err := hb("n0", "other"); code(err) != api.CodeConflict {
		t.Errorf("heartbeat with another boot ID: %v, want conflict", err)
	}
	if _, err := e.c.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b0", Ranks: []api.RankReport{{JobID: "j", State: "dancing"}}}); code(err) != api.CodeBadData {
		t.Errorf("heartbeat with a bad rank state: %v, want bad_data", err)
	}
	if err := e.c.RemoveNode(ctx, "n0"); err != nil {
		t.Fatal(err)
	}
	if err := hb("n0", "b0"); code(err) != api.CodeGone {
		t.Errorf("heartbeat of a removed node: %v, want gone", err)
	}
	if err := e.c.RemoveNode(ctx, "n0"); code(err) != api.CodeGone {
		t.Errorf("removing twice: %v, want gone", err)
	}
	if err := e.c.RemoveNode(ctx, "n3"); code(err) != api.CodeNotFound {
		t.Errorf("removing an unregistered node: %v, want not_found", err)
	}
	e.register("n0", "b2") // a removed node may register again
	if err := hb("n0", "b2"); err != nil {
		t.Errorf("heartbeat after re-registering: %v", err)
	}
	// Raw requests: unknown fields, unknown endpoints.
	for _, tc := range []struct{ method, path, body, code string }{
		{"POST", "/v1/nodes", `{"name":"n0","boot_id":"b","extra":1}`, api.CodeBadData},
		{"POST", "/v1/nodes/n0/heartbeat", `[]`, api.CodeBadData},
		{"GET", "/v1/nothing", ``, api.CodeNotFound},
		{"POST", "/v1/nodes", strings.Repeat(" ", maxRequestBytes+1), api.CodeTooLarge},
	} {
		req, _ := http.NewRequest(tc.method, e.hs.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ae api.Error
		json.NewDecoder(resp.Body).Decode(&ae)
		resp.Body.Close()
		if ae.Code != tc.code || resp.StatusCode != api.HTTPStatus(tc.code) {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, resp.StatusCode, ae.Code, api.HTTPStatus(tc.code), tc.code)
		}
	}
}

func TestLogs(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	j := e.submit(2)
	o := api.LogOptions{Rank: 1, Attempt: 0, Stream: "stderr"}
	for _, s := range []string{"hello ", "world\n"} {
		if err := e.c.AppendLogs(ctx, j.ID, o, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.c.JobLogs(ctx, j.ID, api.LogOptions{Rank: 1, Attempt: -1, Stream: "stderr"})
	if err != nil || string(got) != "hello world\n" {
		t.Errorf("log = %q, %v", got, err)
	}
	if _, err := os.Stat(e.dir + "/logs/" + j.ID + "/0/1.stderr"); err != nil {
		t.Errorf("log file: %v", err)
	}
	got, err = e.c.JobLogs(ctx, j.ID, api.LogOptions{Rank: 0, Attempt: -1})
	if err != nil || len(got) != 0 {
		t.Errorf("unwritten log = %q, %v; want empty", got, err)
	}
	for _, tc := range []struct {
		id   string
		o    api.LogOptions
		code string
	}{
		{j.ID, api.LogOptions{Rank: 2, Attempt: 0}, api.CodeBadData},
		{j.ID, api.LogOptions{Rank: 0, Attempt: 1}, api.CodeBadData},
		{j.ID, api.LogOptions{Rank: 0, Attempt: 0, Stream: "stdin"}, api.CodeBadData},
		{"j-404", api.LogOptions{Attempt: 0}, api.CodeNotFound},
	} {
		if _, err := e.c.JobLogs(ctx, tc.id, tc.o); code(err) != tc.code {
			t.Errorf("read %s %+v: %v, want %s", tc.id, tc.o, err, tc.code)
		}
		if err := e.c.AppendLogs(ctx, tc.id, tc.o, []byte("x")); code(err) != tc.code {
			t.Errorf("append %s %+v: %v, want %s", tc.id, tc.o, err, tc.code)
		}
	}
	if err := e.c.AppendLogs(ctx, j.ID, api.LogOptions{Attempt: -1}, []byte("x")); code(err) != api.CodeBadData {
		t.Errorf("append without attempt: %v, want bad_data", err)
	}
}

// TestRestart checks that a restarted server has every job, node and
// allocation it had, and that rank statuses, which are soft, come back with
// the agents' first heartbeat.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	e.register("n0", "b0")
	placed, pending := e.submit(8), e.submit(4)
	e.srv.Cycle()
	as := e.heartbeat("n0", "b0")
	e.heartbeat("n0", "b0", running(as)...)
	before, _ := e.c.ListJobs(context.Background(), api.ListJobsOptions{})
	e.close()

	e2 := newEnv(t, dir)
	soft := e2.job(placed.ID)
	if soft.State != api.JobRunning || len(soft.Ranks) != 8 || soft.Ranks[0].State != api.RankStarting || soft.Ranks[0].PID != 0 {
		t.Errorf("placed job right after restart: %s with ranks %+v, want running with 8 ranks starting (soft state not stored)", soft.State, soft.Ranks)
	}
	as2 := e2.heartbeat("n0", "b0", running(as)...)
	after, err := e2.c.ListJobs(context.Background(), api.ListJobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*api.JobList{before, after} {
		for i := range l.Jobs {
			if l.Jobs[i].State == api.JobPending {
				l.Jobs[i].Reason, l.Jobs[i].ReasonCode = "", "" // the last cycle's explanation is not stored
			}
		}
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("jobs after restart (-before +after):\n%s", diff)
	}
	// The allocation is back: the node is full, so the pending job waits.
	e2.srv.Cycle()
	if got := e2.job(pending.ID); got.State != api.JobPending {
		t.Errorf("pending job after restart: %s, want pending (n0 is full)", got.State)
	}
	if len(as2) != 8 || as2[0].JobID != placed.ID {
		t.Errorf("assignments after restart: %d, want the 8 ranks of %s", len(as2), placed.ID)
	}
	if j := e2.submit(1); j.ID != "j-000003" {
		t.Errorf("next ID after restart = %s, want j-000003", j.ID)
	}
}
