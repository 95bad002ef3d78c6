package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/state"
)

// gateStore is a real Bolt behind a gate: while held, every Commit waits
// (and is announced on entered); it records which keys a finished Commit
// made durable, and counts the commits and records written.
type gateStore struct {
	state.Durable
	entered chan state.Records

	mu      sync.Mutex
	hold    chan struct{}
	failing error
	durable map[string]bool // "jobs/KEY", "nodes/KEY"
	commits []state.Records
}

func newGateStore(t *testing.T, dir string) *gateStore {
	t.Helper()
	b, err := state.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	return &gateStore{Durable: b, entered: make(chan state.Records, 16), durable: map[string]bool{}}
}

func (g *gateStore) Commit(r state.Records) error {
	g.mu.Lock()
	hold, failing := g.hold, g.failing
	g.mu.Unlock()
	if hold != nil {
		g.entered <- r
		<-hold
	}
	if failing != nil {
		return failing
	}
	if err := g.Durable.Commit(r); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range r.Jobs {
		g.durable["jobs/"+k] = true
	}
	for k := range r.Nodes {
		g.durable["nodes/"+k] = true
	}
	g.commits = append(g.commits, r)
	return nil
}

// block makes the next commits wait until the returned release is called.
func (g *gateStore) block() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.hold = ch
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.hold = nil
		g.mu.Unlock()
		close(ch)
	}
}

func (g *gateStore) isDurable(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.durable[key]
}

// written returns the commits since the last call.
func (g *gateStore) written() []state.Records {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.commits
	g.commits = nil
	return out
}

func newGateEnv(t *testing.T) (*Server, *gateStore, *fakeClock) {
	t.Helper()
	dir := t.TempDir()
	g := newGateStore(t, dir)
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	srv, err := New(Config{Pool: testPool(t), Profile: plugins.DefaultProfile(), DataDir: dir, Clock: clock, Store: g})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, g, clock
}

// ackAfterDurable runs op with the store's commits held and fails unless
// op is still waiting while the commit holding key is blocked, and answers
// only once that commit finished.
func ackAfterDurable(g *gateStore, key string, op func() error) error {
	release := g.block()
	done := make(chan error, 1)
	go func() { done <- op() }()
	var r state.Records
	select {
	case r = <-g.entered:
	case err := <-done:
		release()
		return fmt.Errorf("answered (err %v) before its commit started; %s durable: %v", err, key, g.isDurable(key))
	case <-time.After(10 * time.Second):
		release()
		return errors.New("no commit within 10s")
	}
	if _, ok := r.Jobs[strings.TrimPrefix(key, "jobs/")]; !ok && !strings.HasPrefix(key, "nodes/") {
		release()
		<-done
		return fmt.Errorf("the held commit does not write %s", key)
	}
	select {
	case err := <-done:
		release()
		return fmt.Errorf("answered (err %v) while the commit writing %s was blocked", err, key)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		return fmt.Errorf("op: %w", err)
	}
	if !g.isDurable(key) {
		return fmt.Errorf("answered before %s was durable", key)
	}
	return nil
}

// TestAnswerAfterCommit checks that a submission, a heartbeat reporting a
// rank's end and a cancellation are answered only after the commit holding
// their change has returned from the store (for bbolt: after the fsync),
// and that the check catches a server that answers before (the planted
// bug).
func TestAnswerAfterCommit(t *testing.T) {
	run := func(t *testing.T, early bool) []error {
		srv, g, _ := newGateEnv(t)
		srv.cm.ackEarly = early
		var errs []error
		var id string
		if err := ackAfterDurable(g, "jobs/j-000001", func() error {
			j, err := srv.Submit(quick(2).JSON(t))
			id = j.ID
			return err
		}); err != nil {
			errs = append(errs, fmt.Errorf("submit: %w", err))
		}
		if _, _, err := srv.Register(api.RegisterRequest{Name: "n0", BootID: "b0"}); err != nil {
			t.Fatal(err)
		}
		srv.Cycle()
		hb, err := srv.Heartbeat("n0", api.HeartbeatRequest{BootID: "b0"})
		if err != nil || len(hb.Assignments) != 2 {
			t.Fatalf("heartbeat: %d assignments, %v; want 2", len(hb.Assignments), err)
		}
		if _, err := srv.Heartbeat("n0", api.HeartbeatRequest{BootID: "b0", Ranks: running(hb.Assignments)}); err != nil {
			t.Fatal(err)
		}
		if err := ackAfterDurable(g, "jobs/"+rankKey(id, 0, 1), func() error {
			_, err := srv.Heartbeat("n0", api.HeartbeatRequest{BootID: "b0", Ranks: append(running(hb.Assignments[:1]), exited(hb.Assignments[1:], 0)...)})
			return err
		}); err != nil {
			errs = append(errs, fmt.Errorf("heartbeat with a rank's end: %w", err))
		}
		id2 := ""
		if j, err := srv.Submit(quick(1).JSON(t)); err == nil {
			id2 = j.ID
		}
		g.written()
		if err := ackAfterDurable(g, "jobs/"+id2, func() error { _, err := srv.Cancel(id2); return err }); err != nil {
			errs = append(errs, fmt.Errorf("cancel: %w", err))
		}
		return errs
	}
	t.Run("server", func(t *testing.T) {
		for _, err := range run(t, false) {
			t.Error(err)
		}
	})
	t.Run("planted-answer-before-commit", func(t *testing.T) {
		errs := run(t, true)
		if len(errs) != 3 {
			t.Errorf("the check caught %d of 3 early answers: %v", len(errs), errs)
		}
		for _, err := range errs {
			t.Logf("caught: %v", err)
		}
	})
}

