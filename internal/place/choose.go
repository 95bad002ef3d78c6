package place

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// choose estimates the completion on every option and keeps the earliest
// finish; it fills d.
func (p *Placer) choose(d *Decision, st *pool.State, j *Request, r *gang, env Env, results []*optResult) *Decision {
	t := st.Topology()
	ref := refOption(t, j, results)
	runRef := j.Duration.Seconds()
	if runRef <= 0 {
		runRef = DefaultRunSeconds
	}
	stepRef := ComputeSeconds(r.vol, r.hbmGiB, ref.o.tflops) + finite(ref.lb.Seconds)
	steps := runRef / stepRef
	bestIdx := -1
	for i, res := range results {
		ke := KindEstimate{Kind: res.o.name, Family: res.o.family, FreeChips: res.free, Placeable: res.best != nil}
		ke.ComputeSeconds = ComputeSeconds(r.vol, r.hbmGiB, res.o.tflops)
		if res.best != nil {
			ke.CommSeconds = res.best.est.Seconds
		} else {
			ke.CommSeconds = res.lb.Seconds
			ke.WaitSeconds = expectedWait(st, res.o, r.n, env)
			ke.Reason, ke.Detail = res.reason, res.detail
		}
		ke.StepSeconds = ke.ComputeSeconds + ke.CommSeconds
		ke.RunSeconds = steps * ke.StepSeconds
		ke.FinishSeconds = ke.WaitSeconds + ke.RunSeconds
		d.Kinds = append(d.Kinds, ke)
		if math.IsInf(ke.FinishSeconds, 1) || math.IsNaN(ke.FinishSeconds) {
			continue
		}
		if bestIdx < 0 || ke.FinishSeconds < d.Kinds[bestIdx].FinishSeconds ||
			ke.FinishSeconds == d.Kinds[bestIdx].FinishSeconds && ke.Placeable && !d.Kinds[bestIdx].Placeable {
			bestIdx = i
		}
	}
	for _, res := range results {
		d.Visited += res.visited
		for k, v := range res.skipped {
			d.Skipped[k] += v
		}
	}
	if bestIdx < 0 {
		// Nothing can start now and no wait is known: report the first reason.
		res := results[0]
		for _, x := range results {
			if x.reason == ReasonShapeOrHost {
				res = x
			}
		}
		for _, x := range results {
			d.Candidates = append(d.Candidates, x.cands...)
		}
		code := Unresolvable // the pool could never hold the gang
		for _, x := range results {
			total := 0
			for _, k := range x.o.kinds {
				total += t.KindCount(0, k)
			}
			if total >= r.n {
				code = Unschedulable
			}
		}
		if code == Unresolvable {
			return fail(d, code, ReasonInsufficient, "the pool has fewer than %d chips of any accepted kind (%s)", r.n, res.detail)
		}
		return fail(d, code, res.reason, "%s", res.detail)
	}
	chosen := results[bestIdx]
	ck := &d.Kinds[bestIdx]
	ck.Chosen = true
	ck.Reason = ReasonChosen
	for i := range d.Kinds {
		k := &d.Kinds[i]
		if i == bestIdx {
			continue
		}
		switch {
		case k.Placeable || !math.IsInf(k.FinishSeconds, 1):
			k.Reason = ReasonLaterFinish
			k.Detail = fmt.Sprintf("finishes in %s (wait %s + run %s) against %s on %s", dur(k.FinishSeconds), dur(k.WaitSeconds), dur(k.RunSeconds), dur(ck.FinishSeconds), ck.Kind)
		case k.Reason == "":
			k.Reason = ReasonNeedsWait
		}
	}
	d.LowerBound = chosen.lb
	d.Kind, d.Family = chosen.o.name, chosen.o.family
	if chosen.best == nil {
		for _, x := range results {
			d.Candidates = append(d.Candidates, x.cands...)
		}
		if len(results) == 1 {
			// One kind: no faster kind to wait for, only chips to free.
			return fail(d, Unschedulable, chosen.reason, "%s (%d free in all); enough expected free in %s", chosen.detail, ck.FreeChips, dur(ck.WaitSeconds))
		}
		return fail(d, Unschedulable, ReasonWaitFaster, "%s finishes first: in %s after an expected wait of %s (%d chips free now, %d needed); %s",
			ck.Kind, dur(ck.FinishSeconds), dur(ck.WaitSeconds), ck.FreeChips, r.n, otherKinds(d.Kinds, bestIdx))
	}
	b := chosen.best
	d.Placed = true
	d.Domain, d.Level = t.Path(b.dom), t.Levels[t.LevelOf(b.dom)].Name
	d.Chips = b.chips
	d.Step = b.est
	d.Ratio, d.Fragmentation, d.Score = b.ratio, b.frag, b.score
	pl := &pool.Placement{Ranks: b.claims}
	pl.Kinds = pl.ChipKinds(t)
	d.Placement = pl
	d.Candidates = explainCandidates(b, results, bestIdx, t)
	return d
}

