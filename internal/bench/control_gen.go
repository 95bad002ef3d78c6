package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
)

// GenConfig is one load generator process of `qun bench control`: the
// simulated agents of the nodes listed in NamesFile, one node stream each,
// dialled from LocalIP.
type GenConfig struct {
	Server    string // base URL
	NamesFile string // one node name a line
	Index     int    // the generator's number, in its stats and boot IDs
	LocalIP   string // source address of its connections (127.0.0.x)
	// Heartbeat makes the simulated agents POST a heartbeat every interval
	// instead of keeping a stream (the transport before streams, for
	// comparison); its latency is reported as the ping latency.
	Heartbeat bool
	Every     time.Duration
	Out       io.Writer // stats lines (JSON), one every Every
}

// GenStats is one stats line of a generator: counters since it started,
// latency samples since the previous line.
type GenStats struct {
	Gen        int       `json:"gen"`
	At         int64     `json:"at"` // unix nanoseconds
	Nodes      int       `json:"nodes"`
	Connected  int64     `json:"connected"`
	Registered int64     `json:"registered"`
	Reconnects int64     `json:"reconnects"`
	Stopped    int64     `json:"stopped"` // running ranks the server unlisted
	Running    int64     `json:"running"` // ranks running now
	Errors     int64     `json:"errors"`
	LastError  string    `json:"last_error,omitempty"`
	PingMs     []float64 `json:"ping_ms,omitempty"`
	ReportMs   []float64 `json:"report_ms,omitempty"`
}

type genNode struct {
	name, boot string
	idx        int

	mu      sync.Mutex
	st      *api.Stream
	running map[api.RankRef]bool
	seq     uint64
	sentAt  map[uint64]time.Time
}

type generator struct {
	cfg   GenConfig
	hc    *api.Client
	nodes []*genNode
	local net.Addr

	connected, registered, reconnects, stopped, running, errs atomic.Int64

	mu       sync.Mutex
	lastErr  string
	pingMs   []float64
	reportMs []float64
}

// Generate runs the simulated agents until ctx is done. A simulated agent
// registers, opens its stream, reports every assigned rank running at
// once, pings at the interval the server asks for (every fourth asks for a
// pong, whose round trip is the ping latency) and reconnects with the
// agent's jittered backoff.
func Generate(ctx context.Context, cfg GenConfig) error {
	data, err := os.ReadFile(cfg.NamesFile)
	if err != nil {
		return err
	}
	g := &generator{cfg: cfg}
	for i, name := range strings.Fields(string(data)) {
		g.nodes = append(g.nodes, &genNode{name: name, boot: fmt.Sprintf("bench-%d-%d", cfg.Index, i), idx: i,
			running: map[api.RankRef]bool{}, sentAt: map[uint64]time.Time{}})
	}
	if cfg.LocalIP != "" {
		ip := net.ParseIP(cfg.LocalIP)
		if ip == nil {
			return fmt.Errorf("local address %q is not an IP", cfg.LocalIP)
		}
		g.local = &net.TCPAddr{IP: ip}
	}
	conns := 32
	if cfg.Heartbeat {
		conns = len(g.nodes) // one keep-alive connection per agent, as real agents have
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns, DialContext: (&net.Dialer{LocalAddr: g.local}).DialContext}
	g.hc, err = api.NewClient(cfg.Server, api.WithHTTPClient(&http.Client{Transport: tr, Timeout: 120 * time.Second}))
	if err != nil {
		return err
	}
	regs := make(chan struct{}, 16) // concurrent registrations
	var wg sync.WaitGroup
	for _, n := range g.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); g.run(ctx, n, regs) }()
	}
	if !cfg.Heartbeat {
		wg.Add(1)
		go func() { defer wg.Done(); g.pinger(ctx) }()
	}
	enc := json.NewEncoder(cfg.Out)
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
		}
		g.mu.Lock()
		s := GenStats{Gen: cfg.Index, At: time.Now().UnixNano(), Nodes: len(g.nodes), Connected: g.connected.Load(),
			Registered: g.registered.Load(), Reconnects: g.reconnects.Load(), Stopped: g.stopped.Load(),
			Running: g.running.Load(), Errors: g.errs.Load(), LastError: g.lastErr, PingMs: g.pingMs, ReportMs: g.reportMs}
		g.pingMs, g.reportMs = nil, nil
		g.mu.Unlock()
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
}

