package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/qunhq/qun/api"
)

// StreamDialer opens node streams (docs/agent.md, "Transport"). With one
// in Config.Stream the agent keeps one stream open instead of posting
// heartbeats.
type StreamDialer interface {
	DialStream(ctx context.Context, node, bootID string) (*api.Stream, error)
}

// StreamClient dials the first of Servers that answers. It is the seam for
// several servers: on a failure the next dial starts at the next address,
// and Prefer moves one to the front (a leader finder calls it).
type StreamClient struct {
	TLS       *tls.Config // for https servers (the node certificate)
	Header    http.Header // added to the upgrade request
	LocalAddr net.Addr    // dial from this address when set

	mu      sync.Mutex
	servers []string
	next    int
}

// NewStreamClient returns a client for the servers (base URLs).
func NewStreamClient(servers ...string) *StreamClient {
	return &StreamClient{servers: slices.Clone(servers)}
}

// Servers returns the addresses in the order they are tried.
func (c *StreamClient) Servers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.servers[c.next:])
	return append(out, c.servers[:c.next]...)
}

// SetServers replaces the address list; the first is tried first.
func (c *StreamClient) SetServers(servers []string) {
	c.mu.Lock()
	c.servers, c.next = slices.Clone(servers), 0
	c.mu.Unlock()
}

// DialStream implements StreamDialer: one attempt at the current server;
// a transport failure moves on to the next server for the next attempt.
func (c *StreamClient) DialStream(ctx context.Context, node, bootID string) (*api.Stream, error) {
	c.mu.Lock()
	if len(c.servers) == 0 {
		c.mu.Unlock()
		return nil, errors.New("no server address")
	}
	addr := c.servers[c.next%len(c.servers)]
	c.mu.Unlock()
	st, err := api.DialStream(ctx, api.StreamOptions{Server: addr, Node: node, BootID: bootID, TLS: c.TLS, LocalAddr: c.LocalAddr, Header: c.Header})
	if err != nil && errorCode(err) == "" {
		c.mu.Lock()
		c.next = (c.next + 1) % len(c.servers)
		c.mu.Unlock()
	}
	return st, err
}

// Jitter is exponential backoff with full jitter: attempt n waits a
// uniformly random time in [0, min(Cap, Base·2^n)), so agents that lost
// the same server spread their reconnects instead of arriving together.
type Jitter struct {
	Base, Cap time.Duration
	n         int
	rng       *rand.Rand
}

// NewJitter returns a backoff from base doubling to limit, seeded by seed.
func NewJitter(base, limit time.Duration, seed uint64) *Jitter {
	return &Jitter{Base: base, Cap: limit, rng: rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909))}
}

// Next returns the next wait.
func (j *Jitter) Next() time.Duration {
	ceil := j.Cap
	if j.n < 30 {
		ceil = min(j.Cap, j.Base<<j.n)
	}
	j.n++
	return time.Duration(j.rng.Int64N(int64(ceil) + 1))
}

// Reset starts over from Base.
func (j *Jitter) Reset() { j.n = 0 }

// errNoStream means the server does not offer node streams.
var errNoStream = errors.New("the server has no node stream endpoint")

// runStream registers and keeps a stream open until ctx is done,
// reconnecting with jittered backoff. It returns errNoStream when the
// server does not know the endpoint (the caller heartbeats instead), and
// an error when the server refuses the node as bad data.
func (a *Agent) runStream(ctx context.Context) error {
	back := NewJitter(250*time.Millisecond, 4*time.Second, seedOf(a.bootID))
	registered := false
	for ctx.Err() == nil {
		if !registered {
			if err := a.register(ctx); err != nil {
				if errorCode(err) == api.CodeBadData {
					return fmt.Errorf("agent: the server refuses node %s: %w", a.cfg.Name, err)
				}
				a.log.Warn("cannot register; retrying", "err", err)
				a.sleep(ctx, back.Next(), false)
				continue
			}
			registered = true
		}
		st, err := a.cfg.Stream.DialStream(ctx, a.cfg.Name, a.bootID)
		if err != nil {
			if errors.Is(err, api.ErrNoStreamEndpoint) {
				return errNoStream
			}
			if ctx.Err() == nil {
				a.log.Warn("cannot open the node stream; retrying", "err", err)
			}
			registered = !reRegister(err)
			a.sleep(ctx, back.Next(), false)
			continue
		}
		up := time.Now()
		err = a.stream(ctx, st)
		st.Close()
		if ctx.Err() != nil {
			return nil
		}
		a.log.Warn("node stream ended; reconnecting", "err", err, "after", time.Since(up).Round(time.Millisecond))
		registered = !reRegister(err)
		if time.Since(up) > 10*time.Second {
			back.Reset()
		}
		a.sleep(ctx, back.Next(), false)
	}
	return nil
}