// explainCandidates puts the chosen candidate first and says why each
// other lost.
func explainCandidates(b *evalResult, results []*optResult, bestIdx int, t *pool.Topology) []Candidate {
	var out []Candidate
	winPath := t.Path(b.dom)
	for i, res := range results {
		for _, c := range res.cands {
			if i == bestIdx && c.Domain == winPath {
				c.Reason = ReasonChosen
				out = append([]Candidate{c}, out...)
				continue
			}
			if i != bestIdx && c.Reason == "" {
				c.Reason, c.Detail = ReasonLaterFinish, "another kind finishes first"
			}
			if c.Reason == "" {
				switch {
				case c.CommSec > b.est.Seconds*(1+1e-9):
					c.Reason = ReasonSlower
					c.Detail = fmt.Sprintf("%.2f× the chosen communication", c.CommSec/math.Max(b.est.Seconds, 1e-300))
				case c.Score > b.score:
					c.Reason = ReasonFragmentation
					c.Detail = fmt.Sprintf("fragmentation %.2f against %.2f", c.Frag, b.frag)
				default:
					c.Reason = ReasonTie
				}
			}
			out = append(out, c)
		}
	}
	return out
}

func otherKinds(ks []KindEstimate, skip int) string {
	s := ""
	for i, k := range ks {
		if i == skip {
			continue
		}
		if s != "" {
			s += "; "
		}
		if k.Placeable {
			s += fmt.Sprintf("%s could start now but would finish in %s", k.Kind, dur(k.FinishSeconds))
		} else {
			s += fmt.Sprintf("%s would finish in %s", k.Kind, dur(k.FinishSeconds))
		}
	}
	return s
}

// refOption is the option the job's Duration is measured on: the first
// kind the job lists that the pool has, else the fastest accepted kind.
func refOption(t *pool.Topology, j *Request, results []*optResult) *optResult {
	for _, name := range j.Kinds {
		for _, r := range results {
			if r.o.name == name {
				return r
			}
		}
	}
	best := results[0]
	for _, r := range results[1:] {
		if r.o.tflops > best.o.tflops {
			best = r
		}
	}
	return best
}

// expectedWait estimates the seconds until n chips of o are free: running
// gangs end at Started+Duration (those without a duration never count), and
// each returns its whole chips of o's kinds.
func expectedWait(st *pool.State, o *option, n int, env Env) float64 {
	t := st.Topology()
	free := o.free(st, 0)
	if free >= n {
		// Enough chips, but shape rules or host limits block the gang:
		// when that changes is not modelled.
		return math.Inf(1)
	}
	type ev struct {
		at    float64
		chips int
	}
	var evs []ev
	for _, rj := range env.Running {
		if rj.Placement == nil || rj.Duration <= 0 {
			continue
		}
		c := 0
		for _, cl := range rj.Placement.Ranks {
			for _, g := range cl.Grants {
				if g.Milli == pool.Full && slices.Contains(o.kinds, t.ChipKind(g.Chip)) {
					c++
				}
			}
		}
		if c == 0 {
			continue
		}
		now := env.Now
		if now.IsZero() {
			now = rj.Started
		}
		evs = append(evs, ev{max(rj.Started.Add(rj.Duration).Sub(now).Seconds(), 0), c})
	}
	slices.SortFunc(evs, func(a, b ev) int { return cmp.Compare(a.at, b.at) })
	for _, e := range evs {
		free += e.chips
		if free >= n {
			return e.at
		}
	}
	return math.Inf(1)
}

func finite(x float64) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return 0
	}
	return x
}

// dur formats seconds for messages.
func dur(s float64) string {
	if math.IsInf(s, 1) {
		return "unknown"
	}
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Second:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Microsecond).String()
}
