package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/server"
)

const streamPool = `apiVersion: qun/v1
kind: Pool
name: one-node
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 5}
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
templates:
  box: {level: node, cpuMilli: 64000, memoryMiB: 524288, chips: {kind: H100, count: 2}}
root:
  name: lab
  level: cluster
  children:
    - {template: box, count: 1, name: "n{i}"}
`

// realServer serves a real server on addr (127.0.0.1:0 picks a port) until
// the returned stop is called.
func realServer(t *testing.T, dir, addr string) (string, func()) {
	t.Helper()
	topo, err := pool.Load("pool.yaml", []byte(streamPool), pool.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: dir,
		NodeTimeout: 2 * time.Second, Heartbeat: 100 * time.Millisecond, MinCycleGap: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // the port of a server just stopped may take a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	return ln.Addr().String(), func() { cancel(); <-done }
}

func waitJob(t *testing.T, c *api.Client, id string, want api.JobState) *api.Job {
	t.Helper()
	var j *api.Job
	var err error
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if j, err = c.GetJob(context.Background(), id); err == nil && j.State == want {
			return j
		}
	}
	t.Fatalf("job %s: %+v (%v), want %s", id, j, err, want)
	return nil
}

// An agent on the node stream runs what the server assigns, keeps it
// running across a server restart and stops it when it is cancelled.
func TestAgentOnTheStreamRunsRanksAcrossAServerRestart(t *testing.T) {
	dir := t.TempDir()
	addr, stopServer := realServer(t, filepath.Join(dir, "server"), "127.0.0.1:0")
	c, err := api.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{
		Name: "n0", Address: "127.0.0.1", StateDir: filepath.Join(dir, "agent"), Server: ClientServer{C: c},
		Stream: NewStreamClient(c.Addr()), Shim: []string{exe},
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		LogInterval: 50 * time.Millisecond, PollInterval: 20 * time.Millisecond, HealthInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	j, err := c.SubmitJob(ctx, []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"long","chips":1,"command":["sleep","600"]}`))
	if err != nil {
		t.Fatal(err)
	}
	run := waitJob(t, c, j.ID, api.JobRunning)
	pid := run.Ranks[0].PID

	// The server restarts; the rank goes on and the job stays running.
	stopServer()
	time.Sleep(300 * time.Millisecond)
	_, stopServer = realServer(t, filepath.Join(dir, "server"), addr)
	defer func() { stopServer() }()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		l, err := c.ListNodes(ctx)
		if err == nil && len(l.Nodes) == 1 && l.Nodes[0].State == api.NodeReady && time.Since(l.Nodes[0].LastHeartbeat) < time.Second {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the agent did not come back within 10s: %+v %v", l, err)
		}
	}
	// Rank liveness is soft state: the restarted server learns the pid
	// from the agent's first report on its new stream.
	var after *api.Job
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if after = waitJob(t, c, j.ID, api.JobRunning); after.Ranks[0].PID != 0 {
			break
		}
	}
	if after.Ranks[0].PID != pid || after.Attempt != 0 || len(after.History) != 0 {
		t.Fatalf("after the restart: rank pid %d attempt %d history %v, want pid %d, attempt 0, no history", after.Ranks[0].PID, after.Attempt, after.History, pid)
	}
	// Cancelled: the pushed removal stops it and its exit is reported.
	if _, err := c.CancelJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, j.ID, api.JobCancelled)
	if err := processGone(pid, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func processGone(pid int, d time.Duration) error {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
			return nil
		}
	}
	return fmt.Errorf("rank process %d still runs %v after the cancel", pid, d)
}
