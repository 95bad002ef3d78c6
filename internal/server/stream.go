package server

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunhq/qun/api"
)

// This file is the node stream (docs/agent.md, "Transport"): one long-lived
// connection per agent, opened as an ordinary HTTP request (GET
// /v1/nodes/{name}/stream, so it passes the same middleware and a node
// certificate names the node) and upgraded to length-prefixed frames.
//
//   - Reports: a FrameReport goes through Heartbeat, the same code as a
//     POST heartbeat; its answer is pushed as a delta.
//   - Pushes: touch (every change of a job) marks the streams of the nodes
//     whose assignments may have changed; one goroutine (push) computes
//     their lists in one critical section and one commit, and queues the
//     deltas. It is the only writer of assignment frames, so a stream never
//     sees an older list after a newer one.
//   - Liveness: every frame is a sign of life, kept in an atomic that
//     Reconcile reads (lastSignOfLife) and that is copied into the nodes'
//     LastHeartbeat every liveTick. Reports run beside the reader, so a
//     report waiting for the lock does not hold up pings. A stream silent for the
//     node timeout is dropped by its read deadline and Reconcile runs at
//     once, so a hung node is lost when its timeout is up, not a reconcile
//     period later. A closed stream is noticed at once (its node's time
//     without a sign of life counts from its last frame; an agent that
//     restarts reconnects and adopts its ranks, so closing alone loses
//     nothing).
//
// Lock order: s.mu, then hub.mu.

// streamHub is the server's registry of node streams; its zero value is
// ready.
type streamHub struct {
	once sync.Once
	live atomic.Int64 // open streams; touch does nothing while 0

	mu       sync.Mutex
	sessions map[string]*session // by canonical node name
	dirty    map[*session]struct{}

	// Guarded by s.mu: what the push goroutine last listed per job, so a
	// changed job finds the streams that hold its ranks even after its
	// placement is gone, and a fingerprint of each job's assignments so
	// that changes that do not alter them push nothing.
	jobNodes map[string]map[*session]struct{}
	jobPrint map[string]assignPrint

	kick      chan struct{}
	reconcile chan struct{}

	// files caches the FrameFiles of each job attempt's shared file set;
	// only the push goroutine uses it.
	files map[string]*filesBlob
}

// filesBlob is one encoded file set.
type filesBlob struct {
	files map[string]string
	ref   string
	frame []byte
}

// assignPrint is what decides a job's assignments besides node state.
type assignPrint struct {
	active           bool
	attempt, nplaced int
	nexited          int
	where            uint64 // a hash of every rank's node and devices
}

func printOf(j *jobRec) assignPrint {
	p := assignPrint{active: j.State == api.JobStarting || j.State == api.JobRunning, attempt: j.Attempt, nplaced: len(j.Placement)}
	for i := range j.Ranks {
		if j.Ranks[i].State == api.RankExited {
			p.nexited++
		}
	}
	h := fnv.New64a()
	var b [8]byte
	for _, rp := range j.Placement {
		h.Write([]byte(rp.Node))
		for _, d := range rp.Devices {
			binary.BigEndian.PutUint64(b[:], uint64(d))
			h.Write(b[:])
		}
		h.Write([]byte{0})
	}
	p.where = h.Sum64()
	return p
}

// session is one open node stream.
type session struct {
	s    *Server
	node string // canonical
	who  string // audit identity of the stream's opener
	boot string
	conn net.Conn

	lastSeen atomic.Int64  // unix nanoseconds (server clock) of the last frame
	flushed  atomic.Int64  // lastSeen when flushLiveness last looked at the session
	answer   atomic.Uint64 // newest report whose Heartbeat returned
	reported atomic.Bool

	// Reports are run by a goroutine of their own, so that the reader goes
	// on reading pings while a report waits for the server's lock; a newer
	// report replaces one not yet started (it lists every rank, and every
	// exit not yet acknowledged).
	repMu   sync.Mutex
	next    *streamReport
	working bool

	// Owned by the push goroutine.
	sent       map[api.RankRef]struct{}
	jobs       map[string]struct{}
	refsSent   map[string]bool // FrameFiles already sent
	answered   uint64
	pushedOnce bool

	wmu   sync.Mutex
	out   []byte
	spare []byte
	wkick chan struct{}

	closeOnce sync.Once
	done      chan struct{}
}

