// Package ha runs a Qun server as one member of a highly available cluster
// on etcd. Every member campaigns for leadership through an etcd election
// bound to a lease; the leader runs the whole server (API, scheduler,
// reconciler) on an etcd record store whose every write is an etcd
// transaction conditional on the leader's election key still existing at
// the revision it was created with, so a deposed leader can write nothing.
// The followers keep a warm copy of the state (state.EtcdMirror, fed by a
// watch), answer every API call with CodeNotLeader naming the leader, and
// campaign; the one elected loads its state from the mirror and starts.
//
// Fencing. The leader's term is its election key's create revision; it is
// sent as the epoch of every heartbeat answer, and agents refuse answers
// older than the newest epoch they have seen (agent.EpochFence). The
// leader also stops answering once its own lease may have expired (it
// counts the lease from the send time of its last acknowledged
// keep-alive), so a leader paused past its lease (SIGSTOP, a long GC)
// answers CodeNotLeader when it wakes up rather than acting on old state.
package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/server"
	"github.com/qunhq/qun/internal/state"
)

// Config is one cluster member.
type Config struct {
	Endpoints []string // etcd client URLs
	// Prefix is the cluster's etcd key prefix; default /qun. The election
	// is below PREFIX/election, the records below PREFIX/state.
	Prefix string
	// Advertise is this member's API URL, which followers name as the
	// leader's.
	Advertise string
	// TTL is the leader's lease; a dead leader is replaced after about
	// this long. Whole seconds, default 2 s.
	TTL time.Duration
	// Server is the server's configuration; Store, Epoch and Leading are
	// set by Run.
	Server server.Config
	Logger *slog.Logger
	// WrapStore, when set, wraps the leader's record store (tests plant
	// faults with it).
	WrapStore func(state.Durable) state.Durable
	// OnLead, when set, is called with the epoch each time this member
	// becomes leader and its server has started.
	OnLead func(epoch int64)
}

// Run serves the API on ln as a member of the cluster until ctx is done.
func Run(ctx context.Context, cfg Config, ln net.Listener) error {
	if len(cfg.Endpoints) == 0 || cfg.Advertise == "" {
		return errors.New("ha: etcd endpoints and the advertised address are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/qun"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 2 * time.Second
	}
	if cfg.TTL%time.Second != 0 {
		return fmt.Errorf("ha: lease TTL %v: want whole seconds", cfg.TTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second,
		DialKeepAliveTime: time.Second, DialKeepAliveTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("ha: etcd client: %w", err)
	}
	defer cli.Close()
	m := &member{cfg: cfg, cli: cli, log: cfg.Logger}
	m.setHandler(m.followerHandler())
	hs := &http.Server{Handler: http.HandlerFunc(m.serveHTTP), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	m.log.Info("HA member serving", "addr", ln.Addr().String(), "advertise", cfg.Advertise, "etcd", cfg.Endpoints)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- m.run(rctx) }()
	select {
	case err = <-runErr:
	case err = <-errc:
		cancel()
		<-runErr
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	hs.Shutdown(sctx)
	scancel()
	if errors.Is(err, context.Canceled) || errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// member is one running cluster member.
type member struct {
	cfg     Config
	cli     *clientv3.Client
	log     *slog.Logger
	handler atomic.Pointer[http.Handler]
	leader  atomic.Pointer[string] // the leader's API URL as last observed
}

func (m *member) setHandler(h http.Handler) { m.handler.Store(&h) }

func (m *member) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if isNodeStream(r) {
		// Frames pushed on a node stream carry no fencing epoch, so a
		// member offers none: agents then post heartbeats, whose answers
		// do (agent.EpochFence). The "no endpoint" message is what
		// api.DialStream takes for a server without streams.
		writeJSON(w, http.StatusNotFound, &api.Error{Code: api.CodeNotFound,
			Message: "no endpoint: HA members offer no node streams; post heartbeats (their answers carry the fencing epoch)"})
		return
	}
	(*m.handler.Load()).ServeHTTP(w, r)
}

// isNodeStream reports whether r opens a node stream
// (GET /v1/nodes/NAME/stream).
func isNodeStream(r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/nodes/")
	return ok && r.Method == http.MethodGet && strings.HasSuffix(rest, "/stream") && strings.Count(rest, "/") == 1
}

// followerHandler answers every request with CodeNotLeader.
func (m *member) followerHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := &api.Error{Code: api.CodeNotLeader}
		if l := m.leader.Load(); l != nil && *l != "" && *l != m.cfg.Advertise {
			e.Leader = *l
			e.Message = fmt.Sprintf("%s is a follower; the leader is %s", m.cfg.Advertise, *l)
		} else {
			e.Message = fmt.Sprintf("%s is a follower and no leader is elected yet; try again shortly", m.cfg.Advertise)
		}
		writeJSON(w, api.HTTPStatus(e.Code), e)
	})
}

// run campaigns, leads until it loses the lease, and campaigns again,
// until ctx is done.
func (m *member) run(ctx context.Context) error {
	stateDir := m.cfg.Prefix + "/state"
	var mirror *state.EtcdMirror
	for {
		var err error
		if mirror, err = state.StartEtcdMirror(ctx, m.cli, stateDir); err == nil {
			break
		}
		m.log.Warn("cannot read the state from etcd; retrying", "err", err)
		if !sleepCtx(ctx, time.Second) {
			return ctx.Err()
		}
	}
	for ctx.Err() == nil {
		if err := m.term(ctx, mirror); err != nil && ctx.Err() == nil {
			m.log.Warn("leadership term ended", "err", err)
			sleepCtx(ctx, 200*time.Millisecond)
		}
	}
	return ctx.Err()
}