// TestCommitFailure checks that a failed commit is not acknowledged, and
// that the server then refuses every request, reads included: its memory
// holds a change the disk does not.
func TestCommitFailure(t *testing.T) {
	srv, g, _ := newGateEnv(t)
	ok, err := srv.Submit(quick(1).JSON(t))
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.failing = errors.New("disk on fire")
	g.mu.Unlock()
	if j, err := srv.Submit(quick(1).JSON(t)); code(err) != api.CodeUnavailable {
		t.Fatalf("submit with a failing commit: %+v, %v; want unavailable", j, err)
	}
	if _, err := srv.Job(ok.ID); code(err) != api.CodeUnavailable {
		t.Errorf("read after the failure: %v, want unavailable", err)
	}
	if _, err := srv.Jobs("", ""); code(err) != api.CodeUnavailable {
		t.Errorf("list after the failure: %v, want unavailable", err)
	}
	if _, _, err := srv.Register(api.RegisterRequest{Name: "n0", BootID: "b0"}); code(err) != api.CodeUnavailable {
		t.Errorf("register after the failure: %v, want unavailable", err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	for _, path := range []string{"/v1/jobs/" + ok.ID, "/v1/queues", "/v1/usage", "/v1/pool/map"} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s after the failure: %s, want 503", path, resp.Status)
		}
	}
}

