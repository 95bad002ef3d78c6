package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/sched/score"
	"github.com/qunhq/qun/internal/state"
)

// ServerDefault names the server's default profile
// (sched.DefaultProfileYAML): what `qun server` runs without --profile, and
// what a replay runs unless told otherwise.
const ServerDefault = "default"

// Profile builds the named placement profile (score.Spec) with the
// scheduler's plugin registry; ServerDefault is the server's own.
func Profile(name string) (*sched.Profile, error) {
	if name == ServerDefault {
		return plugins.DefaultProfile(), nil
	}
	spec, err := score.Spec(name)
	if err != nil {
		return nil, err
	}
	p, err := sched.BuildProfile(spec, plugins.Default(), nil)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", name, err)
	}
	return p, nil
}

// Epoch is the virtual time of second 0 of a trace.
var Epoch = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

// cluster is the simulated control plane: the committed pool state, the
// running jobs, and one scheduling cycle at a time through sched.Schedule
// with its plan applied by the plan applier. It starts no goroutine.
type cluster struct {
	topo      *pool.Topology
	st        *pool.State
	prof      *sched.Profile
	rng       *rand.Rand
	hostOrder []pool.DomainID
	workload  *sched.Workload
	queues    []sched.Queue

	running  []*sched.Job
	runIndex map[string]int // job ID → index in running
	hook     func(h pool.DomainID)
	// lean leaves running jobs out of snapshots. Only for profiles that
	// cannot use them (no admission, backfill or preemption, and scorers
	// that read the pool state alone): there the plan is the same, and a
	// cycle's cost no longer grows with the running jobs (see
	// docs/simulator.md, "Cost").
	lean bool
}

func newCluster(t *pool.Topology, prof *sched.Profile, rng *rand.Rand) *cluster {
	return &cluster{topo: t, st: pool.NewState(t), prof: prof, rng: rng, runIndex: map[string]int{}}
}

// cycle runs one scheduling cycle over pending and applies its plan. It
// returns the jobs started.
func (c *cluster) cycle(now time.Time, pending []*sched.Job) ([]*sched.Job, error) {
	snap := &sched.Snapshot{Pool: c.st, Queues: c.queues, Pending: pending, Running: c.running,
		HostOrder: c.hostOrder, Workload: c.workload}
	if c.lean {
		snap.Running = nil
	}
	plan, _ := sched.Schedule(snap, now, c.rng, c.prof)
	if len(plan.Start) == 0 {
		return nil, nil
	}
	byID := make(map[string]*sched.Job, len(pending))
	for _, j := range pending {
		byID[j.ID] = j
	}
	// The one plan verifier every store uses re-checks the plan and
	// commits it whole.
	if err := state.ApplyToPool(c.st, plan, clusterJobs{c, byID}, state.ApplyOptions{ReleaseEvicted: true}); err != nil {
		return nil, fmt.Errorf("apply plan: %w", err)
	}
	var started []*sched.Job
	for _, a := range plan.Start {
		j := byID[a.JobID]
		p := a.Placement
		j.Placement, j.Started = &p, now
		c.runIndex[j.ID] = len(c.running)
		c.running = append(c.running, j)
		started = append(started, j)
		if c.hook != nil {
			for _, cl := range p.Ranks {
				c.hook(cl.Host)
			}
		}
	}
	return started, nil
}

// clusterJobs is the plan verifier's view of the cluster's jobs.
type clusterJobs struct {
	c       *cluster
	pending map[string]*sched.Job
}

func (v clusterJobs) Pending(id string) (*sched.Job, bool) {
	j, ok := v.pending[id]
	return j, ok && j.Placement == nil
}

func (v clusterJobs) Placed(id string) (*sched.Job, bool) {
	i, ok := v.c.runIndex[id]
	if !ok {
		return nil, false
	}
	return v.c.running[i], true
}
