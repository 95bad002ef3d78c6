package place

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/qunhq/qun/internal/pool"
)

// Scope says which domains FirstFit fills.
type Scope int

const (
	// ScopePool fills the hosts of the whole pool in topology order: the
	// topology-oblivious baseline of the placement benchmark.
	ScopePool Scope = iota
	// ScopeSmallest fills the smallest domain that holds the gang: the
	// domains of the host level first, then of each level above up to the
	// root, in topology order, at most MaxDomainsPerLevel per level, each
	// with enough free chips of the kind in aggregate. The root comes
	// last, so a gang that fits anywhere is found.
	ScopeSmallest
)

// MaxDomainsPerLevel bounds the domains of one level ScopeSmallest tries
// before it moves a level up.
const MaxDomainsPerLevel = 8

// FirstFitOptions tune FirstFit.
type FirstFitOptions struct {
	Scope Scope
	// HostOK, when set, must pass a host before each rank goes there (a
	// scheduler's host filters).
	HostOK func(pool.DomainID) bool
	// HostWhy, when set, says why HostOK rejects a host, for the
	// explanation of a gang that does not fit.
	HostWhy func(pool.DomainID) string
}

// FirstFit places a gang of whole-chip ranks without modelling its
// communication: for each accepted kind, most free chips first, it fills
// the domains opts.Scope names, host by host in topology order, as many
// ranks per host as its chips, shape rules, host limits (CPU, memory,
// ranks, power) and opts.HostOK allow; ranks are in the order their chips
// were taken. It allocates each rank on st while it works and releases
// them before it returns, so st is unchanged but must not be read
// concurrently. It is the one first fit of the tree: the benchmark's
// baseline (ScopePool) and the scheduler's "firstfit" plugin and
// feasibility check (ScopeSmallest).
func FirstFit(st *pool.State, r *Request, opts FirstFitOptions) (*pool.Placement, *Status) {
	t := st.Topology()
	k, ok := r.WholeChips()
	if !ok || r.Ranks <= 0 {
		return nil, &Status{Code: Unresolvable, Reason: ReasonBadRankSize,
			Detail: fmt.Sprintf("first fit places whole-chip ranks only, got %d ranks of %d thousandths", r.Ranks, r.RankMilli)}
	}
	total := k * r.Ranks
	kinds := AcceptedKinds(t, r)
	if len(kinds) == 0 {
		return nil, &Status{Code: Unresolvable, Reason: ReasonNoKind, Detail: fmt.Sprintf("pool %s has none of the kinds the job accepts", t.Name)}
	}
	slices.SortStableFunc(kinds, func(a, b pool.KindID) int { return cmp.Compare(st.FreeChipsOfKind(0, b), st.FreeChipsOfKind(0, a)) })
	var fail *Status
	for _, kind := range kinds {
		free := st.FreeChipsOfKind(0, kind)
		if free < total {
			if fail == nil {
				fail = &Status{Code: Unschedulable, Reason: ReasonInsufficient,
					Detail: fmt.Sprintf("needs %d chips of %s; %d are free", total, t.Kinds[kind].Name, free)}
			}
			continue
		}
		lvl := 0
		if opts.Scope == ScopeSmallest {
			lvl = t.HostLevel
		}
		for ; lvl >= 0; lvl-- {
			var cands []pool.DomainID
			domainsWith(st, 0, lvl, kind, total, &cands)
			for _, d := range cands {
				if cl, placed := fill(st, r, d, kind, k, opts.HostOK); placed == r.Ranks {
					return &pool.Placement{Kinds: []pool.KindID{kind}, Ranks: cl}, nil
				} else if d == 0 {
					fail = shortfallStatus(st, r, kind, k, placed, free, opts.HostWhy)
				}
			}
		}
	}
	if fail == nil {
		fail = &Status{Code: Unschedulable, Reason: ReasonShortfall}
	}
	return nil, fail
}

// domainsWith collects up to MaxDomainsPerLevel domains at level lvl below
// d, in order, with at least need free chips of kind k.
func domainsWith(st *pool.State, d pool.DomainID, lvl int, k pool.KindID, need int, out *[]pool.DomainID) {
	if len(*out) >= MaxDomainsPerLevel || st.FreeChipsOfKind(d, k) < need {
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
// r.Ranks, host by host in order. It returns the claims and how many ranks
// it placed, and leaves st unchanged.
func fill(st *pool.State, r *Request, d pool.DomainID, k pool.KindID, n int, hostOK func(pool.DomainID) bool) ([]pool.Claim, int) {
	claims := make([]pool.Claim, 0, r.Ranks)
	visit := func(h pool.DomainID) bool {
		for len(claims) < r.Ranks {
			if hostOK != nil && !hostOK(h) {
				return true
			}
			chips := st.SelectChips(h, k, n)
			if chips == nil {
				return true
			}
			cl := pool.WholeChipClaim(h, chips, r.CPUMilli, r.MemoryMiB)
			if st.Allocate(cl) != nil {
				return true
			}
			claims = append(claims, cl)
		}
		return false
	}
	walkRoom(st, d, r, k, n, visit)
	if len(claims) > 0 {
		if err := st.Release(claims...); err != nil {
			panic("place: first fit rollback: " + err.Error()) // a bug: we release exactly what we took
		}
	}
	return claims, len(claims)
}

// walkRoom calls visit on the hosts below d in topology order until it
// returns false, skipping every domain whose aggregates leave no room for
// one rank of n chips of kind k; it reports whether to go on.
func walkRoom(st *pool.State, d pool.DomainID, r *Request, k pool.KindID, n int, visit func(pool.DomainID) bool) bool {
	if st.FreeCPU(d) < r.CPUMilli || st.FreeMemory(d) < r.MemoryMiB || st.FreeChipsOfKind(d, k) < n {
		return true
	}
	t := st.Topology()
	if t.HostOf(d) == d {
		return visit(d)
	}
	for _, c := range t.Children(d) {
		if !walkRoom(st, c, r, k, n, visit) {
			return false
		}
	}
	return true
}

// shortfallStatus explains a gang whose chips are free in aggregate but do
// not form enough ranks: it names the fullest host and how far short it is.
func shortfallStatus(st *pool.State, r *Request, k pool.KindID, n, placed, free int, why func(pool.DomainID) string) *Status {
	t := st.Topology()
	best, bestFree := st.FullestHost([]pool.KindID{k})
	host := t.Levels[t.HostLevel].Name
	detail := fmt.Sprintf("needs %d ranks x %d chips of %s (%d chips); %d are free in aggregate but only %d ranks fit",
		r.Ranks, n, t.Kinds[k].Name, r.Ranks*n, free, placed)
	if best != pool.NoDomain {
		if bestFree < n {
			detail += fmt.Sprintf(": the fullest %s %s has %d free, %d short", host, t.Path(best), bestFree, n-bestFree)
		} else {
			w := ""
			if why != nil {
				w = why(best)
			}
			if w == "" {
				w = "not in an allowed shape"
			}
			detail += fmt.Sprintf(": the fullest %s %s has %d free, but %s", host, t.Path(best), bestFree, w)
		}
	}
	return &Status{Code: Unschedulable, Reason: ReasonShortfall, Detail: detail}
}
