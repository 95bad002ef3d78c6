package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/state"
)

// Clock tells the server the time. The real one is used in production; tests
// pass a fake one.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Config is what a server is built from. Pool, Profile and DataDir are
// required.
type Config struct {
	Pool    *pool.Topology
	Queues  []sched.Queue // declared queues; empty: queues are created as jobs name them
	Profile *sched.Profile
	DataDir string // holds state.db and logs/
	// Store, when set, is the durable record store to use instead of
	// DataDir/state.db (an HA leader's fenced etcd store, internal/ha);
	// the server closes it on Close.
	Store state.Durable

	NodeTimeout time.Duration // a node is lost after this long without a heartbeat; default 10s
	Heartbeat   time.Duration // the heartbeat interval agents are told; default 1s
	// CycleEvery is the period of scheduling cycles when nothing triggers
	// one; default 1s. MinCycleGap spaces triggered cycles; default 5ms.
	CycleEvery  time.Duration
	MinCycleGap time.Duration
	// TriggeredDepth is how many pending jobs a triggered cycle tries, in
	// the scheduler's order (sched.Snapshot.Depth, Slurm's
	// default_queue_depth); the cycles every CycleEvery try them all.
	// 0: the default, 1000; -1: every pending job in every cycle; other
	// negative values are refused.
	TriggeredDepth int
	// Grace is the time a stopped rank gets between SIGTERM and SIGKILL
	// when the profile sets no preemption grace; default 10s.
	Grace time.Duration

	// Auth, when set, secures the API served by Serve (authz.go): TLS,
	// tokens, node certificates and the audit log. RunAs maps queues to
	// the user their ranks run as (sub-queues inherit).
	Auth  *auth.Authority
	RunAs map[string]api.RunAs

	// AuditTelemetryEvery is how often successful node telemetry is
	// audited in aggregate (audit_telemetry.go); default 60s.
	AuditTelemetryEvery time.Duration

	Logger *slog.Logger
	Clock  Clock  // default: the wall clock
	Seed   uint64 // seeds the scheduler's random source

	// Epoch is the fencing epoch sent with every heartbeat answer (an HA
	// leader's term); 0 for a single server.
	Epoch int64
	// Leading, when set, is asked before every request and cycle; an error
	// (the leader's lease may have expired) refuses it with
	// CodeNotLeader.
	Leading func() error
}

// Server is the control plane: it keeps jobs, nodes and allocations in
// memory, writes every durable change to the state file before answering,
// and runs the scheduling loop and the node liveness reconciler.
//
// All state is guarded by mu. A mutation changes memory and marks records
// dirty under mu; the committer (commit.go) writes the marked records in
// batches outside mu, and every request answers only once what it changed
// or saw is durable. If a commit fails the server stops accepting requests
// (memory is then ahead of disk; a restart recovers).
type Server struct {
	cfg    Config
	log    *slog.Logger
	clock  Clock
	store  state.Durable
	logDir string
	cm     committer

	mu     sync.Mutex
	jobs   map[string]*jobRec // every job
	active map[string]*jobRec // jobs not yet in a terminal state
	// bySeq is the active jobs in sequence order, and those that ended
	// since the last cycle, which drops them (pruneBySeq in loop.go).
	bySeq  []*jobRec
	placed map[string]*jobRec // jobs holding an allocation
	nodes  map[string]*nodeRec
	// byNode indexes the placed jobs by node: the ranks each has there.
	byNode map[string]map[*jobRec][]int
	st     *pool.State
	rng    *rand.Rand
	broken error // set when a commit failed
	// dirtyJobs and dirtyNodes are written by the next batch; dirtyKeys
	// are other records of the jobs key space (rank ends; nil: delete).
	dirtyJobs  map[string]struct{}
	dirtyNodes map[string]struct{}
	dirtyKeys  map[string][]byte
	closing    bool
	lastSeen   uint64 // highest job sequence loaded or created
	fair       fairShare
	authz      authState
	tel        telemetry // audit_telemetry.go
	obs        *observability
	streams    streamHub // node streams (stream.go)

	kick chan struct{}
	// lastFull is when (s.clock) the last cycle that tried every pending
	// job began; only the goroutine that runs cycles touches it.
	lastFull time.Time
	stop     chan struct{}
	wg       sync.WaitGroup
}

