package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/device"
	"github.com/qunhq/qun/internal/fault"
)

// Config is what an agent needs. Name, Address, StateDir, Server and Shim
// are required.
type Config struct {
	Name     string // the node: a host name of the server's pool
	Address  string // where this node's ranks are reachable (MASTER_ADDR)
	StateDir string // boot ID and ranks.json
	WorkDir  string // rank directories; default StateDir/work
	// Devices are the discoverers asked at start-up; none means a node
	// without accelerators.
	Devices []device.Discoverer
	Server  Server
	// Stream, when set, opens the node stream the agent reports over
	// (stream.go); nil, or a server without the endpoint: POST heartbeats.
	Stream StreamDialer
	// Shim is the command that runs the rank shim (RunShim), e.g.
	// ["/usr/bin/qun", "agent", "rank-shim"]; the agent appends "--", the
	// rank's command and its arguments.
	Shim   []string
	Logger *slog.Logger
	// RunAs is the user ranks run as when their assignment names none
	// (runas.go); nil: the agent's own user.
	RunAs *api.RunAs

	DefaultInterval time.Duration // heartbeat interval until the server names one; default 2 s
	DefaultGrace    time.Duration // for assignments without Grace; default 30 s
	LogInterval     time.Duration // how often logs are shipped; default 500 ms
	PollInterval    time.Duration // how often adopted ranks are checked; default 250 ms
	// HealthInterval is how often device health is polled (devices whose
	// plugin is a device.HealthChecker); default 5 s, negative disables.
	HealthInterval time.Duration
	// Faults classifies the fault codes devices report; default
	// fault.Default(), the built-in tables.
	Faults *fault.Table
	// HPCJobMappingDir, when set, receives DCGM's HPC job-mapping files
	// (see writeJobMapping).
	HPCJobMappingDir string
}

// Agent runs the ranks the server assigns to one node. Create it with New
// and call Run once.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	bootID  string
	devices []api.Device

	// shipCtx bounds log shipping; it outlives Run's context so that the
	// last output of ranks stopped at shutdown still reaches the server.
	shipCtx    context.Context
	shipCancel context.CancelFunc
	wg         sync.WaitGroup
	kick       chan struct{}

	health *healthMon
	fence  *EpochFence // refuses answers of deposed leaders (fence.go)

	mu        sync.Mutex
	ranks     map[rankKey]*rank
	lastSaved []byte
	devHealth []api.DeviceHealth // the last health poll, sent with heartbeats

	// abandon makes Run return without stopping ranks, as a crashed agent
	// would; tests use it to exercise adoption. gone is closed then, and
	// the rank goroutines give up their ranks.
	abandon bool
	gone    chan struct{}
}

