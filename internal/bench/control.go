package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/qunhq/qun/api"
)

// controlPoolYAML is the default pool of `qun bench control`: the Atlas
// 950 SuperCluster's shape (examples/pools/atlas950-supercluster.yaml)
// with as many SuperPoDs of 1,024 8-chip boards as the nodes need, so that
// every host of the pool has an agent (a pool mostly without agents makes
// every scheduling cycle fence the missing hosts, which is not what a
// transport costs).
const controlPoolYAML = `apiVersion: qun/v1
kind: Pool
name: atlas950-bench-%d-superpods
description: %d Atlas 950 SuperPoDs (the SuperCluster's shape, cut to the benchmark's nodes)
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 10, oversubscription: 2}
  - {name: superpod, bandwidthGBps: 500, latencyUs: 2}
  - {name: rack, bandwidthGBps: 1000, latencyUs: 1}
  - {name: board, host: true, bandwidthGBps: 1000, latencyUs: 0.5}
templates:
  board:
    level: board
    cpuMilli: 192000
    memoryMiB: 1048576
    chips: {kind: 950DT, count: 8}
  rack:
    level: rack
    children:
      - {template: board, count: 8, name: "b{i}"}
  superpod:
    level: superpod
    children:
      - {template: rack, count: 128, name: "r{i}"}
root:
  name: sc
  level: cluster
  children:
    - {template: superpod, count: %d, name: "pod{i}"}
`

// ControlConfig says what `qun bench control` runs.
type ControlConfig struct {
	Exe       string // the qun binary, started as the server and the generators
	Pool      string
	Nodes     int // simulated nodes in all, the silent ones included
	Silent    int // nodes in the generator that is stopped (SIGSTOP) to measure detection
	PerGen    int // nodes per generator process (≤ its descriptor limit)
	SourceIPs int // 127.0.0.2 … 127.0.0.(1+SourceIPs)

	Heartbeat, NodeTimeout time.Duration // the server's --heartbeat (ping interval) and --node-timeout
	Settle, Measure        time.Duration // after every node is connected: wait, then measure steady state

	GangRanks, GangChips, Runs int    // --gang RANKSxCHIPS, --runs
	Restart                    bool   // restart the server with every node connected
	Transport                  string // "stream" (default) or "heartbeat"
	DataDir                    string
	Log                        io.Writer // progress lines
}

// Quantiles are a latency's p50, p99 and samples.
type Quantiles struct {
	P50  float64   `json:"p50"`
	P99  float64   `json:"p99"`
	Max  float64   `json:"max"`
	N    int       `json:"n"`
	Runs []float64 `json:"runs,omitempty"`
}

func quantiles(xs []float64, keep bool) Quantiles {
	if len(xs) == 0 {
		return Quantiles{}
	}
	q := Quantiles{P50: quantile(xs, 0.5), P99: quantile(xs, 0.99), Max: quantile(xs, 1), N: len(xs)}
	if keep {
		q.Runs = xs
	}
	return q
}

