package place

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// Name is the plugin's registered name.
const Name = "topology"

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

// Placer is the topology-aware Place plugin. It is safe for concurrent use:
// it keeps no state between calls except what it derives from immutable
// topologies (fabric, empty state, memoised lower bounds), one entry per
// topology it has seen.
type Placer struct {
	opts  Options
	infos sync.Map // *pool.Topology -> *topoInfo
}

var _ sched.Place = (*Placer)(nil)

// New returns a Placer.
func New(opts Options) *Placer { return &Placer{opts: opts.withDefaults()} }

// Name returns "topology".
func (p *Placer) Name() string { return Name }

func (p *Placer) info(t *pool.Topology) *topoInfo {
	if v, ok := p.infos.Load(t); ok {
		return v.(*topoInfo)
	}
	v, _ := p.infos.LoadOrStore(t, newTopoInfo(t))
	return v.(*topoInfo)
}

// Fabric returns the comm fabric of t, shared with the Placer's estimators.
func (p *Placer) Fabric(t *pool.Topology) *Fabric { return p.info(t).fab }

// Env is what a decision reads besides the job and the pool: the time, the
// running jobs (for the expected wait on a kind that is full) and the
// queue (whose size distribution says which free blocks are wanted).
type Env struct {
	Now     time.Time
	Running []*sched.Job
	Pending []*sched.Job
	// HostOK, when set, must pass a host before ranks go there (the
	// profile's host filters).
	HostOK func(pool.DomainID) bool
}

// Place implements sched.Place: it decides with Decide, reading the cycle's
// time and the snapshot's running and pending jobs and passing hosts
// through the profile's host filters, records the outcome with
// cs.Explain, and stores the whole Decision in the cycle state under
// DecisionKey(j.ID).
func (p *Placer) Place(cs *sched.CycleState, j *sched.Job, st *pool.State) (*sched.Placement, *sched.Status) {
	var env Env
	if cs != nil {
		env.Now = cs.Now
		if cs.Snapshot != nil {
			env.Running, env.Pending = cs.Snapshot.Running, cs.Snapshot.Pending
		}
		if cs.Profile != nil && len(cs.Profile.Filters) > 0 {
			env.HostOK = func(h pool.DomainID) bool {
				for _, f := range cs.Profile.Filters {
					if !f.FilterHost(cs, j, st, h).IsSuccess() {
						return false
					}
				}
				return true
			}
		}
	}
	d := p.Decide(j, st, env)
	if cs != nil {
		cs.Write(DecisionKey(j.ID), d)
		for _, r := range d.Records() {
			cs.Explain(j.ID, r)
		}
	}
	if !d.Placed {
		return nil, d.Status
	}
	return d.Placement, nil
}

// DecisionKey is the cycle-state key of the Decision for a job.
func DecisionKey(jobID string) string { return "place/decision/" + jobID }

