package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
	"github.com/qunhq/qun/internal/pool"
)

// upFlags are the settings of `qun up`.
type upFlags struct {
	nodes, chips   int
	spares         int
	restartDelay   time.Duration
	kind, dataDir  string
	listen         string
	nodeTimeout    time.Duration
	readyTimeout   time.Duration
	stopTimeout    time.Duration
	buildWorkloads bool
	workloadSource string
	ha             bool // up_ha.go
}

// upWorkload is the example workload `qun up` makes runnable by name.
const upWorkload = "qun-allreduce"

func newUpCmd() *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a whole local Qun: a server and N agents with fake devices",
		Long: `Run a local Qun pool on this machine: write a pool file of --nodes nodes of
--chips fake --kind chips into --data-dir, start 'qun server' on --listen
with its state in DATA_DIR/server, and one 'qun agent' per node (fake
devices, state in DATA_DIR/agents/NODE), each as a child process in a
process group of its own with its log in DATA_DIR/logs. When every node is
ready it prints the API address and the next steps.

Agents find job commands in their PATH, which 'qun up' extends with the
directory of the qun binary and DATA_DIR/bin. If the example workload
(` + upWorkload + `) is in neither and the source is at
examples/workloads/allreduce, it is built into DATA_DIR/bin with 'go build'
(disable with --build-workloads=false).

--spares N adds N more nodes, spare0…, of the same shape (see the pool file
DATA_DIR/pool.yaml).

qun up supervises its agents as the machines they stand for: when an agent
dies (kill -9 of one is a crashed node), its ranks are killed with it, and
after --restart-delay (a reboot) the agent starts again with the same state
directory, registers again and the pool goes on. Only the server's exit
ends qun up.

Ctrl-C (SIGINT) or SIGTERM stops the agents (which stop their ranks), then
the server, waits for all of them and exits 0. A second Ctrl-C makes the
agents kill their ranks at once; a child still running --stop-timeout after
the first is treated the same way.`,
		Example: `  qun up
  qun up --nodes 3 --chips 1 --kind 910B --data-dir /tmp/qun --listen 127.0.0.1:7171`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.nodes < 1 || f.nodes > 256 {
				return badInput("--nodes %d: want 1..256", f.nodes)
			}
			if f.spares < 0 || f.spares > 256 {
				return badInput("--spares %d: want 0..256", f.spares)
			}
			if f.restartDelay < 0 {
				return badInput("--restart-delay %v: want a duration of 0 or more", f.restartDelay)
			}
			if f.chips < 1 || f.chips > pool.MaxChipsPerLeaf {
				return badInput("--chips %d: want 1..%d", f.chips, pool.MaxChipsPerLeaf)
			}
			if err := checkListen(f.listen); err != nil {
				return err
			}
			// The first Ctrl-C stops everything gracefully; a second one
			// tells the agents to kill their ranks at once.
			ctx, hurry, release := stopOnSignals(cmd.Context(), nil)
			defer release()
			return runUp(ctx, f, hurry, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.nodes, "nodes", 4, "number of nodes (each one agent)")
	fl.IntVar(&f.chips, "chips", 8, "fake chips per node")
	fl.IntVar(&f.spares, "spares", 0, "spare nodes added to the pool (spare0…), each one more agent")
	fl.DurationVar(&f.restartDelay, "restart-delay", 2*time.Second, "how long a dead agent stays down before qun up starts it again (a reboot)")
	fl.StringVar(&f.kind, "kind", "910B", "chip kind of the fake chips (a catalog kind)")
	fl.StringVar(&f.dataDir, "data-dir", "data", "directory for the pool file, the server's state, the agents' state and all logs")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:7070", "address of the server's API")
	fl.DurationVar(&f.nodeTimeout, "node-timeout", 10*time.Second, "the server marks a node lost after this long without a heartbeat")
	fl.DurationVar(&f.readyTimeout, "ready-timeout", 60*time.Second, "how long to wait for the server and every node to be ready")
	fl.DurationVar(&f.stopTimeout, "stop-timeout", 60*time.Second, "how long each child may take to stop before it is killed")
	fl.BoolVar(&f.buildWorkloads, "build-workloads", true, "build the example workload into DATA_DIR/bin if it is not found")
	fl.StringVar(&f.workloadSource, "workload-source", "examples/workloads/allreduce", "source of the example workload, for --build-workloads")
	fl.BoolVar(&f.ha, "ha", false, "run 3 servers as an HA cluster on a local 3-member etcd (DATA_DIR/etcd) instead of one server on bbolt; --listen is the first server's address")
	return cmd
}