func (g *generator) fail(err error) {
	g.errs.Add(1)
	g.mu.Lock()
	g.lastErr = err.Error()
	g.mu.Unlock()
}

func (g *generator) run(ctx context.Context, n *genNode, regs chan struct{}) {
	back := agent.NewJitter(250*time.Millisecond, 4*time.Second, uint64(g.cfg.Index)<<32|uint64(n.idx))
	registered := false
	for ctx.Err() == nil {
		if !registered {
			regs <- struct{}{}
			_, err := g.hc.RegisterNode(ctx, api.RegisterRequest{Name: n.name, BootID: n.boot, Address: "127.0.0.1"})
			<-regs
			if err != nil {
				g.fail(fmt.Errorf("register %s: %w", n.name, err))
				sleepCtx(ctx, back.Next())
				continue
			}
			registered = true
			g.registered.Add(1)
		}
		if g.cfg.Heartbeat {
			registered = g.beat(ctx, n)
			continue
		}
		st, err := api.DialStream(ctx, api.StreamOptions{Server: g.cfg.Server, Node: n.name, BootID: n.boot, LocalAddr: g.local})
		if err != nil {
			if ctx.Err() == nil {
				g.fail(fmt.Errorf("stream %s: %w", n.name, err))
			}
			registered = !reRegister(err)
			sleepCtx(ctx, back.Next())
			continue
		}
		up := time.Now()
		g.connected.Add(1)
		err = g.session(n, st)
		g.connected.Add(-1)
		st.Close()
		if ctx.Err() != nil {
			return
		}
		g.reconnects.Add(1)
		registered = !reRegister(err)
		if time.Since(up) > 10*time.Second {
			back.Reset()
		}
		sleepCtx(ctx, back.Next())
	}
}

