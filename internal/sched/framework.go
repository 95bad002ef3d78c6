package sched

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// Plugin is implemented by every plugin.
type Plugin interface {
	Name() string
}

// QueueSort orders pending jobs: Less reports whether a runs before b.
type QueueSort interface {
	Plugin
	Less(cs *CycleState, a, b *Job) bool
}

// Admit decides whether a job may be considered in this cycle.
type Admit interface {
	Plugin
	Admit(cs *CycleState, j *Job) *Status
}

// HostFilter reports whether host h can take one more rank of j in st.
type HostFilter interface {
	Plugin
	FilterHost(cs *CycleState, j *Job, st *pool.State, h pool.DomainID) *Status
}

// HostScore scores a feasible host for one rank of j; higher is better.
// Scores of several plugins are combined with the profile's weights.
type HostScore interface {
	Plugin
	ScoreHost(cs *CycleState, j *Job, st *pool.State, h pool.DomainID) float64
}

// Place chooses chips for every rank of j in st, or returns why it cannot.
// It must not change st.
type Place interface {
	Plugin
	Place(cs *CycleState, j *Job, st *pool.State) (*pool.Placement, *Status)
}

// PostPlace checks a placement before its job starts, and may refuse it: a
// job admitted because its queue may use one accepted kind may have been
// placed on another (the quota plugin checks the kind it landed on). The
// profile's PostPlace plugins run in order after Place, and on the
// placement a preemption finds, with the victims' usage gone.
type PostPlace interface {
	Plugin
	PostPlace(cs *CycleState, j *Job, p *pool.Placement) *Status
}

// Feasibility is implemented by Place plugins that can tell whether a job
// could be placed in st faster than by placing it well. The cycle driver's
// simulations (preemption, reservations, backfill checks) use it when the
// profile's Place plugin has it; a job that actually starts is always placed
// by Place. Feasible returns a valid placement (not necessarily the best) or
// why there is none, and must not change st.
type Feasibility interface {
	Plugin
	Feasible(cs *CycleState, j *Job, st *pool.State) (*pool.Placement, *Status)
}

// CycleState carries data of one cycle: the snapshot, the time, the random
// source and anything plugins precompute (Write once, Read many).
type CycleState struct {
	Snapshot *Snapshot
	Profile  *Profile
	// Now is the cycle's time and Rand its seeded random source; plugins
	// use these, never the wall clock or global randomness.
	Now  time.Time
	Rand *rand.Rand
	// Quotas is the queue tree with usage as of this point of the cycle
	// (jobs started earlier in the cycle count).
	Quotas *Quotas
	data   map[string]any
	ex     Explanation
	slab   []Record // unused first records for Explain

	kindsOf *Job
	kinds   []pool.KindID
	keys    map[string]string // kindsKey answers of the cycle, interned
	down    []bool            // by DomainID, the hosts of Snapshot.NotReady; nil until asked
	// upAll makes every host ready while the driver asks whether a job
	// would fit with the hosts that are not.
	upAll bool
}

// HostReady reports whether host h has a ready agent (it is not in the
// snapshot's NotReady list).
func (cs *CycleState) HostReady(h pool.DomainID) bool {
	if cs.upAll || len(cs.Snapshot.NotReady) == 0 {
		return true
	}
	if cs.down == nil {
		cs.down = make([]bool, cs.Snapshot.Pool.Topology().NumDomains())
		for _, d := range cs.Snapshot.NotReady {
			cs.down[d] = true
		}
	}
	return !cs.down[h]
}

// Kinds returns the pool kinds job j accepts (AcceptedKinds), remembering
// the answer for the last job asked about.
func (cs *CycleState) Kinds(j *Job) []pool.KindID {
	if cs.kindsOf != j {
		cs.kindsOf, cs.kinds = j, AcceptedKinds(cs.Snapshot.Pool.Topology(), j)
	}
	return cs.kinds
}

// kindsKey is kindsKey(kinds), interned for the cycle: jobs accept few
// distinct lists of kinds, so the key is built without allocating.
func (cs *CycleState) kindsKey(kinds []pool.KindID) string {
	var buf [32]byte
	b := appendKindsKey(buf[:0], kinds)
	if k, ok := cs.keys[string(b)]; ok {
		return k
	}
	if cs.keys == nil {
		cs.keys = map[string]string{}
	}
	k := string(b)
	cs.keys[k] = k
	return k
}

// NewCycleState returns an empty cycle state for a snapshot.
func NewCycleState(snap *Snapshot, prof *Profile) *CycleState {
	return &CycleState{Snapshot: snap, Profile: prof, data: map[string]any{}}
}

// Explain appends a record to job id's explanation, once: a record equal to one
// already there is dropped. Plugins call it for
// detail beyond their returned Status (for example per-host filter counts).
func (cs *CycleState) Explain(id string, r Record) {
	if cs.ex == nil {
		cs.ex = Explanation{}
	}
	rs := cs.ex[id]
	for _, old := range rs {
		if old == r {
			return // the same finding again (a stage re-run in a simulation)
		}
	}
	if rs != nil {
		cs.ex[id] = append(rs, r)
		return
	}
	// A job's first record: most jobs get one, so it is cut from a shared
	// block rather than allocated alone (capacity 1: a second record
	// moves the job's records out of the block).
	if len(cs.slab) == 0 {
		cs.slab = make([]Record, recordSlab)
	}
	cs.slab[0] = r
	cs.ex[id] = cs.slab[0:1:1]
	cs.slab = cs.slab[1:]
}

// recordSlab is how many first records Explain allocates at once.
const recordSlab = 32

// Write stores per-cycle data under key.
func (cs *CycleState) Write(key string, v any) { cs.data[key] = v }

// Read returns per-cycle data stored under key.
func (cs *CycleState) Read(key string) (any, bool) {
	v, ok := cs.data[key]
	return v, ok
}

// Factory builds a plugin from its arguments (from the profile file).
type Factory func(args map[string]any) (Plugin, error)

// Registry maps plugin names to factories. Register panics on a duplicate
// name: registrations happen at start-up, where a duplicate is a bug.
type Registry map[string]Factory

// Register adds a factory.
func (r Registry) Register(name string, f Factory) {
	if _, dup := r[name]; dup {
		panic(fmt.Sprintf("sched: plugin %q registered twice", name))
	}
	r[name] = f
}

// Names returns the registered names in order.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for n := range r {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// retired names plugins that were removed, with what a profile naming one
// should do instead; Build fails on them with that advice.
var retired = map[string]string{
	"sharefit": "the fits filter now checks that one chip holds a share; remove sharefit from the profile's filters",
}

// Build instantiates a plugin, failing on unknown and retired names.
func (r Registry) Build(name string, args map[string]any) (Plugin, error) {
	f, ok := r[name]
	if why, gone := retired[name]; gone && !ok {
		return nil, fmt.Errorf("plugin %q was removed: %s", name, why)
	}
	if !ok {
		return nil, fmt.Errorf("unknown plugin %q (registered: %s)", name, strings.Join(r.Names(), ", "))
	}
	p, err := f(args)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: %w", name, err)
	}
	return p, nil
}