// New checks cfg, fills its defaults and loads (or creates) the boot ID.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Name == "":
		return nil, errors.New("agent: node name is required")
	case cfg.Address == "":
		return nil, errors.New("agent: node address is required")
	case cfg.StateDir == "":
		return nil, errors.New("agent: state directory is required")
	case cfg.Server == nil:
		return nil, errors.New("agent: server is required")
	case len(cfg.Shim) == 0:
		return nil, errors.New("agent: rank shim command is required")
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(cfg.StateDir, "work")
	}
	var err error
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return nil, err
	}
	if cfg.WorkDir, err = filepath.Abs(cfg.WorkDir); err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.DefaultInterval, 2*time.Second)
	def(&cfg.DefaultGrace, 30*time.Second)
	def(&cfg.LogInterval, 500*time.Millisecond)
	def(&cfg.PollInterval, 250*time.Millisecond)
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 5 * time.Second
	}
	if cfg.Faults == nil {
		cfg.Faults = fault.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, d := range []string{cfg.StateDir, cfg.WorkDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	id, err := loadBootID(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("node", cfg.Name), bootID: id, kick: make(chan struct{}, 1), gone: make(chan struct{}), ranks: map[rankKey]*rank{}}
	a.shipCtx, a.shipCancel = context.WithCancel(context.Background())
	a.health = newHealthMon(cfg.Devices, cfg.Faults)
	if a.fence, err = LoadEpochFence(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return a, nil
}

// BootID returns the node's boot ID, kept in the state directory.
func (a *Agent) BootID() string { return a.bootID }

// Run registers the node and heartbeats until ctx is done, starting and
// stopping ranks as the server's answers say. When ctx is done it stops
// every rank (SIGTERM, SIGKILL after the grace period), waits for them,
// reports their exits in a last heartbeat and returns nil. It returns an
// error early only when the node cannot work at all (devices, state, a
// registration the server rejects as bad data).
func (a *Agent) Run(ctx context.Context) error {
	defer a.shipCancel()
	devs, err := a.discover(ctx)
	if err != nil {
		return err
	}
	a.devices = devs
	if err := a.recover(); err != nil {
		return err
	}
	if a.cfg.HealthInterval > 0 && len(a.health.checkers) > 0 {
		// A first poll before registering, so the server never sees a
		// broken device as healthy.
		a.devHealth = a.pollHealth(ctx, time.Now())
		hctx, stop := context.WithCancel(ctx)
		defer stop()
		go a.healthLoop(hctx)
	}
	if a.cfg.Stream != nil {
		err := a.runStream(ctx)
		if !errors.Is(err, errNoStream) {
			a.shutdown()
			return err
		}
		a.log.Warn("the server offers no node stream; heartbeating instead")
	}
	interval := a.cfg.DefaultInterval
	registered := false
	backoff := newBackoff()
	for ctx.Err() == nil {
		if !registered {
			if err := a.register(ctx); err != nil {
				if errorCode(err) == api.CodeBadData {
					a.shutdown()
					return fmt.Errorf("agent: the server refuses node %s: %w", a.cfg.Name, err)
				}
				a.log.Warn("cannot register; retrying", "err", err)
				a.sleep(ctx, backoff.next(), false)
				continue
			}
			registered = true
			backoff.reset()
		}
		resp, sent, err := a.heartbeat(ctx)
		if err != nil {
			switch errorCode(err) {
			case api.CodeNotFound, api.CodeGone, api.CodeConflict:
				a.log.Warn("server does not know this node as registered; registering again", "err", err)
				registered = false
			default:
				if ctx.Err() == nil {
					a.log.Warn("heartbeat failed; retrying", "err", err)
				}
			}
			a.sleep(ctx, backoff.next(), false)
			continue
		}
		if err := a.fence.Admit(resp.Epoch); err != nil {
			a.log.Warn("heartbeat answer refused", "err", err)
			a.sleep(ctx, backoff.next(), false)
			continue
		}
		backoff.reset()
		if d := time.Duration(resp.HeartbeatInterval); d > 0 {
			interval = max(d, 50*time.Millisecond)
		}
		a.apply(resp.Assignments, sent)
		a.sleep(ctx, interval, true)
	}
	a.shutdown()
	return nil
}

// sleep waits for d, for ctx, or (with wakeable) for a rank to exit.
func (a *Agent) sleep(ctx context.Context, d time.Duration, wakeable bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	var kick chan struct{}
	if wakeable {
		kick = a.kick
	}
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-kick:
	}
}

func (a *Agent) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *Agent) discover(ctx context.Context) ([]api.Device, error) {
	var out []api.Device
	owner := map[int]string{}
	for _, d := range a.cfg.Devices {
		ds, err := d.Discover(ctx)
		if err != nil {
			return nil, fmt.Errorf("agent: %s devices: %w", d.Name(), err)
		}
		for _, x := range ds {
			if o, dup := owner[x.Index]; dup {
				return nil, fmt.Errorf("agent: device index %d is reported by both %s and %s; run one vendor's plugin per node", x.Index, o, d.Name())
			}
			owner[x.Index] = d.Name()
			out = append(out, api.Device{Index: x.Index, Kind: x.Kind, Vendor: x.Vendor, UUID: x.UUID, HBMMiB: x.HBMMiB, Healthy: x.Healthy})
		}
	}
	slices.SortFunc(out, func(x, y api.Device) int { return x.Index - y.Index })
	a.log.Info("devices discovered", "count", len(out))
	return out, nil
}