// term takes one lease, campaigns with it and, once elected, leads until
// the lease or the fence is lost.
func (m *member) term(ctx context.Context, mirror *state.EtcdMirror) error {
	guard, err := newLeaseGuard(ctx, m.cli, m.cfg.TTL)
	if err != nil {
		return err
	}
	defer guard.stop()
	sess, err := concurrency.NewSession(m.cli, concurrency.WithLease(guard.id), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("etcd session: %w", err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, m.cfg.Prefix+"/election")
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	go func() {
		for resp := range el.Observe(octx) {
			if len(resp.Kvs) > 0 {
				l := string(resp.Kvs[0].Value)
				m.leader.Store(&l)
			}
		}
	}()
	cctx, ccancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-guard.lost:
		case <-sess.Done():
		case <-cctx.Done():
		}
		ccancel()
	}()
	err = el.Campaign(cctx, m.cfg.Advertise)
	ccancel()
	if err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	if guard.check() != nil {
		return errors.New("elected with an expired lease")
	}
	epoch := el.Rev()
	fence := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", epoch)}
	es, err := state.OpenEtcd(ctx, m.cli, state.EtcdOptions{Prefix: m.cfg.Prefix + "/state", Fence: fence, Mirror: mirror})
	if err != nil {
		return err
	}
	// The first fenced write: proof of leadership, and the revision the
	// mirror must reach before the state is loaded from it.
	if err := es.Commit(state.Records{Server: map[string][]byte{"leader": []byte(m.cfg.Advertise + " " + strconv.FormatInt(epoch, 10))}}); err != nil {
		return fmt.Errorf("first write as leader: %w", err)
	}
	var store state.Durable = es
	if m.cfg.WrapStore != nil {
		store = m.cfg.WrapStore(store)
	}
	sc := m.cfg.Server
	sc.Store, sc.Epoch, sc.Leading = store, epoch, guard.check
	start := time.Now()
	srv, err := server.New(sc)
	if err != nil {
		return fmt.Errorf("start the server as leader: %w", err)
	}
	srv.Start()
	m.setHandler(leaderOnly(guard.check, srv.APIHandler()))
	self := m.cfg.Advertise
	m.leader.Store(&self)
	m.log.Info("leading", "epoch", epoch, "recovered_in", time.Since(start).Round(time.Millisecond))
	if m.cfg.OnLead != nil {
		m.cfg.OnLead(epoch)
	}
	var why string
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for why == "" {
		select {
		case <-ctx.Done():
			why = "shutting down"
		case <-sess.Done():
			why = "etcd session ended"
		case <-guard.lost:
			why = "lease lost"
		case <-es.Fenced():
			why = "a write failed its fence"
		case <-tick.C:
			// A write that failed otherwise (an etcd timeout) leaves the
			// server refusing requests: hand over to a fresh start.
			if err := srv.Failed(); err != nil {
				why = "the state store failed: " + err.Error()
			}
		}
	}
	m.setHandler(m.followerHandler())
	srv.Close()
	if ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		el.Resign(rctx)
		cancel()
	}
	m.log.Warn("stepped down", "epoch", epoch, "why", why)
	return nil
}

// leaseGuard keeps a lease alive and knows until when it is surely valid:
// a keep-alive sent at t and acknowledged extends the lease to at least
// t + TTL. check fails once that time is less than a quarter TTL away.
type leaseGuard struct {
	id     clientv3.LeaseID
	ttl    time.Duration
	mu     sync.Mutex
	until  time.Time
	lost   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func newLeaseGuard(ctx context.Context, cli *clientv3.Client, ttl time.Duration) (*leaseGuard, error) {
	sent := time.Now()
	gctx, gcancel := context.WithTimeout(ctx, ttl)
	resp, err := cli.Grant(gctx, int64(ttl/time.Second))
	gcancel()
	if err != nil {
		return nil, fmt.Errorf("etcd lease: %w", err)
	}
	g := &leaseGuard{id: resp.ID, ttl: ttl, until: sent.Add(ttl), lost: make(chan struct{}), done: make(chan struct{})}
	kctx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	go g.keepAlive(kctx, cli)
	return g, nil
}

func (g *leaseGuard) keepAlive(ctx context.Context, cli *clientv3.Client) {
	defer close(g.done)
	t := time.NewTicker(g.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			cli.Revoke(rctx, g.id)
			cancel()
			return
		case <-t.C:
		}
		if g.check() != nil {
			close(g.lost)
			<-ctx.Done()
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			cli.Revoke(rctx, g.id)
			cancel()
			return
		}
		sent := time.Now()
		// A slow answer still counts: the lease runs from the send time.
		kctx, cancel := context.WithTimeout(ctx, g.ttl/2)
		_, err := cli.KeepAliveOnce(kctx, g.id)
		cancel()
		if err == nil {
			g.mu.Lock()
			g.until = sent.Add(g.ttl)
			g.mu.Unlock()
		}
	}
}

// check returns an error once the lease may expire within a quarter TTL.
func (g *leaseGuard) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if left := time.Until(g.until); left < g.ttl/4 {
		return fmt.Errorf("this server's leader lease may have expired (%v left of %v); it is stepping down", left.Round(time.Millisecond), g.ttl)
	}
	return nil
}

func (g *leaseGuard) stop() {
	g.cancel()
	<-g.done
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}