func fail(d *Decision, code sched.Code, reason, format string, args ...any) *Decision {
	d.Placed = false
	d.Status = &sched.Status{Code: code, Plugin: Name, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	return d
}

// Decide chooses where j runs in st, or says why it cannot now or ever. It
// does not change st.
func (p *Placer) Decide(j *sched.Job, st *pool.State, env Env) *Decision {
	t := st.Topology()
	info := p.info(t)
	d := &Decision{Job: j.ID, Skipped: map[string]int{}}
	if j.RankMilli == 0 {
		return p.decideShared(d, info, st, j, nil)
	}
	kinds := acceptedKinds(t, j)
	if len(kinds) == 0 {
		return fail(d, sched.Unresolvable, ReasonNoKind, "pool %s has none of the kinds the job accepts", t.Name)
	}
	hbm := math.Inf(1)
	for _, k := range kinds {
		hbm = min(hbm, t.Kinds[k].HBMGiB)
	}
	r, err := newRequest(j, hbm)
	if err != nil {
		return fail(d, sched.Unresolvable, ReasonBadShape, "%v", err)
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
func (p *Placer) placeOption(st *pool.State, info *topoInfo, o *option, r *request, dem *demand, hostOK func(pool.DomainID) bool) *optResult {
	res := &optResult{o: o, skipped: map[string]int{}, free: o.free(st, 0)}
	key := lbKey{kinds: o.name, n: r.n, k: r.k, cpu: r.cpu, mem: r.mem, plan: r.plan, vol: r.vol}
	res.lb = info.lowerBound(key, func() comm.Estimate {
		empty := p.evaluateAll(info.emptyState(), info, o, r, nil, 0, 0, nil)
		if empty.best == nil {
			return comm.Estimate{Seconds: math.Inf(1)}
		}
		return empty.best.est
	})
	out := p.evaluateAll(st, info, o, r, dem, res.lb.Seconds, p.opts.FragWeight, hostOK)
	res.best, res.cands, res.visited, res.reason, res.detail = out.best, out.cands, out.visited, out.reason, out.detail
	for k, v := range out.skipped {
		res.skipped[k] += v
	}
	return res
}

type evalAll struct {
	best    *evalResult
	cands   []Candidate
	skipped map[string]int
	visited int
	reason  string
	detail  string
}

// evaluateAll runs the search and scores its candidates. lb is the lower
// bound (0 while computing it), lambda the fragmentation weight.
func (p *Placer) evaluateAll(st *pool.State, info *topoInfo, o *option, r *request, dem *demand, lb, lambda float64, hostOK func(pool.DomainID) bool) evalAll {
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
		er, ok := p.evaluate(sel, est, dom, lb, lambda, dem)
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
// groups across its hosts (see selector.span). It keeps any of these when
// it scores strictly better.
func (p *Placer) evaluate(sel *selector, est *comm.Estimator, dom pool.DomainID, lb, lambda float64, dem *demand) (*evalResult, bool) {
	er, ok := p.evaluateOnce(sel, est, dom, lb, lambda, dem)
	sel.balanced = true
	even, evenOK := p.evaluateOnce(sel, est, dom, lb, lambda, dem, er.chips)
	sel.balanced = false
	plain := er.chips
	if evenOK && (!ok || even.score < er.score) {
		er, ok = even, true
	}
	if sel.spreadable(dom) {
		sel.spread, sel.spreadAt = true, dom
		spread, spreadOK := p.evaluateOnce(sel, est, dom, lb, lambda, dem, plain)
		if spreadOK && (!ok || spread.score < er.score) {
			er, ok = spread, true
		}
		if sel.r.unit > sel.r.k && sel.info.spanLevel == sel.t.LevelOf(dom)+1 && (plain == nil || spansSeveral(sel.t, plain, sel.info.spanLevel)) {
			var prev []pool.ChipID
			if spreadOK {
				prev = spread.chips
			}
			sel.span = true
			span, spanOK := p.evaluateOnce(sel, est, dom, lb, lambda, dem, plain, prev)
			sel.span = false
			if spanOK && (!ok || span.score < er.score) {
				er, ok = span, true
			}
		}
		sel.spread = false
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

// evaluateOnce is one selection and score for evaluate. In balanced and
// spread mode it gives up (ok false, nil result) unless the selection split
// some rest and took other chips than each of prev, the chips of the
// selections already scored.
func (p *Placer) evaluateOnce(sel *selector, est *comm.Estimator, dom pool.DomainID, lb, lambda float64, dem *demand, prev ...[]pool.ChipID) (*evalResult, bool) {
	sel.reset()
	r := sel.r
	t := sel.t
	got := sel.selectAll(dom, r.n)
	if got < r.n {
		return &evalResult{got: got}, false
	}
	er := &evalResult{dom: dom, hosts: sel.hosts()}
	chips := sel.chips()
	if sel.balanced || sel.spread {
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
	er.ratio = ratio(er.est.Seconds, lb)
	if lb == 0 && lambda == 0 {
		er.ratio = er.est.Seconds // computing the lower bound: time alone
	}
	er.frag = fragmentation(sel, dom, dem)
	er.score = er.ratio + lambda*er.frag
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

func newDemand(pending []*sched.Job, self *sched.Job, def float64) *demand {
	dm := &demand{def: def}
	for _, j := range pending {
		if j == self || j.ID == self.ID {
			continue
		}
		if k, ok := j.WholeChips(); ok {
			dm.sizes = append(dm.sizes, k*j.Ranks)
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

// NewFabricEstimate models chips (in rank order) with the plan and volumes
// of decision d on t: how the same gang would communicate placed
// elsewhere, for example by FirstFit.
func NewFabricEstimate(t *pool.Topology, chips []pool.ChipID, d *Decision) float64 {
	c := make([]int32, len(chips))
	for i, x := range chips {
		c[i] = int32(x)
	}
	return comm.EstimateStep(NewFabric(t), c, d.Plan, d.Volumes).Seconds
}
