package plugins

import (
	"fmt"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// FirstFitName is the gang placement plugin "firstfit".
const FirstFitName = "firstfit"

// maxDomainsPerLevel bounds the domains of one level firstfit tries before
// it moves a level up; the root is always tried last, so a gang that fits
// anywhere is found.
const maxDomainsPerLevel = 8

// FirstFit places gangs of whole-chip ranks in the smallest domain that
// holds them: it tries the domains of the host level, then of each level
// above up to the root, in topology order, skipping every domain whose
// aggregates show fewer free chips of the kind than the gang needs; inside a
// domain it fills hosts in order, as many ranks per host as the host's
// filters and shape rules allow. Jobs of fractional or CPU-only ranks are
// placed as by hostscore. All ranks use one chip kind.
type FirstFit struct{}

var _ sched.Place = FirstFit{}

func newFirstFit(args map[string]any) (sched.Plugin, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return FirstFit{}, nil
}

// Name implements sched.Plugin.
func (FirstFit) Name() string { return FirstFitName }

// Place implements sched.Place; st is unchanged when it returns.
func (FirstFit) Place(cs *sched.CycleState, j *sched.Job, st *pool.State) (*sched.Placement, *sched.Status) {
	n, whole := j.WholeChips()
	if !whole {
		return placeByHost(cs, j, st, 64, FirstFitName)
	}
	t := st.Topology()
	kinds := cs.Kinds(j)
	total := n * j.Ranks
	var fail *sched.Status
	for _, k := range sortedKinds(st, kinds) {
		free := st.FreeChipsOfKind(0, k)
		if free < total {
			if fail == nil {
				fail = &sched.Status{Code: sched.Unschedulable, Plugin: FirstFitName, Reason: ReasonInsufficent,
					Detail: fmt.Sprintf("needs %d chips of %s; %d are free", total, t.Kinds[k].Name, free)}
			}
			continue
		}
		for lvl := t.HostLevel; lvl >= 0; lvl-- {
			var cands []pool.DomainID
			domainsWith(st, 0, lvl, k, total, &cands)
			for _, d := range cands {
				if cl, placed := fill(cs, j, st, d, k, n); placed == j.Ranks {
					return &sched.Placement{Kinds: []pool.KindID{k}, Ranks: cl}, nil
				} else if d == 0 {
					fail = shortfall(cs, st, j, k, n, placed, free)
				}
			}
		}
	}
	if fail == nil {
		fail = &sched.Status{Code: sched.Unschedulable, Plugin: FirstFitName, Reason: ReasonShortfall}
	}
	return nil, fail
}

// domainsWith collects up to maxDomainsPerLevel domains at level lvl below d,
// in order, with at least need free chips of kind k.
func domainsWith(st *pool.State, d pool.DomainID, lvl int, k pool.KindID, need int, out *[]pool.DomainID) {
	if len(*out) >= maxDomainsPerLevel || st.FreeChipsOfKind(d, k) < need {
		return
	}
	t := st.Topology()
	if t.LevelOf(d) == lvl {
		*out = append(*out, d)
		return
	}
	if t.LevelOf(d) > lvl || t.HostOf(d) == d {
		return
	}
	for _, c := range t.Children(d) {
		domainsWith(st, c, lvl, k, need, out)
	}
}

// fill places as many ranks of n chips of kind k as it can below d, up to
// j.Ranks, host by host in order. It returns the claims and how many ranks
// it placed, and leaves st unchanged.
func fill(cs *sched.CycleState, j *sched.Job, st *pool.State, d pool.DomainID, k pool.KindID, n int) ([]pool.Claim, int) {
	claims := make([]pool.Claim, 0, j.Ranks)
	one := []pool.KindID{k}
	visit := func(h pool.DomainID) bool {
		for len(claims) < j.Ranks {
			for _, f := range cs.Profile.Filters {
				if !f.FilterHost(cs, j, st, h).IsSuccess() {
					return true
				}
			}
			cl, _, ok := selectOn(st, j, one, h)
			if !ok || st.Allocate(cl) != nil {
				return true
			}
			claims = append(claims, cl)
		}
		return false
	}
	walkRoom(st, d, j, one, visit)
	if len(claims) > 0 {
		_ = st.Release(claims...)
	}
	return claims, len(claims)
}

// shortfall explains a gang whose chips are free in aggregate but do not
// form enough ranks: it names the fullest host and how far short it is.
func shortfall(cs *sched.CycleState, st *pool.State, j *sched.Job, k pool.KindID, n, placed, free int) *sched.Status {
	t := st.Topology()
	best, bestFree := st.FullestHost([]pool.KindID{k})
	host := t.Levels[t.HostLevel].Name
	detail := fmt.Sprintf("needs %d ranks x %d chips of %s (%d chips); %d are free in aggregate but only %d ranks fit",
		j.Ranks, n, t.Kinds[k].Name, j.Ranks*n, free, placed)
	if best != pool.NoDomain {
		if bestFree < n {
			detail += fmt.Sprintf(": the fullest %s %s has %d free, %d short", host, t.Path(best), bestFree, n-bestFree)
		} else {
			why := "not in an allowed shape"
			for _, f := range cs.Profile.Filters {
				if s := f.FilterHost(cs, j, st, best); !s.IsSuccess() {
					why = "rejected by " + s.Plugin + "/" + s.Reason
					break
				}
			}
			detail += fmt.Sprintf(": the fullest %s %s has %d free, but %s", host, t.Path(best), bestFree, why)
		}
	}
	return &sched.Status{Code: sched.Unschedulable, Plugin: FirstFitName, Reason: ReasonShortfall, Detail: detail}
}