// upPool returns the pool file of `qun up`: nodes node0… and spares
// spare0… of chips chips each, all children of one cluster domain. The
// spares are the cluster's last hosts and held back for recovery with the
// pool file's own syntax (spares: N on the domain, docs/pool-format.md).
func upPool(nodes, spares, chips int, kind string) string {
	var spareLine, spareNote, spareField string
	if spares > 0 {
		spareLine = fmt.Sprintf("    - {level: node, name: \"spare{i}\", count: %d, cpuMilli: 64000, memoryMiB: 262144, chips: {kind: %q, count: %d}}\n", spares, kind, chips)
		spareNote = fmt.Sprintf(" + %d spare", spares)
		spareField = fmt.Sprintf("  spares: %d\n", spares)
	}
	return fmt.Sprintf(`# Generated by qun up: %[1]d nodes%[5]s × %[2]d fake %[3]s.
apiVersion: qun/v1
kind: Pool
name: qun-up
description: local pool of qun up, %[1]d nodes%[5]s of %[2]d fake %[3]s
levels:
  - {name: cluster, bandwidthGBps: 25, latencyUs: 10}
  - {name: node, host: true, bandwidthGBps: 100, latencyUs: 1}
root:
  name: local
  level: cluster
%[6]s  children:
    - {level: node, name: "node{i}", count: %[1]d, cpuMilli: 64000, memoryMiB: 262144, chips: {kind: %[3]q, count: %[2]d}}
%[4]s`, nodes, chips, kind, spareLine, spareNote, spareField)
}

// upNodeNames returns the node names of upPool.
func upNodeNames(nodes, spares int) []string {
	var out []string
	for i := range nodes {
		out = append(out, fmt.Sprintf("node%d", i))
	}
	for i := range spares {
		out = append(out, fmt.Sprintf("spare%d", i))
	}
	return out
}

// child is one process `qun up` started.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it exited
	err  error         // its wait error, set before done closes
}

