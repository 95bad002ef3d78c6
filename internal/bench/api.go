package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/server"
	"github.com/qunhq/qun/internal/server/fakeagent"
)

// apiPoolYAML is the pool of the API benchmark: four 8-chip nodes.
const apiPoolYAML = `apiVersion: qun/v1
kind: Pool
name: bench-four-nodes
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 5}
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
templates:
  box:
    level: node
    cpuMilli: 64000
    memoryMiB: 524288
    chips: {kind: H100, count: 8}
root:
  name: lab
  level: cluster
  children:
    - {template: box, count: 4, name: "n{i}"}
`

// APIResult is the API benchmark's figures (what `qun bench api -o json`
// prints).
type APIResult struct {
	Cores              int       `json:"cores"`
	Submissions        int       `json:"submissions"`
	Clients            int       `json:"clients"`
	SubmissionsPerSec  float64   `json:"submissions_per_sec"`
	SubmitP50Ms        float64   `json:"submit_p50_ms"`
	SubmitP99Ms        float64   `json:"submit_p99_ms"`
	Gang32Runs         int       `json:"gang32_runs"`
	Gang32SubmitToRun  float64   `json:"gang32_submit_to_running_ms"` // p50
	Gang32AllMs        []float64 `json:"gang32_all_ms"`
	Agents             int       `json:"agents"`
	AgentHeartbeatMs   float64   `json:"agent_heartbeat_ms"`
	DurableFsyncCommit bool      `json:"durable_fsync_commit"`
	Auth               bool      `json:"auth"` // TLS, tokens, node certificates and the audit log (api_secure.go)
	// Commits is the state-file transactions (one fsync each) written
	// while the submissions ran, RecordsPerCommit their mean size (group
	// commit) and CommitMeanMs their mean duration.
	// CPUPerSubmissionUs is the process's CPU time (user and system: the
	// server, the clients and the agents) over the submissions phase, per
	// submission, and CPUCores that time over the phase's wall time.
	CPUPerSubmissionUs float64 `json:"cpu_per_submission_us"`
	CPUCores           float64 `json:"cpu_cores"`
	Commits            int     `json:"commits"`
	RecordsPerCommit   float64 `json:"records_per_commit"`
	CommitMeanMs       float64 `json:"commit_mean_ms"`
	// AuditCommits is the audit log's batches (one fsync each) in the
	// same time, AuditRecordsPerCommit their mean size; zero without
	// authentication.
	AuditCommits          int     `json:"audit_commits"`
	AuditRecordsPerCommit float64 `json:"audit_records_per_commit"`
}

// benchServer is an in-process server with four fake agents.
type benchServer struct {
	c      *api.Client
	base   string      // the server's URL
	tls    *tls.Config // trusts the server's CA; nil without authentication
	token  string      // the submitters' token; "" without authentication
	addr   string
	srv    *server.Server
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
	dir    string
}