// lastSignOfLife returns when a node was last heard from: its last
// heartbeat or report, or the last frame of its stream, whichever is newer
// (the stream's is copied into LastHeartbeat). Reconcile reads it; it
// takes no lock a report waits for, so pings count even while reports
// queue. Callers hold s.mu.
func (s *Server) lastSignOfLife(n *nodeRec) time.Time {
	h := &s.streams
	if h.live.Load() == 0 {
		return n.LastHeartbeat
	}
	h.mu.Lock()
	ss := h.sessions[n.Name]
	h.mu.Unlock()
	if ss != nil && ss.boot == n.BootID {
		if seen := time.Unix(0, ss.lastSeen.Load()); seen.After(n.LastHeartbeat) {
			n.LastHeartbeat = seen
		}
	}
	return n.LastHeartbeat
}

// liveTick is how often signs of life reach the nodes' LastHeartbeat.
func (s *Server) liveTick() time.Duration {
	return min(max(s.cfg.NodeTimeout/16, 10*time.Millisecond), 250*time.Millisecond)
}

func (h *streamHub) init(s *Server) {
	h.once.Do(func() {
		h.mu.Lock()
		h.sessions, h.dirty = map[string]*session{}, map[*session]struct{}{}
		h.kick, h.reconcile = make(chan struct{}, 1), make(chan struct{}, 1)
		h.mu.Unlock()
		go s.streamLoop()
		go s.livenessLoop()
		go s.streamReconcileLoop()
	})
}

// streamTouched is called by touch: it marks the streams whose node may see
// different assignments because j changed. Callers hold s.mu.
func (s *Server) streamTouched(j *jobRec) {
	h := &s.streams
	if h.live.Load() == 0 {
		return
	}
	p := printOf(j)
	if h.jobPrint == nil {
		h.jobPrint, h.jobNodes = map[string]assignPrint{}, map[string]map[*session]struct{}{}
	}
	if old, ok := h.jobPrint[j.ID]; ok && old == p {
		return
	}
	if !p.active && p.nplaced == 0 && len(h.jobNodes[j.ID]) == 0 {
		delete(h.jobPrint, j.ID)
	} else {
		h.jobPrint[j.ID] = p
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ss := range h.jobNodes[j.ID] {
		h.dirty[ss] = struct{}{}
	}
	seen := ""
	for _, rp := range j.Placement {
		if rp.Node == seen {
			continue
		}
		seen = rp.Node
		if ss := h.sessions[rp.Node]; ss != nil {
			h.dirty[ss] = struct{}{}
		}
	}
	h.wake()
}

func (h *streamHub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// mark asks for a push to one stream.
func (h *streamHub) mark(ss *session) {
	h.mu.Lock()
	h.dirty[ss] = struct{}{}
	h.mu.Unlock()
	h.wake()
}

// handleStream opens a node stream (GET /v1/nodes/{name}/stream).
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) error {
	if !strings.EqualFold(r.Header.Get("Upgrade"), api.StreamProtocol) || !hasToken(r.Header.Values("Connection"), "upgrade") {
		return &api.Error{Code: api.CodeBadData, Message: "the node stream needs an upgrade",
			Problems: []api.Problem{{Field: "Upgrade", Message: fmt.Sprintf("%q: want %q with Connection: Upgrade", r.Header.Get("Upgrade"), api.StreamProtocol)}}}
	}
	boot := r.URL.Query().Get("boot_id")
	if boot == "" {
		return &api.Error{Code: api.CodeBadData, Message: "invalid stream request", Problems: []api.Problem{{Field: "boot_id", Message: "required"}}}
	}
	s.mu.Lock()
	err := s.usable()
	var n *nodeRec
	if err == nil {
		n, err = s.node(r.PathValue("name"))
	}
	if err == nil {
		switch {
		case n.State == api.NodeRemoved:
			err = errorf(api.CodeGone, "node %s was removed; register it again to use it", n.Name)
		case n.BootID != boot:
			err = errorf(api.CodeConflict, "node %s is registered with boot ID %s, not %s; register again", n.Name, n.BootID, boot)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return errorf(api.CodeBadData, "the node stream needs HTTP/1.1 (the connection cannot be upgraded: %v)", err)
	}
	s.streams.init(s)
	conn.SetDeadline(time.Time{})
	fmt.Fprintf(brw.Writer, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: %s\r\n%s: %s\r\n\r\n",
		api.StreamProtocol, api.StreamPingHeader, s.cfg.Heartbeat, api.StreamTimeoutHeader, s.cfg.NodeTimeout)
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := brw.Writer.Flush(); err != nil {
		conn.Close()
		return nil
	}
	ss := &session{s: s, node: n.Name, who: s.streamWho(r), boot: boot, conn: conn, wkick: make(chan struct{}, 1), done: make(chan struct{}),
		sent: map[api.RankRef]struct{}{}, jobs: map[string]struct{}{}, refsSent: map[string]bool{}}
	ss.lastSeen.Store(s.clock.Now().UnixNano())
	h := &s.streams
	h.mu.Lock()
	old := h.sessions[n.Name]
	h.sessions[n.Name] = ss
	h.mu.Unlock()
	h.live.Add(1)
	if old != nil {
		old.close("replaced by a newer stream of the node")
	}
	s.log.Debug("node stream open", "node", n.Name, "remote", conn.RemoteAddr().String())
	go ss.writeLoop()
	ss.readLoop(brw.Reader)
	return nil
}

func hasToken(values []string, tok string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), tok) {
				return true
			}
		}
	}
	return false
}

