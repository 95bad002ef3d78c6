package plugins

import (
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// Topology is the default Place plugin ("topology") and the one adapter
// between the scheduler and internal/place. Gangs of several ranks go to
// the topology-aware placer, which models their communication. A job of
// one rank has no communication to model: unless it must choose among
// several chip kinds (which the placer does by earliest finish), it is
// placed like hostscore does, through the profile's filters and host
// scores, so that shared chips and single-host work are packed by the
// profile's scoring policy and placed at host-scoring speed.
type Topology struct {
	pl *place.Placer
}

var (
	_ sched.Place       = Topology{}
	_ sched.Feasibility = Topology{}
)

func newTopology(args map[string]any) (sched.Plugin, error) {
	o, err := place.ParseOptions(args)
	if err != nil {
		return nil, err
	}
	return NewTopology(o), nil
}

// NewTopology returns the plugin with placer options o.
func NewTopology(o place.Options) Topology { return Topology{pl: place.New(o)} }

// Name implements sched.Plugin.
func (Topology) Name() string { return place.Name }

// Place implements sched.Place. A gang's Decision is stored in the cycle
// state under DecisionKey(j.ID) and summarised with cs.Explain.
func (t Topology) Place(cs *sched.CycleState, j *sched.Job, st *pool.State) (*pool.Placement, *sched.Status) {
	if j.Ranks == 1 {
		if _, whole := j.WholeChips(); !whole || len(cs.Kinds(j)) <= 1 {
			return placeByHost(cs, j, st, 64, place.Name)
		}
	}
	d := t.Decide(cs, j, st)
	if cs != nil {
		cs.Write(DecisionKey(j.ID), d)
		for _, r := range d.Records() {
			cs.Explain(j.ID, placeRecord(place.Name, r))
		}
	}
	if !d.Placed {
		return nil, placeStatus(place.Name, d.Status)
	}
	return d.Placement, nil
}

// Decide asks the placer where j goes in st: at the cycle's time, with the
// snapshot's running and pending jobs, through the profile's host filters
// (cs.FilterHost). It records nothing.
func (t Topology) Decide(cs *sched.CycleState, j *sched.Job, st *pool.State) *place.Decision {
	var env place.Env
	if cs != nil {
		env.Now = cs.Now
		env.Running, env.Pending = snapshotEnv(cs)
		if cs.HasHostFilters() {
			env.HostOK = func(h pool.DomainID) bool { return cs.FilterHost(j, st, h).IsSuccess() }
		}
	}
	return t.pl.Decide(PlaceRequest(j), st, env)
}

// Feasible implements sched.Feasibility with first fit: the topology placer
// places every gang first fit can (TestPropertyTopologyPlacesWhatFirstFitPlaces
// checks this), so first fit answers "would it fit" at a fraction of the
// cost of placing it well.
func (t Topology) Feasible(cs *sched.CycleState, j *sched.Job, st *pool.State) (*pool.Placement, *sched.Status) {
	return FirstFit{}.Place(cs, j, st)
}

// DecisionKey is the cycle-state key of the topology placer's Decision for
// a job.
func DecisionKey(jobID string) string { return "place/decision/" + jobID }

// PlaceRequest is the placement request of j.
func PlaceRequest(j *sched.Job) *place.Request {
	return &place.Request{
		ID: j.ID, Ranks: j.Ranks, RankMilli: j.RankMilli, CPUMilli: j.CPUMilli, MemoryMiB: j.MemoryMiB,
		Kinds: j.Kinds, MinHBMGiB: j.MinHBMGiB, MixFamilies: j.MixFamilies,
		Plan: j.Plan, Volumes: j.Volumes, Duration: j.Duration,
	}
}

// schedCodes maps place's two outcomes of a gang not placed to the
// scheduler's codes of the same name.
var schedCodes = map[place.Code]sched.Code{place.Unschedulable: sched.Unschedulable, place.Unresolvable: sched.Unresolvable}

// placeStatus is the scheduler status of a placement status, reported by
// plugin; nil stays nil, and a code place does not document is an Error.
func placeStatus(plugin string, s *place.Status) *sched.Status {
	if s == nil {
		return nil
	}
	code, ok := schedCodes[s.Code]
	if !ok {
		code = sched.Error
	}
	return &sched.Status{Code: code, Plugin: plugin, Reason: s.Reason, Detail: s.Detail}
}

// placeRecord is the explanation record of a placement record, reported by
// plugin.
func placeRecord(plugin string, r place.Record) sched.Record {
	return sched.Record{Plugin: plugin, Reason: r.Reason, Detail: r.Detail, Score: r.Score, Count: r.Count}
}

// envKey is the cycle-state key of the snapshot as the placer sees it.
const envKey = "topology/env"

type cachedEnv struct {
	snap    *sched.Snapshot
	running []place.Running
	pending []place.Pending
}

// snapshotEnv returns the snapshot's running and pending jobs as the
// placer sees them, converted once per cycle state and snapshot.
func snapshotEnv(cs *sched.CycleState) ([]place.Running, []place.Pending) {
	snap := cs.Snapshot
	if snap == nil {
		return nil, nil
	}
	if v, ok := cs.Read(envKey); ok {
		if e := v.(*cachedEnv); e.snap == snap {
			return e.running, e.pending
		}
	}
	e := &cachedEnv{snap: snap, running: make([]place.Running, 0, len(snap.Running)), pending: make([]place.Pending, 0, len(snap.Pending))}
	for _, j := range snap.Running {
		e.running = append(e.running, place.Running{Placement: j.Placement, Started: j.Started, Duration: j.Duration})
	}
	for _, j := range snap.Pending {
		p := place.Pending{ID: j.ID}
		if k, ok := j.WholeChips(); ok {
			p.Chips = k * j.Ranks
		}
		e.pending = append(e.pending, p)
	}
	cs.Write(envKey, e)
	return e.running, e.pending
}

var _ sched.Replacer = Topology{}

// Replace implements sched.Replacer: the lost ranks of a recovering gang
// go next to its survivors, spares first, scored by the comm model
// (place.Placer.DecideSubset).
func (t Topology) Replace(cs *sched.CycleState, j *sched.Job, st *pool.State) (*pool.Placement, *sched.Status) {
	var env place.Env
	if cs != nil {
		env.Now = cs.Now
		if cs.HasHostFilters() {
			env.HostOK = func(h pool.DomainID) bool { return cs.FilterHost(j, st, h).IsSuccess() }
		}
	}
	sub := place.Subset{Keep: j.Recover.Keep, Lost: j.Recover.Lost, From: j.Recover.From, Spares: st.Topology().Spares()}
	d := t.pl.DecideSubset(PlaceRequest(j), sub, st, env)
	if cs != nil {
		cs.Write(DecisionKey(j.ID), d)
		for _, r := range d.SubsetRecords() {
			cs.Explain(j.ID, placeRecord(place.Name, r))
		}
	}
	if !d.Placed {
		return nil, placeStatus(place.Name, d.Status)
	}
	return d.Placement, nil
}
