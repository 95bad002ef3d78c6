package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/testbin"
)

// repoRoot is the module root, relative to this package's directory.
const repoRoot = "../.."

// binaries builds qun and the example workload (as qun-allreduce, the name
// the example job runs) once per `go test` run (internal/testbin) and
// returns their directory.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds binaries and runs processes")
	}
	qun := testbin.Build(t, "github.com/qunhq/qun/cmd/qun", "qun")
	if ar := testbin.Build(t, "github.com/qunhq/qun/examples/workloads/allreduce", "qun-allreduce"); filepath.Dir(ar) != filepath.Dir(qun) {
		t.Fatalf("testbin put qun and qun-allreduce in different directories")
	}
	return filepath.Dir(qun)
}

// proc is a child process of the test, in a process group of its own, its
// output in a file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs argv with env (nil: the test's) and registers a cleanup that
// stops it (SIGTERM, then SIGKILL to its group after 20 s).
func start(t *testing.T, name string, env []string, argv ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		// Gracefully first: an agent stops its ranks, which live in
		// process groups of their own.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitExit waits up to d for the process and returns its exit code.
func (p *proc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v; output:\n%s", p.name, d, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// eventually polls cond every 100 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last seen: %s", d, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitNodes waits until n nodes are ready and returns them.
func waitNodes(t *testing.T, c *api.Client, n int, d time.Duration) []api.Node {
	t.Helper()
	var nodes []api.Node
	eventually(t, d, fmt.Sprintf("%d ready nodes", n), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l, err := c.ListNodes(ctx)
		if err != nil {
			return false, err.Error()
		}
		nodes = l.Nodes
		ready := 0
		for _, x := range l.Nodes {
			if x.State == api.NodeReady {
				ready++
			}
		}
		return ready >= n, fmt.Sprintf("%d of %d ready", ready, n)
	})
	return nodes
}

// submit submits a job file with the qun CLI and returns the job ID.
func submit(t *testing.T, qun, server, file string, extraEnv ...string) string {
	t.Helper()
	cmd := exec.Command(qun, "job", "submit", "--server", server, file)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("qun job submit: %v\n%s", err, out)
	}
	id, _, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || !strings.HasPrefix(id, "j-") {
		t.Fatalf("qun job submit printed %q; want the job ID first", out)
	}
	return id
}

// waitJob waits until the job is terminal (or done says so) and returns it.
func waitJob(t *testing.T, c *api.Client, id string, d time.Duration, done func(*api.Job) bool) *api.Job {
	t.Helper()
	if done == nil {
		done = func(j *api.Job) bool { return j.State.Terminal() }
	}
	var j *api.Job
	eventually(t, d, "job "+id, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		got, err := c.GetJob(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		j = got
		return done(j), fmt.Sprintf("state %s (%s)", j.State, j.Reason)
	})
	return j
}

// jobArgs returns the command and arguments of a job file: the test runs
// the same program the job runs, as a single process.
func jobArgs(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cmd, args []string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "command: "); ok {
			cmd = yamlList(t, v)
		}
		if v, ok := strings.CutPrefix(line, "args: "); ok {
			args = yamlList(t, v)
		}
	}
	if len(cmd) == 0 {
		t.Fatalf("%s: no command line", file)
	}
	return append(cmd, args...)
}

// yamlList reads a flow list of plain or double-quoted strings.
func yamlList(t *testing.T, v string) []string {
	t.Helper()
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "[") || !strings.HasSuffix(v, "]") {
		t.Fatalf("want a [flow, list], got %q", v)
	}
	var out []string
	for _, s := range strings.Split(v[1:len(v)-1], ",") {
		s = strings.TrimSpace(s)
		if u, err := strconv.Unquote(s); err == nil {
			s = u
		}
		out = append(out, s)
	}
	return out
}

// model is the part of the workload's final model the tests compare.
type model struct {
	Weights   []float64 `json:"weights"`
	FinalLoss float64   `json:"final_loss"`
	WorldSize int       `json:"world_size"`
}

func readModel(t *testing.T, path string) model {
	t.Helper()
	return testbin.ReadJSON[model](t, path)
}

// singleProcessModel runs the job's command as one process (no RANK or
// WORLD_SIZE) with binDir first in PATH and returns its model.
func singleProcessModel(t *testing.T, binDir, jobFile string) model {
	t.Helper()
	argv := jobArgs(t, jobFile)
	dir := t.TempDir()
	cmd := exec.Command(filepath.Join(binDir, argv[0]), argv[1:]...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "QUN_CHECKPOINT_DIR":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("single-process run %v: %v\n%s", argv, err, stderr.String())
	}
	outFile := "model.json"
	for i, a := range argv {
		if a == "--out" && i+1 < len(argv) {
			outFile = argv[i+1]
		}
	}
	return readModel(t, filepath.Join(dir, outFile))
}

// sameModel requires got to equal want up to the order of floating-point
// additions: the tolerance of the workload's own tests (1e-9 relative).
func sameModel(t *testing.T, want, got model) {
	t.Helper()
	if len(want.Weights) == 0 || len(got.Weights) != len(want.Weights) {
		t.Fatalf("weights: got %d, want %d", len(got.Weights), len(want.Weights))
	}
	worst := 0.0
	for i := range want.Weights {
		worst = math.Max(worst, math.Abs(got.Weights[i]-want.Weights[i])/math.Max(1, math.Abs(want.Weights[i])))
	}
	if worst > 1e-9 {
		t.Errorf("weights differ by up to %.3g (relative):\nwant %v\ngot  %v", worst, want.Weights, got.Weights)
	}
	if d := math.Abs(got.FinalLoss - want.FinalLoss); d > 1e-9*math.Max(1, want.FinalLoss) {
		t.Errorf("final loss %v, want %v", got.FinalLoss, want.FinalLoss)
	}
	t.Logf("distributed model matches the single-process one (max relative weight difference %.3g)", worst)
}

// rankZeroModel is where rank 0 of a job wrote --out model.json: its rank
// directory under the work directory of the agent that ran it.
func rankZeroModel(t *testing.T, j *api.Job, workDir func(node string) string) string {
	t.Helper()
	for _, p := range j.Placement {
		if p.Rank == 0 {
			return filepath.Join(workDir(p.Node), j.ID, strconv.Itoa(j.Attempt), "0", "model.json")
		}
	}
	t.Fatalf("job %s has no rank 0 in its placement %+v", j.ID, j.Placement)
	return ""
}

// processesUnder returns the live processes whose command line, executable
// or working directory is in one of dirs.
func processesUnder(dirs ...string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		hit := false
		for _, d := range dirs {
			hit = hit || bytes.Contains(b, []byte(d)) || strings.HasPrefix(exe, d) || strings.HasPrefix(cwd, d)
		}
		if !hit {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
			continue // a zombie is not running
		}
		out = append(out, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(bytes.TrimRight(b, "\x00"), []byte{0}, []byte{' '})))
	}
	return out
}

// rankLogs returns every rank's stderr, for failure messages.
func rankLogs(t *testing.T, c *api.Client, j *api.Job) string {
	t.Helper()
	var b strings.Builder
	for _, p := range j.Placement {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		logs, err := c.JobLogs(ctx, j.ID, api.LogOptions{Rank: p.Rank, Attempt: j.Attempt, Stream: "stderr"})
		cancel()
		fmt.Fprintf(&b, "--- rank %d on %s (err %v):\n%s\n", p.Rank, p.Node, err, logs)
	}
	return b.String()
}
