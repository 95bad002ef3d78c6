package plugins

import (
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// Topology is the default Place plugin ("topology"). Gangs of several ranks
// go to the topology-aware placer of internal/place, which models their
// communication. A job of one rank has no communication to model: unless it
// must choose among several chip kinds (which the placer does by earliest
// finish), it is placed like hostscore does, through the profile's filters
// and host scores, so that shared chips and single-host work are packed by
// the profile's scoring policy and placed at host-scoring speed.
type Topology struct {
	gang sched.Place
}

var (
	_ sched.Place       = Topology{}
	_ sched.Feasibility = Topology{}
)

func newTopology(args map[string]any) (sched.Plugin, error) {
	p, err := place.Factory(args)
	if err != nil {
		return nil, err
	}
	return Topology{gang: p.(sched.Place)}, nil
}

// Name implements sched.Plugin.
func (Topology) Name() string { return place.Name }

// Place implements sched.Place.
func (t Topology) Place(cs *sched.CycleState, j *sched.Job, st *pool.State) (*sched.Placement, *sched.Status) {
	if j.Ranks == 1 {
		if _, whole := j.WholeChips(); !whole || len(cs.Kinds(j)) <= 1 {
			return placeByHost(cs, j, st, 64, place.Name)
		}
	}
	return t.gang.Place(cs, j, st)
}

// Feasible implements sched.Feasibility with first fit: the topology placer
// places every gang first fit can (its property test checks this), so first
// fit answers "would it fit" at a fraction of the cost of placing it well.
func (t Topology) Feasible(cs *sched.CycleState, j *sched.Job, st *pool.State) (*sched.Placement, *sched.Status) {
	return FirstFit{}.Place(cs, j, st)
}