func startChild(name, logPath string, env []string, argv ...string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Env = logf, logf, env
	// A group of its own: the terminal's Ctrl-C reaches only qun up, which
	// stops the children in order. Pdeathsig: if qun up itself is killed,
	// the children are told to stop rather than left running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop sends SIGTERM and waits. After timeout, or at once when hurry is
// closed, it sends a second SIGTERM (an agent then kills its ranks), and
// ten seconds later kills the child's group.
func (c *child) stop(timeout time.Duration, hurry <-chan struct{}) {
	select {
	case <-c.done:
	default:
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(timeout):
		case <-hurry:
		}
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) // anything left in its group
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines of the child's log, for error messages.
func (c *child) tail() string {
	data, _ := os.ReadFile(c.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

func runUp(ctx context.Context, f upFlags, hurry <-chan struct{}, out io.Writer) error {
	poolText := upPool(f.nodes, f.spares, f.chips, f.kind)
	if _, err := pool.Load("qun up pool", []byte(poolText), pool.DefaultCatalog()); err != nil {
		return badInput("--kind %q: %v", f.kind, err)
	}
	dataDir, err := filepath.Abs(f.dataDir)
	if err != nil {
		return err
	}
	logDir, binDir := filepath.Join(dataDir, "logs"), filepath.Join(dataDir, "bin")
	for _, d := range []string{dataDir, logDir, binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	poolFile := filepath.Join(dataDir, "pool.yaml")
	if err := os.WriteFile(poolFile, []byte(poolText), 0o644); err != nil {
		return fmt.Errorf("write pool file: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the qun executable: %w", err)
	}
	env := upEnv(os.Environ(), filepath.Dir(exe), binDir)
	if f.buildWorkloads {
		ensureWorkload(ctx, env, binDir, f.workloadSource, out)
		installTorchWorkload(binDir, filepath.Join(filepath.Dir(f.workloadSource), "torchddp", "train.py"), out)
	}

	var children []*child
	var sups []*agentSup
	var stopOnce sync.Once
	stopAll := func() {
		stopOnce.Do(func() {
			// Agents first (they stop their ranks and report), then the server.
			var wg sync.WaitGroup
			for _, sv := range sups {
				wg.Add(1)
				go func() { defer wg.Done(); sv.stop(f.stopTimeout, hurry) }()
			}
			wg.Wait()
			for _, c := range children {
				if c.name == "server" {
					c.stop(f.stopTimeout, hurry)
				}
			}
		})
	}
	defer stopAll()

	// Fail clearly if the port is taken (say, by another qun up) rather
	// than talk to whatever answers there.
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (--listen): %w", f.listen, err)
	}
	ln.Close()
	servers, serverList, stopHA, err := startUpServers(ctx, f, exe, env, poolFile, dataDir, logDir) // up_ha.go
	if err != nil {
		return err
	}
	defer func() { stopAll(); stopHA() }() // etcd last, once the servers stopped
	children = append(children, servers...)
	srv := servers[0]
	base := strings.SplitN(serverList, ",", 2)[0]
	deadline := time.Now().Add(f.readyTimeout)
	client, err := upClient(ctx, deadline, children, dataDir, serverList, f.ha) // up_secure.go
	if err != nil {
		return err
	}
	if err := waitUp(ctx, deadline, children, func(ctx context.Context) (bool, error) {
		_, err := client.ListNodes(ctx)
		return err == nil, nil
	}); err != nil {
		return err
	}
	agentsStarted := time.Now()
	host, _, _ := net.SplitHostPort(f.listen)
	address := host
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		address = "127.0.0.1"
	}
	names := upNodeNames(f.nodes, f.spares)
	agentMetrics, err := freeLocalAddrs(len(names))
	if err != nil {
		return fmt.Errorf("metrics ports for the agents: %w", err)
	}
	targetsFile := filepath.Join(dataDir, "prometheus-targets.json")
	if err := writeTargets(targetsFile, agentMetrics); err != nil {
		return err
	}
	promFile, err := upPrometheus(ctx, client, dataDir, serverList, targetsFile, f.ha) // up_secure.go
	if err != nil {
		return err
	}
	for i, name := range names {
		// A single-use join token enrols the agent; a restarted agent
		// finds its node certificate in its state directory.
		// (--ha: the servers serve plain HTTP on loopback, no enrolment.)
		agentEnv := env
		if !f.ha {
			join, err := client.CreateToken(ctx, api.TokenRequest{Name: "qun up " + name, Join: true, TTL: api.Duration(15 * time.Minute)})
			if err != nil {
				return fmt.Errorf("create a join token for %s: %w", name, err)
			}
			agentEnv = append(slices.Clip(env), "QUN_JOIN_TOKEN="+join.Token)
		}
		sv := &agentSup{
			name: name, logPath: filepath.Join(logDir, name+".log"), env: agentEnv,
			stateDir: filepath.Join(dataDir, "agents", name), delay: f.restartDelay, out: out,
			argv: []string{exe, "agent",
				"--server", serverList, "--name", name, "--address", address, "--run-as", upRunAs(),
				"--devices", fmt.Sprintf("fake:%s:%d", f.kind, f.chips),
				"--state-dir", filepath.Join(dataDir, "agents", name),
				"--metrics-listen", agentMetrics[i]},
			quit: make(chan struct{}), done: make(chan struct{}),
		}
		a, err := startChild(name, sv.logPath, sv.env, sv.argv...)
		if err != nil {
			return err
		}
		sv.cur = a
		sups = append(sups, sv)
		children = append(children, a)
	}
	if err := waitUp(ctx, deadline, children, func(ctx context.Context) (bool, error) {
		l, err := client.ListNodes(ctx)
		if err != nil {
			return false, nil
		}
		// Ready, and heard from since our agents started: nodes of an
		// earlier run in the same data directory count only once their
		// agent is back.
		ready := map[string]bool{}
		for _, n := range l.Nodes {
			if n.State == api.NodeReady && !n.LastHeartbeat.Before(agentsStarted.Add(-time.Second)) {
				ready[n.Name] = true
			}
		}
		for _, n := range names {
			if !ready[n] {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	dashURL, err := upDashboard(ctx, client, dataDir, base, out, f.ha) // up_secure.go
	if err != nil {
		return err
	}
	qun, flag := displayName(exe), ""
	if serverList != api.DefaultAddr {
		flag = " --server " + serverList
	}
	spareNote := ""
	if f.spares > 0 {
		spareNote = fmt.Sprintf(" + %d spare", f.spares)
	}
	secNote := [3]string{"(TLS)", "the CA and admin token in " + dataDir + "/server", "TLS and a token"}
	if f.ha {
		secNote = [3]string{"(HA: " + serverList + ", plain HTTP on loopback)", "no tokens: HA servers serve plain HTTP (docs/security.md)", "plain HTTP"}
	}
	fmt.Fprintf(out, `Qun is up: %d nodes%s × %d %s (fake), API at %s %[14]s
Data, state and logs in %[6]s; %[15]s.
%[12]sDashboard: %[13]s
Metrics: %[9]s/metrics (server: %[16]s), agents at %[10]s;
a Prometheus scrape config for both in %[11]s.

Next, in another terminal:
  %[7]s job submit%[8]s examples/jobs/allreduce.yaml
  %[7]s job list%[8]s
  %[7]s job logs%[8]s JOB-ID --stream stderr

Ctrl-C stops everything.
`, f.nodes, spareNote, f.chips, f.kind, base, dataDir, qun, flag, base, strings.Join(agentMetrics, ", "), promFile,
		upConfigHint(dataDir), dashURL, secNote[0], secNote[1], secNote[2])

	// Run until told to stop, or until the server dies. Agents that die
	// are restarted by their supervisors.
	for _, sv := range sups {
		go sv.run()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "qun up: stopping agents and server…")
		stopAll()
		fmt.Fprintln(out, "qun up: stopped")
		return nil
	case <-allDone(servers):
		return fmt.Errorf("%s exited unexpectedly (%v); its log %s ends with:\n%s", srv.name, srv.err, srv.log, srv.tail())
	}
}

// agentSup keeps one node's agent running as a machine would: when the
// agent dies its ranks are killed (a crashed machine loses them), and
// after delay (a reboot) the agent starts again with the same state
// directory, so it keeps its boot ID and registers again.
type agentSup struct {
	name, logPath, stateDir string
	env, argv               []string
	delay                   time.Duration
	out                     io.Writer

	mu       sync.Mutex
	cur      *child
	stopping bool
	quit     chan struct{} // closed by stop
	done     chan struct{} // closed when run returns
}

// run supervises until stop. Call it once, after the first agent started.
func (s *agentSup) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		c := s.cur
		s.mu.Unlock()
		select {
		case <-c.done:
		case <-s.quit:
			return
		}
		killed, err := agent.KillRanks(s.stateDir, "")
		if err != nil {
			fmt.Fprintf(s.out, "qun up: cannot find %s's ranks: %v\n", s.name, err)
		}
		fmt.Fprintf(s.out, "qun up: %s's agent exited (%v); killed its ranks (%d signalled) as a crashed machine loses them; restarting it in %v\n",
			s.name, c.err, killed, s.delay)
		for {
			select {
			case <-time.After(s.delay):
			case <-s.quit:
				return
			}
			s.mu.Lock()
			if s.stopping {
				s.mu.Unlock()
				return
			}
			n, err := startChild(s.name, s.logPath, s.env, s.argv...)
			if err == nil {
				s.cur = n
			}
			s.mu.Unlock()
			if err == nil {
				fmt.Fprintf(s.out, "qun up: %s's agent started again (pid %d)\n", s.name, n.cmd.Process.Pid)
				break
			}
			fmt.Fprintf(s.out, "qun up: cannot restart %s's agent: %v; trying again in %v\n", s.name, err, s.delay)
		}
	}
}

// stop ends supervision and stops the current agent (see child.stop).
func (s *agentSup) stop(timeout time.Duration, hurry <-chan struct{}) {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.quit)
	}
	c := s.cur
	s.mu.Unlock()
	c.stop(timeout, hurry)
	if c.exited() {
		// Ranks of an agent that died just before stop (and was not yet
		// restarted) are not left behind either.
		agent.KillRanks(s.stateDir, "")
	}
}

// displayName is how the user runs exe from here: "qun" when it is the one
// in PATH, else its path (relative when below the working directory).
func displayName(exe string) string {
	if p, err := exec.LookPath("qun"); err == nil {
		if a, b := realPath(p), realPath(exe); a == b {
			return "qun"
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			if !strings.Contains(rel, string(filepath.Separator)) {
				rel = "." + string(filepath.Separator) + rel
			}
			return rel
		}
	}
	return exe
}

func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	if a, err := filepath.Abs(p); err == nil {
		p = a
	}
	return p
}