// readLoop reads frames until the stream fails, is closed, or stays silent
// for the node timeout.
func (ss *session) readLoop(br *bufio.Reader) {
	s := ss.s
	var buf []byte
	timeout := s.cfg.NodeTimeout + 5*time.Millisecond
	for {
		ss.conn.SetReadDeadline(time.Now().Add(timeout))
		typ, p, err := api.ReadFrame(br, api.MaxStreamFrame, &buf)
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
				ss.close("silent for the node timeout")
				s.streams.reconcileSoon()
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
				ss.close("closed")
			default:
				ss.close(err.Error())
			}
			return
		}
		ss.lastSeen.Store(s.clock.Now().UnixNano())
		switch typ {
		case api.FramePing:
			if len(p) == 8 {
				ss.send(api.AppendFrame(nil, api.FramePong, p))
			}
		case api.FrameReport:
			if !ss.report(p) {
				return
			}
		default:
			ss.fail(&api.Error{Code: api.CodeBadData, Message: fmt.Sprintf("unknown stream frame type %q (allowed: %q ping, %q report)", typ, api.FramePing, api.FrameReport)})
			return
		}
	}
}

type streamReport struct {
	seq uint64
	req api.HeartbeatRequest
}

// report decodes one report frame and queues it. It returns false when
// the stream was closed.
func (ss *session) report(p []byte) bool {
	if len(p) < 8 {
		ss.fail(&api.Error{Code: api.CodeBadData, Message: fmt.Sprintf("report frame of %d bytes: want an 8-byte sequence number, then the heartbeat JSON", len(p))})
		return false
	}
	seq := binary.BigEndian.Uint64(p)
	req, err := DecodeHeartbeat(p[8:])
	if err != nil {
		return ss.reportDone(seq, err)
	}
	ss.repMu.Lock()
	ss.next = &streamReport{seq, req}
	start := !ss.working
	ss.working = true
	ss.repMu.Unlock()
	if start {
		go ss.reportLoop()
	}
	return true
}