// TestHeartbeatWritesOnlyDurableFacts checks that steady heartbeats write
// nothing, that ranks coming up write nothing until the attempt runs, and
// that a rank's end writes its own record, not its job's.
func TestHeartbeatWritesOnlyDurableFacts(t *testing.T) {
	srv, g, clock := newGateEnv(t)
	j, err := srv.Submit(quick(8).JSON(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Register(api.RegisterRequest{Name: "n0", BootID: "b0"}); err != nil {
		t.Fatal(err)
	}
	srv.Cycle()
	beat := func(ranks []api.RankReport) []api.Assignment {
		t.Helper()
		clock.Advance(time.Second)
		r, err := srv.Heartbeat("n0", api.HeartbeatRequest{BootID: "b0", Ranks: ranks})
		if err != nil {
			t.Fatal(err)
		}
		return r.Assignments
	}
	as := beat(nil)
	g.written()
	keys := func() []string {
		var out []string
		for _, r := range g.written() {
			for k := range r.Jobs {
				out = append(out, "jobs/"+k)
			}
			for k := range r.Nodes {
				out = append(out, "nodes/"+k)
			}
		}
		slices.Sort(out)
		return out
	}
	up := running(as)
	beat(up[:7])
	beat(up[:7])
	if k := keys(); len(k) != 0 {
		t.Errorf("7 of 8 ranks up, steady: wrote %v, want nothing", k)
	}
	beat(up)
	if k := keys(); !slices.Equal(k, []string{"jobs/" + j.ID}) {
		t.Errorf("every rank up (the job runs): wrote %v, want only the job's record", k)
	}
	for range 3 {
		beat(up)
	}
	if k := keys(); len(k) != 0 {
		t.Errorf("steady heartbeats: wrote %v, want nothing", k)
	}
	ended := append(running(as[:7]), exited(as[7:], 0)...)
	beat(ended)
	if k := keys(); !slices.Equal(k, []string{"jobs/" + rankKey(j.ID, 0, 7)}) {
		t.Errorf("one rank ended: wrote %v, want only its rank record", k)
	}
	beat(exited(as, 0))
	var k []string
	for _, r := range g.written() {
		for key, v := range r.Jobs {
			k = append(k, "jobs/"+key)
			if isRankKey(key) && v != nil {
				t.Errorf("job finished: rank record %s written, want it deleted", key)
			}
		}
	}
	if !slices.Contains(k, "jobs/"+j.ID) {
		t.Errorf("every rank ended: wrote %v, want the job's record", k)
	}
	for r := range 8 {
		if r < 7 && !slices.Contains(k, "jobs/"+rankKey(j.ID, 0, r)) {
			t.Errorf("every rank ended: wrote %v, want rank %d's record (deleted: the job record holds the end)", k, r)
		}
	}
	if got, _ := srv.Job(j.ID); got.State != api.JobSucceeded {
		t.Errorf("job %s, want succeeded", got.State)
	}
}

// TestRankEndsSurviveRestart checks that the ranks that ended before a
// restart stay ended (they are not handed out again) and that a finished
// job leaves no rank records behind.
func TestRankEndsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	e.register("n0", "b0")
	j := e.submit(8)
	e.srv.Cycle()
	as := e.heartbeat("n0", "b0")
	e.heartbeat("n0", "b0", running(as)...)
	e.heartbeat("n0", "b0", append(running(as[:5]), exited(as[5:], 0)...)...)
	e.close()

	e2 := newEnv(t, dir)
	got := e2.heartbeat("n0", "b0", running(as[:5])...)
	if len(got) != 5 {
		t.Fatalf("after restart: %d assignments, want the 5 ranks still running", len(got))
	}
	if st := e2.job(j.ID); st.State != api.JobRunning || st.Ranks[7].State != api.RankExited || st.Ranks[7].ExitCode == nil || *st.Ranks[7].ExitCode != 0 {
		t.Fatalf("after restart: %s, rank 7 %+v; want running with rank 7 exited 0", st.State, st.Ranks[7])
	}
	e2.heartbeat("n0", "b0", exited(as, 0)...)
	if st := e2.job(j.ID); st.State != api.JobSucceeded {
		t.Fatalf("job %s, want succeeded", st.State)
	}
	e2.close()
	b, err := state.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var left []string
	if err := b.Load(func(k string, _ []byte) error {
		if isRankKey(k) {
			left = append(left, k)
		}
		return nil
	}, func(string, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("rank records left after the job finished: %v", left)
	}
}

// TestNodeIndex checks the jobs-by-node index against a scan of every
// placed job through placements, preemptions, node losses and ends.
func TestNodeIndex(t *testing.T) {
	e := newEnv(t, "")
	for i := range 4 {
		e.register(fmt.Sprintf("n%d", i), "b")
	}
	check := func(when string) {
		t.Helper()
		s := e.srv
		s.mu.Lock()
		defer s.mu.Unlock()
		want := map[string]map[string][]int{}
		for _, j := range s.placed {
			for r, c := range j.claims {
				if c.Host == pool.NoDomain {
					continue
				}
				node := s.cfg.Pool.Path(c.Host)
				if want[node] == nil {
					want[node] = map[string][]int{}
				}
				want[node][j.ID] = append(want[node][j.ID], r)
			}
		}
		got := map[string]map[string][]int{}
		for node := range s.byNode {
			for _, nj := range s.placedOn(node) {
				if got[node] == nil {
					got[node] = map[string][]int{}
				}
				got[node][nj.j.ID] = nj.ranks
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: index %v, scan %v", when, got, want)
		}
	}
	var jobs []api.Job
	for _, n := range []int{8, 4, 2, 2, 16, 1} {
		jobs = append(jobs, e.submit(n))
	}
	e.srv.Cycle()
	check("placed")
	for i := range 4 {
		n := fmt.Sprintf("n%d", i)
		e.heartbeat(n, "b", running(e.heartbeat(n, "b"))...)
	}
	check("running")
	if _, err := e.c.CancelJob(context.Background(), jobs[1].ID); err != nil {
		t.Fatal(err)
	}
	e.heartbeat("n0", "b")
	e.heartbeat("n1", "b")
	check("cancelled")
	if _, err := e.srv.RemoveNode("n2"); err != nil {
		t.Fatal(err)
	}
	check("node removed")
	e.srv.Cycle()
	check("placed again")
}

// TestHeartbeatWaitsOnlyForItsNode checks that while the batch holding a
// new placement is held, the placed node's heartbeat waits for it (its
// answer lists the placement) and another node's heartbeat does not.
func TestHeartbeatWaitsOnlyForItsNode(t *testing.T) {
	srv, g, _ := newGateEnv(t)
	for _, n := range []string{"n0", "n1"} {
		if _, _, err := srv.Register(api.RegisterRequest{Name: n, BootID: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	j, err := srv.Submit(quick(8).JSON(t))
	if err != nil {
		t.Fatal(err)
	}
	release := g.block()
	cycled := make(chan struct{})
	go func() { srv.Cycle(); close(cycled) }()
	<-g.entered
	srv.mu.Lock()
	placed := srv.jobs[j.ID].Placement
	srv.mu.Unlock()
	if len(placed) == 0 {
		release()
		t.Fatal("the cycle placed nothing")
	}
	on, other := placed[0].Node, "n0"
	if on == "n0" {
		other = "n1"
	}
	beat := func(node string) chan int {
		ch := make(chan int, 1)
		go func() {
			r, err := srv.Heartbeat(node, api.HeartbeatRequest{BootID: "b"})
			if err != nil {
				t.Error(err)
			}
			ch <- len(r.Assignments)
		}()
		return ch
	}
	select {
	case n := <-beat(other):
		if n != 0 {
			t.Errorf("%s: %d assignments, want 0", other, n)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("%s's heartbeat waited for the batch placing a job on %s", other, on)
	}
	mine := beat(on)
	select {
	case n := <-mine:
		t.Errorf("%s's heartbeat answered (%d assignments) while the batch placing its job was held", on, n)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	if n := <-mine; n != 8 {
		t.Errorf("%s: %d assignments, want 8", on, n)
	}
	<-cycled
}
