package place

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/qunhq/qun/internal/pool"
)

// decideShared places ranks that hold a share of one chip (milli > 0) or
// no chip at all (CPU-only ranks, opts nil). Shared chips are not modelled
// by the communication estimator; the placement packs ranks into the
// smallest domain that holds them, filling partly used chips first.
func (p *Placer) decideShared(d *Decision, info *topoInfo, st *pool.State, j *Request, opts []option) *Decision {
	t := st.Topology()
	if j.Ranks <= 0 {
		return fail(d, Unresolvable, ReasonBadRankSize, "a job needs at least one rank, got %d", j.Ranks)
	}
	if j.RankMilli == 0 {
		opts = []option{{name: "cpu"}}
	}
	var firstDetail string
	for i := range opts {
		o := &opts[i]
		sh := &sharer{st: st, t: t, o: o, j: j, taken: map[pool.ChipID]int{}, takenIn: map[pool.DomainID]int{}}
		s := newSearch(t, j.Ranks, sh.usable)
		s.run()
		d.Visited += s.visits
		ke := KindEstimate{Kind: o.name, Family: o.family, FreeChips: o.free(st, 0)}
		for _, dom := range s.candidates(12) {
			sh.reset()
			if sh.take(dom, j.Ranks) < j.Ranks || st.CanAllocate(sh.claims...) != nil {
				d.Candidates = append(d.Candidates, Candidate{Kind: o.name, Domain: t.Path(dom), Level: t.Levels[t.LevelOf(dom)].Name,
					Reason: ReasonShapeOrHost, Score: math.Inf(1)})
				continue
			}
			ke.Placeable, ke.Chosen, ke.Reason = true, true, ReasonChosen
			d.Kinds = append(d.Kinds, ke)
			d.Placed = true
			d.Kind, d.Family = o.name, o.family
			d.Domain, d.Level = t.Path(dom), t.Levels[t.LevelOf(dom)].Name
			d.Ratio, d.Score = 1, 1
			pl := &pool.Placement{Ranks: cloneClaims(sh.claims)}
			pl.Kinds = append(pl.Kinds, o.kinds...)
			for _, cl := range pl.Ranks {
				for _, g := range cl.Grants {
					d.Chips = append(d.Chips, g.Chip)
				}
			}
			d.Placement = pl
			d.Candidates = append([]Candidate{{Kind: o.name, Domain: d.Domain, Level: d.Level, Reason: ReasonChosen, Ratio: 1, Score: 1}}, d.Candidates...)
			return d
		}
		ke.Reason = ReasonInsufficient
		ke.Detail = fmt.Sprintf("no domain holds %d ranks of %d thousandths of %s", j.Ranks, j.RankMilli, o.name)
		if j.RankMilli == 0 {
			ke.Reason = ReasonShapeOrHost
			ke.Detail = fmt.Sprintf("no domain has room for %d CPU-only ranks (CPU, memory, rank limits)", j.Ranks)
		}
		if firstDetail == "" {
			firstDetail = ke.Detail
		}
		d.Kinds = append(d.Kinds, ke)
	}
	reason := ReasonInsufficient
	if j.RankMilli == 0 {
		reason = ReasonShapeOrHost
	}
	return fail(d, Unschedulable, reason, "%s", firstDetail)
}

// sharer takes ranks of a shared chip (or of CPU alone) below a domain.
type sharer struct {
	st    *pool.State
	t     *pool.Topology
	o     *option
	j     *Request
	taken map[pool.ChipID]int // thousandths taken in this selection
	// takenIn counts the ranks this selection put below each domain, so
	// that usable (power budgets, CPU, memory) leaves them out.
	takenIn map[pool.DomainID]int
	claims  []pool.Claim
}

func (s *sharer) reset() {
	clear(s.taken)
	clear(s.takenIn)
	s.claims = s.claims[:0]
}

// usable is an upper bound on the ranks that fit below d, less those the
// selection already put there.
func (s *sharer) usable(d pool.DomainID) int {
	j, st := s.j, s.st
	r := math.MaxInt32
	if j.RankMilli > 0 {
		r = int(s.o.freeMilli(st, d) / int64(j.RankMilli))
		if b := s.t.PowerBudgetW(d); b > 0 && s.o.powerW > 0 {
			r = min(r, max(int((b-st.CommittedPowerW(d))/(s.o.powerW*float64(j.RankMilli)/pool.Full)), 0))
		}
	}
	room, _ := st.RankRoom(d, j.CPUMilli, j.MemoryMiB)
	return max(min(r, room)-s.takenIn[d], 0)
}

// take takes up to n ranks below d, within every domain's usable ranks,
// and returns how many it took.
func (s *sharer) take(d pool.DomainID, n int) int {
	if s.t.HostOf(d) == d {
		got := s.takeHost(d, min(n, s.usable(d)))
		for a := d; a != pool.NoDomain && got > 0; a = s.t.Parent(a) {
			s.takenIn[a] += got
		}
		return got
	}
	var kids []kidFree
	for _, c := range s.t.Children(d) {
		if u := s.usable(c); u > 0 {
			kids = append(kids, kidFree{c, u})
		}
	}
	// Tightest fit first, so shared chips and busy hosts fill up.
	slices.SortFunc(kids, func(a, b kidFree) int {
		if c := cmp.Compare(a.free, b.free); c != 0 {
			return c
		}
		return cmp.Compare(a.d, b.d)
	})
	got := 0
	for _, k := range kids {
		if got >= n {
			break
		}
		got += s.take(k.d, min(n-got, s.usable(k.d)))
	}
	return got
}

func (s *sharer) takeHost(h pool.DomainID, n int) int {
	st, j := s.st, s.j
	room, _ := st.RankRoom(h, j.CPUMilli, j.MemoryMiB)
	ranks := min(n, room)
	got := 0
	lo, hi := s.t.ChipRange(h)
	for got < ranks {
		cl := pool.Claim{Host: h, CPUMilli: j.CPUMilli, MemoryMiB: j.MemoryMiB}
		if j.RankMilli > 0 {
			best, bestFree := pool.ChipID(-1), pool.Full+1
			for c := lo; c < hi; c++ {
				if !slices.Contains(s.o.kinds, s.t.ChipKind(c)) {
					continue
				}
				f := st.ChipFree(c) - s.taken[c]
				if f >= j.RankMilli && f < bestFree {
					best, bestFree = c, f
				}
			}
			if best < 0 {
				break
			}
			s.taken[best] += j.RankMilli
			cl.Grants = []pool.Grant{{Chip: best, Milli: int32(j.RankMilli)}}
		}
		s.claims = append(s.claims, cl)
		got++
	}
	return got
}