// listedFiles reports whether an assignment in list uses files (the same
// map, not an equal one).
func listedFiles(list map[api.RankRef]api.Assignment, files map[string]string) bool {
	for _, as := range list {
		if len(as.Files) > 0 && len(files) > 0 && maps.Equal(as.Files, files) {
			return true
		}
	}
	return false
}

func reRegister(err error) bool {
	switch errorCode(err) {
	case api.CodeNotFound, api.CodeGone, api.CodeConflict:
		return true
	}
	return false
}

func seedOf(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h ^ uint64(time.Now().UnixNano())
}

type frame struct {
	typ     byte
	payload []byte
}

// stream runs one open stream: a full report first, then a report whenever
// a rank or device changes, pings every interval (every fourth asks for a
// pong, so a dead server is noticed), and the server's deltas applied to
// the ranks. It returns when the stream fails or ctx is done.
func (a *Agent) stream(ctx context.Context, st *api.Stream) error {
	interval := st.PingInterval
	silence := max(3*st.PingTimeout, 10*interval)
	frames := make(chan frame, 16)
	errc := make(chan error, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			typ, p, err := st.ReadFrame(silence)
			if err != nil {
				errc <- err
				return
			}
			select {
			case frames <- frame{typ, slices.Clone(p)}:
			case <-sctx.Done():
				return
			}
		}
	}()
	const writeTimeout = 10 * time.Second
	var seq uint64
	pending := map[uint64]map[rankKey]bool{} // exits each unanswered report carried
	var last []byte
	// report sends the ranks and devices when they differ from the last
	// report sent (or always, with force).
	report := func(force bool) error {
		req, sent := a.report()
		data, err := json.Marshal(req)
		if err != nil {
			return err
		}
		if !force && bytes.Equal(data, last) {
			return nil
		}
		last = data
		seq++
		pending[seq] = sent
		return st.Report(seq, req, writeTimeout)
	}
	if err := report(true); err != nil {
		return err
	}
	list := map[api.RankRef]api.Assignment{}
	files := map[string]map[string]string{} // FrameFiles by reference
	ping := time.NewTicker(interval)
	defer ping.Stop()
	var pings uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.kick:
			if err := report(false); err != nil {
				return err
			}
		case <-ping.C:
			pings++
			var token uint64
			if pings%4 == 0 {
				token = pings
			}
			if err := st.Ping(token, writeTimeout); err != nil {
				return err
			}
		case err := <-errc:
			return err
		case f := <-frames:
			switch f.typ {
			case api.FrameAssign:
				var m api.StreamAssignments
				if err := json.Unmarshal(f.payload, &m); err != nil {
					return fmt.Errorf("assignment frame: %w", err)
				}
				if m.Full {
					clear(list)
				}
				for _, r := range m.Remove {
					delete(list, r)
				}
				for i, as := range m.Set {
					if i < len(m.FileRefs) && m.FileRefs[i] != "" {
						f, ok := files[m.FileRefs[i]]
						if !ok {
							return fmt.Errorf("assignment %s names files %q the server did not send", api.RefOf(as).JobID, m.FileRefs[i])
						}
						as.Files = f
					}
					list[api.RefOf(as)] = as
				}
				for ref := range files {
					if !slices.Contains(m.FileRefs, ref) && !listedFiles(list, files[ref]) {
						delete(files, ref)
					}
				}
				var sent map[rankKey]bool
				if m.Answer > 0 {
					sent = pending[m.Answer]
					for s := range pending {
						if s <= m.Answer {
							delete(pending, s)
						}
					}
				}
				asgs := make([]api.Assignment, 0, len(list))
				for _, as := range list {
					asgs = append(asgs, as)
				}
				a.apply(asgs, sent)
				// Ranks started or stopped: tell the server now.
				if err := report(false); err != nil {
					return err
				}
			case api.FramePong:
			case api.FrameFiles:
				ref, f, err := api.ParseFilesFrame(f.payload, 64<<20)
				if err != nil {
					return err
				}
				files[ref] = f
			case api.FrameError:
				var e api.Error
				if err := json.Unmarshal(f.payload, &e); err != nil || e.Code == "" {
					return fmt.Errorf("error frame: %q", f.payload)
				}
				if e.Code == api.CodeBadData {
					a.log.Error("the server refused a report", "err", &e)
					continue
				}
				return &e
			default:
				return fmt.Errorf("unknown frame type %q from the server", f.typ)
			}
		}
	}
}