func (ss *session) reportLoop() {
	for {
		ss.repMu.Lock()
		r := ss.next
		ss.next = nil
		if r == nil || ss.closed() {
			ss.working = false
			ss.repMu.Unlock()
			return
		}
		ss.repMu.Unlock()
		var err error
		if r.req.BootID != ss.boot {
			err = errorf(api.CodeConflict, "the report names boot ID %s; the stream was opened for %s", r.req.BootID, ss.boot)
		} else {
			_, err = ss.s.Heartbeat(ss.node, r.req)
		}
		ss.reportDone(r.seq, err)
	}
}

// reportDone answers a report: through a push, or with an error frame.
func (ss *session) reportDone(seq uint64, err error) bool {
	ss.auditReport(err) // audit_telemetry.go
	if err != nil {
		var e *api.Error
		if errors.As(err, &e) && e.Code == api.CodeBadData {
			// As a 400 answer: nothing changed, the stream goes on.
			ss.send(errorFrame(e))
			return true
		}
		ss.fail(err)
		return false
	}
	ss.answer.Store(seq)
	ss.reported.Store(true)
	ss.s.streams.mark(ss)
	return true
}

func errorFrame(err error) []byte {
	var e *api.Error
	if !errors.As(err, &e) {
		e = &api.Error{Code: api.CodeInternal, Message: err.Error()}
	}
	data, _ := json.Marshal(e)
	return api.AppendFrame(nil, api.FrameError, data)
}

// fail sends err as an error frame and closes the stream.
func (ss *session) fail(err error) {
	ss.send(errorFrame(err))
	ss.flushNow()
	ss.close(err.Error())
}

// send queues a frame.
func (ss *session) send(frame []byte) {
	ss.wmu.Lock()
	ss.out = append(ss.out, frame...)
	big := len(ss.out) > 64<<20
	ss.wmu.Unlock()
	if big {
		ss.close("the agent does not read its stream")
		return
	}
	select {
	case ss.wkick <- struct{}{}:
	default:
	}
}

func (ss *session) writeLoop() {
	for {
		select {
		case <-ss.done:
			return
		case <-ss.wkick:
		}
		if err := ss.flushNow(); err != nil {
			ss.close("write: " + err.Error())
			return
		}
	}
}

// flushNow writes what is queued.
func (ss *session) flushNow() error {
	ss.wmu.Lock()
	buf := ss.out
	ss.out = ss.spare[:0]
	ss.wmu.Unlock()
	if len(buf) == 0 {
		return nil
	}
	ss.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := ss.conn.Write(buf)
	ss.wmu.Lock()
	if cap(buf) <= 64<<10 {
		ss.spare = buf[:0]
	}
	ss.wmu.Unlock()
	return err
}

// close ends the stream; it is safe to call more than once.
func (ss *session) close(why string) {
	ss.closeOnce.Do(func() {
		close(ss.done)
		ss.conn.Close()
		h := &ss.s.streams
		h.mu.Lock()
		if h.sessions[ss.node] == ss {
			delete(h.sessions, ss.node)
		}
		delete(h.dirty, ss)
		h.mu.Unlock()
		h.live.Add(-1)
		ss.s.log.Info("node stream closed", "node", ss.node, "why", why)
	})
}

func (ss *session) closed() bool {
	select {
	case <-ss.done:
		return true
	default:
		return false
	}
}

func (h *streamHub) reconcileSoon() {
	select {
	case h.reconcile <- struct{}{}:
	default:
	}
}

// streamReconcileLoop runs Reconcile when a stream went silent, so the
// node is lost as soon as its timeout is up. Bursts cost one call.
func (s *Server) streamReconcileLoop() {
	for {
		select {
		case <-s.stop:
			return
		case <-s.streams.reconcile:
		}
		s.flushLiveness()
		s.Reconcile()
		select {
		case <-s.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// streamLoop pushes assignments when streams are marked, until the server
// stops.
func (s *Server) streamLoop() {
	for {
		select {
		case <-s.stop:
			s.closeStreams()
			return
		case <-s.streams.kick:
			s.push()
		}
	}
}

// livenessLoop copies signs of life every liveTick.
func (s *Server) livenessLoop() {
	t := time.NewTicker(s.liveTick())
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.flushLiveness()
		}
	}
}

// all returns the open streams.
func (h *streamHub) all() []*session {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*session, 0, len(h.sessions))
	for _, ss := range h.sessions {
		out = append(out, ss)
	}
	return out
}

