package plugins

import (
	"fmt"
	"strings"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// HostScoreName is the placement plugin "hostscore".
const HostScoreName = "hostscore"

// Reasons of the placement plugins (and ReasonInsufficientChips).
const (
	ReasonNoHost    = "no-host"
	ReasonShortfall = "domain-shortfall"
	ReasonAllocate  = "allocate" // a selected rank did not allocate: a bug
)

// HostScore places jobs rank by rank: for each rank it walks the hosts (in
// the snapshot's HostOrder, else in topology order skipping domains whose
// aggregates show no room), applies the profile's host filters, combines the
// profile's host scores by weight and takes the best host (the first in
// order on ties), then picks chips there with pool.State.SelectChips or
// SelectShare. All ranks of a gang use one chip kind.
//
// With host scores in the profile it scores at most MaxHosts feasible hosts
// per rank (args: {maxHosts: N}; default 64; 0 in the file means all), the
// way kube-scheduler samples nodes; without scores the first feasible host
// wins.
type HostScore struct {
	MaxHosts int
}

var _ sched.Place = (*HostScore)(nil)

func newHostScore(args map[string]any) (sched.Plugin, error) {
	p := &HostScore{MaxHosts: 64}
	for k, v := range args {
		switch k {
		case "maxHosts":
			n, ok := v.(int)
			if !ok || n < 0 {
				return nil, fmt.Errorf("maxHosts: %v is not a whole number of hosts (0 for all)", v)
			}
			p.MaxHosts = n
		default:
			return nil, fmt.Errorf("unknown argument %q (allowed: maxHosts)", k)
		}
	}
	return p, nil
}

// Name implements sched.Plugin.
func (*HostScore) Name() string { return HostScoreName }

// Place implements sched.Place. It allocates ranks on st as it goes and
// releases them before returning, so st is unchanged.
func (p *HostScore) Place(cs *sched.CycleState, j *sched.Job, st *pool.State) (*pool.Placement, *sched.Status) {
	return placeByHost(cs, j, st, p.MaxHosts, HostScoreName)
}

// filterCount tallies why hosts were rejected.
type filterCount struct {
	plugin, reason string
	n              int
}

type tally []filterCount

func (t *tally) add(plugin, reason string) {
	for i := range *t {
		if (*t)[i].plugin == plugin && (*t)[i].reason == reason {
			(*t)[i].n++
			return
		}
	}
	*t = append(*t, filterCount{plugin, reason, 1})
}

func (t tally) String() string {
	parts := make([]string, len(t))
	for i, f := range t {
		parts[i] = fmt.Sprintf("%s/%s ×%d", f.plugin, f.reason, f.n)
	}
	return strings.Join(parts, ", ")
}

func placeByHost(cs *sched.CycleState, j *sched.Job, st *pool.State, maxHosts int, name string) (*pool.Placement, *sched.Status) {
	kinds := cs.Kinds(j)
	if j.RankMilli > 0 && len(kinds) == 0 {
		return nil, &sched.Status{Code: sched.Unresolvable, Plugin: name, Reason: sched.ReasonNoKind}
	}
	out := &pool.Placement{Ranks: make([]pool.Claim, 0, j.Ranks)}
	var undo []pool.Claim
	defer func() {
		if len(undo) > 0 {
			_ = st.Release(undo...)
		}
	}()
	for r := 0; r < j.Ranks; r++ {
		cl, k, why := pickHost(cs, j, st, kinds, maxHosts)
		if why != "" {
			return nil, &sched.Status{Code: sched.Unschedulable, Plugin: name, Reason: ReasonNoHost,
				Detail: fmt.Sprintf("rank %d of %d: %s", r+1, j.Ranks, why)}
		}
		if j.RankMilli > 0 && len(out.Kinds) == 0 {
			out.Kinds = []pool.KindID{k}
			kinds = out.Kinds
		}
		out.Ranks = append(out.Ranks, cl)
		if r < j.Ranks-1 {
			if err := st.Allocate(cl); err != nil {
				return nil, &sched.Status{Code: sched.Error, Plugin: name, Reason: ReasonAllocate, Detail: err.Error()}
			}
			undo = append(undo, cl)
		}
	}
	return out, nil
}

// pickHost chooses a host for one rank and its chips; why says why none.
func pickHost(cs *sched.CycleState, j *sched.Job, st *pool.State, kinds []pool.KindID, maxHosts int) (pool.Claim, pool.KindID, string) {
	scored := cs.HasHostScores()
	if !scored {
		maxHosts = 1
	}
	var tl tally
	excluded := map[pool.DomainID]bool{}
	for attempt := 0; attempt < 8; attempt++ {
		best, bestScore, feasible := pool.NoDomain, 0.0, 0
		checked := 0
		visit := func(h pool.DomainID) bool {
			if excluded[h] {
				return true
			}
			checked++
			if s := cs.FilterHost(j, st, h); !s.IsSuccess() {
				tl.add(s.Plugin, s.Reason)
				return true
			}
			feasible++
			sc := 0.0
			if scored {
				sc = cs.ScoreHost(j, st, h)
			}
			if best == pool.NoDomain || sc > bestScore {
				best, bestScore = h, sc
			}
			return maxHosts == 0 || feasible < maxHosts
		}
		walkHosts(cs, j, st, kinds, visit)
		if best == pool.NoDomain {
			if checked == 0 {
				return pool.Claim{}, 0, "no host has room (" + need(st.Topology(), j, kinds) + ")"
			}
			return pool.Claim{}, 0, fmt.Sprintf("%d hosts with room rejected: %s", checked, tl)
		}
		if cl, k, ok := selectOn(st, j, kinds, best); ok && powerFits(st, cl) {
			return cl, k, ""
		}
		excluded[best] = true
		tl.add(sched.PluginCycle, sched.ReasonShape)
	}
	return pool.Claim{}, 0, fmt.Sprintf("no host can hold the rank's shape: %s", tl)
}

func need(t *pool.Topology, j *sched.Job, kinds []pool.KindID) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = t.Kinds[k].Name
	}
	return fmt.Sprintf("%s chips of %s, %d CPU thousandths, %d MiB per rank",
		job.Milli(j.RankMilli), strings.Join(names, "|"), j.CPUMilli, j.MemoryMiB)
}

