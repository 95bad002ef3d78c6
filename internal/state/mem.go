package state

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// MemStore is an in-memory Store.
type MemStore struct {
	mu       sync.Mutex
	pool     *pool.State
	queues   []sched.Queue
	jobs     map[string]*entry
	ended    map[string]lifecycle.Job // jobs that reached a terminal state
	seq      int64
	usage    map[string]float64
	usageAt  time.Time
	halfLife time.Duration
	down     map[pool.DomainID]bool // hosts lost (NodeLost) and not back (NodeBack)
	cordoned map[pool.DomainID]bool // hosts that take no new work (Cordon, Drain)
}

type entry struct {
	j   *sched.Job
	seq int64
	lc  lifecycle.Job
	// freed: the plan verifier already released the placement (an
	// eviction without grace); the lifecycle's release must not repeat it.
	freed bool
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns a store of an empty pool with the given queues.
// halfLife is the fair-share usage half-life (0: no history is kept).
func NewMemStore(t *pool.Topology, queues []sched.Queue, halfLife time.Duration) *MemStore {
	return &MemStore{pool: pool.NewState(t), queues: append([]sched.Queue(nil), queues...), jobs: map[string]*entry{}, ended: map[string]lifecycle.Job{}, halfLife: halfLife}
}

// SetQueues replaces the queue tree.
func (m *MemStore) SetQueues(queues []sched.Queue) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queues = append([]sched.Queue(nil), queues...)
}

// advance decays usage to now, counting the jobs running until now.
func (m *MemStore) advance(now time.Time) {
	if m.halfLife <= 0 {
		return
	}
	if m.usageAt.IsZero() || now.Before(m.usageAt) {
		if m.usageAt.IsZero() {
			m.usageAt = now
		}
		return
	}
	m.usage = sched.DecayUsage(m.usage, m.running(), m.usageAt, now, m.halfLife)
	m.usageAt = now
}

func (m *MemStore) running() []*sched.Job {
	var out []*sched.Job
	for _, e := range m.jobs {
		if e.j.Placement != nil {
			out = append(out, e.j)
		}
	}
	return out
}

// Snapshot implements Store.
func (m *MemStore) Snapshot(now time.Time) (*sched.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	es := make([]*entry, 0, len(m.jobs))
	for _, e := range m.jobs {
		es = append(es, e)
	}
	sort.Slice(es, func(a, b int) bool { return es[a].seq < es[b].seq })
	snap := &sched.Snapshot{Pool: m.pool.Clone(), Queues: append([]sched.Queue(nil), m.queues...)}
	for _, h := range m.pool.Topology().Hosts() {
		if m.down[h] {
			snap.NotReady = append(snap.NotReady, h)
		}
		if m.cordoned[h] {
			snap.Cordoned = append(snap.Cordoned, h)
		}
	}
	for _, e := range es {
		j := *e.j
		switch {
		case e.lc.Placed && j.Placement != nil:
			snap.Running = append(snap.Running, &j)
		case e.lc.Schedulable():
			snap.Pending = append(snap.Pending, &j)
		}
	}
	if m.usage != nil {
		snap.Usage = make(map[string]float64, len(m.usage))
		for k, v := range m.usage {
			snap.Usage[k] = v
		}
	}
	return snap, nil
}

// Submit implements Store. The job is copied.
func (m *MemStore) Submit(j *sched.Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.jobs[j.ID]; dup {
		return fmt.Errorf("%w: %s", ErrExists, j.ID)
	}
	if j.ID == "" || j.Ranks < 1 || j.RankMilli < 0 || j.Queue == "" {
		return fmt.Errorf("%w: %q needs an ID, a queue, at least one rank and no negative chips", ErrInvalid, j.ID)
	}
	c := *j
	c.Placement, c.Evicting, c.EvictAt, c.Reserved = nil, false, time.Time{}, time.Time{}
	m.seq++
	m.jobs[j.ID] = &entry{j: &c, seq: m.seq, lc: lifecycle.New(job.RestartPolicy{})}
	return nil
}