func startBenchServer(ctx context.Context, beat time.Duration, secure bool) (*benchServer, error) {
	topo, err := pool.Load("bench-pool.yaml", []byte(apiPoolYAML), pool.DefaultCatalog())
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "qun-bench-api-")
	if err != nil {
		return nil, err
	}
	cfg := server.Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: dir,
		Heartbeat: beat, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var sec *benchAuth
	if secure {
		if sec, err = openBenchAuth(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		cfg.Auth = sec.a
	}
	srv, err := server.New(cfg)
	if err != nil {
		sec.close()
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &benchServer{cancel: cancel, done: make(chan struct{}), dir: dir}
	go func() {
		defer close(b.done)
		srv.Serve(ctx, ln)
		sec.close()
	}()
	names := []string{"n0", "n1", "n2", "n3"}
	b.addr, b.srv = ln.Addr().String(), srv
	b.c, _ = api.NewClient(b.addr)
	agents := map[string]*api.Client{}
	for _, n := range names {
		agents[n] = b.c
	}
	b.base = "http://" + b.addr
	if secure {
		b.base, b.tls = "https://"+b.addr, sec.roots
		if b.token, agents, err = sec.clients(ctx, b.base, names); err != nil {
			b.stop()
			return nil, err
		}
		if b.c, err = api.NewClient(b.base, api.WithToken(b.token), api.WithTLS(b.tls)); err != nil {
			b.stop()
			return nil, err
		}
	}
	for i, name := range names {
		a := &fakeagent.Agent{Client: agents[name], Name: name, BootID: fmt.Sprintf("bench-%d", i), Interval: beat}
		b.wg.Add(1)
		go func() { defer b.wg.Done(); a.Run(ctx) }()
	}
	return b, nil
}

func (b *benchServer) stop() {
	b.cancel()
	b.wg.Wait()
	<-b.done
	os.RemoveAll(b.dir)
}

// API runs the API benchmark: an in-process server on 127.0.0.1 with a
// temporary data directory and four in-process fake agents (8 chips each)
// heartbeating every beat; n job submissions from clients concurrent
// clients, each acknowledged only once on disk; then runs times, on a
// fresh server, the time from submitting a 32-rank job to seeing it
// running.
func API(ctx context.Context, n, clients, runs int, beat time.Duration, steps Steps) (*APIResult, error) {
	return APIWith(ctx, APIOptions{Submissions: n, Clients: clients, Runs: runs, Heartbeat: beat}, steps)
}

// APIOptions is what APIWith measures.
type APIOptions struct {
	Submissions, Clients, Runs int
	Heartbeat                  time.Duration
	Secure                     bool      // authentication on (TLS, tokens, audit)
	Profile                    io.Writer // if set, a CPU profile of the submissions phase only
	Trace                      io.Writer // if set, an execution trace of the submissions phase only
	MemProfile                 io.Writer // if set, the allocations of the submissions phase
}

// APIWith is API with the options o.
func APIWith(ctx context.Context, o APIOptions, steps Steps) (*APIResult, error) {
	n, clients, runs, beat, secure := o.Submissions, o.Clients, o.Runs, o.Heartbeat, o.Secure
	if n < 1 || clients < 1 || runs < 1 || beat <= 0 {
		return nil, fmt.Errorf("submissions, clients, runs and heartbeat must be positive")
	}
	res := newAPIResult(o)

	b, err := startBenchServer(ctx, beat, secure)
	if err != nil {
		return nil, err
	}
	subs, err := b.submitters(ctx, clients) // api_client.go
	if err != nil {
		b.stop()
		return nil, err
	}
	defer closeAll(subs)
	before := b.srv.CommitStats()
	if o.Profile != nil {
		if err := pprof.StartCPUProfile(o.Profile); err != nil {
			b.stop()
			return nil, err
		}
	}
	if o.Trace != nil {
		if err := trace.Start(o.Trace); err != nil {
			b.stop()
			return nil, err
		}
	}
	if o.MemProfile != nil {
		runtime.MemProfileRate = 64 << 10
		runtime.GC()
		// The profile counts from the program's start; the submissions
		// dominate it (the setup allocates little).
	}
	ph, err := submitPhase(subs, n, steps)
	if o.Profile != nil {
		pprof.StopCPUProfile()
	}
	if o.Trace != nil {
		trace.Stop()
	}
	if o.MemProfile != nil {
		if err := pprof.Lookup("allocs").WriteTo(o.MemProfile, 0); err != nil {
			b.stop()
			return nil, err
		}
	}
	if err != nil {
		b.stop()
		return nil, err
	}
	ph.fill(res)
	res.commits(before, b.srv.CommitStats())
	b.stop()
	if res.Gang32AllMs, err = gangRuns(ctx, beat, secure, runs, steps); err != nil {
		return nil, err
	}
	res.Gang32SubmitToRun = median(res.Gang32AllMs)
	return res, nil
}

// newAPIResult is the result of a run with options o, before its figures.
func newAPIResult(o APIOptions) *APIResult {
	return &APIResult{Cores: runtime.NumCPU(), Submissions: o.Submissions, Clients: o.Clients, Gang32Runs: o.Runs,
		Agents: 4, AgentHeartbeatMs: float64(o.Heartbeat) / 1e6, DurableFsyncCommit: true, Auth: o.Secure}
}

// commits sets the group-commit figures from the server's counts before
// and after the submissions.
func (r *APIResult) commits(before, after server.CommitStats) {
	if r.Commits = int(after.Batches - before.Batches); r.Commits > 0 {
		r.RecordsPerCommit = float64(after.Records-before.Records) / float64(r.Commits)
		r.CommitMeanMs = ms(after.Time-before.Time) / float64(r.Commits)
	}
	if r.AuditCommits = int(after.Audit.Batches - before.Audit.Batches); r.AuditCommits > 0 {
		r.AuditRecordsPerCommit = float64(after.Audit.Entries-before.Audit.Entries) / float64(r.AuditCommits)
	}
}

// benchSpec is the submitted job: one chip, so the pool fills at once and
// the queue grows.
var benchSpec = []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"bench","chips":1,"command":["sleep","3600"]}`)

// phase is what one run of submissions measured.
type phase struct {
	n       int
	elapsed time.Duration
	cpu     time.Duration   // the process's, user and system
	lat     []time.Duration // sorted
}

func (p phase) fill(r *APIResult) {
	r.SubmissionsPerSec = float64(p.n) / p.elapsed.Seconds()
	r.CPUPerSubmissionUs = float64(p.cpu.Microseconds()) / float64(p.n)
	r.CPUCores = p.cpu.Seconds() / p.elapsed.Seconds()
	r.SubmitP50Ms = ms(p.lat[p.n/2])
	r.SubmitP99Ms = ms(p.lat[min(p.n-1, p.n*99/100)])
}

// submitPhase sends n submissions from the clients, each answered once
// durable.
func submitPhase(subs []*submitConn, n int, steps Steps) (phase, error) {
	var next, done atomic.Int64
	lat := make([]time.Duration, n)
	errc := make(chan error, len(subs))
	cpu0 := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for _, sc := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if _, err := sc.submit(benchSpec); err != nil {
					errc <- err
					return
				}
				lat[i] = time.Since(t0)
				steps.step("bench api: submissions", int(done.Add(1)), n)
			}
		}()
	}
	wg.Wait()
	p := phase{n: n, elapsed: time.Since(start), cpu: processCPU() - cpu0, lat: lat}
	select {
	case err := <-errc:
		return p, fmt.Errorf("submission: %w", err)
	default:
	}
	slices.Sort(lat)
	return p, nil
}

// gangRuns times runs 32-rank gangs on a fresh server, from submission to
// running, each cancelled before the next.
func gangRuns(ctx context.Context, beat time.Duration, secure bool, runs int, steps Steps) ([]float64, error) {
	b, err := startBenchServer(ctx, beat, secure)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	if err := waitNodes(ctx, b.c, 4); err != nil {
		return nil, err
	}
	gang := []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"gang32","ranks":32,"chipsPerRank":1,"command":["sleep","3600"]}`)
	var all []float64
	for i := range runs {
		steps.step("bench api: 32-rank gangs", i, runs)
		t0 := time.Now()
		j, err := b.c.SubmitJob(ctx, gang)
		if err != nil {
			return nil, err
		}
		if err := waitState(ctx, b.c, j.ID, func(s api.JobState) bool { return s == api.JobRunning }); err != nil {
			return nil, err
		}
		all = append(all, ms(time.Since(t0)))
		if _, err := b.c.CancelJob(ctx, j.ID); err != nil {
			return nil, err
		}
		if err := waitState(ctx, b.c, j.ID, api.JobState.Terminal); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func waitNodes(ctx context.Context, c *api.Client, want int) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		l, err := c.ListNodes(ctx)
		if err == nil && len(l.Nodes) == want {
			return nil
		}
	}
	return errors.New("the fake agents did not register within 10s")
}

func waitState(ctx context.Context, c *api.Client, id string, ok func(api.JobState) bool) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		j, err := c.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if ok(j.State) {
			return nil
		}
	}
	return fmt.Errorf("job %s did not reach the wanted state within 30s", id)
}
