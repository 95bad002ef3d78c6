package server

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
	"github.com/qunhq/qun/internal/state"
)

// committer is the group-commit half of the commit rule (doc.go): changes
// are made in memory under Server.mu and marked dirty; the committer
// goroutine (commitLoop) collects everything marked so far under mu,
// releases mu, writes it in one Durable.Commit (one fsync) and then
// publishes the batch's generation. A request answers only once the
// generation it observed is durable (await).
type committer struct {
	// gen counts the batches collected or queued: the generation of the
	// newest change in memory. marks counts the records marked. Both are
	// guarded by Server.mu.
	gen, marks uint64
	kick       chan struct{} // a change is queued; capacity 1
	stop       chan struct{} // closed by Close: write what is left and exit
	done       chan struct{} // closed when commitLoop has exited

	// mu guards what waiters read. Each batch has a channel, closed once
	// it is durable (or a commit failed): a waiter sleeps on its own
	// batch's channel and wakes once, not with every batch (sync.Cond's
	// Broadcast woke every waiter of every later batch too).
	mu        sync.Mutex
	durable   uint64        // the newest generation on disk
	collected uint64        // the generation of the batch being written
	inflight  chan struct{} // closed when the batch being written is durable
	next      chan struct{} // closed when the batch after it is durable
	err       error         // set when a commit failed; no generation is published after it

	// batches, records and commitNanos count the commits written, the
	// records in them and the time spent in Durable.Commit.
	batches, records, commitNanos atomic.Uint64
	// broken mirrors Server.broken for the HTTP handler's check without mu.
	broken atomic.Bool

	// ackEarly is a planted bug for the tests: answers stop waiting for
	// their commit. Set before any request.
	ackEarly bool
}

func (c *committer) init() {
	c.kick, c.stop, c.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	c.inflight, c.next = make(chan struct{}), make(chan struct{})
	close(c.inflight) // no batch is being written
}

// CommitStats is what the committer has written since the server started.
type CommitStats struct {
	Batches uint64        // Durable.Commit calls (one fsync each on bbolt)
	Records uint64        // records written or deleted in them
	Time    time.Duration // spent in Durable.Commit
	Audit   auth.LogStats // the audit log's batches (one fsync each) and entries; zero without authentication
}

// CommitStats returns the committer's counts.
func (s *Server) CommitStats() CommitStats {
	st := CommitStats{Batches: s.cm.batches.Load(), Records: s.cm.records.Load(), Time: time.Duration(s.cm.commitNanos.Load())}
	if s.cfg.Auth != nil && s.cfg.Auth.Audit != nil {
		st.Audit = s.cfg.Auth.Audit.Stats()
	}
	return st
}

// queue ends a change made under mu: whatever it marked is written by the
// next batch. It returns the generation the caller must await before it
// answers, the newest change it may have observed, whether its own or
// another request's. Callers hold mu.
func (s *Server) queue() uint64 {
	if s.pendingWrites(s.clock.Now()) {
		s.cm.gen++
		select {
		case s.cm.kick <- struct{}{}:
		default:
		}
	}
	return s.cm.gen
}

// observed returns the generation a request that only read memory must
// await: the changes it saw may still be on their way to disk. Callers
// hold mu.
func (s *Server) observed() uint64 { return s.cm.gen }

// observedMark is observed for a request that read only the records whose
// newest mark is generation want: it need not wait for batches of other
// records. Callers hold mu.
func (s *Server) observedMark(want uint64) uint64 {
	// A mark is in a batch of generation want or later; want is only past
	// gen when nothing was queued with it (an index change alone).
	return min(want, s.cm.gen)
}

// markNodes notes that what the named nodes' heartbeats answer changed
// with the newest marks. Callers hold mu.
func (s *Server) markNodes(names []string) {
	for _, name := range names {
		if n := s.nodes[name]; n != nil {
			n.want = s.cm.gen + 1
		}
	}
}

// pendingWrites reports whether anything waits to be written. Callers hold
// mu.
func (s *Server) pendingWrites(now time.Time) bool {
	if len(s.dirtyJobs) > 0 || len(s.dirtyNodes) > 0 || len(s.dirtyKeys) > 0 {
		return true
	}
	// Fair-share history alone is due at most once a minute (usageWrites).
	return s.fair.dirty && now.Sub(s.fair.savedAt) >= usageSaveEvery
}