// SetRestartPolicy sets a job's restart policy (the default otherwise).
func (m *MemStore) SetRestartPolicy(id string, p job.RestartPolicy) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	e.lc.Policy = p
	return nil
}

// Complete implements Store: a placed job's ranks all exit 0 (it
// succeeds); a job that is not placed is cancelled. Either way it leaves
// the store (JobState still answers for it).
func (m *MemStore) Complete(id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	m.advance(now)
	if !e.lc.Placed {
		if err := m.step(e, lifecycle.Event{Kind: lifecycle.EvCancelled, At: now}); err != nil {
			return fmt.Errorf("complete %s: %w", id, err)
		}
	}
	for r := range e.lc.Ranks {
		zero := 0
		if err := m.step(e, lifecycle.Event{Kind: lifecycle.EvRankExited, At: now, Rank: r, ExitCode: &zero}); err != nil {
			return fmt.Errorf("complete %s: %w", id, err)
		}
	}
	if _, still := m.jobs[id]; still {
		// A job stopping or recovering: it ends here all the same.
		if e.j.Placement != nil && !e.freed {
			if err := m.pool.Release(e.j.Placement.Ranks...); err != nil {
				return fmt.Errorf("complete %s: %w", id, err)
			}
		}
		if e.j.Recover != nil {
			if err := m.pool.Release(e.j.Recover.Held()...); err != nil {
				return fmt.Errorf("complete %s: %w", id, err)
			}
		}
		m.ended[id] = e.lc
		delete(m.jobs, id)
	}
	return nil
}

// Requeue implements Store: the job is preempted and its ranks stop at
// once.
func (m *MemStore) Requeue(id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok || e.j.Placement == nil {
		return fmt.Errorf("%w: %s is not running", ErrNotFound, id)
	}
	m.advance(now)
	if e.lc.State == lifecycle.Starting || e.lc.State == lifecycle.Running {
		if err := m.step(e, lifecycle.Event{Kind: lifecycle.EvPreempted, At: now, EvictAt: now, Detail: "requeued"}); err != nil {
			return fmt.Errorf("requeue %s: %w", id, err)
		}
	}
	return m.stopRanks(e, now)
}