// ControlResult is what `qun bench control -o json` prints.
type ControlResult struct {
	Nodes           int     `json:"nodes"`
	Pool            string  `json:"pool"`
	PoolHosts       int     `json:"pool_hosts"`
	Generators      int     `json:"generators"`
	SourceAddrs     int     `json:"source_addrs"`
	Transport       string  `json:"transport"`
	HeartbeatS      float64 `json:"ping_interval_s"`
	NodeTimeoutS    float64 `json:"node_timeout_s"`
	Cores           int     `json:"cores"`
	LoadAvgStart    string  `json:"loadavg_start"`
	LoadAvgEnd      string  `json:"loadavg_end"`
	ConnectS        float64 `json:"connect_all_s"`
	MeasureS        float64 `json:"measure_s"`
	ServerCPUCores  float64 `json:"server_cpu_cores"`
	ServerCPUPer1k  float64 `json:"server_cpu_cores_per_1k_nodes"`
	GeneratorCores  float64 `json:"generator_cpu_cores"`
	ServerRSSMiB    float64 `json:"server_rss_mib"`
	PingP50Ms       float64 `json:"ping_p50_ms"`
	HeartbeatP99Ms  float64 `json:"heartbeat_p99_ms"` // ping round trip (or POST heartbeat) p99 at steady state
	Pings           int     `json:"pings_sampled"`
	SilentNodes     int     `json:"silent_nodes,omitempty"`
	DetectP50S      float64 `json:"detect_p50_s,omitempty"`
	DetectP99S      float64 `json:"detect_p99_s,omitempty"`
	DetectMaxS      float64 `json:"detect_max_s,omitempty"`
	Undetected      int     `json:"undetected,omitempty"`
	FalseNodeLosses int     `json:"false_node_losses"`

	Gang                 string     `json:"gang,omitempty"`
	GangSubmitToRunning  *Quantiles `json:"gang_submit_to_running_ms,omitempty"`
	Gang8192SubmitToRun  *Quantiles `json:"gang8192_submit_to_running_ms,omitempty"`
	GangHeartbeatP99Ms   float64    `json:"gang_heartbeat_p99_ms,omitempty"` // ping round trip during the launches
	GangReportP99Ms      float64    `json:"gang_report_p99_ms,omitempty"`    // report → answer during the launches
	GangRanksStoppedLate int        `json:"gang_ranks_not_stopped,omitempty"`

	RestartReconnectS   float64 `json:"restart_reconnect_s,omitempty"`   // server SIGTERM → every stream open again
	RestartSchedulableS float64 `json:"restart_schedulable_s,omitempty"` // server SIGTERM → a new job running
	RestartRanksStopped int     `json:"restart_ranks_stopped"`
	RestartJobIntact    bool    `json:"restart_job_intact,omitempty"` // the running job kept its attempt and state
	RestartDownS        float64 `json:"restart_server_down_s,omitempty"`
}

type sample struct {
	at int64
	ms float64
}

// control is one run of the benchmark.
type control struct {
	cfg  ControlConfig
	dir  string
	addr string
	c    *api.Client

	srv     *exec.Cmd
	srvDone chan struct{}
	gens    []*exec.Cmd
	genDone []chan struct{}
	silent  map[string]bool

	mu     sync.Mutex
	latest map[int]GenStats
	pings  []sample
	rep    []sample
	lost   map[string]time.Time // node → first "node lost" of the server's log
	srvLog []string             // the log's last lines
}

var lostLine = regexp.MustCompile(`time=(\S+) level=WARN msg="node lost" node=(\S+)`)