// recover loads ranks.json: ranks still alive are adopted, the others are
// known as exited (with the status their shim wrote, if any).
func (a *Agent) recover() error {
	recs, err := loadRanks(a.cfg.StateDir)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, rec := range recs {
		switch {
		case rec.Exited:
			a.ranks[rec.key()] = &rank{key: rec.key(), dir: rec.Dir, pid: rec.PID, state: api.RankExited,
				exitCode: rec.ExitCode, signal: rec.Signal, startFailed: rec.StartFailed, exited: closedChan()}
		case rec.PID > 0 && alive(rec.PID, rec.StartTicks):
			a.ranks[rec.key()] = a.adopt(rec)
		default:
			// It exited while no agent ran: learn its status from the file
			// its shim wrote and ship the output not yet uploaded.
			r := &rank{key: rec.key(), grace: a.cfg.DefaultGrace, dir: rec.Dir, exited: closedChan(), state: api.RankRunning}
			a.watchFrom(r, rec.Offsets, func() (*int, string) {
				if st, ok := readStatus(filepath.Join(rec.Dir, statusFile)); ok {
					return st.ExitCode, st.Signal
				}
				return nil, ""
			})
			a.ranks[rec.key()] = r
		}
	}
	return nil
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func (a *Agent) register(ctx context.Context) error {
	devs := slices.Clone(a.devices)
	a.mu.Lock()
	for i, h := range a.devHealth {
		devs[i].Healthy = h.Healthy // devHealth lists a.devices in order
	}
	a.mu.Unlock()
	n, err := a.cfg.Server.Register(ctx, api.RegisterRequest{Name: a.cfg.Name, BootID: a.bootID, Address: a.cfg.Address, Devices: devs})
	if err != nil {
		return err
	}
	a.log.Info("registered", "state", n.State, "address", a.cfg.Address, "devices", len(a.devices))
	return nil
}

// heartbeat sends the report of every known rank. sent holds the keys of the
// exited ranks it reported.
func (a *Agent) heartbeat(ctx context.Context) (*api.HeartbeatResponse, map[rankKey]bool, error) {
	req, sent := a.report()
	resp, err := a.cfg.Server.Heartbeat(ctx, a.cfg.Name, req)
	return resp, sent, err
}

// report lists every known rank and the devices' health. sent holds the
// keys of the exited ranks it lists.
func (a *Agent) report() (api.HeartbeatRequest, map[rankKey]bool) {
	a.mu.Lock()
	req := api.HeartbeatRequest{BootID: a.bootID, Ranks: []api.RankReport{}, Devices: slices.Clone(a.devHealth)}
	sent := map[rankKey]bool{}
	for _, r := range a.ranks {
		req.Ranks = append(req.Ranks, r.report())
		if r.state == api.RankExited {
			sent[r.key] = true
		}
	}
	a.mu.Unlock()
	slices.SortFunc(req.Ranks, func(x, y api.RankReport) int {
		return cmpKey(rankKey{x.JobID, x.Attempt, x.Rank}, rankKey{y.JobID, y.Attempt, y.Rank})
	})
	return req, sent
}

func cmpKey(x, y rankKey) int {
	switch {
	case x.JobID != y.JobID:
		if x.JobID < y.JobID {
			return -1
		}
		return 1
	case x.Attempt != y.Attempt:
		return x.Attempt - y.Attempt
	}
	return x.Rank - y.Rank
}

// apply reconciles the ranks with the server's list (see doc.go for the
// rules): it forgets acknowledged exits, stops ranks no longer listed and
// starts listed ranks it has never run.
func (a *Agent) apply(asgs []api.Assignment, sent map[rankKey]bool) {
	listed := map[rankKey]api.Assignment{}
	for _, asg := range asgs {
		listed[keyOf(asg)] = asg
	}
	a.mu.Lock()
	for k, r := range a.ranks {
		_, ok := listed[k]
		switch {
		case ok:
		case r.state == api.RankExited && sent[k]:
			delete(a.ranks, k) // acknowledged
		case r.state != api.RankExited:
			a.stop(r, "no longer assigned")
		}
	}
	slices.SortFunc(asgs, func(x, y api.Assignment) int { return cmpKey(keyOf(x), keyOf(y)) })
	for _, asg := range asgs {
		k := keyOf(asg)
		if _, known := a.ranks[k]; known || a.olderAttemptRunning(k) {
			continue
		}
		a.ranks[k] = a.start(asg)
	}
	a.mu.Unlock()
	a.save()
	a.noteAssignments(asgs)
}

// olderAttemptRunning reports whether an earlier attempt of k's job still
// runs here; the new attempt waits for it (its checkpoint, its ports).
func (a *Agent) olderAttemptRunning(k rankKey) bool {
	for o, r := range a.ranks {
		if o.JobID == k.JobID && o.Attempt < k.Attempt && r.state != api.RankExited {
			return true
		}
	}
	return false
}

// save writes ranks.json when it changed.
func (a *Agent) save() {
	a.mu.Lock()
	recs := make([]rankRecord, 0, len(a.ranks))
	for _, r := range a.ranks {
		recs = append(recs, r.record())
	}
	a.mu.Unlock()
	slices.SortFunc(recs, func(x, y rankRecord) int { return cmpKey(x.key(), y.key()) })
	data, _ := json.Marshal(recs)
	if bytes.Equal(data, a.lastSaved) {
		return
	}
	if err := saveRanks(a.cfg.StateDir, recs); err != nil {
		a.log.Error("cannot save rank state", "err", err)
		return
	}
	a.lastSaved = data
}

// Hurry kills every running rank's process group with SIGKILL now, without
// waiting for grace periods: for a second Ctrl-C while Run is stopping. Safe
// to call from any goroutine at any time.
func (a *Agent) Hurry() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.ranks {
		if r.state != api.RankExited && r.pid > 0 {
			a.log.Warn("killing rank now", "rank", r.key.String(), "pid", r.pid)
			syscall.Kill(-r.pid, syscall.SIGKILL)
		}
	}
}

// shutdown stops every rank, waits for them (their grace periods and log
// uploads) and reports the exits in a last heartbeat.
func (a *Agent) shutdown() {
	if a.abandon {
		a.save()
		close(a.gone)
		return
	}
	a.mu.Lock()
	var wait time.Duration
	for _, r := range a.ranks {
		if r.state != api.RankExited {
			a.stop(r, "agent shutting down")
			wait = max(wait, r.grace)
		}
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait + 15*time.Second):
		a.log.Error("ranks did not finish after SIGKILL; giving up waiting")
	}
	a.save()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if resp, sent, err := a.heartbeat(ctx); err == nil {
		a.mu.Lock()
		for k := range sent {
			if !slices.ContainsFunc(resp.Assignments, func(x api.Assignment) bool { return keyOf(x) == k }) {
				delete(a.ranks, k)
			}
		}
		a.mu.Unlock()
		a.save()
	}
	a.writeJobMapping()
	a.log.Info("agent stopped")
}

// backoff doubles from 200 ms to 5 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = 200 * time.Millisecond
	} else {
		b.d = min(2*b.d, 5*time.Second)
	}
	return b.d
}

func (b *backoff) reset() { b.d = 0 }
