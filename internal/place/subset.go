package place

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/pool"
)

// Reasons of subset re-placement (DecideSubset).
const (
	// ReasonReplaced is the record of a subset re-placement: which ranks
	// went where, next to the survivors.
	ReasonReplaced = "replaced-subset"
	// ReasonNoRoomNear: the domain the gang ran in cannot hold the lost
	// ranks now; the caller places the whole gang again.
	ReasonNoRoomNear = "no-room-near-survivors"
)

// Subset says which ranks of a gang keep their chips and which are placed
// again after a fault.
type Subset struct {
	// Keep is one claim per rank of the gang, in rank order: the claims the
	// surviving ranks hold (already allocated in the state), and a claim
	// without grants (Host -1) for every rank to place again.
	Keep []pool.Claim
	// Lost are the ranks to place again, in the order they are placed.
	Lost []int
	// From are the hosts the lost ranks ran on (part of the domain the
	// replacements are looked for in; usually unusable now).
	From []pool.DomainID
	// Spares are hosts held back for recovery: free for the lost ranks
	// and preferred over any other host.
	Spares []pool.DomainID
}

// DecideSubset places the lost ranks of a running gang next to its
// survivors, which stay where they are: each lost rank goes to a host of
// the smallest domain that held the gang before the fault, spares first,
// then the host whose chips give the whole gang (survivors and the ranks
// placed so far) the shortest modelled step communication, then topology
// order. Candidates the comm model cannot tell apart (same rack and free
// chips, or equally filled domains: see stepClasses) are scored once. The
// Placement it returns holds every rank: the survivors' claims
// unchanged and new claims for the lost ranks. It fails, with
// ReasonNoRoomNear, when that domain cannot hold every lost rank; the
// caller then places the whole gang again (Decide). Only whole-chip gangs
// of one kind are re-placed this way. It does not change st.
func (p *Placer) DecideSubset(j *Request, sub Subset, st *pool.State, env Env) *Decision {
	t := st.Topology()
	d := &Decision{Job: j.ID, Skipped: map[string]int{}}
	k, whole := j.WholeChips()
	if !whole {
		return fail(d, Unschedulable, ReasonNoRoomNear, "only whole-chip ranks are re-placed next to the survivors")
	}
	if len(sub.Keep) != j.Ranks || len(sub.Lost) == 0 {
		return fail(d, Unschedulable, ReasonNoRoomNear, "%d claims to keep for %d ranks, %d lost", len(sub.Keep), j.Ranks, len(sub.Lost))
	}
	// The kind and the domain: those of the gang before the fault.
	var kind pool.KindID
	haveKind := false
	var hosts []pool.DomainID
	for r, c := range sub.Keep {
		if slices.Contains(sub.Lost, r) {
			continue
		}
		if len(c.Grants) != k {
			return fail(d, Unschedulable, ReasonNoRoomNear, "surviving rank %d holds %d chips, not %d", r, len(c.Grants), k)
		}
		kind, haveKind = t.ChipKind(c.Grants[0].Chip), true
		hosts = append(hosts, c.Host)
	}
	if !haveKind {
		return fail(d, Unschedulable, ReasonNoRoomNear, "no surviving rank to place next to")
	}
	hosts = append(hosts, sub.From...)
	dom := commonAncestor(t, hosts)
	ck := t.Kinds[kind]
	d.Kind, d.Family = ck.Name, ck.Collective
	d.Domain, d.Level = t.Path(dom), t.Levels[t.LevelOf(dom)].Name
	hbm := ck.HBMGiB
	g, err := newGang(j, hbm)
	if err != nil {
		return fail(d, Unresolvable, ReasonBadRankSize, "%v", err)
	}
	d.Plan, d.Volumes, d.VolumesDefaulted = g.plan, g.vol, g.volDef

	info := p.info(t)
	est := info.estimator()
	defer info.release(est)
	scratch := st.Clone()
	spare := map[pool.DomainID]bool{}
	for _, h := range sub.Spares {
		spare[h] = true
	}
	claims := slices.Clone(sub.Keep)
	classes := newStepClasses(t, claims)
	under := hostsUnder(t, dom)
	type cand struct {
		c     pool.Claim
		spare bool
	}
	var cands []cand
	var moves []string
	for _, r := range sub.Lost {
		// The hosts that can take the rank, in topology order; when a
		// spare is among them no other host can win, so only spares are
		// scored.
		cands = cands[:0]
		anySpare := false
		for _, h := range under {
			if env.HostOK != nil && !env.HostOK(h) {
				d.Skipped[ReasonShapeOrHost]++
				continue
			}
			if room, _ := scratch.RankRoom(h, j.CPUMilli, j.MemoryMiB); room < 1 {
				continue
			}
			chips := scratch.SelectChips(h, kind, k)
			if chips == nil {
				continue
			}
			c := pool.WholeChipClaim(h, chips, j.CPUMilli, j.MemoryMiB)
			if scratch.CanAllocate(c) != nil {
				continue
			}
			cands = append(cands, cand{c: c, spare: spare[h]})
			anySpare = anySpare || spare[h]
		}
		if anySpare {
			cands = slices.DeleteFunc(cands, func(cd cand) bool { return !cd.spare })
		}
		best, bestSpare, bestSec := pool.Claim{}, false, math.Inf(1)
		found := false
		classes.next()
		for _, cd := range cands {
			// A later member of a scored class gives the same step, and
			// ties go to the first in topology order.
			if !classes.first(chipsOf(cd.c), cd.spare) {
				continue
			}
			claims[r] = cd.c
			sec := stepOf(est, claims, g).Seconds
			// The shorter step, then topology order.
			if !found || sec < bestSec {
				best, bestSpare, bestSec, found = cd.c, cd.spare, sec, true
			}
		}
		if !found {
			claims[r] = sub.Keep[r]
			return fail(d, Unschedulable, ReasonNoRoomNear, "%s %s cannot hold rank %d (%d chips of %s) next to the survivors",
				d.Level, d.Domain, r, k, ck.Name)
		}
		claims[r] = best
		classes.mark(best)
		if err := scratch.Allocate(best); err != nil {
			panic("place: subset scratch: " + err.Error()) // CanAllocate said yes
		}
		where := t.Path(best.Host)
		if bestSpare {
			where += " (spare)"
		}
		moves = append(moves, fmt.Sprintf("rank %d → %s", r, where))
	}
	d.Placed = true
	d.Placement = &pool.Placement{Kinds: []pool.KindID{kind}, Ranks: claims}
	d.Chips = d.Placement.Chips()
	d.Step = stepOf(est, claims, g)
	d.LowerBound = p.lowerBound(info, &option{kinds: []pool.KindID{kind}, name: ck.Name}, g)
	d.Ratio = ratio(d.Step.Seconds, d.LowerBound.Seconds)
	d.Score = d.Ratio
	d.Candidates = []Candidate{{Kind: ck.Name, Domain: d.Domain, Level: d.Level, Hosts: countHosts(claims),
		CommSec: d.Step.Seconds, Ratio: d.Ratio, Score: d.Score, Reason: ReasonChosen,
		Detail: strings.Join(moves, ", ")}}
	return d
}