// await blocks until generation want is durable. It returns nil then, or
// the unavailable error to answer with when a commit failed first: the
// change a request made or saw may then be lost, so it must not be
// acknowledged. Callers do not hold mu.
func (s *Server) await(want uint64) error {
	c := &s.cm
	if c.ackEarly {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.durable >= want {
			return nil
		}
		if c.err != nil {
			return errorf(api.CodeUnavailable, "the state store failed: %v", c.err)
		}
		ch := c.next
		if want <= c.collected {
			ch = c.inflight
		}
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
}

// seal starts the batch of generation gen: the waiters of every generation
// up to gen now wait for it, the later ones for the batch after it. Flush
// calls it under Server.mu with the batch it collected, so no generation
// is handed out between the two. It returns the batch's channel.
func (c *committer) seal(gen uint64) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.collected, c.inflight, c.next = gen, c.next, make(chan struct{})
	return c.inflight
}

// publish ends the batch sealed with gen and channel ch: durable, or
// failed with err, which also ends every later wait.
func (c *committer) publish(gen uint64, ch chan struct{}, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.err == nil {
			close(c.next) // no batch follows; waiters find err
		}
		c.err = err
	} else {
		c.durable = max(c.durable, gen)
	}
	close(ch)
}

// answer is await for a request that ends with err: err when the change it
// observed is durable, an unavailable error when it is not.
func (s *Server) answer(want uint64, err error) error {
	if werr := s.await(want); werr != nil {
		return werr
	}
	return err
}

// commitLoop writes batches until Close, and stops at the first failure.
func (s *Server) commitLoop() {
	defer close(s.cm.done)
	for {
		select {
		case <-s.cm.kick:
		case <-s.cm.stop:
			s.flush()
			return
		}
		if s.flush() != nil {
			return
		}
	}
}

// flush writes one batch, everything marked so far, and publishes its
// generation. It runs on the committer goroutine only (and in New before
// that starts). On failure the server is marked broken before any waiter
// learns of it.
func (s *Server) flush() error {
	s.mu.Lock()
	recs, gen, err := s.collect(s.clock.Now())
	ch := s.cm.seal(gen)
	s.mu.Unlock()
	if s.cfg.Auth != nil && s.cfg.Auth.Audit != nil {
		// The audit entries of the requests in this batch (enqueued as
		// they changed the state, auditEarly) are fsynced beside it.
		s.cfg.Auth.Audit.Cut()
	}
	if n := len(recs.Jobs) + len(recs.Nodes) + len(recs.Server); err == nil && n > 0 {
		t0 := time.Now()
		err = s.store.Commit(recs)
		s.cm.batches.Add(1)
		s.cm.records.Add(uint64(n))
		s.cm.commitNanos.Add(uint64(time.Since(t0)))
	}
	if err != nil {
		s.mu.Lock()
		s.fail(err)
		s.mu.Unlock()
	}
	s.cm.publish(gen, ch, err)
	return err
}

// collect encodes every marked record into one batch and clears the marks.
// It returns the batch and the generation it makes durable. Callers hold
// mu.
func (s *Server) collect(now time.Time) (state.Records, uint64, error) {
	others := len(s.dirtyJobs) > 0 || len(s.dirtyNodes) > 0 || len(s.dirtyKeys) > 0
	usage, err := s.usageWrites(others, now)
	if err != nil {
		return state.Records{}, 0, err
	}
	if !others && usage == nil {
		return state.Records{}, s.cm.gen, nil
	}
	jobs := make(map[string][]byte, len(s.dirtyJobs)+len(s.dirtyKeys))
	for id := range s.dirtyJobs {
		data, err := encodeJob(s.jobs[id])
		if err != nil {
			return state.Records{}, 0, fmt.Errorf("encode job %s: %w", id, err)
		}
		jobs[id] = data
	}
	for k, v := range s.dirtyKeys {
		jobs[k] = v
	}
	nodes := make(map[string][]byte, len(s.dirtyNodes))
	for name := range s.dirtyNodes {
		data, err := encodeNode(s.nodes[name])
		if err != nil {
			return state.Records{}, 0, fmt.Errorf("encode node %s: %w", name, err)
		}
		nodes[name] = data
	}
	clear(s.dirtyJobs)
	clear(s.dirtyNodes)
	clear(s.dirtyKeys)
	if usage != nil {
		s.fair.dirty, s.fair.savedAt = false, now
	}
	// The batch holds every change marked so far, also one whose request
	// has not called queue yet: count it.
	s.cm.gen++
	return state.Records{Jobs: jobs, Nodes: nodes, Server: usage}, s.cm.gen, nil
}