func reRegister(err error) bool {
	switch api.ErrorCode(err) {
	case api.CodeNotFound, api.CodeGone, api.CodeConflict:
		return true
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// beat heartbeats over POST until an answer says to register again (it
// returns false then) or ctx is done.
func (g *generator) beat(ctx context.Context, n *genNode) bool {
	g.connected.Add(1)
	defer g.connected.Add(-1)
	interval := time.Second
	sleepCtx(ctx, time.Duration(n.idx%1000)*interval/1000) // spread over the interval
	for ctx.Err() == nil {
		n.mu.Lock()
		req := api.HeartbeatRequest{BootID: n.boot, Ranks: make([]api.RankReport, 0, len(n.running))}
		for k := range n.running {
			req.Ranks = append(req.Ranks, api.RankReport{JobID: k.JobID, Attempt: k.Attempt, Rank: k.Rank, State: api.RankRunning, PID: 1000 + k.Rank})
		}
		n.mu.Unlock()
		t0 := time.Now()
		resp, err := g.hc.Heartbeat(ctx, n.name, req)
		if err != nil {
			if ctx.Err() == nil {
				g.fail(fmt.Errorf("heartbeat %s: %w", n.name, err))
			}
			if reRegister(err) {
				return false
			}
			sleepCtx(ctx, interval)
			continue
		}
		lat := float64(time.Since(t0).Microseconds()) / 1000
		g.mu.Lock()
		g.pingMs = append(g.pingMs, lat)
		g.mu.Unlock()
		n.mu.Lock()
		listed := map[api.RankRef]bool{}
		for _, a := range resp.Assignments {
			k := api.RefOf(a)
			listed[k] = true
			if !n.running[k] {
				n.running[k] = true
				g.running.Add(1)
			}
		}
		for k := range n.running {
			if !listed[k] {
				delete(n.running, k)
				g.running.Add(-1)
				g.stopped.Add(1)
			}
		}
		n.mu.Unlock()
		if d := time.Duration(resp.HeartbeatInterval); d > 0 {
			interval = d
		}
		sleepCtx(ctx, max(0, interval-time.Since(t0)))
	}
	return true
}

// report sends every running rank. Callers hold n.mu.
func (n *genNode) report() error {
	req := api.HeartbeatRequest{BootID: n.boot, Ranks: make([]api.RankReport, 0, len(n.running))}
	for k := range n.running {
		req.Ranks = append(req.Ranks, api.RankReport{JobID: k.JobID, Attempt: k.Attempt, Rank: k.Rank, State: api.RankRunning, PID: 1000 + k.Rank})
	}
	n.seq++
	n.sentAt[n.seq] = time.Now()
	return n.st.Report(n.seq, req, 10*time.Second)
}

// session runs one open stream until it fails.
func (g *generator) session(n *genNode, st *api.Stream) error {
	n.mu.Lock()
	n.st = st
	err := n.report() // ranks kept running while disconnected

	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.st = nil
		n.mu.Unlock()
	}()
	if err != nil {
		return err
	}
	silence := max(3*st.PingTimeout, 10*st.PingInterval)
	for {
		typ, p, err := st.ReadFrame(silence)
		if err != nil {
			return err
		}
		switch typ {
		case api.FramePong:
			if len(p) == 8 {
				sent := int64(0)
				for _, b := range p {
					sent = sent<<8 | int64(b)
				}
				g.mu.Lock()
				g.pingMs = append(g.pingMs, float64(time.Now().UnixNano()-sent)/1e6)
				g.mu.Unlock()
			}
		case api.FrameAssign:
			var m api.StreamAssignments
			if err := json.Unmarshal(p, &m); err != nil {
				return err
			}
			if err := g.apply(n, m); err != nil {
				return err
			}
		case api.FrameError:
			var e api.Error
			if json.Unmarshal(p, &e) == nil && e.Code == api.CodeBadData {
				g.fail(&e)
				continue
			}
			return &e
		}
	}
}

func (g *generator) apply(n *genNode, m api.StreamAssignments) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m.Answer > 0 {
		now := time.Now()
		var lat []float64
		for s, at := range n.sentAt {
			if s <= m.Answer {
				lat = append(lat, float64(now.Sub(at).Microseconds())/1000)
				delete(n.sentAt, s)
			}
		}
		g.mu.Lock()
		g.reportMs = append(g.reportMs, lat...)
		g.mu.Unlock()
	}
	listed := map[api.RankRef]bool{}
	changed := false
	if m.Full {
		for _, a := range m.Set {
			listed[api.RefOf(a)] = true
		}
		for k := range n.running {
			if !listed[k] {
				delete(n.running, k)
				g.running.Add(-1)
				g.stopped.Add(1)
				changed = true
			}
		}
	}
	for _, r := range m.Remove {
		if n.running[r] {
			delete(n.running, r)
			g.running.Add(-1)
			g.stopped.Add(1)
			changed = true
		}
	}
	for _, a := range m.Set {
		k := api.RefOf(a)
		if !n.running[k] {
			n.running[k] = true
			g.running.Add(1)
			changed = true
		}
	}
	if changed { // started at once; stopped at once (the report no longer lists them)
		return n.report()
	}
	return nil
}

// pinger pings every node once per interval, spread evenly over it.
func (g *generator) pinger(ctx context.Context) {
	const slot = 10 * time.Millisecond
	t := time.NewTicker(slot)
	defer t.Stop()
	var tick, round uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		interval := time.Second
		for _, n := range g.nodes {
			n.mu.Lock()
			if n.st != nil {
				interval = n.st.PingInterval
				n.mu.Unlock()
				break
			}
			n.mu.Unlock()
		}
		slots := max(uint64(interval/slot), 1)
		s := tick % slots
		if s == 0 {
			round++
		}
		tick++
		for i := int(s); i < len(g.nodes); i += int(slots) {
			n := g.nodes[i]
			n.mu.Lock()
			st := n.st
			n.mu.Unlock()
			if st == nil {
				continue
			}
			var token uint64
			if (round+uint64(i))%4 == 0 {
				token = uint64(time.Now().UnixNano())
			}
			if err := st.Ping(token, 5*time.Second); err != nil && !errors.Is(err, net.ErrClosed) {
				g.fail(err)
			}
		}
	}
}

// readStats reads a generator's stats lines until r ends.
func readStats(r io.Reader, f func(GenStats)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var s GenStats
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return fmt.Errorf("generator stats line %q: %w", truncate(sc.Text(), 200), err)
		}
		f(s)
	}
	return sc.Err()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
