package ha_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
	"github.com/qunhq/qun/internal/bench"
	"github.com/qunhq/qun/internal/etcdlocal"
	"github.com/qunhq/qun/internal/ha"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/server"
	"github.com/qunhq/qun/internal/server/fakeagent"
	"github.com/qunhq/qun/internal/state"
)

// The chaos test runs three server processes: this test binary again,
// told by QUN_CHAOS_SERVER to be a cluster member (serveChaosMember)
// instead of running tests. The member runs ha.Run exactly as `qun server
// --etcd` does; the only difference is the planted-bug hook, which exists
// only here, in a _test.go file.
func TestMain(m *testing.M) {
	if os.Getenv("QUN_CHAOS_SERVER") != "" {
		if err := serveChaosMember(); err != nil {
			fmt.Fprintln(os.Stderr, "chaos member:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const chaosPool = `apiVersion: qun/v1
kind: Pool
name: chaos
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 5}
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
root:
  name: lab
  level: cluster
  children:
    - {level: node, name: "n{i}", count: 6, cpuMilli: 64000, memoryMiB: 524288, chips: {kind: H100, count: 8}}
`

func serveChaosMember() error {
	env := func(k string) string { return os.Getenv("QUN_CHAOS_" + k) }
	topo, err := pool.Load("chaos", []byte(chaosPool), pool.DefaultCatalog())
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := ha.Config{Endpoints: strings.Split(env("ETCD"), ","), Advertise: env("ADVERTISE"), TTL: 2 * time.Second, Logger: log,
		Server: server.Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: env("DATA"), Logger: log,
			NodeTimeout: 6 * time.Second, Heartbeat: 200 * time.Millisecond, Seed: uint64(time.Now().UnixNano())}}
	if env("PLANT") == "ack-before-commit" {
		cfg.WrapStore = func(s state.Durable) state.Durable { return &ackBeforeCommit{Durable: s} }
	}
	ln, err := net.Listen("tcp", env("LISTEN"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return ha.Run(ctx, cfg, ln)
}

// ackBeforeCommit is the planted bug: every batch of the group commit is
// reported durable at once and written a second later (in order), so a
// leader killed in between has acknowledged submissions that no other
// server will ever see.
type ackBeforeCommit struct {
	state.Durable
	once  sync.Once
	queue chan state.Records
}

func (a *ackBeforeCommit) Commit(r state.Records) error {
	a.once.Do(func() {
		a.queue = make(chan state.Records, 1<<16)
		go func() {
			for r := range a.queue {
				time.Sleep(time.Second)
				a.Durable.Commit(r)
			}
		}()
	})
	a.queue <- r
	return nil
}

// proxy forwards connections to a server and can drop them all at once,
// the "dropped connections" fault.
type proxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	conns   map[net.Conn]bool
}

func startProxy(t *testing.T, backend string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.drop() })
	return p
}

func (p *proxy) serve(c net.Conn) {
	b, err := net.DialTimeout("tcp", p.backend, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[b] = true, true
	p.mu.Unlock()
	go func() { io.Copy(b, c); b.Close() }()
	io.Copy(c, b)
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, b)
	p.mu.Unlock()
}

func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// member is one server process of the chaos cluster.
type member struct {
	env    []string
	dir    string
	listen string
	cmd    *exec.Cmd
	done   chan struct{}
}

func (m *member) start(t *testing.T) {
	logf, err := os.OpenFile(filepath.Join(m.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	m.cmd = exec.Command(os.Args[0], "-test.run=^$")
	m.cmd.Env = append(os.Environ(), m.env...)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func(c *exec.Cmd, d chan struct{}) { c.Wait(); close(d) }(m.cmd, m.done)
}

func (m *member) kill() {
	syscall.Kill(m.cmd.Process.Pid, syscall.SIGCONT)
	syscall.Kill(m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.done
}

func (m *member) running() bool {
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// chaosRun is what one chaos run found.
type chaosRun struct {
	faults map[string]int
	ops    []porcupine.Operation
	linear porcupine.CheckResult
	live   []string
	acked  int
	dir    string
}

// chaosOptions: how long to inject faults, and which bug to plant.
type chaosOptions struct {
	duration time.Duration
	plant    string
	faults   []string // kinds to draw from
	stopOn   func(*chaosRun) bool
}

func runChaos(t *testing.T, o chaosOptions) *chaosRun {
	if !etcdlocal.Available() {
		t.Skip("etcd not installed (scripts/deps.sh installs etcd-server); skipping the chaos test")
	}
	dir := t.TempDir()
	ec, err := etcdlocal.Start(context.Background(), filepath.Join(dir, "etcd"), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ec.Stop)
	run := &chaosRun{faults: map[string]int{}, dir: dir}
	var members []*member
	var proxies []*proxy
	var addrs []string
	for i := range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listen := l.Addr().String()
		l.Close()
		px := startProxy(t, listen)
		d := filepath.Join(dir, fmt.Sprintf("server%d", i))
		os.MkdirAll(d, 0o755)
		m := &member{dir: d, listen: listen, env: []string{"QUN_CHAOS_SERVER=1", "QUN_CHAOS_ETCD=" + strings.Join(ec.Endpoints(), ","),
			"QUN_CHAOS_ADVERTISE=http://" + px.ln.Addr().String(), "QUN_CHAOS_DATA=" + d, "QUN_CHAOS_LISTEN=" + listen, "QUN_CHAOS_PLANT=" + o.plant}}
		m.start(t)
		members = append(members, m)
		proxies = append(proxies, px)
		addrs = append(addrs, "http://"+px.ln.Addr().String())
	}
	t.Cleanup(func() {
		for _, m := range members {
			if m.running() {
				m.kill()
			}
		}
		if t.Failed() {
			t.Logf("server and etcd logs are in %s", dir)
		}
	})
	list := strings.Join(addrs, ",")
	newClient := func() *api.Client {
		c, err := api.NewClient(list, api.WithHTTPClient(&http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{}}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Simulated agents, fenced by epoch, checked for double assignment.
	rec := bench.NewLiveRecorder()
	var agents []*fakeagent.Agent
	var wg sync.WaitGroup
	for i := range 6 {
		seed := uint64(i)
		rng := rand.New(rand.NewPCG(seed, 7))
		var rmu sync.Mutex
		a := &fakeagent.Agent{Client: newClient(), Name: fmt.Sprintf("n%d", i), BootID: fmt.Sprintf("boot-%d", i), Interval: 200 * time.Millisecond,
			Fence: &agent.EpochFence{}, Check: rec.CheckAnswer,
			RunFor: func(fakeagent.Key) time.Duration {
				rmu.Lock()
				defer rmu.Unlock()
				return time.Duration(500+rng.IntN(2500)) * time.Millisecond
			}}
		agents = append(agents, a)
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); rec.Sample(ctx, agents, 50*time.Millisecond) }()

	// Clients: submissions (names are unique), cancellations and reads,
	// every call recorded with its outcome.
	hist := &history{start: time.Now()}
	var cwg sync.WaitGroup
	cctx, stopClients := context.WithCancel(ctx)
	for c := range 4 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			cl := newClient()
			rng := rand.New(rand.NewPCG(uint64(c), 99))
			for n := 0; cctx.Err() == nil; n++ {
				switch x := rng.IntN(10); {
				case x < 6:
					name := fmt.Sprintf("c%d-%d", c, n)
					hist.submit(cctx, cl, c, name, 1+rng.IntN(8))
				case x < 9:
					hist.cancelOne(cctx, cl, c, rng)
				default:
					hist.list(cctx, cl, c)
				}
				time.Sleep(time.Duration(20+rng.IntN(60)) * time.Millisecond)
			}
		}()
	}

	// Faults.
	leader := func() int {
		for i, m := range members {
			if !m.running() {
				continue
			}
			resp, err := http.Get("http://" + m.listen + "/v1/queues")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return i
				}
			}
		}
		return -1
	}
	frng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	end := time.Now().Add(o.duration)
	time.Sleep(3 * time.Second)
	for time.Now().Before(end) {
		if o.stopOn != nil && o.stopOn(run) {
			break
		}
		time.Sleep(time.Duration(500+frng.IntN(2500)) * time.Millisecond)
		kind := o.faults[frng.IntN(len(o.faults))]
		l := leader()
		if l < 0 {
			continue
		}
		run.faults[kind]++
		switch kind {
		case "kill":
			members[l].kill()
			time.Sleep(time.Duration(frng.IntN(2000)) * time.Millisecond)
			members[l].start(t)
		case "pause":
			syscall.Kill(members[l].cmd.Process.Pid, syscall.SIGSTOP)
			time.Sleep(time.Duration(1000+frng.IntN(3000)) * time.Millisecond)
			syscall.Kill(members[l].cmd.Process.Pid, syscall.SIGCONT)
		case "drop":
			for _, p := range proxies {
				p.drop()
			}
		}
		if o.plant != "" {
			// The planted bug loses only what the final read misses.
			run.ops = hist.snapshot()
		}
	}
	stopClients()
	cwg.Wait()
	// Quiesce, then one last read of everything.
	time.Sleep(3 * time.Second)
	final := newClient()
	for i := 0; i < 50; i++ {
		if hist.list(ctx, final, 99) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	run.ops = hist.snapshot()
	run.acked = hist.acked()
	run.linear, _ = porcupine.CheckOperationsVerbose(jobModel, run.ops, 60*time.Second)
	da, ds, _ := rec.Results()
	if da+ds > 0 {
		run.live = rec.Violations()
	}
	return run
}

func faultsString(m map[string]int) (string, int) {
	var parts []string
	total := 0
	for _, k := range []string{"kill", "pause", "drop"} {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		total += m[k]
	}
	return strings.Join(parts, ", "), total
}

// TestChaos: 3 servers on 3 etcd members under kill -9 of the leader,
// SIGSTOP pauses of the leader past its lease, and dropped connections,
// with clients submitting, cancelling and listing and simulated agents
// running ranks. The client history must be linearizable against the job
// model (no acknowledged submission lost, no cancelled job running again,
// no finished job changing), and the agents must never hold a chip for
// two live ranks or a job in two places. It runs 60 s of faults by
// default; QUN_CHAOS_DURATION (e.g. 10m) runs it longer.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: skipped with -short")
	}
	d := 60 * time.Second
	if v := os.Getenv("QUN_CHAOS_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("QUN_CHAOS_DURATION %q: %v", v, err)
		}
	}
	run := runChaos(t, chaosOptions{duration: d, faults: []string{"kill", "pause", "drop"}})
	fs, total := faultsString(run.faults)
	t.Logf("survived %d faults (%s) over %v: %d operations, %d acknowledged submissions", total, fs, d, len(run.ops), run.acked)
	if run.linear != porcupine.Ok {
		t.Errorf("the client history is not linearizable (%v); %s", run.linear, run.firstBad())
	}
	for _, v := range run.live {
		t.Errorf("agents: %s", v)
	}
	if run.acked < 20 || total < 5 {
		t.Errorf("too little happened to mean anything: %d acknowledged submissions, %d faults", run.acked, total)
	}
}

// TestChaosFindsPlantedBug: with the leader answering a submission before
// its record is committed, leader kills lose acknowledged submissions and
// the checker must say so.
func TestChaosFindsPlantedBug(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: skipped with -short")
	}
	run := runChaos(t, chaosOptions{duration: 60 * time.Second, plant: "ack-before-commit", faults: []string{"kill"},
		stopOn: func(r *chaosRun) bool { return r.faults["kill"] >= 6 }})
	fs, total := faultsString(run.faults)
	if run.linear == porcupine.Ok {
		t.Fatalf("the planted bug (ack before commit) went unnoticed over %d faults (%s)", total, fs)
	}
	t.Logf("planted bug found after %d faults (%s): %s", total, fs, run.firstBad())
}

// firstBad describes the first operation of a partition that is not
// linearizable, for the failure message.
func (r *chaosRun) firstBad() string {
	byName := map[string][]porcupine.Operation{}
	for _, op := range r.ops {
		n := op.Input.(jobIn).Name
		byName[n] = append(byName[n], op)
	}
	for n, ops := range byName {
		if !porcupine.CheckOperations(jobModel, ops) {
			var s []string
			for i, op := range ops {
				if i == 12 {
					s = append(s, fmt.Sprintf("… %d more", len(ops)-i))
					break
				}
				s = append(s, jobModel.DescribeOperation(op.Input, op.Output))
			}
			return fmt.Sprintf("job %s: %s", n, strings.Join(s, "; "))
		}
	}
	return "no single job's history is at fault"
}