// DefaultTriggeredDepth is Config.TriggeredDepth's default.
const DefaultTriggeredDepth = 1000

// New opens (or creates) the state in cfg.DataDir and recovers every job,
// node and allocation from it.
func New(cfg Config) (*Server, error) {
	if cfg.Pool == nil || cfg.Profile == nil || cfg.DataDir == "" {
		return nil, errors.New("server: Pool, Profile and DataDir are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.NodeTimeout, 10*time.Second)
	def(&cfg.Heartbeat, time.Second)
	def(&cfg.CycleEvery, time.Second)
	def(&cfg.MinCycleGap, 5*time.Millisecond)
	def(&cfg.Grace, 10*time.Second)
	def(&cfg.AuditTelemetryEvery, time.Minute)
	switch {
	case cfg.TriggeredDepth == 0:
		cfg.TriggeredDepth = DefaultTriggeredDepth
	case cfg.TriggeredDepth < -1:
		return nil, fmt.Errorf("server: TriggeredDepth %d: want a positive depth, 0 (default %d) or -1 (every pending job)", cfg.TriggeredDepth, DefaultTriggeredDepth)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	store := cfg.Store
	if store == nil {
		b, err := state.OpenBolt(filepath.Join(cfg.DataDir, "state.db"))
		if err != nil {
			return nil, err
		}
		store = b
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, clock: cfg.Clock, store: store, logDir: filepath.Join(cfg.DataDir, "logs"),
		jobs: map[string]*jobRec{}, active: map[string]*jobRec{}, placed: map[string]*jobRec{}, nodes: map[string]*nodeRec{},
		byNode:    map[string]map[*jobRec][]int{},
		dirtyJobs: map[string]struct{}{}, dirtyNodes: map[string]struct{}{}, dirtyKeys: map[string][]byte{},
		st: pool.NewState(cfg.Pool), rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	s.cm.init()
	s.obs = newObservability(s)
	err := s.recover()
	if err == nil {
		err = s.flush()
	}
	if err != nil {
		store.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// recover loads the state file and rebuilds the allocation state.
func (s *Server) recover() error {
	t := s.cfg.Pool
	now := s.clock.Now()
	var jobs []*jobRec
	var ranks []rankRec
	err := s.store.Load(func(key string, v []byte) error {
		if isRankKey(key) {
			r, err := decodeRank(key, v)
			if err != nil {
				return fmt.Errorf("rank record %s: %w", key, err)
			}
			ranks = append(ranks, r)
			return nil
		}
		j, err := decodeJob(v)
		if err != nil {
			return fmt.Errorf("job %s: %w", key, err)
		}
		jobs = append(jobs, j)
		return nil
	}, func(key string, v []byte) error {
		n := &nodeRec{}
		if err := decodeNode(v, n); err != nil {
			return fmt.Errorf("node %s: %w", key, err)
		}
		h, ok := t.HostByName(key)
		if !ok {
			s.log.Warn("stored node is not a host of the pool; ignored", "node", key)
			return nil
		}
		n.host = h
		n.LastHeartbeat = now // every node gets a full timeout after a restart
		s.nodes[key] = n
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover state: %w", err)
	}
	if err := s.recoverUsage(); err != nil {
		return fmt.Errorf("recover state: %w", err)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].Seq < jobs[b].Seq })
	for _, j := range jobs {
		s.jobs[j.ID] = j
		s.lastSeen = max(s.lastSeen, j.Seq)
		j.sj = schedJob(j)
		if j.State.Terminal() {
			continue
		}
		s.active[j.ID] = j
		s.bySeq = append(s.bySeq, j) // jobs is in sequence order
		if !j.LC.Placed {
			s.recoverKept(j)
			continue
		}
		claims, err := claimsOf(t, j.spec, j.Placement)
		if err == nil {
			err = s.st.Allocate(claims...)
		}
		if err != nil {
			// Not reachable unless the file was edited: the applier never
			// commits an allocation that does not fit.
			s.log.Error("stored allocation does not fit; failing the job", "job", j.ID, "err", err)
			j.LC.State, j.LC.Reason, j.LC.Placed, j.LC.FinishedAt = lifecycle.Failed, "allocation lost in recovery: "+err.Error(), false, &now
			s.sync(j)
			delete(s.active, j.ID)
			s.touch(j)
			continue
		}
		j.claims = claims
		softRanks(j)
		s.addPlaced(j)
		s.buildAssignments(j)
	}
	s.recoverRanks(ranks)
	for _, j := range s.placed {
		// A file written before rank ends had records of their own keeps
		// them in the job's record: give them theirs before it is rewritten.
		for r := range j.Ranks {
			if j.Ranks[r].State == api.RankExited && !slices.Contains(j.rankKeys, rankKey(j.ID, j.Attempt, r)) {
				s.touchRank(j, r)
			}
		}
	}
	for _, j := range s.placed {
		for i := range j.LC.Ranks {
			// Until its node's next heartbeat says otherwise.
			j.LC.Ranks[i].Live = !j.LC.Ranks[i].Exited
		}
	}
	for _, j := range s.jobs {
		j.saved = durableOf(j)
	}
	s.log.Info("state recovered", "jobs", len(s.jobs), "active", len(s.active), "placed", len(s.placed), "nodes", len(s.nodes))
	return nil
}

// Start runs the scheduling loop and the liveness reconciler until Close.
func (s *Server) Start() {
	s.wg.Add(3)
	go s.loop()
	go s.reconcileLoop()
	go s.telemetryLoop()
	s.trigger()
}

// Close stops the loops and closes the state file. Requests after Close get
// CodeUnavailable.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.flushTelemetry(true)
	close(s.cm.stop) // the committer writes what is left, then exits
	<-s.cm.done
	return s.store.Close()
}

// Failed returns the state store's failure once a commit failed (the
// server then refuses requests until it is restarted), else nil.
func (s *Server) Failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

// usable returns an error when the server cannot take requests. Callers
// hold mu.
func (s *Server) usable() error {
	if s.closing {
		return errClosed
	}
	if s.broken != nil {
		return errorf(api.CodeUnavailable, "the state store failed (%v); restart the server", s.broken)
	}
	if s.cfg.Leading != nil {
		if err := s.cfg.Leading(); err != nil {
			return &api.Error{Code: api.CodeNotLeader, Message: err.Error()}
		}
	}
	return nil
}

// trigger asks the scheduling loop for a cycle soon.
func (s *Server) trigger() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Wait blocks until ctx is done or the server has been closed.
func (s *Server) Wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.stop:
	}
}

// APIHandler is the handler Serve answers with: Handler behind the
// authentication, authorization and audit of Config.Auth when it is set.
// An HA member (internal/ha) serves it while it leads.
func (s *Server) APIHandler() http.Handler {
	if s.cfg.Auth != nil {
		return s.secure(s.Handler())
	}
	return s.Handler()
}

// durableWriters is how many goroutines of a server spend their time in
// fsync: the state committer (commit.go) and the audit log's writer
// (auth.Log).
const durableWriters = 2

// Procs is the GOMAXPROCS for a process serving the API where the Go
// runtime would pick n. A thread blocked in fsync keeps its P until the
// runtime's monitor takes it back (after 20 µs at best, often hundreds of
// µs here), and once back it queues for a P behind the request goroutines:
// while both writers wait on the disk, a 2-core server runs nothing, and a
// durable batch is published only once its writer wins a P again. One P
// more per writer keeps the cores busy while they wait and lets the
// kernel wake a writer at once; docs/operations.md gives the figures.
func Procs(n int) int { return n + durableWriters }

// GCPercent is the garbage collector's target (GOGC) for a process serving
// the API. Its live heap is the state it keeps in memory (jobs, nodes,
// queues), which every request's garbage is collected against; the
// collector's work is proportional to what requests allocate divided by
// GOGC, so 200 halves it against the default 100, for a heap of up to three
// times the live state instead of two. docs/operations.md gives the figures.
const GCPercent = 200

// Serve answers the API on ln until ctx is done, then shuts down
// gracefully: it stops accepting connections, lets in-flight requests
// finish (for up to 10 s), stops the loops and closes the state file.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.APIHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.Start()
	errc := make(chan error, 1)
	go func() {
		if s.cfg.Auth != nil && s.cfg.Auth.TLS != nil {
			hs.TLSConfig = s.cfg.Auth.TLS
			errc <- hs.ServeTLS(ln, "", "")
			return
		}
		errc <- hs.Serve(ln)
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "pool", s.cfg.Pool.Name, "data_dir", s.cfg.DataDir)
	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
	case err = <-errc:
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
