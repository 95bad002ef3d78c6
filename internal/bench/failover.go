package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
	"github.com/qunhq/qun/internal/etcdlocal"
	"github.com/qunhq/qun/internal/server/fakeagent"
)

// FailoverOptions are the settings of `qun bench failover`.
type FailoverOptions struct {
	Exe      string        // the qun binary the servers run
	Servers  int           // default 3
	Nodes    int           // simulated nodes; default 1000
	Kills    int           // leader kills; default 20
	TTL      time.Duration // leader lease; default 2s
	SubmitHz float64       // steady submissions per second; default 10
	Log      io.Writer     // progress lines; nil: none
	// EtcdDir, when set, holds etcd's data instead of the benchmark's
	// temporary directory (e.g. on /dev/shm, off a shared disk).
	EtcdDir string
	// KeepLogs, when set, keeps the servers' and etcd's logs (the
	// benchmark's directory is then named in the progress lines).
	KeepLogs string
}

// FailoverResult is what `qun bench failover -o json` prints.
type FailoverResult struct {
	Servers        int       `json:"servers"`
	EtcdDir        string    `json:"etcd_dir"` // "" for the temporary directory
	EtcdMembers    int       `json:"etcd_members"`
	Nodes          int       `json:"nodes"`
	Kills          int       `json:"kills"`
	LeaseTTLSec    float64   `json:"lease_ttl_s"`
	FailoverP50Sec float64   `json:"failover_p50_s"`
	FailoverP99Sec float64   `json:"failover_p99_s"`
	FailoverMaxSec float64   `json:"failover_max_s"`
	FailoverAllSec []float64 `json:"failover_all_s"`
	// Probe*: kill → a job submitted right after the kill reads back
	// placed, as a client sees it (includes finding the leader and the
	// new leader's backlog of heartbeats).
	ProbeP50Sec       float64   `json:"probe_p50_s"`
	ProbeP99Sec       float64   `json:"probe_p99_s"`
	ProbeAllSec       []float64 `json:"probe_all_s"`
	Acknowledged      int       `json:"acknowledged"`
	AcknowledgedLost  int       `json:"acknowledged_lost"`
	DoubleAssignments int       `json:"double_assignments"`
	DoubleStarts      int       `json:"double_starts"`
	RanksStarted      int       `json:"ranks_started"`
	Violations        []string  `json:"violations,omitempty"`
}

// failoverPool is a pool of n 8-chip nodes.
func failoverPool(n int) string {
	return fmt.Sprintf(`apiVersion: qun/v1
kind: Pool
name: bench-failover
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 5}
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
root:
  name: lab
  level: cluster
  children:
    - {level: node, name: "n{i}", count: %d, cpuMilli: 64000, memoryMiB: 524288, chips: {kind: H100, count: 8}}
`, n)
}

// haProc is one `qun server --etcd` process of the benchmark.
type haProc struct {
	listen, dataDir string
	argv            []string
	cmd             *exec.Cmd
	done            chan struct{}
}

func (p *haProc) start() error {
	logf, err := os.OpenFile(filepath.Join(p.dataDir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.argv[0], p.argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = p.cmd.Start()
	logf.Close()
	if err != nil {
		return err
	}
	p.done = make(chan struct{})
	go func(c *exec.Cmd, d chan struct{}) { c.Wait(); close(d) }(p.cmd, p.done)
	return nil
}

func (p *haProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// HACluster is a local HA cluster of server processes on a local etcd
// cluster, as `qun bench failover` and `qun up --ha` start it.
type HACluster struct {
	Etcd  *etcdlocal.Cluster
	procs []*haProc
	Addrs []string // the servers' API URLs
}

// StartHACluster starts an etcd cluster of 3 members (in etcdDir, or
// below dir when it is "") and n `qun server --etcd` processes of exe
// below dir, with extra server arguments.
func StartHACluster(ctx context.Context, exe, dir, etcdDir string, n int, poolFile string, extra ...string) (*HACluster, error) {
	if etcdDir == "" {
		etcdDir = filepath.Join(dir, "etcd")
	}
	ec, err := etcdlocal.Start(ctx, etcdDir, 3)
	if err != nil {
		return nil, err
	}
	c := &HACluster{Etcd: ec}
	ports, err := freeListens(n)
	if err != nil {
		c.Stop()
		return nil, err
	}
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("server%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		p := &haProc{listen: ports[i], dataDir: d, argv: append([]string{exe, "server", "--pool", poolFile, "--data-dir", d,
			"--listen", ports[i], "--etcd", strings.Join(ec.Endpoints(), ","),
			"--insecure-plaintext"}, extra...)} // HA members serve plain HTTP on loopback (docs/security.md)
		if err := p.start(); err != nil {
			c.Stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
		c.Addrs = append(c.Addrs, "http://"+ports[i])
	}
	return c, nil
}

// Leader returns the index of the server that answers as leader, or -1.
func (c *HACluster) Leader(ctx context.Context) int {
	for i, a := range c.Addrs {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a+"/v1/queues", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return i
		}
	}
	return -1
}

