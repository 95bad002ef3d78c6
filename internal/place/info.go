package place

import (
	"sync"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/pool"
)

// topoInfo is what a Placer derives once per topology: the fabric, whether
// shape rules apply, the level whose hosts a tensor group may span, an
// empty state for lower bounds, pooled estimators and memoised lower
// bounds. Topologies are immutable, so it never goes stale.
type topoInfo struct {
	t        *pool.Topology
	fab      *Fabric
	hasShape bool
	// spanLevel is the level just above the hosts when traffic between
	// its domains' hosts runs at least as fast per chip as inside a host
	// (bandwidth over oversubscription) and no shape rules apply: there a
	// tensor group may span hosts of one domain at no loss (see
	// splitSpreadSpan). -1 otherwise.
	spanLevel int

	emptyOnce sync.Once
	empty     *pool.State

	est sync.Pool // *comm.Estimator

	mu sync.Mutex
	lb map[lbKey]comm.Estimate
}

type lbKey struct {
	kinds string
	n, k  int
	cpu   int64
	mem   int64
	plan  comm.Plan
	vol   comm.Volumes
}

func newTopoInfo(t *pool.Topology) *topoInfo {
	ti := &topoInfo{t: t, fab: NewFabric(t), lb: map[lbKey]comm.Estimate{}}
	for l := t.HostLevel; l < len(t.Levels); l++ {
		if !t.Levels[l].Shape.IsZero() {
			ti.hasShape = true
		}
	}
	ti.spanLevel = -1
	if l := t.HostLevel - 1; l >= 0 && !ti.hasShape {
		up, host := t.Levels[l], t.Levels[t.HostLevel]
		if up.BandwidthGBps/max(up.Oversubscription, 1) >= host.BandwidthGBps {
			ti.spanLevel = l
		}
	}
	ti.est.New = func() any { return comm.NewEstimator(ti.fab) }
	return ti
}

func (ti *topoInfo) emptyState() *pool.State {
	ti.emptyOnce.Do(func() { ti.empty = pool.NewState(ti.t) })
	return ti.empty
}

func (ti *topoInfo) estimator() *comm.Estimator { return ti.est.Get().(*comm.Estimator) }

func (ti *topoInfo) release(e *comm.Estimator) { ti.est.Put(e) }

func (ti *topoInfo) lowerBound(key lbKey, compute func() comm.Estimate) comm.Estimate {
	ti.mu.Lock()
	e, ok := ti.lb[key]
	ti.mu.Unlock()
	if ok {
		return e
	}
	e = compute()
	ti.mu.Lock()
	ti.lb[key] = e
	ti.mu.Unlock()
	return e
}
