package planner

import (
	"fmt"
	"math"
	"sort"
)

// shape is a plan without its data-parallel degree.
type shape struct {
	tp, pp, ep, mb int
	rc             Recompute
}

func (s shape) plan(dp int) Parallelism {
	return Parallelism{TP: s.tp, PP: s.pp, DP: dp, EP: s.ep, MicroBatch: s.mb, Recompute: s.rc}
}

// outcome is what a search found.
type outcome struct {
	best     *KindResult // chosen plan; nil if none qualifies
	fastest  *KindResult // fastest plan that fits (deadline mode)
	smallest *KindResult // least memory per chip among the most sharded plans tried
	shapes   int         // shapes with at least one admissible DP
}

// shapes enumerates the candidate shapes on a target: TP a power of two up
// to the scale-up domain (at most 64) dividing the head count; PP a divisor
// of the layer count or a power of two, at most the layers; EP a power of
// two dividing the experts; micro-batch 1, 2, 4 or 8; each recomputation
// policy. Fixed fields of the request replace their dimension.
func (e *env) shapes(tg target) []shape {
	m, f := e.req.Model, e.req.Fixed
	var tps, pps, eps, mbs []int
	var rcs []Recompute
	if f.TP > 0 {
		tps = []int{f.TP}
	} else {
		for t := 1; t <= min(64, tg.fabric.ScaleUpSize()); t *= 2 {
			if m.heads()%t == 0 {
				tps = append(tps, t)
			}
		}
	}
	if f.PP > 0 {
		pps = []int{f.PP}
	} else {
		set := map[int]bool{}
		for p := 1; p <= m.Layers; p++ {
			if m.Layers%p == 0 || p&(p-1) == 0 {
				set[p] = true
			}
		}
		for p := range set {
			pps = append(pps, p)
		}
		sort.Ints(pps)
	}
	switch {
	case f.EP > 0:
		eps = []int{f.EP}
	case m.IsMoE():
		for x := 1; x <= m.Experts; x *= 2 {
			if m.Experts%x == 0 {
				eps = append(eps, x)
			}
		}
	default:
		eps = []int{1}
	}
	if f.MicroBatch > 0 {
		mbs = []int{f.MicroBatch}
	} else {
		for _, b := range []int{1, 2, 4, 8} {
			if b <= e.batch {
				mbs = append(mbs, b)
			}
		}
	}
	if f.Recompute != "" {
		rcs = []Recompute{f.Recompute}
	} else {
		rcs = recomputes
	}
	var out []shape
	for _, t := range tps {
		for _, p := range pps {
			for _, x := range eps {
				for _, b := range mbs {
					for _, r := range rcs {
						out = append(out, shape{t, p, x, b, r})
					}
				}
			}
		}
	}
	return out
}

// maxDP is the largest data-parallel degree for a shape: the global batch
// over the micro-batch (every replica needs at least one micro-batch), and
// the chips available, rounded down to a multiple of EP.
func (e *env) maxDP(tg target, s shape) int {
	dp := e.batch / s.mb
	limit := e.req.Chips
	if tg.maxChips > 0 && (limit == 0 || tg.maxChips < limit) {
		limit = tg.maxChips
	}
	if limit > 0 {
		dp = min(dp, limit/(s.tp*s.pp))
	}
	return dp / s.ep * s.ep
}

// search finds the best plan: in chips mode the shortest wall time on at
// most the given chips; in deadline mode the fewest chips that finish in
// time (binary search on DP per shape: memory and time both fall as DP
// grows, until the batch runs out).
func (e *env) search(tg target) outcome {
	var o outcome
	better := func(a, b *KindResult) bool { // a better than b
		if b == nil {
			return true
		}
		if e.req.Deadline > 0 && a.Chips != b.Chips {
			return a.Chips < b.Chips
		}
		if a.WallDays != b.WallDays {
			return a.WallDays < b.WallDays
		}
		if a.Chips != b.Chips {
			return a.Chips < b.Chips
		}
		return a.Memory.TotalGiB < b.Memory.TotalGiB
	}
	deadlineDays := e.req.Deadline.Hours() / 24
	for _, s := range e.shapes(tg) {
		hi := e.maxDP(tg, s)
		if hi < s.ep || hi < 1 {
			continue
		}
		o.shapes++
		if e.req.Deadline > 0 && o.best != nil && o.fastest != nil && s.tp*s.pp*s.ep > o.best.Chips {
			continue // cannot use fewer chips than the best so far
		}
		top := e.evaluate(tg, s.plan(hi))
		if o.smallest == nil || top.Memory.TotalGiB < o.smallest.Memory.TotalGiB {
			c := top
			o.smallest = &c
		}
		if !top.Memory.Fits() {
			continue
		}
		if o.fastest == nil || top.WallDays < o.fastest.WallDays ||
			(top.WallDays == o.fastest.WallDays && top.Chips < o.fastest.Chips) {
			c := top
			o.fastest = &c
		}
		if e.req.Deadline == 0 {
			if better(&top, o.best) {
				c := top
				o.best = &c
			}
			continue
		}
		if top.WallDays > deadlineDays {
			continue
		}
		// Smallest k in [1, hi/ep] with DP = k·ep that fits and meets the deadline.
		lo, hiK := 1, hi/s.ep
		if o.best != nil {
			if cap := o.best.Chips / (s.tp * s.pp * s.ep); cap < hiK {
				// Only DP up to the best chip count so far can win; check it
				// fits and meets the deadline there, else skip.
				if cap < 1 {
					continue
				}
				kr := e.evaluate(tg, s.plan(cap*s.ep))
				if !kr.Memory.Fits() || kr.WallDays > deadlineDays {
					continue
				}
				hiK, top = cap, kr
			}
		}
		found := top
		for lo < hiK {
			mid := (lo + hiK) / 2
			kr := e.evaluate(tg, s.plan(mid*s.ep))
			if kr.Memory.Fits() && kr.WallDays <= deadlineDays {
				hiK, found = mid, kr
			} else {
				lo = mid + 1
			}
		}
		if found.Plan.DP != lo*s.ep {
			found = e.evaluate(tg, s.plan(lo*s.ep))
		}
		if better(&found, o.best) {
			c := found
			o.best = &c
		}
	}
	return o
}