// stopRanks ends every live rank of a job now.
func (m *MemStore) stopRanks(e *entry, now time.Time) error {
	for r := range e.lc.Ranks {
		// A step may end the attempt and drop its ranks (the last live
		// one stopping).
		if r < len(e.lc.Ranks) && e.lc.Ranks[r].Live {
			if err := m.step(e, lifecycle.Event{Kind: lifecycle.EvRankGone, At: now, Rank: r}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Tick finishes the evictions whose grace period has ended by now: their
// ranks stop and the jobs become pending again. It also lets the restart
// backoff of recovering jobs run out. It returns the IDs of the jobs
// requeued, in order.
func (m *MemStore) Tick(now time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, e := range m.jobs {
		if e.lc.State == lifecycle.Stopping && e.lc.Target == lifecycle.Pending && !e.lc.EvictAt.After(now) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) > 0 {
		m.advance(now)
	}
	for _, id := range ids {
		_ = m.stopRanks(m.jobs[id], now)
	}
	for _, id := range m.sortedIDs() {
		if e := m.jobs[id]; e.lc.State == lifecycle.Recovering || e.lc.State == lifecycle.Stopping {
			_ = m.step(e, lifecycle.Event{Kind: lifecycle.EvTick, At: now})
		}
	}
	return ids
}

func (m *MemStore) sortedIDs() []string {
	ids := make([]string, 0, len(m.jobs))
	for id := range m.jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Event applies a lifecycle event to a job and carries out its actions,
// with the store's simulated processes: ranks start the moment they are
// launched and stop the moment they are told to, except during a
// preemption's grace period, which ends at Tick.
func (m *MemStore) Event(id string, ev lifecycle.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	m.advance(ev.At)
	return m.step(e, ev)
}

// NodeLost tells every placed job with a rank on the named host that the
// host is lost; nothing new is placed there until NodeBack.
func (m *MemStore) NodeLost(node string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	if h, ok := m.pool.Topology().HostByName(node); ok {
		if m.down == nil {
			m.down = map[pool.DomainID]bool{}
		}
		m.down[h] = true
		node = m.pool.Topology().Path(h)
	}
	for _, id := range m.sortedIDs() {
		e := m.jobs[id]
		if (e.lc.Placed || len(e.lc.Kept) > 0) && slices.Contains(e.lc.Nodes(), node) {
			_ = m.step(e, lifecycle.Event{Kind: lifecycle.EvNodeLost, At: now, Node: node})
		}
	}
}

// Cordon keeps new work off a host (what runs there stays); it reports
// whether the host exists.
func (m *MemStore) Cordon(node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.pool.Topology().HostByName(node)
	if ok {
		if m.cordoned == nil {
			m.cordoned = map[pool.DomainID]bool{}
		}
		m.cordoned[h] = true
	}
	return ok
}

// Uncordon lets a cordoned host take new work again.
func (m *MemStore) Uncordon(node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.pool.Topology().HostByName(node)
	delete(m.cordoned, h)
	return ok
}

// Drain cordons a host and moves every rank off it: the jobs with ranks
// there recover as after a node loss ("drained").
func (m *MemStore) Drain(node string, now time.Time) bool {
	if !m.Cordon(node) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now)
	h, _ := m.pool.Topology().HostByName(node)
	node = m.pool.Topology().Path(h)
	for _, id := range m.sortedIDs() {
		e := m.jobs[id]
		if (e.lc.Placed || len(e.lc.Kept) > 0) && slices.Contains(e.lc.Nodes(), node) {
			_ = m.step(e, lifecycle.Event{Kind: lifecycle.EvNodeLost, At: now, Node: node, Detail: "drained"})
		}
	}
	return true
}

// NodeBack makes a host lost with NodeLost usable again.
func (m *MemStore) NodeBack(node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.pool.Topology().HostByName(node); ok {
		delete(m.down, h)
	}
}

// JobState returns a job's lifecycle state, also after it ended.
func (m *MemStore) JobState(id string) (lifecycle.Job, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.jobs[id]; ok {
		return e.lc, true
	}
	lc, ok := m.ended[id]
	return lc, ok
}

// step applies one lifecycle event and carries out its actions. Callers
// hold mu.
func (m *MemStore) step(e *entry, ev lifecycle.Event) error {
	a, err := e.lc.Apply(ev)
	if err != nil {
		return err
	}
	j := e.j
	if len(a.ReleaseRanks) > 0 && !a.Release && j.Placement != nil {
		m.releaseRanks(e, a.ReleaseRanks)
	}
	if a.Release {
		if j.Placement != nil && !e.freed {
			if err := m.pool.Release(j.Placement.Ranks...); err != nil {
				panic(fmt.Sprintf("state: releasing %s: %v", j.ID, err))
			}
		}
		if j.Recover != nil {
			if err := m.pool.Release(j.Recover.Held()...); err != nil {
				panic(fmt.Sprintf("state: releasing %s's survivors: %v", j.ID, err))
			}
		}
		j.Placement, j.Recover, e.freed = nil, nil, false
	}
	j.Reserved, j.Started = e.lc.Reserved, e.lc.PlacedAt
	j.Evicting, j.EvictAt = e.lc.Evicting(), time.Time{}
	if j.Evicting {
		j.EvictAt = ev.At
		for _, t := range []time.Time{e.lc.EvictAt, e.lc.RestartAt} {
			if t.After(j.EvictAt) {
				j.EvictAt = t
			}
		}
	}
	if !e.lc.Placed {
		j.Started = time.Time{}
	}
	if a.Done {
		m.ended[j.ID] = e.lc
		delete(m.jobs, j.ID)
		return nil
	}
	if a.Launch {
		for r := range e.lc.Ranks {
			if err := m.step(e, lifecycle.Event{Kind: lifecycle.EvRankStarted, At: ev.At, Rank: r}); err != nil {
				return err
			}
		}
	}
	if len(a.Stop) > 0 && !(e.lc.State == lifecycle.Stopping && e.lc.EvictAt.After(ev.At)) {
		return m.stopRanks(e, ev.At)
	}
	return nil
}

// releaseRanks gives back the claims of a job's lost ranks; the job keeps
// its survivors' (sched.Job.Recover) and waits for the scheduler to place
// the lost ones next to them. Callers hold mu.
func (m *MemStore) releaseRanks(e *entry, ranks []int) {
	j := e.j
	r := &sched.Recovery{Keep: make([]pool.Claim, len(j.Placement.Ranks))}
	var give []pool.Claim
	for i, c := range j.Placement.Ranks {
		if slices.Contains(ranks, i) {
			give = append(give, c)
			r.Keep[i] = pool.Claim{Host: pool.NoDomain}
			r.Lost = append(r.Lost, i)
			if !slices.Contains(r.From, c.Host) {
				r.From = append(r.From, c.Host)
			}
			continue
		}
		r.Keep[i] = c
	}
	if !e.freed {
		if err := m.pool.Release(give...); err != nil {
			panic(fmt.Sprintf("state: releasing %s's lost ranks: %v", j.ID, err))
		}
	}
	j.Placement, j.Recover, e.freed = nil, r, false
}

// Checkpoint records that a running job saved its state at now.
func (m *MemStore) Checkpoint(id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok || e.j.Placement == nil {
		return fmt.Errorf("%w: %s is not running", ErrNotFound, id)
	}
	e.j.LastCheckpoint = now
	return nil
}

// Job returns a copy of a job.
func (m *MemStore) Job(id string) (sched.Job, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok {
		return sched.Job{}, false
	}
	return *e.j, true
}

// Pool returns a copy of the allocation state.
func (m *MemStore) Pool() *pool.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pool.Clone()
}

// Apply implements Store. Checks, in order: every job named exists and is
// in the state the plan assumes (pending to start, running to evict); each
// placement has one claim per rank with the job's chips, CPU and memory; and
// the pool can hold every placement at once after evictions without grace.
// Then it commits: victims without grace stop (and are requeued), victims
// with grace start their grace period, jobs start, reservations are noted.
func (m *MemStore) Apply(plan *sched.Plan, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ApplyToPool(m.pool, plan, memJobs{m}, ApplyOptions{ReleaseEvicted: true}); err != nil {
		return err
	}
	m.advance(now) // usage up to now, counted on the placements before this plan
	// Committed: nothing below can fail.
	for _, ev := range plan.Evict {
		e := m.jobs[ev.JobID]
		e.freed = ev.Grace <= 0 // the verifier released it
		_ = m.step(e, lifecycle.Event{Kind: lifecycle.EvPreempted, At: now, EvictAt: now.Add(ev.Grace),
			Detail: fmt.Sprintf("preempted by %s (%s)", ev.Preemptor, ev.Reason)})
	}
	for _, a := range plan.Start {
		e := m.jobs[a.JobID]
		p := a.Placement
		e.j.Placement, e.j.Recover = &p, nil
		nodes := make([]string, len(p.Ranks))
		for r, c := range p.Ranks {
			nodes[r] = m.pool.Topology().Path(c.Host)
		}
		_ = m.step(e, lifecycle.Event{Kind: lifecycle.EvPlaced, At: now, Nodes: nodes})
	}
	for _, r := range plan.Reservations {
		if e := m.jobs[r.JobID]; e != nil && e.lc.Schedulable() && e.lc.Reserved.IsZero() {
			e.lc.Reserved, e.j.Reserved = now, now
		}
	}
	return nil
}

// memJobs is the plan verifier's view of a MemStore's jobs.
type memJobs struct{ m *MemStore }

func (v memJobs) Pending(id string) (*sched.Job, bool) {
	e, ok := v.m.jobs[id]
	if !ok || e.j.Placement != nil || !e.lc.Schedulable() {
		return nil, false
	}
	return e.j, true
}

func (v memJobs) Placed(id string) (*sched.Job, bool) {
	e, ok := v.m.jobs[id]
	if !ok || e.j.Placement == nil || e.lc.State != lifecycle.Starting && e.lc.State != lifecycle.Running {
		return nil, false
	}
	return e.j, true
}