// selectOn picks the chips of one rank on host h.
func selectOn(st *pool.State, j *sched.Job, kinds []pool.KindID, h pool.DomainID) (pool.Claim, pool.KindID, bool) {
	cl := pool.Claim{Host: h, CPUMilli: j.CPUMilli, MemoryMiB: j.MemoryMiB}
	if j.RankMilli == 0 {
		return cl, 0, true
	}
	n, whole := j.WholeChips()
	for _, k := range kinds {
		if whole {
			chips := st.SelectChips(h, k, n)
			if chips == nil {
				continue
			}
			return pool.WholeChipClaim(h, chips, j.CPUMilli, j.MemoryMiB), k, true
		}
		if c := st.SelectShare(h, k, j.RankMilli); c >= 0 {
			cl.Grants = []pool.Grant{{Chip: c, Milli: int32(j.RankMilli)}}
			return cl, k, true
		}
	}
	return cl, 0, false
}

// walkHosts calls visit on candidate hosts in order until it returns false:
// the snapshot's HostOrder when set, else topology order skipping every
// domain whose aggregates show that no host below could take the rank.
func walkHosts(cs *sched.CycleState, j *sched.Job, st *pool.State, kinds []pool.KindID, visit func(pool.DomainID) bool) {
	if order := cs.Snapshot.HostOrder; order != nil {
		for _, h := range order {
			if !visit(h) {
				return
			}
		}
		return
	}
	walkRoom(st, 0, j, kinds, visit)
}

// room reports whether the aggregates of d leave room for one rank of j.
func room(st *pool.State, d pool.DomainID, j *sched.Job, kinds []pool.KindID) bool {
	if st.FreeCPU(d) < j.CPUMilli || st.FreeMemory(d) < j.MemoryMiB {
		return false
	}
	if j.RankMilli == 0 {
		return true
	}
	n, whole := j.WholeChips()
	for _, k := range kinds {
		if whole && st.FreeChipsOfKind(d, k) >= n || !whole && st.FreeMilliOfKind(d, k) >= int64(j.RankMilli) {
			return true
		}
	}
	return false
}

func walkRoom(st *pool.State, d pool.DomainID, j *sched.Job, kinds []pool.KindID, visit func(pool.DomainID) bool) bool {
	if !room(st, d, j, kinds) {
		return true
	}
	t := st.Topology()
	if t.HostOf(d) == d {
		return visit(d)
	}
	for _, c := range t.Children(d) {
		if !walkRoom(st, c, j, kinds, visit) {
			return false
		}
	}
	return true
}

// powerFits reports whether claim cl stays within the power budgets of its
// host and the domains above it, without allocating (pickHost runs per
// rank); within a milliwatt of a budget it asks CanAllocate.
func powerFits(st *pool.State, cl pool.Claim) bool {
	t := st.Topology()
	if !t.HasPowerBudgets() {
		return true
	}
	w := 0.0
	for _, g := range cl.Grants {
		w += t.Kinds[t.ChipKind(g.Chip)].PowerW * float64(g.Milli) / pool.Full
	}
	for d := cl.Host; d != pool.NoDomain; d = t.Parent(d) {
		b := t.PowerBudgetW(d)
		if b <= 0 {
			continue
		}
		switch use := st.CommittedPowerW(d) + w; {
		case use > b+1e-3:
			return false
		case use > b-1e-3:
			return st.CanAllocate(cl) == nil
		}
	}
	return true
}
