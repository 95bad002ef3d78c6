// Package torchddp tests the PyTorch DDP example workload, train.py: run as
// three local processes, a run killed mid-way and resumed from its
// checkpoint ends with the weights of a run that never stopped.
package torchddp

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/testbin"
)

const python = "/usr/bin/python3"

// needTorch skips the test where Debian's python3-torch is absent
// (scripts/test.sh installs it).
func needTorch(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs PyTorch processes")
	}
	if out, err := exec.Command(python, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("PyTorch not available (%s -c 'import torch': %v: %s); install Debian's python3-torch (scripts/test.sh does)",
			python, err, strings.TrimSpace(string(out)))
	}
}

// gang is the three ranks of one run, started directly as Qun's agent
// starts them (env:// contract, one process group each).
type gang struct {
	cmds []*exec.Cmd
	logs []string
	done chan error
}

func startGang(t *testing.T, dir, ckpt string, extra ...string) *gang {
	t.Helper()
	port := testbin.FreePort(t, "127.0.0.1")
	g := &gang{done: make(chan error, 3)}
	for r := range 3 {
		args := append([]string{"train.py", "--steps", "60", "--checkpoint-every", "10", "--out", filepath.Join(dir, "weights.json")}, extra...)
		cmd := exec.Command(python, args...)
		cmd.Env = append(os.Environ(), "MASTER_ADDR=127.0.0.1", fmt.Sprintf("MASTER_PORT=%d", port),
			fmt.Sprintf("RANK=%d", r), "WORLD_SIZE=3", "LOCAL_RANK=0", "QUN_CHECKPOINT_DIR="+ckpt)
		logPath := filepath.Join(dir, fmt.Sprintf("rank%d-%d.log", r, time.Now().UnixNano()))
		f, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		g.cmds, g.logs = append(g.cmds, cmd), append(g.logs, logPath)
		go func() { g.done <- cmd.Wait() }()
	}
	t.Cleanup(func() { g.kill() })
	return g
}

func (g *gang) kill() {
	for _, c := range g.cmds {
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}

func (g *gang) output() string {
	var b strings.Builder
	for _, l := range g.logs {
		data, _ := os.ReadFile(l)
		b.Write(data)
	}
	return b.String()
}

// wait waits for the three ranks and fails the test if one failed.
func (g *gang) wait(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for range g.cmds {
		select {
		case err := <-g.done:
			if err != nil {
				t.Fatalf("a rank failed: %v; output:\n%s", err, g.output())
			}
		case <-deadline:
			t.Fatalf("ranks did not finish within %v; output:\n%s", d, g.output())
		}
	}
}

type weights struct {
	Steps     int                  `json:"steps"`
	WorldSize int                  `json:"world_size"`
	Weights   map[string][]float64 `json:"weights"`
	// StartWeights are the weights the run started from.
	StartWeights map[string][]float64 `json:"start_weights"`
}

func readWeights(t *testing.T, path string) weights {
	t.Helper()
	return testbin.ReadJSON[weights](t, path)
}

// maxAbsDiff compares two weight sets of the same shapes.
func maxAbsDiff(t *testing.T, a, b weights) float64 {
	t.Helper()
	if len(a.Weights) != len(b.Weights) || len(a.Weights) == 0 {
		t.Fatalf("weight sets differ in parameters: %d vs %d", len(a.Weights), len(b.Weights))
	}
	d := 0.0
	for k, x := range a.Weights {
		y, ok := b.Weights[k]
		if !ok || len(x) != len(y) {
			t.Fatalf("parameter %s: %d vs %d values", k, len(x), len(y))
		}
		for i := range x {
			d = max(d, math.Abs(x[i]-y[i]))
		}
	}
	return d
}

var checkpointRE = regexp.MustCompile(`^ckpt-(\d{8})\.pt$`)

func latestCheckpoint(dir string) int {
	ents, _ := os.ReadDir(dir)
	best := 0
	for _, e := range ents {
		if m := checkpointRE.FindStringSubmatch(e.Name()); m != nil {
			n, _ := strconv.Atoi(m[1])
			best = max(best, n)
		}
	}
	return best
}

func TestResumedRunEndsWithTheUninterruptedWeights(t *testing.T) {
	needTorch(t)
	straightDir, killedDir := t.TempDir(), t.TempDir()
	straightCkpt, killedCkpt := filepath.Join(straightDir, "ckpt"), filepath.Join(killedDir, "ckpt")

	// Both runs start together; the second is SIGKILLed (every rank, as a
	// crashed job) once it has checkpointed step 20 or later.
	straight := startGang(t, straightDir, straightCkpt)
	killed := startGang(t, killedDir, killedCkpt, "--step-delay", "0.1")
	deadline := time.Now().Add(3 * time.Minute)
	for latestCheckpoint(killedCkpt) < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of step 20 within 3 minutes; output:\n%s", killed.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	killed.kill()
	at := latestCheckpoint(killedCkpt)
	if _, err := os.Stat(filepath.Join(killedDir, "weights.json")); err == nil || at >= 60 {
		t.Fatalf("the killed run finished before it was killed (checkpoint %d); the test proves nothing", at)
	}

	resumed := startGang(t, killedDir, killedCkpt)
	straight.wait(t, 3*time.Minute)
	resumed.wait(t, 3*time.Minute)
	out := resumed.output()
	m := regexp.MustCompile(`\[rank 0\] resumed from step (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the second run did not resume from a checkpoint; output:\n%s", out)
	}
	from, _ := strconv.Atoi(m[1])
	if from < 20 || from >= 60 {
		t.Errorf("resumed from step %d, want a mid-way step ≥ 20", from)
	}
	for r := range 3 {
		if !strings.Contains(out, fmt.Sprintf("[rank %d] resumed from step %d", r, from)) {
			t.Errorf("rank %d did not resume from step %d; output:\n%s", r, from, out)
		}
	}
	a, b := readWeights(t, filepath.Join(straightDir, "weights.json")), readWeights(t, filepath.Join(killedDir, "weights.json"))
	if a.Steps != 60 || b.Steps != 60 || a.WorldSize != 3 || b.WorldSize != 3 {
		t.Errorf("weights files: steps %d and %d, world sizes %d and %d; want 60 and 3", a.Steps, b.Steps, a.WorldSize, b.WorldSize)
	}
	d := maxAbsDiff(t, a, b)
	t.Logf("killed after the checkpoint of step %d, resumed from step %d: max abs weight difference to the uninterrupted run %.3g", at, from, d)
	if d > 1e-6 {
		t.Errorf("max abs weight difference %g > 1e-6", d)
	}
	// The comparison can fail: the weights the resumed run started from
	// (the checkpoint) are far from its final ones.
	start := weights{Weights: b.StartWeights}
	if d := maxAbsDiff(t, start, b); d < 1e-3 {
		t.Errorf("the checkpoint's weights are within %g of the final ones: the comparison cannot tell training states apart", d)
	}
}