// Kill kills server i with SIGKILL; Restart starts it again.
func (c *HACluster) Kill(i int)          { c.procs[i].kill() }
func (c *HACluster) Restart(i int) error { return c.procs[i].start() }

// Signal sends sig to server i's process.
func (c *HACluster) Signal(i int, sig syscall.Signal) error {
	return syscall.Kill(c.procs[i].cmd.Process.Pid, sig)
}

// Exited reports whether server i's process has exited.
func (c *HACluster) Exited(i int) bool {
	select {
	case <-c.procs[i].done:
		return true
	default:
		return false
	}
}

// Stop kills every server and etcd member.
func (c *HACluster) Stop() {
	for _, p := range c.procs {
		p.kill()
	}
	c.Etcd.Stop()
}

// Failover runs the HA measurement: o.Servers servers on a 3-member etcd,
// o.Nodes simulated nodes heartbeating every second, steady submissions of
// one-chip jobs, and o.Kills kill -9s of the leader. Each failover is the
// time from the kill until a job submitted right after it is placed: the
// new leader has loaded the state, scheduled and committed a plan.
func Failover(ctx context.Context, o FailoverOptions) (res *FailoverResult, err error) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Servers, 3)
	def(&o.Nodes, 1000)
	def(&o.Kills, 20)
	if o.TTL <= 0 {
		o.TTL = 2 * time.Second
	}
	if o.SubmitHz <= 0 {
		o.SubmitHz = 10
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	if !etcdlocal.Available() {
		return nil, etcdlocal.ErrNoEtcd
	}
	dir, err := os.MkdirTemp("", "qun-bench-failover-")
	if err != nil {
		return nil, err
	}
	defer func() {
		switch {
		case err != nil:
			err = fmt.Errorf("%w (logs kept in %s)", err, dir)
		case o.KeepLogs == "":
			os.RemoveAll(dir)
		}
	}()
	if o.KeepLogs != "" {
		logf("logs in %s", dir)
	}
	poolFile := filepath.Join(dir, "pool.yaml")
	if err := os.WriteFile(poolFile, []byte(failoverPool(o.Nodes)), 0o644); err != nil {
		return nil, err
	}
	etcdDir := ""
	if o.EtcdDir != "" {
		if etcdDir, err = os.MkdirTemp(o.EtcdDir, "qun-bench-failover-etcd-"); err != nil {
			return nil, fmt.Errorf("--etcd-dir: %w", err)
		}
		defer os.RemoveAll(etcdDir)
	}
	hc, err := StartHACluster(ctx, o.Exe, dir, etcdDir, o.Servers, poolFile, "--lease-ttl", o.TTL.String(), "--log-level", "info", "--node-timeout", "15s")
	if err != nil {
		return nil, err
	}
	defer hc.Stop()
	list := strings.Join(hc.Addrs, ",")
	client, err := api.NewClient(list)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	for hc.Leader(wctx) < 0 && wctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	logf("cluster up: %s on etcd %s", list, strings.Join(hc.Etcd.Endpoints(), ","))

	// The simulated nodes, each with its own client of the cluster.
	rec := NewLiveRecorder()
	actx, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	var wg sync.WaitGroup
	agents := make([]*fakeagent.Agent, o.Nodes)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	for i := range agents {
		c, _ := api.NewClient(list, api.WithHTTPClient(&http.Client{Transport: tr, Timeout: 5 * time.Second}))
		a := &fakeagent.Agent{Client: c, Name: fmt.Sprintf("n%d", i), BootID: fmt.Sprintf("boot-%d", i), Interval: time.Second,
			RunFor: func(fakeagent.Key) time.Duration { return 3 * time.Second }, Fence: &agent.EpochFence{}, Check: rec.CheckAnswer}
		agents[i] = a
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * time.Second / time.Duration(o.Nodes)) // spread the first beats
			a.Run(actx)
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); rec.Sample(actx, agents, 100*time.Millisecond) }()
	if err := waitReady(ctx, client, o.Nodes, 120*time.Second); err != nil {
		return nil, err
	}
	logf("%d nodes ready", o.Nodes)

	// Steady submissions; only acknowledged ones are counted.
	var amu sync.Mutex
	acked := map[string]bool{}
	submit := func(ctx context.Context, name string) (string, error) {
		spec := fmt.Sprintf(`{"apiVersion":"qun/v1","kind":"Job","name":%q,"command":["sleep","3"],"chips":1}`, name)
		j, err := client.SubmitJob(ctx, []byte(spec))
		if err != nil {
			return "", err
		}
		amu.Lock()
		acked[j.ID] = true
		amu.Unlock()
		return j.ID, nil
	}
	sctx, stopSubmit := context.WithCancel(ctx)
	defer stopSubmit()
	var swg sync.WaitGroup
	swg.Add(1)
	go func() {
		defer swg.Done()
		t := time.NewTicker(time.Duration(float64(time.Second) / o.SubmitHz))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			swg.Add(1)
			go func() {
				defer swg.Done()
				c, cancel := context.WithTimeout(sctx, 20*time.Second)
				submit(c, fmt.Sprintf("steady-%d", i))
				cancel()
			}()
		}
	}()

	pw, err := watchPlans(ctx, hc.Etcd.Endpoints(), "/qun/state/")
	if err != nil {
		return nil, err
	}
	res = &FailoverResult{EtcdDir: o.EtcdDir, Servers: o.Servers, EtcdMembers: 3, Nodes: o.Nodes, Kills: o.Kills, LeaseTTLSec: o.TTL.Seconds()}
	for k := range o.Kills {
		time.Sleep(2 * time.Second) // steady state between kills
		lead := hc.Leader(ctx)
		for wait := time.Now().Add(60 * time.Second); lead < 0; lead = hc.Leader(ctx) {
			if time.Now().After(wait) || ctx.Err() != nil {
				stopSubmit()
				return nil, fmt.Errorf("kill %d: no server answers as leader for 60 s", k+1)
			}
			time.Sleep(50 * time.Millisecond)
		}
		planned := pw.arm()
		killed := time.Now()
		hc.Kill(lead)
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		// A submission cut off by the kill may or may not have been
		// applied; the probe is then submitted again (a second probe job
		// is harmless).
		id, err := submit(pctx, fmt.Sprintf("probe-%d", k))
		for try := 1; err != nil && pctx.Err() == nil; try++ {
			time.Sleep(20 * time.Millisecond)
			id, err = submit(pctx, fmt.Sprintf("probe-%d-%d", k, try))
		}
		acked := time.Since(killed)
		placed := false
		for err == nil && !placed && pctx.Err() == nil {
			j, gerr := client.GetJob(pctx, id)
			if placed = gerr == nil && j.State != api.JobPending; !placed {
				time.Sleep(20 * time.Millisecond)
			}
		}
		took := time.Since(killed)
		cancel()
		if !placed {
			stopSubmit()
			return nil, fmt.Errorf("failover %d: no plan committed within 60 s (submission: %v)", k+1, err)
		}
		var planAt time.Time
		select {
		case planAt = <-planned:
		case <-time.After(60 * time.Second):
			stopSubmit()
			return nil, fmt.Errorf("failover %d: the new leader committed no plan to etcd within 60 s", k+1)
		}
		res.FailoverAllSec = append(res.FailoverAllSec, round3(planAt.Sub(killed).Seconds()))
		res.ProbeAllSec = append(res.ProbeAllSec, round3(took.Seconds()))
		if o.KeepLogs != "" {
			logf("kill %d at %s", k+1, killed.UTC().Format("15:04:05.000"))
		}
		logf("kill %d of server %d: the new leader committed a plan after %.2f s; the probe was acknowledged after %.2f s, placed after %.2f s",
			k+1, lead, planAt.Sub(killed).Seconds(), acked.Seconds(), took.Seconds())
		if err := hc.Restart(lead); err != nil {
			stopSubmit()
			return nil, err
		}
	}
	stopSubmit()
	swg.Wait()
	time.Sleep(2 * time.Second)
	stopAgents()
	wg.Wait()

	l, err := client.ListJobs(ctx, api.ListJobsOptions{})
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, j := range l.Jobs {
		have[j.ID] = true
	}
	for id := range acked {
		if !have[id] {
			res.AcknowledgedLost++
			res.Violations = append(res.Violations, "acknowledged job lost: "+id)
		}
	}
	res.Acknowledged = len(acked)
	res.DoubleAssignments, res.DoubleStarts, res.RanksStarted = rec.Results()
	res.Violations = append(res.Violations, rec.Violations()...)
	s := append([]float64(nil), res.FailoverAllSec...)
	sort.Float64s(s)
	res.FailoverP50Sec, res.FailoverP99Sec, res.FailoverMaxSec = quantile(s, 0.5), quantile(s, 0.99), s[len(s)-1]
	res.ProbeP50Sec, res.ProbeP99Sec = quantile(res.ProbeAllSec, 0.5), quantile(res.ProbeAllSec, 0.99)
	return res, nil
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

