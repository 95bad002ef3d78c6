package main

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/testbin"
)

// The tests below run the program as real processes, as Qun's agent would.

// buildBinary builds the program once per `go test` run (internal/testbin).
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	return testbin.Build(t, "github.com/qunhq/qun/examples/workloads/allreduce", "qun-allreduce")
}

// proc is one running rank.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	seen chan string // every log line, for waiting on progress
	done chan struct{}
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// exitCode waits for the process and returns its exit code.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	<-p.done
	err := p.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", err)
	return -1
}

// startJob starts world ranks of the program on 127.0.0.1.
func startJob(t *testing.T, ctx context.Context, world int, args ...string) []*proc {
	t.Helper()
	bin := buildBinary(t)
	port := testbin.FreePort(t, "127.0.0.1")
	var ps []*proc
	for r := range world {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(),
			"RANK="+strconv.Itoa(r), "WORLD_SIZE="+strconv.Itoa(world), "LOCAL_RANK="+strconv.Itoa(r),
			"MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port), "QUN_CHECKPOINT_DIR=")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, seen: make(chan string, 1<<16), done: make(chan struct{})}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(p.done)
			defer close(p.seen)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				p.mu.Lock()
				p.log.WriteString(sc.Text() + "\n")
				p.mu.Unlock()
				select {
				case p.seen <- sc.Text():
				default:
				}
			}
		}()
		ps = append(ps, p)
	}
	return ps
}

// runJob runs world ranks to the end and requires exit code 0 from each.
func runJob(t *testing.T, world int, args ...string) []*proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	ps := startJob(t, ctx, world, args...)
	for r, p := range ps {
		if code := p.exitCode(t); code != 0 {
			t.Fatalf("rank %d exited %d; log:\n%s", r, code, p.logs())
		}
	}
	return ps
}

func readModel(t *testing.T, path string) finalModel {
	t.Helper()
	return testbin.ReadJSON[finalModel](t, path)
}

// sameModel requires got to match want up to floating-point summation
// order: each weight within 1e-9 relative (floor 1e-9 absolute). Observed
// differences are around 1e-15; a wrong shard or a missing rank moves the
// weights by 1e-3 or more.
func sameModel(t *testing.T, want, got finalModel) {
	t.Helper()
	if len(got.Weights) != len(want.Weights) || len(want.Weights) == 0 {
		t.Fatalf("weights: got %d, want %d", len(got.Weights), len(want.Weights))
	}
	worst := 0.0
	for i := range want.Weights {
		d := math.Abs(got.Weights[i]-want.Weights[i]) / math.Max(1, math.Abs(want.Weights[i]))
		worst = math.Max(worst, d)
	}
	if worst > 1e-9 {
		t.Errorf("weights differ by up to %.3g (relative):\nwant %v\ngot  %v", worst, want.Weights, got.Weights)
	}
	if d := math.Abs(got.FinalLoss - want.FinalLoss); d > 1e-9*math.Max(1, want.FinalLoss) {
		t.Errorf("final loss %v, want %v", got.FinalLoss, want.FinalLoss)
	}
	t.Logf("max relative weight difference %.3g", worst)
}

var common = []string{"--samples", "3001", "--features", "6", "--seed", "7", "--log-every", "0"}

func withArgs(extra ...string) []string { return append(append([]string(nil), common...), extra...) }

func TestDistributedMatchesSingleProcess(t *testing.T) {
	dir := t.TempDir()
	single, multi := filepath.Join(dir, "single.json"), filepath.Join(dir, "multi.json")
	runJob(t, 1, withArgs("--steps", "200", "--out", single)...)
	ps := runJob(t, 3, withArgs("--steps", "200", "--out", multi)...)
	want, got := readModel(t, single), readModel(t, multi)
	if got.WorldSize != 3 || want.WorldSize != 1 || got.Steps != 200 {
		t.Errorf("world sizes %d/%d, steps %d", want.WorldSize, got.WorldSize, got.Steps)
	}
	sameModel(t, want, got)
	if !strings.Contains(ps[0].logs(), "wrote final model") {
		t.Errorf("rank 0 did not log the final model:\n%s", ps[0].logs())
	}
	// The model learned something: it starts at zero weights, where the loss
	// is log 2.
	if got.FinalLoss > 0.8*math.Ln2 {
		t.Errorf("final loss %v: not trained", got.FinalLoss)
	}
}

var resumedRE = regexp.MustCompile(`resumed from step (\d+)`)

func resumedFrom(t *testing.T, ps []*proc) int {
	t.Helper()
	step := -1
	for r, p := range ps {
		m := resumedRE.FindStringSubmatch(p.logs())
		if m == nil {
			t.Fatalf("rank %d did not resume; log:\n%s", r, p.logs())
		}
		n, _ := strconv.Atoi(m[1])
		if step >= 0 && n != step {
			t.Fatalf("ranks resumed from different steps: %d and %d", step, n)
		}
		step = n
	}
	return step
}

func TestResumeFromCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt")
	single, out := filepath.Join(dir, "single.json"), filepath.Join(dir, "resumed.json")
	runJob(t, 1, withArgs("--steps", "200", "--out", single)...)

	runJob(t, 3, withArgs("--steps", "100", "--checkpoint-every", "30", "--checkpoint-dir", ckpt)...)
	// Rank 2 lost its newest checkpoint: the ranks must agree on step 90.
	if err := os.Remove(checkpointPath(ckpt, 2, 100)); err != nil {
		t.Fatal(err)
	}
	ps := runJob(t, 3, withArgs("--steps", "200", "--checkpoint-every", "30", "--checkpoint-dir", ckpt, "--out", out)...)
	if step := resumedFrom(t, ps); step != 90 {
		t.Errorf("resumed from step %d, want 90 (latest common checkpoint)", step)
	}
	got := readModel(t, out)
	if got.ResumedFrom != 90 || got.Steps != 200 {
		t.Errorf("model says resumed from %d, steps %d", got.ResumedFrom, got.Steps)
	}
	sameModel(t, readModel(t, single), got)
}

// TestSIGTERMStopsAllRanksAtOneStep signals one rank of a long run: every
// rank stops after the same step, checkpoints it and exits 143; a restart
// resumes there and matches an uninterrupted single-process run.
func TestSIGTERMStopsAllRanksAtOneStep(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "ckpt")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	ps := startJob(t, ctx, 3, withArgs("--steps", "100000000", "--checkpoint-every", "0", "--checkpoint-dir", ckpt)...)
	// Wait until the ring trains, then stop rank 1 only.
	for line := range ps[0].seen {
		if strings.Contains(line, "ring formed") {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	if err := ps[1].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopRE := regexp.MustCompile(`stopped on request.* step=(\d+)`)
	stopped := -1
	for r, p := range ps {
		if code := p.exitCode(t); code != 143 {
			t.Fatalf("rank %d exited %d, want 143; log:\n%s", r, code, p.logs())
		}
		m := stopRE.FindStringSubmatch(p.logs())
		if m == nil {
			t.Fatalf("rank %d did not log its stop:\n%s", r, p.logs())
		}
		n, _ := strconv.Atoi(m[1])
		if stopped >= 0 && n != stopped {
			t.Fatalf("ranks stopped at steps %d and %d", stopped, n)
		}
		stopped = n
		if _, err := os.Stat(checkpointPath(ckpt, r, n)); err != nil {
			t.Errorf("rank %d: no checkpoint for step %d: %v", r, n, err)
		}
	}
	if stopped < 1 {
		t.Fatalf("stopped at step %d", stopped)
	}
	total := strconv.Itoa(stopped + 25)
	single, out := filepath.Join(dir, "single.json"), filepath.Join(dir, "resumed.json")
	runJob(t, 1, withArgs("--steps", total, "--out", single)...)
	ps = runJob(t, 3, withArgs("--steps", total, "--checkpoint-dir", ckpt, "--out", out)...)
	if step := resumedFrom(t, ps); step != stopped {
		t.Errorf("resumed from step %d, want %d", step, stopped)
	}
	sameModel(t, readModel(t, single), readModel(t, out))
	t.Logf("stopped at step %d, resumed and finished at %s", stopped, total)
}

func TestRendezvousTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bin := buildBinary(t)
	cmd := exec.CommandContext(ctx, bin, withArgs("--rendezvous-timeout", "1s")...)
	cmd.Env = append(os.Environ(), "RANK=0", "WORLD_SIZE=3", "MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(testbin.FreePort(t, "127.0.0.1")))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "ranks 1,2 did not register") {
		t.Errorf("want exit 1 naming the missing ranks, got %v:\n%s", err, out)
	}
}

func TestParseConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := parseConfig(nil, env("QUN_CHECKPOINT_DIR", "/ck"), &strings.Builder{})
	if err != nil || c.world != 1 || c.steps != 200 || c.ckptDir != "/ck" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	bad := map[string]struct {
		args []string
		env  func(string) string
		want string
	}{
		"rank too big": {nil, env("RANK", "3", "WORLD_SIZE", "3", "MASTER_ADDR", "h", "MASTER_PORT", "1"), "RANK=3"},
		"no master":    {nil, env("RANK", "1", "WORLD_SIZE", "3"), "MASTER_ADDR"},
		"bad port":     {nil, env("RANK", "1", "WORLD_SIZE", "3", "MASTER_ADDR", "h", "MASTER_PORT", "x"), "MASTER_PORT"},
		"bad world":    {nil, env("WORLD_SIZE", "0"), "WORLD_SIZE"},
		"bad steps":    {[]string{"--steps", "-1"}, env(), "--steps"},
		"extra arg":    {[]string{"train"}, env(), "unexpected"},
	}
	for name, c := range bad {
		_, err := parseConfig(c.args, c.env, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}
