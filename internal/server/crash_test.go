package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
	"github.com/qunhq/qun/internal/job/jobtest"
	"github.com/qunhq/qun/internal/server/fakeagent"
	"github.com/qunhq/qun/internal/testbin"
)

func freePort(t *testing.T) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testbin.FreePort(t, "127.0.0.1")))
}

// serverProc is a qun server child process.
type serverProc struct {
	t                *testing.T
	bin, dir, listen string
	cmd              *exec.Cmd
	starts           int
}

func (p *serverProc) start() {
	p.t.Helper()
	p.starts++
	logf, err := os.OpenFile(filepath.Join(p.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== start %d\n", p.starts)
	p.cmd = exec.Command(p.bin, "server", "--pool", "testdata/pool.yaml", "--data-dir", filepath.Join(p.dir, "data"),
		"--listen", p.listen, "--heartbeat", "50ms", "--node-timeout", "30s")
	p.cmd.Stderr, p.cmd.Stdout = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	c := p.client()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := c.Pool(context.Background()); err == nil {
			return
		}
	}
	p.t.Fatalf("server did not come up; see %s", filepath.Join(p.dir, "server.log"))
}

func (p *serverProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *serverProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

// TestCrashRecovery kills the server with SIGKILL at random points while 200
// jobs are submitted and run on four fake agents, restarting it each time.
// It checks that every acknowledged job is there after each restart, that
// no agent is ever told to run two ranks on one device, that every rank an
// agent ran belongs to a job the server has placed (never one it forgot),
// that the agents end up running exactly what the server has placed, that
// the audit log each kill leaves is intact and holds every acknowledged
// submission, and that every job finally succeeds.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the qun binary")
	}
	dir := t.TempDir()
	p := &serverProc{t: t, bin: testbin.Build(t, "github.com/qunhq/qun/cmd/qun", "qun"), dir: dir, listen: freePort(t)}
	p.start()
	defer func() { p.stop() }()
	c := p.client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	rng := rand.New(rand.NewPCG(1, 2))
	var agents []*fakeagent.Agent
	var wg sync.WaitGroup
	for i := range 4 {
		seed := uint64(i)
		runFor := func(k fakeagent.Key) time.Duration {
			r := rand.New(rand.NewPCG(seed, uint64(k.Rank)+uint64(len(k.JobID))))
			return time.Duration(50+r.IntN(250)) * time.Millisecond
		}
		a := &fakeagent.Agent{Client: c, Name: fmt.Sprintf("n%d", i), BootID: fmt.Sprintf("boot-%d", i),
			Interval: 20 * time.Millisecond, RunFor: runFor, Check: fakeagent.DisjointDevices}
		agents = append(agents, a)
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(ctx) }()
	}

	const total = 200
	var kills []int // kill when this many jobs are acknowledged
	for range 5 {
		kills = append(kills, 10+rng.IntN(total-20))
	}
	slices.Sort(kills)
	var acked []string
	sizes := []int{1, 2, 4, 8, 16}
	for n := 0; len(acked) < total; n++ {
		if len(kills) > 0 && len(acked) >= kills[0] {
			kills = kills[1:]
			// Kill while a burst of submissions is in flight.
			var mu sync.Mutex
			var burst sync.WaitGroup
			for range 4 {
				body := jobSpec(t, sizes[rng.IntN(len(sizes))])
				burst.Add(1)
				go func() {
					defer burst.Done()
					if j, err := c.SubmitJob(ctx, body); err == nil {
						mu.Lock()
						acked = append(acked, j.ID)
						mu.Unlock()
					}
				}()
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			p.kill()
			burst.Wait()
			checkAudited(t, filepath.Join(dir, "data", auth.AuditFile), len(acked))
			p.start()
			checkAcked(t, c, acked)
			continue
		}
		j, err := c.SubmitJob(ctx, jobSpec(t, sizes[n%len(sizes)]))
		if err != nil {
			t.Fatalf("submission %d: %v", n, err)
		}
		acked = append(acked, j.ID)
		time.Sleep(5 * time.Millisecond)
	}
	if p.starts < 6 {
		t.Fatalf("server started %d times, want 6 (5 kills)", p.starts)
	}

	// Wait for every job to finish.
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := c.ListJobs(ctx, api.ListJobsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, j := range l.Jobs {
			if j.State.Terminal() {
				done++
			}
		}
		checkPlacements(t, l.Jobs)
		if done == len(l.Jobs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs finished after 60s", done, len(l.Jobs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkAcked(t, c, acked)

	// Mid-run agreement is checked at the end: agents run nothing, the
	// server has nothing placed, and every rank any agent ever ran
	// belongs to a job that the server knows and that succeeded.
	l, _ := c.ListJobs(ctx, api.ListJobsOptions{})
	byID := map[string]api.Job{}
	for _, j := range l.Jobs {
		byID[j.ID] = j
		if j.State != api.JobSucceeded {
			t.Errorf("job %s: %s (%s), want succeeded", j.ID, j.State, j.Reason)
		}
	}
	for _, a := range agents {
		a.Pause(true)
	}
	for _, a := range agents {
		if err := a.Beat(ctx); err != nil {
			t.Fatal(err)
		}
		if r := a.Running(); len(r) != 0 {
			t.Errorf("agent %s still runs %v", a.Name, r)
		}
		for _, err := range a.Errors() {
			t.Error(err)
		}
		for _, k := range a.Seen() {
			j, ok := byID[k.JobID]
			if !ok || j.Attempt < k.Attempt {
				t.Errorf("agent %s ran %v, which the server does not know", a.Name, k)
			}
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d jobs acknowledged and finished across %d server starts", len(acked), p.starts)
}

func jobSpec(t *testing.T, chips int) []byte {
	return jobtest.Make("crash").Chips("", chips).JSON(t)
}

// checkAcked fails unless every acknowledged job is on the server.
// checkAudited checks the audit log a killed server left: its chain is
// intact, and it holds a successful submission for every acknowledged one
// (each was answered only once its entry was on disk; an entry names no job,
// so the entries are counted).
func checkAudited(t *testing.T, path string, acked int) {
	t.Helper()
	if _, _, err := auth.Verify(path); err != nil {
		t.Fatalf("the audit log after a kill: %v", err)
	}
	submitted := 0
	if err := auth.Scan(path, func(e auth.Entry) error {
		if e.Action == "POST /v1/jobs" && e.Status == 201 {
			submitted++
		}
		return nil
	}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if submitted < acked {
		t.Fatalf("the audit log after a kill holds %d successful submissions, %d were acknowledged", submitted, acked)
	}
}

func checkAcked(t *testing.T, c *api.Client, acked []string) {
	t.Helper()
	l, err := c.ListJobs(context.Background(), api.ListJobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, j := range l.Jobs {
		have[j.ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged job %s is missing", id)
		}
	}
	checkPlacements(t, l.Jobs)
}

// checkPlacements fails if two placed jobs share a device.
func checkPlacements(t *testing.T, jobs []api.Job) {
	t.Helper()
	used := map[string]string{}
	for _, j := range jobs {
		holds := j.State == api.JobStarting || j.State == api.JobRunning || j.State == api.JobStopping
		if !holds {
			continue
		}
		if len(j.Placement) == 0 {
			t.Fatalf("job %s is %s without a placement", j.ID, j.State)
		}
		for _, p := range j.Placement {
			for _, d := range p.Devices {
				k := fmt.Sprintf("%s/%d", p.Node, d)
				if o, ok := used[k]; ok {
					t.Fatalf("device %s is held by %s and %s", k, o, j.ID)
				}
				used[k] = j.ID
			}
		}
	}
}