// closeStreams closes every stream (the server is shutting down; agents
// reconnect to the next one).
func (s *Server) closeStreams() {
	all := s.streams.all()
	for _, ss := range all {
		ss.close("server shutting down")
	}
}

// flushLiveness copies the streams' last signs of life into their nodes.
// A stream whose node was lost after its report is closed: the agent
// reconnects and reports, which makes the node ready again.
func (s *Server) flushLiveness() {
	all := s.streams.all()
	var drop []*session
	s.mu.Lock()
	for _, ss := range all {
		// A session without a frame since the last flush has nothing to
		// copy, and its node's state is looked at once it speaks again
		// (pings come every heartbeat interval, flushes several times as
		// often, so most sessions are skipped without a lookup).
		seen := ss.lastSeen.Load()
		if ss.flushed.Swap(seen) == seen {
			continue
		}
		n := s.nodes[ss.node]
		if n == nil {
			continue
		}
		switch {
		case n.State == api.NodeReady && n.BootID == ss.boot:
			if seen := time.Unix(0, ss.lastSeen.Load()); seen.After(n.LastHeartbeat) {
				n.LastHeartbeat = seen
			}
		case ss.reported.Load():
			drop = append(drop, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range drop {
		ss.close("node is no longer ready under this stream; the agent reconnects and reports")
	}
}

// push computes the assignments of every marked stream in one critical
// section, waits for the commit of what that marked, and queues the deltas.
func (s *Server) push() {
	h := &s.streams
	h.mu.Lock()
	batch := make([]*session, 0, len(h.dirty))
	for ss := range h.dirty {
		batch = append(batch, ss)
	}
	clear(h.dirty)
	h.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	type result struct {
		ss     *session
		list   []api.Assignment
		answer uint64
		err    error
	}
	res := make([]result, 0, len(batch))
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		for _, ss := range batch {
			ss.fail(err)
		}
		return
	}
	if h.jobNodes == nil {
		h.jobPrint, h.jobNodes = map[string]assignPrint{}, map[string]map[*session]struct{}{}
	}
	for _, ss := range batch {
		if ss.closed() {
			s.forgetJobs(ss, nil)
			continue
		}
		r := result{ss: ss, answer: ss.answer.Load()}
		n := s.nodes[ss.node]
		switch {
		case n == nil:
			r.err = errorf(api.CodeNotFound, "node %s is not registered; register it first", ss.node)
		case n.State == api.NodeRemoved:
			r.err = errorf(api.CodeGone, "node %s was removed; register it again to use it", n.Name)
		case n.BootID != ss.boot:
			r.err = errorf(api.CodeConflict, "node %s is registered with boot ID %s, not %s; register again", n.Name, n.BootID, ss.boot)
		case !ss.reported.Load():
			continue // its first report will bring the list
		case n.State != api.NodeReady:
			// Lost meanwhile: a report makes it ready again (as a POST
			// heartbeat would), so the agent reconnects and reports.
			r.err = errorf(api.CodeUnavailable, "node %s is %s; reconnect and report", n.Name, n.State)
		default:
			r.list = s.assignments(n)
			jobs := map[string]struct{}{}
			for _, a := range r.list {
				jobs[a.JobID] = struct{}{}
			}
			s.forgetJobs(ss, jobs)
			for id := range jobs {
				if _, ok := ss.jobs[id]; !ok {
					if h.jobNodes[id] == nil {
						h.jobNodes[id] = map[*session]struct{}{}
					}
					h.jobNodes[id][ss] = struct{}{}
				}
			}
			ss.jobs = jobs
		}
		res = append(res, r)
	}
	want := s.queue() // what assignments marked delivered, written by the next batch
	s.mu.Unlock()
	if err := s.await(want); err != nil {
		return // the server is broken; usable fails from now on
	}
	for _, r := range res {
		if r.err != nil {
			r.ss.fail(r.err)
			continue
		}
		r.ss.pushList(r.list, r.answer)
	}
}

// forgetJobs drops ss from the jobs it listed that keep does not hold.
// Callers hold s.mu.
func (s *Server) forgetJobs(ss *session, keep map[string]struct{}) {
	h := &s.streams
	for id := range ss.jobs {
		if _, ok := keep[id]; ok {
			continue
		}
		if m := h.jobNodes[id]; m != nil {
			delete(m, ss)
			if len(m) == 0 {
				delete(h.jobNodes, id)
			}
		}
	}
	if keep == nil {
		ss.jobs = map[string]struct{}{}
	}
}

// pushList queues the delta from what ss was last sent to list. Only the
// push goroutine calls it.
func (ss *session) pushList(list []api.Assignment, answer uint64) {
	msg := api.StreamAssignments{Full: !ss.pushedOnce}
	if answer > ss.answered {
		msg.Answer = answer
	}
	now := make(map[api.RankRef]struct{}, len(list))
	var pre []byte // FrameFiles the assignments need first
	for _, a := range list {
		k := api.RefOf(a)
		now[k] = struct{}{}
		if _, ok := ss.sent[k]; ok && !msg.Full {
			continue
		}
		ref := ""
		if len(a.Files) > 0 {
			b, err := ss.s.streams.blob(a)
			if err != nil {
				ss.fail(err)
				return
			}
			if !ss.refsSent[b.ref] {
				pre = append(pre, b.frame...)
			}
			ref, a.Files = b.ref, nil
			if msg.FileRefs == nil {
				msg.FileRefs = make([]string, len(msg.Set), len(list))
			}
		}
		msg.Set = append(msg.Set, a)
		if msg.FileRefs != nil {
			msg.FileRefs = append(msg.FileRefs, ref)
		}
	}
	if !msg.Full {
		for k := range ss.sent {
			if _, ok := now[k]; !ok {
				msg.Remove = append(msg.Remove, k)
			}
		}
	}
	if !msg.Full && msg.Answer == 0 && len(msg.Set) == 0 && len(msg.Remove) == 0 {
		return
	}
	slices.SortFunc(msg.Remove, func(a, b api.RankRef) int {
		return cmpKeyRef(a, b)
	})
	data, err := json.Marshal(msg)
	if err != nil {
		ss.fail(err)
		return
	}
	ss.sent, ss.pushedOnce, ss.answered = now, true, max(ss.answered, answer)
	for _, ref := range msg.FileRefs {
		if ref != "" {
			ss.refsSent[ref] = true
		}
	}
	ss.send(api.AppendFrame(pre, api.FrameAssign, data))
}

// blob returns the FrameFiles of an assignment's files, encoded once per
// job attempt (its ranks share one map). Only the push goroutine calls it.
func (h *streamHub) blob(a api.Assignment) (*filesBlob, error) {
	key := fmt.Sprintf("%s/%d", a.JobID, a.Attempt)
	if b := h.files[key]; b != nil && maps.Equal(b.files, a.Files) {
		return b, nil
	}
	if h.files == nil || len(h.files) >= 256 {
		h.files = map[string]*filesBlob{}
	}
	ref := fmt.Sprintf("%s/%d", key, time.Now().UnixNano())
	frame, err := api.AppendFilesFrame(nil, ref, a.Files)
	if err != nil {
		return nil, err
	}
	b := &filesBlob{files: a.Files, ref: ref, frame: frame}
	h.files[key] = b
	return b, nil
}

func cmpKeyRef(a, b api.RankRef) int {
	switch {
	case a.JobID != b.JobID:
		return strings.Compare(a.JobID, b.JobID)
	case a.Attempt != b.Attempt:
		return a.Attempt - b.Attempt
	}
	return a.Rank - b.Rank
}

// StreamCount returns the number of open node streams.
func (s *Server) StreamCount() int { return int(s.streams.live.Load()) }
