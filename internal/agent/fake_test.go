package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
)

// TestMain lets the test binary act as the rank shim, as `qun agent
// rank-shim` does for the real agent.
func TestMain(m *testing.M) {
	if os.Getenv(StatusFileEnv) != "" {
		os.Exit(RunShim(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// fakeServer is an in-memory Server: the test sets the assignments and
// reads what the agent reported and uploaded.
type fakeServer struct {
	mu        sync.Mutex
	asg       []api.Assignment
	regs      []api.RegisterRequest
	beats     []api.HeartbeatRequest
	logs      map[string][]byte // "job/attempt/rank/stream"
	failBeats int               // answer this many heartbeats with not_found
	changed   chan struct{}
}

var _ Server = (*fakeServer)(nil)

func newFakeServer() *fakeServer {
	return &fakeServer{logs: map[string][]byte{}, changed: make(chan struct{}, 1)}
}

func (f *fakeServer) notify() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeServer) Register(_ context.Context, req api.RegisterRequest) (*api.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs = append(f.regs, req)
	return &api.Node{Name: req.Name, BootID: req.BootID, State: api.NodeReady, Devices: req.Devices}, nil
}

func (f *fakeServer) Heartbeat(_ context.Context, node string, req api.HeartbeatRequest) (*api.HeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.notify()
	if f.failBeats > 0 {
		f.failBeats--
		return nil, &api.Error{Code: api.CodeNotFound, Message: "node " + node + " is not registered"}
	}
	f.beats = append(f.beats, req)
	return &api.HeartbeatResponse{Assignments: append([]api.Assignment(nil), f.asg...), HeartbeatInterval: api.Duration(40 * time.Millisecond)}, nil
}

func (f *fakeServer) AppendLog(_ context.Context, jobID string, attempt, rank int, stream string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fmt.Sprintf("%s/%d/%d/%s", jobID, attempt, rank, stream)
	f.logs[k] = append(f.logs[k], data...)
	return nil
}

func (f *fakeServer) setAssignments(asg ...api.Assignment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asg = asg
}

func (f *fakeServer) log(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.logs[key])
}

// lastReport returns the latest report of a rank and whether the latest
// heartbeat carried it at all.
func (f *fakeServer) lastReport(job string, attempt, rank int) (api.RankReport, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.beats) == 0 {
		return api.RankReport{}, false
	}
	for _, r := range f.beats[len(f.beats)-1].Ranks {
		if r.JobID == job && r.Attempt == attempt && r.Rank == rank {
			return r, true
		}
	}
	return api.RankReport{}, false
}

// waitFor polls cond after every heartbeat until it holds or d passes.
func (f *fakeServer) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-f.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

// waitExit waits until the rank is reported exited and returns the report.
func (f *fakeServer) waitExit(t *testing.T, job string, attempt, rank int) api.RankReport {
	t.Helper()
	var rep api.RankReport
	f.waitFor(t, 20*time.Second, fmt.Sprintf("rank %s/%d/%d to exit", job, attempt, rank), func() bool {
		r, ok := f.lastReport(job, attempt, rank)
		rep = r
		return ok && r.State == api.RankExited
	})
	return rep
}

// runAgent starts an agent on srv in the background; the returned function
// stops it and waits for Run to return.
func runAgent(t *testing.T, srv Server, stateDir string) (*Agent, func()) {
	t.Helper()
	return runAgentWith(t, srv, Config{StateDir: stateDir})
}

// runAgentWith is runAgent with more of the agent's configuration: it sets
// the name, address, server, shim, logger and the tests' short intervals.
func runAgentWith(t *testing.T, srv Server, cfg Config) (*Agent, func()) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.Address, cfg.Server, cfg.Shim = "n0", "127.0.0.1", srv, []string{exe}
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	cfg.DefaultInterval, cfg.LogInterval, cfg.PollInterval = 40*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// testWriter sends the agent's log to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

func shell(job string, rank int, script string) api.Assignment {
	return api.Assignment{
		JobID: job, Rank: rank, Command: []string{"/bin/sh", "-c", script},
		Env: map[string]string{"RANK": fmt.Sprint(rank)}, Grace: api.Duration(2 * time.Second),
	}
}