// touch marks a job's record to be written by the next batch. Rank records
// of an attempt that is over are deleted with it: the job record then holds
// what is left to know. Callers hold mu.
func (s *Server) touch(j *jobRec) {
	s.dirtyJobs[j.ID] = struct{}{}
	s.cm.marks++
	j.saved, j.want = durableOf(j), s.cm.gen+1
	s.markNodes(j.onNodes)
	s.streamTouched(j)
	if len(j.rankKeys) > 0 && (j.State.Terminal() || !j.LC.Placed || j.rankAttempt != j.Attempt) {
		for _, k := range j.rankKeys {
			s.dirtyKeys[k] = nil
		}
		j.rankKeys = nil
	}
}

// touchIfDurable marks a job when a durable fact of it changed since it
// was last marked; changes of soft state only (rank liveness) are not
// written. Callers hold mu.
func (s *Server) touchIfDurable(j *jobRec) {
	if durableOf(j) != j.saved {
		s.touch(j)
	}
}

// touchRank marks the end of one rank of the job's current attempt to be
// written as its own small record, so a rank's exit does not rewrite its
// job's record. Callers hold mu.
func (s *Server) touchRank(j *jobRec, r int) {
	if j.rankAttempt != j.Attempt && len(j.rankKeys) > 0 {
		for _, k := range j.rankKeys {
			s.dirtyKeys[k] = nil
		}
		j.rankKeys = nil
	}
	data, err := json.Marshal(j.Ranks[r])
	if err != nil {
		s.fail(err) // not reachable: a RankStatus always encodes
		return
	}
	k := rankKey(j.ID, j.Attempt, r)
	s.dirtyKeys[k] = data
	s.cm.marks++
	j.want = s.cm.gen + 1
	s.markNodes([]string{j.Ranks[r].Node})
	j.rankKeys = append(j.rankKeys, k)
	j.rankAttempt = j.Attempt
}

// touchNode marks a node's record to be written by the next batch.
// Callers hold mu.
func (s *Server) touchNode(n *nodeRec) {
	s.dirtyNodes[n.Name] = struct{}{}
	s.cm.marks++
	n.want = s.cm.gen + 1
}

// serving returns the error every request gets once a commit failed, or
// nil.
func (s *Server) serving() error {
	if !s.cm.broken.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readable()
}

// readable returns the error a read gets once a commit failed, or nil.
// Callers hold mu.
func (s *Server) readable() error {
	if s.broken != nil {
		return s.usable()
	}
	return nil
}

// fail marks the server broken: memory is ahead of disk. Callers hold mu.
func (s *Server) fail(err error) error {
	if s.broken == nil {
		s.log.Error("state store failed; refusing further requests", "err", err)
		s.broken = err
		s.cm.broken.Store(true)
	}
	return errorf(api.CodeUnavailable, "the state store failed: %v", err)
}

// durable is the part of a job's lifecycle that is written to the state
// file when it changes; comparing it tells a durable change (an attempt
// placed, started running, ended; a job stopping, finished) from a change
// of soft state (a rank assigned, up or gone), which agents report again.
type durable struct {
	state, target               string
	reason, path                string
	attempt, restarts, history  int
	placed                      bool
	ranks                       int
	placedAt, reserved, evictAt time.Time
	restartAt, running, finish  time.Time
	lastEnded, lastRecovered    time.Time
	lastDetail, lastPath        string
	lastLost, lastReplaced      int
}

func durableOf(j *jobRec) durable {
	lc := &j.LC
	d := durable{state: string(lc.State), target: string(lc.Target), reason: lc.Reason, path: string(lc.Path),
		attempt: lc.Attempt, restarts: lc.Restarts, history: len(lc.History), placed: lc.Placed, ranks: len(j.Placement),
		placedAt: lc.PlacedAt, reserved: lc.Reserved, evictAt: lc.EvictAt, restartAt: lc.RestartAt}
	if lc.RunningAt != nil {
		d.running = *lc.RunningAt
	}
	if lc.FinishedAt != nil {
		d.finish = *lc.FinishedAt
	}
	if n := len(lc.History); n > 0 {
		h := &lc.History[n-1]
		if h.EndedAt != nil {
			d.lastEnded = *h.EndedAt
		}
		if h.RecoveredAt != nil {
			d.lastRecovered = *h.RecoveredAt
		}
		d.lastDetail, d.lastPath, d.lastLost, d.lastReplaced = h.Detail, string(h.Path)+h.Why, len(h.Lost), len(h.Replaced)
	}
	return d
}

// rankKey names the record of one rank's end: beside its job's record, in
// the jobs key space.
func rankKey(id string, attempt, rank int) string { return fmt.Sprintf("%s/%d/%d", id, attempt, rank) }