func waitReady(ctx context.Context, c *api.Client, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		l, err := c.ListNodes(ctx)
		ready := 0
		if err == nil {
			for _, x := range l.Nodes {
				if x.State == api.NodeReady {
					ready++
				}
			}
		}
		if ready >= n {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("only %d of %d nodes ready after %v (%v)", ready, n, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeListens(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// LiveRecorder checks the simulated nodes' view: no device of a node held
// by two live ranks (within one answer, or across the nodes' running
// sets), no rank of a job attempt live on two nodes, and no job live in
// two attempts at once.
type LiveRecorder struct {
	mu                 sync.Mutex
	doubleAssign       int
	doubleStart        int
	started            map[fakeagent.Key]bool
	viol               []string
	seenDouble, seenDS map[string]bool
}

// NewLiveRecorder returns an empty recorder.
func NewLiveRecorder() *LiveRecorder {
	return &LiveRecorder{started: map[fakeagent.Key]bool{}, seenDouble: map[string]bool{}, seenDS: map[string]bool{}}
}

func (r *LiveRecorder) note(kind string, key string) {
	switch kind {
	case "device":
		if r.seenDouble[key] {
			return
		}
		r.seenDouble[key] = true
		r.doubleAssign++
	case "start":
		if r.seenDS[key] {
			return
		}
		r.seenDS[key] = true
		r.doubleStart++
	}
	if len(r.viol) < 50 {
		r.viol = append(r.viol, kind+": "+key)
	}
}

// CheckAnswer is every simulated node's Check.
func (r *LiveRecorder) CheckAnswer(name string, as []api.Assignment) error {
	if err := fakeagent.DisjointDevices(name, as); err != nil {
		r.mu.Lock()
		r.note("device", err.Error())
		r.mu.Unlock()
		return err
	}
	return nil
}

// Sample checks the nodes' running ranks every period until ctx is done.
func (r *LiveRecorder) Sample(ctx context.Context, agents []*fakeagent.Agent, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.check(agents)
	}
}

func (r *LiveRecorder) check(agents []*fakeagent.Agent) {
	type rk struct {
		job  string
		rank int
	}
	where := map[rk]string{}
	attempt := map[string]int{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range agents {
		used := map[int]fakeagent.Key{}
		for k, devs := range a.Running() {
			r.started[k] = true
			for _, d := range devs {
				if o, ok := used[d]; ok {
					r.note("device", fmt.Sprintf("%s device %d held by %v and %v", a.Name, d, o, k))
				}
				used[d] = k
			}
			if n, ok := where[rk{k.JobID, k.Rank}]; ok && n != a.Name {
				r.note("start", fmt.Sprintf("%s rank %d live on %s and %s", k.JobID, k.Rank, n, a.Name))
			}
			where[rk{k.JobID, k.Rank}] = a.Name
			if at, ok := attempt[k.JobID]; ok && at != k.Attempt {
				r.note("start", fmt.Sprintf("%s live in attempts %d and %d", k.JobID, at, k.Attempt))
			}
			attempt[k.JobID] = k.Attempt
		}
	}
}

// Results returns the double assignments, double starts and ranks seen.
func (r *LiveRecorder) Results() (double, starts, ranks int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.doubleAssign, r.doubleStart, len(r.started)
}

// Violations describes the first violations found.
func (r *LiveRecorder) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.viol...)
}

// planWatch watches the cluster's records in etcd for the first plan a
// new leader commits after a kill: after the new leader's first write
// (server/leader), the first job record written in state "starting".
type planWatch struct {
	mu     sync.Mutex
	armed  bool
	leader bool
	ch     chan time.Time
}

func watchPlans(ctx context.Context, endpoints []string, prefix string) (*planWatch, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	w := &planWatch{}
	wch := cli.Watch(ctx, prefix, clientv3.WithPrefix())
	go func() {
		defer cli.Close()
		for resp := range wch {
			now := time.Now()
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				k := string(ev.Kv.Key)
				w.mu.Lock()
				switch {
				case !w.armed:
				case k == prefix+"server/leader":
					w.leader = true
				case w.leader && strings.HasPrefix(k, prefix+"jobs/"):
					var j struct {
						State api.JobState `json:"state"`
					}
					if json.Unmarshal(ev.Kv.Value, &j) == nil && j.State == api.JobStarting {
						w.ch <- now
						w.armed = false
					}
				}
				w.mu.Unlock()
			}
		}
	}()
	return w, nil
}

// arm starts waiting for the next leader's first plan.
func (w *planWatch) arm() <-chan time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed, w.leader, w.ch = true, false, make(chan time.Time, 1)
	return w.ch
}

// ErrNoExe is returned when the benchmark is not given the qun binary.
var ErrNoExe = errors.New("bench failover: the qun binary is required")
