package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/testbin"
)

// TestUpRunsTheExampleJobAndStopsCleanly drives `qun up` as the README
// does: start it, submit examples/jobs/allreduce.yaml, see the job finish
// with the single-process result, start a long job, Ctrl-C, and find
// nothing left running.
func TestUpRunsTheExampleJobAndStopsCleanly(t *testing.T) {
	bin := binaries(t)
	qun := filepath.Join(bin, "qun")
	data := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t, "127.0.0.1"))
	base := "https://" + listen

	up := start(t, "qun-up", nil, qun, "up", "--data-dir", data, "--listen", listen)
	eventually(t, 60*time.Second, "qun up to say it is up", func() (bool, string) {
		select {
		case <-up.done:
			t.Fatalf("qun up exited early:\n%s", up.output())
		default:
		}
		out := up.output()
		return strings.Contains(out, "Qun is up") && strings.Contains(out, base), out
	})
	out := up.output()
	for _, want := range []string{"4 nodes × 8 910B", "qun job submit --server " + base + " examples/jobs/allreduce.yaml", "qun job logs"} {
		if !strings.Contains(out, want) {
			t.Errorf("qun up output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "building") {
		t.Errorf("qun up built the workload although qun-allreduce is next to qun:\n%s", out)
	}
	c := secureClient(t, base, filepath.Join(data, "server"), "")
	t.Setenv("QUN_CONFIG", filepath.Join(data, "client.json")) // the CLI finds the server, CA and token there
	nodes := waitNodes(t, c, 4, 5*time.Second)
	if len(nodes) != 4 {
		t.Errorf("%d nodes, want 4", len(nodes))
	}

	jobFile := filepath.Join(repoRoot, "examples", "jobs", "allreduce.yaml")
	id := submit(t, qun, base, jobFile)
	j := waitJob(t, c, id, 90*time.Second, nil)
	if j.State != api.JobSucceeded {
		t.Fatalf("job %s: %s (%s), want succeeded; rank logs:\n%s", id, j.State, j.Reason, rankLogs(t, c, j))
	}
	if len(j.Placement) != 3 {
		t.Errorf("placement %+v: want 3 ranks", j.Placement)
	}
	got := readModel(t, rankZeroModel(t, j, func(node string) string {
		return filepath.Join(data, "agents", node, "work")
	}))
	if got.WorldSize != 3 {
		t.Errorf("model of world size %d, want 3", got.WorldSize)
	}
	sameModel(t, singleProcessModel(t, bin, jobFile), got)
	if logs, err := c.JobLogs(t.Context(), id, api.LogOptions{Rank: 0, Attempt: -1, Stream: "stderr"}); err != nil || !strings.Contains(string(logs), "training done") {
		t.Errorf("rank 0's stderr through the API (err %v) lacks \"training done\":\n%s", err, logs)
	}

	// Ctrl-C while a job runs: its ranks must stop too.
	long := filepath.Join(t.TempDir(), "long.yaml")
	spec := "apiVersion: qun/v1\nkind: Job\nname: long\nranks: 3\ncommand: [qun-allreduce]\nargs: [--steps, \"100000000\", --log-every, \"0\"]\n"
	if err := os.WriteFile(long, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	longID := submit(t, qun, base, long)
	if j := waitJob(t, c, longID, 60*time.Second, func(j *api.Job) bool {
		return j.State == api.JobRunning || j.State.Terminal()
	}); j.State != api.JobRunning {
		t.Fatalf("job %s: %s (%s), want running", longID, j.State, j.Reason)
	}

	if err := up.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := up.waitExit(t, 60*time.Second); code != 0 {
		t.Errorf("qun up exited %d after Ctrl-C, want 0; output:\n%s", code, up.output())
	}
	// By the data directory only: the binary directory is shared with the
	// other packages of the go test run (internal/testbin), whose processes
	// run from it too. The server, the agents (their state) and the ranks
	// (their working directories) all live under data.
	if left := processesUnder(data); len(left) > 0 {
		t.Errorf("processes left running after qun up stopped:\n%s", strings.Join(left, "\n"))
	}
	if _, err := os.Stat(filepath.Join(data, "pool.yaml")); err != nil {
		t.Errorf("generated pool file: %v", err)
	}
	upLeaksNoSecret(t, data, up) // secure_helpers_test.go
}
