package place

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/pool"
)

// Options tune a Placer. The zero value of a field means its default.
type Options struct {
	// FragWeight is λ in score = ratio + λ·fragmentation: the share of
	// modelled communication time the placement gives up, at most, to keep
	// free blocks whole. Default 0.05.
	FragWeight float64
	// MaxEvalChips bounds the model evaluations per kind: about
	// MaxEvalChips/gang-size candidates (between 3 and 12) are evaluated
	// with the estimator. Default 65,536.
	MaxEvalChips int
	// DefaultBlockWeight is how much a broken free block counts when no
	// jobs are queued. Default 0.5.
	DefaultBlockWeight float64
}

func (o Options) withDefaults() Options {
	if o.FragWeight == 0 {
		o.FragWeight = 0.05
	}
	if o.MaxEvalChips == 0 {
		o.MaxEvalChips = 65536
	}
	if o.DefaultBlockWeight == 0 {
		o.DefaultBlockWeight = 0.5
	}
	return o
}

// Placer is the topology-aware gang placer. It is safe for concurrent use:
// it keeps no state between calls except what it derives from immutable
// topologies (fabric, empty state, memoised lower bounds), one entry per
// topology it has seen.
type Placer struct {
	opts  Options
	infos sync.Map // *pool.Topology -> *topoInfo
}

// New returns a Placer.
func New(opts Options) *Placer { return &Placer{opts: opts.withDefaults()} }

func (p *Placer) info(t *pool.Topology) *topoInfo {
	if v, ok := p.infos.Load(t); ok {
		return v.(*topoInfo)
	}
	v, _ := p.infos.LoadOrStore(t, newTopoInfo(t))
	return v.(*topoInfo)
}

// Fabric returns the comm fabric of t, shared with the Placer's estimators.
func (p *Placer) Fabric(t *pool.Topology) *Fabric { return p.info(t).fab }

// Env is what a decision reads besides the request and the pool: the time,
// the running gangs (for the expected wait on a kind that is full) and the
// queue (whose size distribution says which free blocks are wanted).
type Env struct {
	Now     time.Time
	Running []Running
	Pending []Pending
	// HostOK, when set, must pass a host before ranks go there (a
	// scheduler's host filters).
	HostOK func(pool.DomainID) bool
}

// Running is a gang that holds chips now: where, since when and for how
// long it expects to run (0 when unknown: it never counts as ending).
type Running struct {
	Placement *pool.Placement
	Started   time.Time
	Duration  time.Duration
}

// Pending is a queued gang as the fragmentation score sees it: its ID (a
// request never counts itself) and its whole chips, 0 when its ranks are
// not whole chips.
type Pending struct {
	ID    string
	Chips int
}

// PendingOf returns the Pending entry of r.
func PendingOf(r *Request) Pending {
	p := Pending{ID: r.ID}
	if k, ok := r.WholeChips(); ok {
		p.Chips = k * r.Ranks
	}
	return p
}