// waitUp polls ready until it holds, the deadline passes, ctx is done or a
// child exits.
func waitUp(ctx context.Context, deadline time.Time, children []*child, ready func(context.Context) (bool, error)) error {
	for {
		for _, c := range children {
			if c.exited() {
				return fmt.Errorf("%s exited while starting (%v); its log %s ends with:\n%s", c.name, c.err, c.log, c.tail())
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := ready(pctx)
		cancel()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if ctx.Err() != nil {
			return errors.New("interrupted while starting")
		}
		if time.Now().After(deadline) {
			return errors.New("the server and agents were not ready in time (see --ready-timeout and the logs)")
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// upEnv is the children's environment: PATH starts with dirs.
func upEnv(base []string, dirs ...string) []string {
	var out []string
	path := ""
	for _, kv := range base {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
			continue
		}
		out = append(out, kv)
	}
	parts := append([]string(nil), dirs...)
	if path != "" {
		parts = append(parts, path)
	}
	return append(out, "PATH="+strings.Join(parts, string(os.PathListSeparator)))
}

// ensureWorkload builds the example workload into binDir unless it is
// already in the children's PATH. Failures are reported, not fatal: only
// the example job needs it.
func ensureWorkload(ctx context.Context, env []string, binDir, src string, out io.Writer) {
	var path string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if st, err := os.Stat(filepath.Join(d, upWorkload)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return
		}
	}
	if _, err := os.Stat(filepath.Join(src, "main.go")); err != nil {
		fmt.Fprintf(out, "qun up: %s not found and no source at %s; the example job will not run here\n", upWorkload, src)
		return
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintf(out, "qun up: %s not found and no go tool to build it; the example job will not run here\n", upWorkload)
		return
	}
	fmt.Fprintf(out, "qun up: building %s from %s\n", upWorkload, src)
	pkg := filepath.Clean(src)
	if !filepath.IsAbs(pkg) {
		pkg = "./" + filepath.ToSlash(pkg)
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(binDir, upWorkload), pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(out, "qun up: cannot build %s (%v); the example job will not run here:\n%s", upWorkload, err, b)
	}
}

// upTorchWorkload is the name under which `qun up` installs the PyTorch
// example (examples/jobs/torch-ddp.yaml runs it).
const upTorchWorkload = "qun-torchddp"

// installTorchWorkload copies the PyTorch example's train.py into binDir as
// qun-torchddp (it starts with #!/usr/bin/python3). A missing source is
// not an error: only the PyTorch example job needs it.
func installTorchWorkload(binDir, src string, out io.Writer) {
	data, err := os.ReadFile(src)
	if err != nil {
		return
	}
	dst := filepath.Join(binDir, upTorchWorkload)
	if old, err := os.ReadFile(dst); err == nil && string(old) == string(data) {
		return
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		fmt.Fprintf(out, "qun up: cannot install %s: %v\n", upTorchWorkload, err)
	}
}