// Control runs `qun bench control`: a real `qun server` process on the
// pool, and cfg.Nodes simulated agents in generator processes (`qun bench
// control-gen`) over loopback from several source addresses, each with one
// node stream. It measures the server's CPU at steady state, ping latency,
// gang launches, a server restart and the detection of nodes that stop
// silently (their generator gets SIGSTOP), in that order.
func Control(ctx context.Context, cfg ControlConfig) (*ControlResult, error) {
	if cfg.Nodes < 1 || cfg.Silent < 0 || cfg.Silent >= cfg.Nodes || cfg.PerGen < 1 || cfg.SourceIPs < 1 || cfg.SourceIPs > 250 {
		return nil, fmt.Errorf("nodes %d, silent %d, per-generator %d, source addresses %d: want nodes ≥ 1, 0 ≤ silent < nodes, per-generator ≥ 1, 1–250 addresses",
			cfg.Nodes, cfg.Silent, cfg.PerGen, cfg.SourceIPs)
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	dir := cfg.DataDir
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "qun-bench-control-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if cfg.Pool == "" {
		pods := (cfg.Nodes + 1023) / 1024
		cfg.Pool = filepath.Join(dir, "pool.yaml")
		if err := os.WriteFile(cfg.Pool, fmt.Appendf(nil, controlPoolYAML, pods, pods, pods), 0o644); err != nil {
			return nil, err
		}
	}
	topo, err := LoadPool(cfg.Pool)
	if err != nil {
		return nil, err
	}
	hosts := topo.Hosts()
	if cfg.Nodes > len(hosts) {
		return nil, fmt.Errorf("pool %s has %d hosts, fewer than --nodes %d", topo.Name, len(hosts), cfg.Nodes)
	}
	if cfg.GangRanks > 0 && cfg.GangRanks > cfg.Nodes-cfg.Silent {
		// Silent nodes are stopped last; the gang may use them.
		if cfg.GangRanks > cfg.Nodes {
			return nil, fmt.Errorf("--gang %dx%d needs %d nodes of one rank each; --nodes is %d", cfg.GangRanks, cfg.GangChips, cfg.GangRanks, cfg.Nodes)
		}
	}
	b := &control{cfg: cfg, dir: dir, latest: map[int]GenStats{}, lost: map[string]time.Time{}, silent: map[string]bool{}}
	defer b.teardown()
	transport := "stream (HTTP/1.1 upgrade, length-prefixed frames)"
	if cfg.Transport == "heartbeat" {
		transport = "heartbeat (POST every interval, HTTP/1.1 keep-alive, JSON)"
	}
	res := &ControlResult{Nodes: cfg.Nodes, Pool: topo.Name, PoolHosts: len(hosts), SourceAddrs: cfg.SourceIPs, Transport: transport,
		HeartbeatS: cfg.Heartbeat.Seconds(), NodeTimeoutS: cfg.NodeTimeout.Seconds(), Cores: runtime.NumCPU(), LoadAvgStart: loadavg()}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.addr = ln.Addr().String()
	ln.Close()
	if b.c, err = api.NewClient(b.addr); err != nil {
		return nil, err
	}
	if err := b.startServer(ctx); err != nil {
		return nil, err
	}

	// Generators: the silent nodes in one of their own (the last hosts),
	// the others in groups of PerGen.
	names := make([]string, cfg.Nodes)
	for i := range names {
		names[i] = topo.Path(hosts[i])
	}
	var groups [][]string
	live := names[:cfg.Nodes-cfg.Silent]
	for len(live) > 0 {
		n := min(cfg.PerGen, len(live))
		groups = append(groups, live[:n])
		live = live[n:]
	}
	if cfg.Silent > 0 {
		groups = append(groups, names[cfg.Nodes-cfg.Silent:])
		for _, n := range names[cfg.Nodes-cfg.Silent:] {
			b.silent[n] = true
		}
	}
	res.Generators = len(groups)
	start := time.Now()
	for i, g := range groups {
		if err := b.startGen(ctx, i, g); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(cfg.Log, "%d nodes in %d generators registering and connecting\n", cfg.Nodes, len(groups))
	if err := b.waitConnected(ctx, cfg.Nodes, time.Duration(cfg.Nodes)*5*time.Millisecond+60*time.Second); err != nil {
		return nil, err
	}
	res.ConnectS = time.Since(start).Seconds()
	fmt.Fprintf(cfg.Log, "all %d connected after %.1fs; settling %v, measuring %v\n", cfg.Nodes, res.ConnectS, cfg.Settle, cfg.Measure)
	sleepCtx(ctx, cfg.Settle)

	// Steady state.
	c0, t0 := procCPU(b.srv.Process.Pid), time.Now()
	g0 := b.genCPU()
	sleepCtx(ctx, cfg.Measure)
	c1, t1 := procCPU(b.srv.Process.Pid), time.Now()
	g1 := b.genCPU()
	el := t1.Sub(t0).Seconds()
	res.MeasureS = el
	res.ServerCPUCores = (c1 - c0) / el
	res.ServerCPUPer1k = res.ServerCPUCores / float64(cfg.Nodes) * 1000
	res.GeneratorCores = (g1 - g0) / el
	res.ServerRSSMiB = float64(procRSS(b.srv.Process.Pid)) / (1 << 20)
	pings := b.window(b.pings, t0, t1)
	q := quantiles(pings, false)
	res.PingP50Ms, res.HeartbeatP99Ms, res.Pings = q.P50, q.P99, q.N
	fmt.Fprintf(cfg.Log, "steady state: server %.3f cores (%.4f per 1,000 nodes), ping p50 %.2f ms p99 %.2f ms over %d samples\n",
		res.ServerCPUCores, res.ServerCPUPer1k, res.PingP50Ms, res.HeartbeatP99Ms, q.N)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	if cfg.GangRanks > 0 {
		if err := b.gangs(ctx, res); err != nil {
			return nil, err
		}
	}
	if cfg.Restart {
		if err := b.restart(ctx, res); err != nil {
			return nil, err
		}
	}
	if cfg.Silent > 0 {
		if err := b.detect(ctx, res); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	for n := range b.lost {
		if !b.silent[n] {
			res.FalseNodeLosses++
		}
	}
	b.mu.Unlock()
	res.LoadAvgEnd = loadavg()
	return res, nil
}

func (b *control) startServer(ctx context.Context) error {
	cfg := b.cfg
	cmd := exec.Command(cfg.Exe, "server", "--pool", cfg.Pool, "--data-dir", filepath.Join(b.dir, "server"), "--listen", b.addr,
		"--node-timeout", cfg.NodeTimeout.String(), "--heartbeat", cfg.Heartbeat.String(), "--log-level", "info",
		"--insecure-plaintext") // loopback; the simulated agents hold no node certificates
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errp, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the server: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(b.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(io.TeeReader(errp, logf))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			if m := lostLine.FindStringSubmatch(line); m != nil {
				if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
					node := strings.Trim(m[2], `"`)
					if _, seen := b.lost[node]; !seen {
						b.lost[node] = at
					}
				}
			}
			b.srvLog = append(b.srvLog, line)
			if len(b.srvLog) > 200 {
				b.srvLog = b.srvLog[100:]
			}
			b.mu.Unlock()
		}
		cmd.Wait()
		close(done)
	}()
	b.srv, b.srvDone = cmd, done
	for deadline := time.Now().Add(120 * time.Second); time.Now().Before(deadline); {
		if _, err := b.c.ListQueues(ctx); err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("the server exited: %s", b.serverLog())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the server did not answer within 120s: %s", b.serverLog())
}

func (b *control) serverLog() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.srvLog)
	return strings.Join(b.srvLog[max(0, n-10):], "\n")
}