func fail(d *Decision, code Code, reason, format string, args ...any) *Decision {
	d.Placed = false
	d.Status = &Status{Code: code, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	return d
}

// Decide chooses where j runs in st, or says why it cannot now or ever. It
// does not change st.
func (p *Placer) Decide(j *Request, st *pool.State, env Env) *Decision {
	t := st.Topology()
	info := p.info(t)
	d := &Decision{Job: j.ID, Skipped: map[string]int{}}
	if j.RankMilli == 0 {
		return p.decideShared(d, info, st, j, nil)
	}
	kinds := AcceptedKinds(t, j)
	if len(kinds) == 0 {
		return fail(d, Unresolvable, ReasonNoKind, "pool %s has none of the kinds the job accepts", t.Name)
	}
	hbm := math.Inf(1)
	for _, k := range kinds {
		hbm = min(hbm, t.Kinds[k].HBMGiB)
	}
	r, err := newGang(j, hbm)
	if err != nil {
		return fail(d, Unresolvable, ReasonBadRankSize, "%v", err)
	}
	single, mixed := options(t, j, kinds)
	if r.milli > 0 {
		return p.decideShared(d, info, st, j, append(single, optionsOrNil(mixed)...))
	}
	d.Plan, d.Volumes, d.VolumesDefaulted = r.plan, r.vol, r.volDef
	dem := newDemand(env.Pending, j, p.opts.DefaultBlockWeight)
	var results []*optResult
	anyPlaced := false
	for i := range single {
		res := p.placeOption(st, info, &single[i], r, dem, env.HostOK)
		results = append(results, res)
		anyPlaced = anyPlaced || res.best != nil
	}
	if !anyPlaced && mixed != nil {
		results = append(results, p.placeOption(st, info, mixed, r, dem, env.HostOK))
	}
	return p.choose(d, st, j, r, env, results)
}

func optionsOrNil(o *option) []option {
	if o == nil {
		return nil
	}
	return []option{*o}
}

// optResult is the outcome of placing on one option.
type optResult struct {
	o       *option
	best    *evalResult
	cands   []Candidate
	lb      comm.Estimate
	skipped map[string]int
	visited int
	free    int
	reason  string
	detail  string
}

// evalResult is one evaluated candidate.
type evalResult struct {
	dom    pool.DomainID
	claims []pool.Claim
	chips  []pool.ChipID
	est    comm.Estimate
	ratio  float64
	frag   float64
	score  float64
	hosts  int
	got    int // chips taken when the selection failed
}

// placeOption searches and scores candidates for one option.
func (p *Placer) placeOption(st *pool.State, info *topoInfo, o *option, r *gang, dem *demand, hostOK func(pool.DomainID) bool) *optResult {
	res := &optResult{o: o, skipped: map[string]int{}, free: o.free(st, 0)}
	res.lb = p.lowerBound(info, o, r)
	out := p.evaluateAll(st, info, o, r, scoring{lb: res.lb.Seconds, lambda: p.opts.FragWeight, dem: dem}, hostOK)
	res.best, res.cands, res.visited, res.reason, res.detail = out.best, out.cands, out.visited, out.reason, out.detail
	for k, v := range out.skipped {
		res.skipped[k] += v
	}
	return res
}

// lowerBound is the modelled step communication of gang r on option o in
// the best domain of an empty pool (+Inf when the pool cannot hold it),
// memoised per topology: the same search scored by time alone.
func (p *Placer) lowerBound(info *topoInfo, o *option, r *gang) comm.Estimate {
	key := lbKey{kinds: o.name, n: r.n, k: r.k, cpu: r.cpu, mem: r.mem, plan: r.plan, vol: r.vol}
	return info.lowerBound(key, func() comm.Estimate {
		empty := p.evaluateAll(info.emptyState(), info, o, r, boundScoring(), nil)
		if empty.best == nil {
			return comm.Estimate{Seconds: math.Inf(1)}
		}
		return empty.best.est
	})
}

// scoring is how a selection is scored: score = ratio + lambda ×
// fragmentation, ratio being the modelled time over the lower bound lb,
// fragmentation weighed by the queue's demand.
type scoring struct {
	lb, lambda float64
	dem        *demand
	// bound scores by modelled time alone (ratio and score are the
	// seconds): the search for the lower bound itself.
	bound bool
}

// boundScoring is the scoring of the lower-bound search.
func boundScoring() scoring { return scoring{bound: true} }

type evalAll struct {
	best    *evalResult
	cands   []Candidate
	skipped map[string]int
	visited int
	reason  string
	detail  string
}

// evaluateAll runs the search and scores its candidates with sc.
func (p *Placer) evaluateAll(st *pool.State, info *topoInfo, o *option, r *gang, sc scoring, hostOK func(pool.DomainID) bool) evalAll {
	t := st.Topology()
	sel := newSelector(st, info, o, r)
	sel.hostOK = hostOK
	s := newSearch(t, r.n, sel.usable)
	s.run()
	out := evalAll{skipped: map[string]int{}, visited: s.visits}
	if s.deepest() < 0 {
		out.reason = ReasonInsufficient
		out.detail = fmt.Sprintf("%d of %d chips of %s free and usable", sel.usable(0), r.n, o.name)
		return out
	}
	m := min(max(p.opts.MaxEvalChips/max(r.n, 1), 3), 12)
	cands := s.candidates(m)
	est := info.estimator()
	defer info.release(est)
	type class struct {
		lvl, size int
	}
	seen := map[class]bool{}
	evaluated := map[pool.DomainID]bool{}
	try := func(dom pool.DomainID) {
		evaluated[dom] = true
		if st.IsFree(dom) {
			c := class{t.LevelOf(dom), t.Size(dom)}
			if seen[c] {
				out.skipped[ReasonSameClass]++
				return
			}
			seen[c] = true
		}
		er, ok := p.evaluate(sel, est, dom, sc)
		cand := Candidate{Kind: o.name, Domain: t.Path(dom), Level: t.Levels[t.LevelOf(dom)].Name, FreeChips: s.free[dom]}
		if !ok {
			cand.Reason = ReasonShapeOrHost
			cand.Detail = fmt.Sprintf("only %d of %d chips could be taken", er.got, r.n)
			cand.Score = math.Inf(1)
			out.cands = append(out.cands, cand)
			return
		}
		cand.Hosts, cand.CommSec, cand.Ratio, cand.Frag, cand.Score = er.hosts, er.est.Seconds, er.ratio, er.frag, er.score
		out.cands = append(out.cands, cand)
		if out.best == nil || er.score < out.best.score {
			out.best = er
		}
	}
	for _, dom := range cands {
		try(dom)
	}
	if out.best == nil {
		// Every candidate failed under shape rules or host limits: widen to
		// the recorded ancestors, then the whole pool.
		for l := s.deepest() - 1; l >= 0 && out.best == nil; l-- {
			for _, dom := range s.found[l] {
				if !evaluated[dom] {
					try(dom)
				}
			}
		}
	}
	if n := s.feasible() - len(evaluated); n > 0 {
		out.skipped[ReasonNotModelled] += n
	}
	if out.best == nil {
		out.reason = ReasonShapeOrHost
		out.detail = fmt.Sprintf("%d chips of %s are free but no %d could be taken as %d ranks of %d under the shape rules and host limits", sel.usable(0), o.name, r.n, r.ranks, r.k)
		out.detail += shortfall(st, o, r.k)
	}
	return out
}

// shortfall names the host with the most free chips of the option and how
// far it is from holding one rank of k chips, for explanations of gangs
// whose chips are free in aggregate but fragmented.
func shortfall(st *pool.State, o *option, k int) string {
	best, bestFree := st.FullestHost(o.kinds)
	if best == pool.NoDomain || k <= 0 {
		return ""
	}
	t := st.Topology()
	host := t.Levels[t.HostLevel].Name
	if bestFree < k {
		return fmt.Sprintf(": the fullest %s %s has %d free, %d short", host, t.Path(best), bestFree, k-bestFree)
	}
	return fmt.Sprintf(": the fullest %s %s has %d free, but not in an allowed shape or within its host limits", host, t.Path(best), bestFree)
}

// evaluate selects chips in dom, maps ranks and scores the result. When it
// cannot take every chip it returns ok false with got holding the chips it
// could take. Where the plain selection spans several children, it also
// tries splitting the gang evenly over them (see selector.takeEven) and,
// when dom's children hold hosts, with as large a smallest piece per child
// as it can (see selector.takeSpread). When a tensor group holds several
// ranks and may span the hosts of those children (topoInfo.spanLevel) and
// the plain selection spans several of them, it tries the spread selection
// once more counting and taking each child's free chips in whole tensor
// groups across its hosts (see splitSpreadSpan). It keeps any of these when
// it scores strictly better.
func (p *Placer) evaluate(sel *selector, est *comm.Estimator, dom pool.DomainID, sc scoring) (*evalResult, bool) {
	er, ok := p.evaluateOnce(sel, packTight, est, dom, sc)
	plain := er.chips
	if ev, evOK := p.evaluateOnce(sel, splitEven, est, dom, sc, plain); evOK && (!ok || ev.score < er.score) {
		er, ok = ev, true
	}
	if !sel.spreadable(dom) {
		return er, ok
	}
	sel.spreadAt = dom
	spread, spreadOK := p.evaluateOnce(sel, splitSpread, est, dom, sc, plain)
	if spreadOK && (!ok || spread.score < er.score) {
		er, ok = spread, true
	}
	if sel.r.unit > sel.r.k && sel.info.spanLevel == sel.t.LevelOf(dom)+1 && (plain == nil || spansSeveral(sel.t, plain, sel.info.spanLevel)) {
		var prev []pool.ChipID
		if spreadOK {
			prev = spread.chips
		}
		if span, spanOK := p.evaluateOnce(sel, splitSpreadSpan, est, dom, sc, plain, prev); spanOK && (!ok || span.score < er.score) {
			er, ok = span, true
		}
	}
	return er, ok
}

// spansSeveral reports whether chips lie in more than one domain of level
// lvl.
func spansSeveral(t *pool.Topology, chips []pool.ChipID, lvl int) bool {
	if len(chips) == 0 {
		return false
	}
	for _, c := range chips[1:] {
		if t.ChipAncestor(c, lvl) != t.ChipAncestor(chips[0], lvl) {
			return true
		}
	}
	return false
}

// evaluateOnce is one selection with strategy strat and its score for
// evaluate. With any strategy but packTight it gives up (ok false, nil result)
// unless the selection split some rest and took other chips than each of
// prev, the chips of the selections already scored.
func (p *Placer) evaluateOnce(sel *selector, strat strategy, est *comm.Estimator, dom pool.DomainID, sc scoring, prev ...[]pool.ChipID) (*evalResult, bool) {
	sel.reset()
	sel.strategy = strat
	r := sel.r
	t := sel.t
	got := sel.selectAll(dom, r.n)
	if got < r.n {
		return &evalResult{got: got}, false
	}
	er := &evalResult{dom: dom, hosts: sel.hosts()}
	chips := sel.chips()
	if strat != packTight {
		if !sel.evened {
			return nil, false
		}
		for _, pc := range prev {
			if sameChips(chips, pc) {
				return nil, false
			}
		}
	}
	fab := sel.info.fab
	c32 := make([]int32, len(chips))
	for i, c := range chips {
		c32[i] = int32(c)
	}
	mapped := comm.MapRanks(fab, c32, r.plan)
	ordered := make([]pool.ChipID, len(mapped))
	for i, c := range mapped {
		ordered[i] = pool.ChipID(c)
	}
	if claims, ok := regroup(t, ordered, r.k, r.cpu, r.mem, sel.info.hasShape); ok {
		er.claims, er.chips = claims, ordered
	} else {
		er.claims, er.chips = cloneClaims(sel.claims), chips
		for i, c := range chips {
			c32[i] = int32(c)
		}
		mapped = c32
	}
	if t.HasPowerBudgets() && sel.st.CanAllocate(er.claims...) != nil {
		return &evalResult{got: got}, false // a power budget the aggregates could not see
	}
	er.est = est.EstimateStep(mapped, r.plan, r.vol)
	er.frag = fragmentation(sel, dom, sc.dem)
	if sc.bound {
		er.ratio, er.score = er.est.Seconds, er.est.Seconds
		return er, true
	}
	er.ratio = ratio(er.est.Seconds, sc.lb)
	er.score = er.ratio + sc.lambda*er.frag
	return er, true
}

// sameChips reports whether a and b hold the same chips.
func sameChips(a, b []pool.ChipID) bool {
	return len(a) == len(b) && slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func ratio(sec, lb float64) float64 {
	switch {
	case sec == 0:
		return 1
	case lb <= 0 || math.IsInf(lb, 1):
		return 1
	}
	return sec / lb
}

// fragmentation scores the selection in [0, 1]: half for the free blocks
// it breaks (a domain that was wholly free and is left partly free, weighed
// by how much of the queue would want a block that size), half for how
// loosely the gang fits its domain (the share of the domain's usable chips
// it leaves idle), so that partly used domains are preferred.
func fragmentation(sel *selector, dom pool.DomainID, dem *demand) float64 {
	st, t := sel.st, sel.t
	broken := 0.0
	for d, got := range sel.takenIn {
		if got < t.Size(d) && st.IsFree(d) {
			broken = max(broken, dem.weight(t, d))
		}
	}
	loose := 0.0
	if u := sel.usable(dom) + sel.r.n; u > 0 { // usable already excludes the selection
		loose = 1 - float64(sel.r.n)/float64(u)
	}
	return 0.5*broken + 0.5*max(loose, 0)
}

// demand is the size distribution of the queue.
type demand struct {
	sizes []int
	def   float64
}

func newDemand(pending []Pending, self *Request, def float64) *demand {
	dm := &demand{def: def}
	for _, j := range pending {
		if j.ID == self.ID {
			continue
		}
		if j.Chips > 0 {
			dm.sizes = append(dm.sizes, j.Chips)
		}
	}
	return dm
}

// weight is how much breaking the free block d hurts the queue: the share
// of queued gangs larger than one of d's children (they need at least a
// whole d-sized block to sit at d's level or inside it whole).
func (dm *demand) weight(t *pool.Topology, d pool.DomainID) float64 {
	if dm == nil {
		return 0
	}
	if len(dm.sizes) == 0 {
		return dm.def
	}
	child := 1
	if kids := t.Children(d); len(kids) > 0 {
		child = t.Size(kids[0])
	}
	n := 0
	for _, s := range dm.sizes {
		if s > child {
			n++
		}
	}
	return float64(n) / float64(len(dm.sizes))
}

// Ratio is sec over the lower bound lb: 1 when sec is 0 or the bound is
// unknown (0 or +Inf).
func Ratio(sec, lb float64) float64 { return ratio(sec, lb) }