// explain turns a failed search into an error that says what limits the
// plan and what would fix it.
func (e *env) explain(tg target, o outcome) error {
	name := e.req.Model.Name
	if name == "" {
		name = "the model"
	}
	if o.shapes == 0 {
		return inputErrorf("%s: no parallelism fits the request: the fixed --tp/--pp/--ep/--micro-batch need more chips than --chips %d or a larger global batch (%d sequences)",
			tg.name, e.req.Chips, e.batch)
	}
	if o.fastest == nil { // nothing fits HBM
		fe := &FitError{Kind: tg.name, Model: name, Memory: o.smallest.Memory, Smallest: o.smallest.Plan}
		need := o.smallest.Memory.TotalGiB / (1 - e.a.HBMMargin)
		fe.Fixes = append(fe.Fixes, fmt.Sprintf("a chip kind with at least %.0f GiB of HBM", math.Ceil(need)))
		if e.req.Chips > 0 || tg.maxChips > 0 {
			if n := e.minChipsToFit(tg); n > 0 {
				fe.Fixes = append(fe.Fixes, fmt.Sprintf("more chips: %d or more allow enough pipeline, tensor and data sharding", n))
			} else {
				fe.Fixes = append(fe.Fixes, "more chips for pipeline parallelism will not suffice")
			}
		}
		f := e.req.Fixed
		if f.TP > 0 || f.PP > 0 || f.EP > 0 || f.MicroBatch > 0 || (f.Recompute != "" && f.Recompute != RecomputeFull) {
			fe.Fixes = append(fe.Fixes, "leave --tp, --pp, --ep, --micro-batch and --recompute unset so the planner may shard and recompute further")
		}
		if e.a.ZeRO == 0 {
			fe.Fixes = append(fe.Fixes, "--zero 1 to shard optimizer state over data parallelism")
		}
		if o.smallest.Memory.ActivationsGiB > 0.3*o.smallest.Memory.TotalGiB {
			fe.Fixes = append(fe.Fixes, "a shorter sequence (--seq) or context parallelism, since activations dominate")
		}
		return fe
	}
	// Something fits but nothing meets the deadline.
	best := *o.fastest
	de := &DeadlineError{Kind: tg.name, Deadline: e.req.Deadline, Best: &best}
	p := best.Plan
	switch {
	case tg.maxChips > 0 && best.Chips+p.TP*p.PP > tg.maxChips:
		de.Reason = fmt.Sprintf("the pool has only %d chips", tg.maxChips)
		de.Fixes = append(de.Fixes, "a larger pool")
	case p.DP*p.MicroBatch+p.EP > e.batch:
		de.Reason = fmt.Sprintf("data parallelism is capped at %d replicas because the global batch is %d sequences of %d tokens, so more chips cannot help",
			p.DP, e.batch, e.req.Model.SeqLen)
		de.Fixes = append(de.Fixes, "a larger --global-batch-tokens (at the cost of convergence per token)")
	}
	if best.Reliability.EffectiveRatio < 0.5 {
		de.Reason += fmt.Sprintf("; at %d chips a job-killing fault comes every %.1f h and only %.0f%% of the time trains",
			best.Chips, best.Reliability.JobMTBFHours, 100*best.Reliability.EffectiveRatio)
	}
	if !math.IsInf(best.WallDays, 0) {
		de.Fixes = append(de.Fixes, fmt.Sprintf("a --deadline of at least %s", days(math.Ceil(best.WallDays*10)/10)))
	} else {
		de.Fixes = append(de.Fixes, "a shorter --restart or a higher --chip-mtbf-hours, if yours are better than assumed")
	}
	de.Fixes = append(de.Fixes, "fewer --tokens", "a faster chip kind")
	return de
}

// minChipsToFit returns the fewest chips at which some plan fits in HBM,
// ignoring time, or 0 if none does within the global batch.
func (e *env) minChipsToFit(tg target) int {
	saved := e.req.Chips
	e.req.Chips, tg.maxChips = 0, 0 // tg is a copy
	defer func() { e.req.Chips = saved }()
	best := 0
	for _, s := range e.shapes(tg) {
		hi := e.maxDP(tg, s)
		if hi < s.ep || hi < 1 || !e.evaluate(tg, s.plan(hi)).Memory.Fits() {
			continue
		}
		lo, k := 1, hi/s.ep
		for lo < k {
			mid := (lo + k) / 2
			if e.evaluate(tg, s.plan(mid*s.ep)).Memory.Fits() {
				k = mid
			} else {
				lo = mid + 1
			}
		}
		if n := s.tp * s.pp * lo * s.ep; best == 0 || n < best {
			best = n
		}
	}
	return best
}