// SubsetRecords are the explanation records of a subset decision.
func (d *Decision) SubsetRecords() []Record {
	if !d.Placed {
		return d.Records()
	}
	detail := ""
	if len(d.Candidates) > 0 {
		detail = d.Candidates[0].Detail
	}
	return []Record{{Reason: ReasonReplaced, Score: d.Score,
		Detail: fmt.Sprintf("%s next to the survivors in %s %s: step communication %s, %.2f× its lower bound %s",
			detail, d.Level, d.Domain, dur(d.Step.Seconds), d.Ratio, dur(d.LowerBound.Seconds))}}
}

// stepOf models the gang's step on the chips of claims; while some lost
// ranks have no chips yet, the placed ones are modelled as one data group.
func stepOf(est *comm.Estimator, claims []pool.Claim, g *gang) comm.Estimate {
	var chips []int32
	for _, c := range claims {
		for _, gr := range c.Grants {
			chips = append(chips, int32(gr.Chip))
		}
	}
	plan := g.plan
	if len(chips) != g.n {
		plan = comm.Plan{Tensor: 1, Pipeline: 1, Data: len(chips), Expert: 1}
	}
	return est.EstimateStep(chips, plan, g.vol)
}

// commonAncestor is the smallest domain holding every host of hs.
func commonAncestor(t *pool.Topology, hs []pool.DomainID) pool.DomainID {
	d := hs[0]
	for _, h := range hs[1:] {
		for !within(t, h, d) {
			d = t.Parent(d)
		}
	}
	return d
}

// within reports whether domain h lies in domain d.
func within(t *pool.Topology, h, d pool.DomainID) bool {
	for x := h; ; x = t.Parent(x) {
		if x == d {
			return true
		}
		if t.LevelOf(x) <= t.LevelOf(d) {
			return false
		}
	}
}

// hostsUnder lists the hosts of domain d in topology order.
func hostsUnder(t *pool.Topology, d pool.DomainID) []pool.DomainID {
	if t.LevelOf(d) >= t.HostLevel {
		return []pool.DomainID{t.HostOf(d)}
	}
	var out []pool.DomainID
	for _, c := range t.Children(d) {
		out = append(out, hostsUnder(t, c)...)
	}
	return out
}

// chipsOf lists the chips of c's grants.
func chipsOf(c pool.Claim) []pool.ChipID {
	out := make([]pool.ChipID, len(c.Grants))
	for i, g := range c.Grants {
		out[i] = g.Chip
	}
	return out
}

func countHosts(claims []pool.Claim) int {
	seen := map[pool.DomainID]bool{}
	for _, c := range claims {
		seen[c.Host] = true
	}
	return len(seen)
}
