package state

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// MemStore is an in-memory Store.
type MemStore struct {
	mu       sync.Mutex
	pool     *pool.State
	queues   []sched.Queue
	jobs     map[string]*entry
	seq      int64
	usage    map[string]float64
	usageAt  time.Time
	halfLife time.Duration
}

type entry struct {
	j   *sched.Job
	seq int64
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns a store of an empty pool with the given queues.
// halfLife is the fair-share usage half-life (0: no history is kept).
func NewMemStore(t *pool.Topology, queues []sched.Queue, halfLife time.Duration) *MemStore {
	return &MemStore{pool: pool.NewState(t), queues: append([]sched.Queue(nil), queues...), jobs: map[string]*entry{}, halfLife: halfLife}
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
	for _, e := range es {
		j := *e.j
		if j.Placement != nil {
			snap.Running = append(snap.Running, &j)
		} else {
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
	m.jobs[j.ID] = &entry{j: &c, seq: m.seq}
	return nil
}

// Complete implements Store.
func (m *MemStore) Complete(id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	m.advance(now)
	if e.j.Placement != nil {
		if err := m.pool.Release(e.j.Placement.Ranks...); err != nil {
			return fmt.Errorf("complete %s: %w", id, err)
		}
	}
	delete(m.jobs, id)
	return nil
}

// Requeue implements Store.
func (m *MemStore) Requeue(id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requeue(id, now)
}

func (m *MemStore) requeue(id string, now time.Time) error {
	e, ok := m.jobs[id]
	if !ok || e.j.Placement == nil {
		return fmt.Errorf("%w: %s is not running", ErrNotFound, id)
	}
	m.advance(now)
	if err := m.pool.Release(e.j.Placement.Ranks...); err != nil {
		return fmt.Errorf("requeue %s: %w", id, err)
	}
	j := e.j
	j.Placement, j.Evicting, j.EvictAt, j.Reserved, j.Started = nil, false, time.Time{}, time.Time{}, time.Time{}
	return nil
}

// Tick finishes the evictions whose grace period has ended by now: their
// jobs stop and become pending again. It returns their IDs in order.
func (m *MemStore) Tick(now time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, e := range m.jobs {
		if e.j.Evicting && !e.j.EvictAt.After(now) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		_ = m.requeue(id, now)
	}
	return ids
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
		j := m.jobs[ev.JobID].j
		if ev.Grace <= 0 {
			j.Placement, j.Evicting, j.EvictAt, j.Reserved, j.Started = nil, false, time.Time{}, time.Time{}, time.Time{}
			continue
		}
		j.Evicting, j.EvictAt = true, now.Add(ev.Grace)
	}
	for _, a := range plan.Start {
		j := m.jobs[a.JobID].j
		p := a.Placement
		j.Placement, j.Started, j.Reserved = &p, now, time.Time{}
	}
	for _, r := range plan.Reservations {
		if j := m.jobs[r.JobID].j; j.Placement == nil && j.Reserved.IsZero() {
			j.Reserved = now
		}
	}
	return nil
}

// memJobs is the plan verifier's view of a MemStore's jobs.
type memJobs struct{ m *MemStore }

func (v memJobs) Pending(id string) (*sched.Job, bool) {
	e, ok := v.m.jobs[id]
	if !ok || e.j.Placement != nil {
		return nil, false
	}
	return e.j, true
}

func (v memJobs) Placed(id string) (*sched.Job, bool) {
	e, ok := v.m.jobs[id]
	if !ok || e.j.Placement == nil {
		return nil, false
	}
	return e.j, true
}