func (b *control) startGen(ctx context.Context, i int, names []string) error {
	file := filepath.Join(b.dir, fmt.Sprintf("gen%d.names", i))
	if err := os.WriteFile(file, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	ip := fmt.Sprintf("127.0.0.%d", 2+i%b.cfg.SourceIPs)
	cmd := exec.Command(b.cfg.Exe, "bench", "control-gen", "--server", "http://"+b.addr, "--names", file,
		"--index", strconv.Itoa(i), "--local-ip", ip, "--heartbeat="+strconv.FormatBool(b.cfg.Transport == "heartbeat"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start generator %d: %w", i, err)
	}
	done := make(chan struct{})
	go func() {
		err := readStats(out, func(s GenStats) {
			b.mu.Lock()
			b.latest[s.Gen] = s
			for _, ms := range s.PingMs {
				b.pings = append(b.pings, sample{s.At, ms})
			}
			for _, ms := range s.ReportMs {
				b.rep = append(b.rep, sample{s.At, ms})
			}
			b.mu.Unlock()
		})
		if err != nil {
			fmt.Fprintf(b.cfg.Log, "generator %d: %v\n", i, err)
		}
		cmd.Wait()
		close(done)
	}()
	b.gens = append(b.gens, cmd)
	b.genDone = append(b.genDone, done)
	return nil
}

// totals sums the generators' latest counters, skipping generator skip.
func (b *control) totals(skip int) (connected, stopped, running int64, lastErr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, s := range b.latest {
		if i == skip {
			continue
		}
		connected += s.Connected
		stopped += s.Stopped
		running += s.Running
		if s.LastError != "" {
			lastErr = s.LastError
		}
	}
	return
}

func (b *control) waitConnected(ctx context.Context, want int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last := time.Now()
	for time.Now().Before(deadline) {
		c, _, _, lastErr := b.totals(-1)
		if int(c) >= want {
			return nil
		}
		if time.Since(last) > 5*time.Second {
			fmt.Fprintf(b.cfg.Log, "  %d of %d connected (last error: %s)\n", c, want, lastErr)
			last = time.Now()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, _, _, lastErr := b.totals(-1)
	return fmt.Errorf("%d of %d nodes connected after %v (last generator error: %s)", c, want, limit, lastErr)
}

// window returns the samples of lines written in [t0, t1].
func (b *control) window(xs []sample, t0, t1 time.Time) []float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []float64
	for _, s := range xs {
		if s.at >= t0.UnixNano() && s.at <= t1.UnixNano() {
			out = append(out, s.ms)
		}
	}
	return out
}

func (b *control) genCPU() float64 {
	var sum float64
	for _, g := range b.gens {
		sum += procCPU(g.Process.Pid)
	}
	return sum
}

// gangs submits the gang Runs times: submit → every rank running, then
// cancel and wait until every rank stopped.
func (b *control) gangs(ctx context.Context, res *ControlResult) error {
	cfg := b.cfg
	res.Gang = fmt.Sprintf("%dx%d", cfg.GangRanks, cfg.GangChips)
	spec := fmt.Appendf(nil, `{"apiVersion":"qun/v1","kind":"Job","name":"gang","ranks":%d,"chipsPerRank":%d,"command":["sleep","3600"]}`, cfg.GangRanks, cfg.GangChips)
	var runs, pings, reps []float64
	for r := range cfg.Runs {
		t0 := time.Now()
		j, err := b.c.SubmitJob(ctx, spec)
		if err != nil {
			return fmt.Errorf("gang run %d: %w", r, err)
		}
		if err := b.waitJob(ctx, j.ID, 120*time.Second, func(s api.JobState) bool { return s == api.JobRunning }); err != nil {
			return fmt.Errorf("gang run %d: %w", r, err)
		}
		t1 := time.Now()
		runs = append(runs, ms(t1.Sub(t0)))
		time.Sleep(300 * time.Millisecond) // the stats lines of the launch
		pings = append(pings, b.window(b.pings, t0, t1.Add(250*time.Millisecond))...)
		reps = append(reps, b.window(b.rep, t0, t1.Add(250*time.Millisecond))...)
		fmt.Fprintf(cfg.Log, "gang %s run %d: submit → running %.0f ms\n", res.Gang, r, runs[r])
		if _, err := b.c.CancelJob(ctx, j.ID); err != nil {
			return err
		}
		if err := b.waitJob(ctx, j.ID, 120*time.Second, api.JobState.Terminal); err != nil {
			return err
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if _, _, running, _ := b.totals(-1); running == 0 {
				break
			} else if time.Now().After(deadline) {
				res.GangRanksStoppedLate = int(running)
				break
			}
		}
	}
	q := quantiles(runs, true)
	res.GangSubmitToRunning = &q
	if cfg.GangRanks*cfg.GangChips == 8192 {
		res.Gang8192SubmitToRun = &q
	}
	res.GangHeartbeatP99Ms = quantiles(pings, false).P99
	res.GangReportP99Ms = quantiles(reps, false).P99
	return nil
}

func (b *control) waitJob(ctx context.Context, id string, limit time.Duration, ok func(api.JobState) bool) error {
	deadline := time.Now().Add(limit)
	for {
		j, err := b.c.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if ok(j.State) {
			return nil
		}
		if j.State.Terminal() {
			return fmt.Errorf("job %s ended %s: %s", id, j.State, j.Reason)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("job %s still %s after %v (%s)", id, j.State, limit, j.Reason)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// restart runs a job on half the nodes, restarts the server (SIGTERM, then
// a new process on the same data directory) and measures until every
// stream is open again and a new job runs; the first job must not notice.
func (b *control) restart(ctx context.Context, res *ControlResult) error {
	half := max(1, (b.cfg.Nodes-b.cfg.Silent)/2)
	spec := fmt.Appendf(nil, `{"apiVersion":"qun/v1","kind":"Job","name":"keep","ranks":%d,"chipsPerRank":8,"command":["sleep","3600"]}`, half)
	j, err := b.c.SubmitJob(ctx, spec)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if err := b.waitJob(ctx, j.ID, 120*time.Second, func(s api.JobState) bool { return s == api.JobRunning }); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	_, stopped0, _, _ := b.totals(-1)
	fmt.Fprintf(b.cfg.Log, "restart: job %s runs on %d nodes; restarting the server\n", j.ID, half)
	t0 := time.Now()
	b.srv.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.srvDone:
	case <-time.After(30 * time.Second):
		b.srv.Process.Kill()
		<-b.srvDone
	}
	res.RestartDownS = time.Since(t0).Seconds()
	if err := b.startServer(ctx); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	// Every stream open again (the counters include the reconnects only
	// once each generator has seen its streams drop).
	time.Sleep(300 * time.Millisecond)
	if err := b.waitConnected(ctx, b.cfg.Nodes, 60*time.Second); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	res.RestartReconnectS = time.Since(t0).Seconds()
	probe := []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"probe","ranks":1,"chipsPerRank":8,"command":["sleep","3600"]}`)
	p, err := b.c.SubmitJob(ctx, probe)
	if err != nil {
		return fmt.Errorf("restart: probe: %w", err)
	}
	if err := b.waitJob(ctx, p.ID, 60*time.Second, func(s api.JobState) bool { return s == api.JobRunning }); err != nil {
		return fmt.Errorf("restart: probe: %w", err)
	}
	res.RestartSchedulableS = time.Since(t0).Seconds()
	time.Sleep(time.Second)
	_, stopped1, _, _ := b.totals(-1)
	res.RestartRanksStopped = int(stopped1 - stopped0)
	after, err := b.c.GetJob(ctx, j.ID)
	if err != nil {
		return err
	}
	res.RestartJobIntact = after.State == api.JobRunning && after.Attempt == j.Attempt && len(after.History) == 0
	fmt.Fprintf(b.cfg.Log, "restart: all reconnected after %.2fs, a new job running after %.2fs; ranks stopped %d; job %s %s attempt %d\n",
		res.RestartReconnectS, res.RestartSchedulableS, res.RestartRanksStopped, j.ID, after.State, after.Attempt)
	for _, id := range []string{j.ID, p.ID} {
		if _, err := b.c.CancelJob(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// detect stops the silent generator (SIGSTOP) and waits for the server to
// lose its nodes.
func (b *control) detect(ctx context.Context, res *ControlResult) error {
	gi := len(b.gens) - 1
	res.SilentNodes = b.cfg.Silent
	fmt.Fprintf(b.cfg.Log, "stopping generator %d (%d nodes) with SIGSTOP\n", gi, b.cfg.Silent)
	stop := time.Now()
	if err := b.gens[gi].Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	limit := stop.Add(b.cfg.NodeTimeout*3 + 10*time.Second)
	for time.Now().Before(limit) && ctx.Err() == nil {
		b.mu.Lock()
		n := 0
		for node, at := range b.lost {
			if b.silent[node] && at.After(stop) {
				n++
			}
		}
		b.mu.Unlock()
		if n == b.cfg.Silent {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.gens[gi].Process.Kill()
	b.gens[gi].Process.Signal(syscall.SIGCONT)
	var ds []float64
	b.mu.Lock()
	for node := range b.silent {
		at, ok := b.lost[node]
		if !ok || !at.After(stop) {
			res.Undetected++
			continue
		}
		ds = append(ds, at.Sub(stop).Seconds())
	}
	b.mu.Unlock()
	q := quantiles(ds, false)
	res.DetectP50S, res.DetectP99S, res.DetectMaxS = q.P50, q.P99, q.Max
	fmt.Fprintf(b.cfg.Log, "detected %d of %d silent nodes: p50 %.2fs p99 %.2fs max %.2fs\n", len(ds), b.cfg.Silent, q.P50, q.P99, q.Max)
	return nil
}

func (b *control) teardown() {
	for i, g := range b.gens {
		if g.Process != nil {
			g.Process.Signal(syscall.SIGCONT)
			g.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-b.genDone[i]:
		case <-time.After(10 * time.Second):
			g.Process.Kill()
		}
	}
	if b.srv != nil && b.srv.Process != nil {
		b.srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.srvDone:
		case <-time.After(20 * time.Second):
			b.srv.Process.Kill()
			<-b.srvDone
		}
	}
}

// procCPU returns the CPU seconds (user and system) a process has used,
// from /proc/PID/stat.
func procCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// procRSS returns a process's resident set in bytes.
func procRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
