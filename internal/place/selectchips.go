package place

import (
	"cmp"
	"math"
	"slices"

	"github.com/qunhq/qun/internal/pool"
)

// selector takes whole chips for one request below a candidate domain,
// without changing the state it reads. Pools with shape rules pick each
// rank's chips with pool.State.SelectChips on a private clone (created on
// first use and rolled back between candidates); other pools take free
// chips of the host in order.
type selector struct {
	st      *pool.State
	t       *pool.Topology
	info    *topoInfo
	o       *option
	r       *gang
	scratch *pool.State
	undo    []pool.Claim
	claims  []pool.Claim // one per rank, in selection order
	takenIn map[pool.DomainID]int
	kids    []kidFree
	hostOK  func(pool.DomainID) bool
	// strategy says how take splits a rest that no child holds; evened
	// records that a split strategy did split one.
	strategy strategy
	evened   bool
	spreadAt pool.DomainID // the candidate domain splitSpread applies to
}

// strategy is how a selection takes a rest of the gang that no single
// child of a domain holds.
type strategy int

const (
	// packTight spans as few children as it can: the child that fits the
	// rest most tightly when one does, else the child with the most usable
	// chips.
	packTight strategy = iota
	// splitEven splits the rest evenly over the fewest children that can
	// each hold an equal share (takeEven).
	splitEven
	// splitSpread splits the rest, at the candidate domain spreadAt, into
	// pieces as large as the children allow: no lone unit in some child
	// when others can give more (takeSpread).
	splitSpread
	// splitSpreadSpan is splitSpread letting a unit larger than a rank
	// span hosts inside a domain of topoInfo.spanLevel (a rack whose hosts
	// talk as fast as chips inside one): such a domain gives its usable
	// chips in whole units whatever host they are on (unitCap), and a take
	// there completes its whole units per host with ranks from partly free
	// hosts.
	splitSpreadSpan
)

type kidFree struct {
	d    pool.DomainID
	free int
}

func newSelector(st *pool.State, info *topoInfo, o *option, r *gang) *selector {
	return &selector{st: st, t: st.Topology(), info: info, o: o, r: r}
}

// reset forgets the last selection and rolls the scratch state back.
func (s *selector) reset() {
	if len(s.undo) > 0 {
		if err := s.scratch.Release(s.undo...); err != nil {
			panic("place: scratch rollback: " + err.Error()) // a bug: we release exactly what we took
		}
		s.undo = s.undo[:0]
	}
	s.claims = s.claims[:0]
	s.evened = false
	if s.takenIn == nil {
		s.takenIn = map[pool.DomainID]int{}
	}
	clear(s.takenIn)
}

// usable is an upper bound on the whole chips of the option usable below
// d: free chips, capped by d's power budget and the CPU and memory of its
// hosts, less what the current selection took.
func (s *selector) usable(d pool.DomainID) int {
	st, r := s.st, s.r
	f := s.o.free(st, d)
	if b := s.t.PowerBudgetW(d); b > 0 && s.o.powerW > 0 {
		f = min(f, max(int((b-st.CommittedPowerW(d))/s.o.powerW), 0))
	}
	if r.k > 0 {
		if r.cpu > 0 {
			f = min(f, int(min(st.FreeCPU(d)/r.cpu, int64(f)))*r.k)
		}
		if r.mem > 0 {
			f = min(f, int(min(st.FreeMemory(d)/r.mem, int64(f)))*r.k)
		}
	}
	f -= s.takenIn[d]
	if r.k > 0 {
		f -= f % r.k
	}
	return max(f, 0)
}

// selectAll takes n chips below dom: first in whole preferred units (tensor
// groups inside one host), then the rest rank by rank. It returns the
// chips taken.
func (s *selector) selectAll(dom pool.DomainID, n int) int {
	got := s.take(dom, n, s.r.unit)
	if got < n && s.r.unit > s.r.k {
		got += s.take(dom, n-got, s.r.k)
	}
	return got
}

// take takes up to n chips (a multiple of unit) below d and returns how
// many it took. It spans as few children as it can: the child that fits
// the rest most tightly when one does, else the child with the most usable
// chips.
func (s *selector) take(d pool.DomainID, n, unit int) int {
	if n <= 0 {
		return 0
	}
	if s.t.HostOf(d) == d {
		got := s.takeHost(d, n, unit)
		if got > 0 {
			for a := d; a != pool.NoDomain; a = s.t.Parent(a) {
				s.takenIn[a] += got
			}
		}
		return got
	}
	start := len(s.kids)
	for _, c := range s.t.Children(d) {
		if u := s.usable(c); u >= unit {
			s.kids = append(s.kids, kidFree{c, u - u%unit})
		}
	}
	got := 0
	switch {
	case s.strategy == splitEven:
		got = s.takeEven(start, n, unit)
	case (s.strategy == splitSpread || s.strategy == splitSpreadSpan) && d == s.spreadAt:
		got = s.takeSpread(start, n, unit)
	}
	for got < n {
		kids := s.kids[start:]
		need := n - got
		best := -1
		for i, kf := range kids {
			if kf.free >= need && (best < 0 || kf.free < kids[best].free) {
				best = i
			}
		}
		want := need
		if best < 0 {
			for i, kf := range kids {
				if kf.free > 0 && (best < 0 || kf.free > kids[best].free) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			want = kids[best].free
		}
		c := kids[best].d
		s.kids[start+best].free = 0 // used; set before recursing, which may grow s.kids
		got += s.take(c, want, unit)
	}
	s.kids = s.kids[:start]
	if got < n && unit > s.r.k && s.spans(d) {
		got += s.take(d, n-got, s.r.k)
	}
	return got
}

// spans reports whether a unit may span the hosts of d (see
// splitSpreadSpan).
func (s *selector) spans(d pool.DomainID) bool {
	return s.strategy == splitSpreadSpan && s.info.spanLevel >= 0 && s.t.LevelOf(d) == s.info.spanLevel && s.r.unit > s.r.k
}

// takeEven takes n chips as an equal share from each of the fewest
// children in s.kids[start:] that can each hold one, when no single child
// holds n: the tightest-fitting children, so that the freest stay whole.
// It returns the chips taken, 0 when no such split exists.
func (s *selector) takeEven(start, n, unit int) int {
	kids := s.kids[start:]
	for _, kf := range kids {
		if kf.free >= n {
			return 0 // one child holds it all
		}
	}
	for c := 2; c <= len(kids) && c*unit <= n; c++ {
		share := n / c
		if n%c != 0 || share%unit != 0 {
			continue
		}
		fits := 0
		for _, kf := range kids {
			if kf.free >= share {
				fits++
			}
		}
		if fits < c {
			continue
		}
		slices.SortStableFunc(kids, func(a, b kidFree) int { return a.free - b.free })
		got := 0
		for i := 0; i < len(kids) && c > 0; i++ {
			kf := s.kids[start+i] // s.kids may move while recursing
			if kf.free < share {
				continue
			}
			s.kids[start+i].free = 0
			got += s.take(kf.d, share, unit)
			c--
		}
		s.evened = true
		return got
	}
	return 0
}

// takeSpread takes n chips from the children in s.kids[start:] when no
// single child holds n, so that the smallest piece any child contributes is
// as large as it can be: for the largest m (in units) such that the fewest
// children holding n, freest first, can each give at least m units and
// n holds m units from each, every child gives m units and the rest goes
// to the freest first, up to what each can give. A data-parallel group
// with one member per unit then has at least m members in every child, so
// none has to carry the whole buffer across the level above alone. It
// returns the chips taken, 0 when m would be one unit.
func (s *selector) takeSpread(start, n, unit int) int {
	kids := s.kids[start:]
	for _, kf := range kids {
		if kf.free >= n {
			return 0
		}
	}
	need := n / unit
	if need < 2 {
		return 0
	}
	type piece struct{ c, i int }        // units child i can give
	order := make([]piece, 0, len(kids)) // not scratch: take recurses here
	for i, kf := range kids {
		if c := s.unitCap(kf, unit) / unit; c >= 2 {
			order = append(order, piece{c, i})
		}
	}
	slices.SortFunc(order, func(a, b piece) int { // freest first
		if c := cmp.Compare(b.c, a.c); c != 0 {
			return c
		}
		return cmp.Compare(b.i, a.i)
	})
	// k: the fewest children, freest first, that hold need.
	k, sum := 0, 0
	for k < len(order) && sum < need {
		sum += order[k].c
		k++
	}
	if sum < need {
		return 0
	}
	m := min(order[k-1].c, need/k)
	for m >= 2 {
		// With pieces of at least m only children with m units count;
		// the fewest of them holding need must fit m units each.
		kk, ss := 0, 0
		for kk < len(order) && order[kk].c >= m && ss < need {
			ss += order[kk].c
			kk++
		}
		if ss >= need && kk*m <= need {
			k = kk
			break
		}
		m--
	}
	if m < 2 {
		return 0
	}
	extra := need - k*m
	got := 0
	for _, o := range order[:k] {
		p := m + min(o.c-m, extra)
		extra -= p - m
		d := s.kids[start+o.i].d // s.kids may move while recursing
		s.kids[start+o.i].free = 0
		got += s.take(d, p*unit, unit)
	}
	if got > 0 {
		s.evened = true
	}
	return got
}

// spreadable reports whether dom's children are domains of hosts, the
// level where takeSpread applies.
func (s *selector) spreadable(dom pool.DomainID) bool {
	kids := s.t.Children(dom)
	if len(kids) == 0 || s.t.HostOf(kids[0]) == kids[0] {
		return false
	}
	gk := s.t.Children(kids[0])
	return len(gk) > 0 && s.t.HostOf(gk[0]) == gk[0]
}

// unitCap is how many chips, in whole units, kf's child can give: its
// hosts' usable chips in whole units when its children are hosts (unless
// units may span them), else the child's usable chips.
func (s *selector) unitCap(kf kidFree, unit int) int {
	kids := s.t.Children(kf.d)
	if len(kids) == 0 || s.t.HostOf(kids[0]) != kids[0] || s.spans(kf.d) {
		return kf.free
	}
	sum := 0
	for _, h := range kids {
		u := s.usable(h)
		sum += u - u%unit
	}
	return min(sum, kf.free)
}

// takeHost takes up to n chips on host h, in whole units.
func (s *selector) takeHost(h pool.DomainID, n, unit int) int {
	st, r := s.st, s.r
	limit, _ := st.RankRoom(h, r.cpu, r.mem)
	if limit < math.MaxInt {
		for _, cl := range s.claims { // ranks this selection already put here
			if cl.Host == h {
				limit--
			}
		}
	}
	ranks := min(n/r.k, limit)
	if ranks <= 0 {
		return 0
	}
	if s.hostOK != nil && !s.hostOK(h) {
		return 0
	}
	per := unit / r.k // ranks per unit
	avail := s.usable(h) / unit * per
	ranks = min(ranks, avail) / per * per
	if ranks <= 0 {
		return 0
	}
	if s.info.hasShape {
		return s.takeShaped(h, ranks)
	}
	lo, hi := s.t.ChipRange(h)
	skip := s.takenIn[h] // chips an earlier pass took here: the first free ones in this order
	taken := 0
	for _, kind := range s.o.kinds {
		var run []pool.ChipID
		for c := lo; c < hi && taken < ranks; c++ {
			if s.t.ChipKind(c) != kind || st.ChipFree(c) != pool.Full {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			run = append(run, c)
			if len(run) == r.k {
				s.claims = append(s.claims, s.claim(h, run))
				run = run[:0]
				taken++
			}
		}
	}
	return taken * r.k
}

// takeShaped picks rank by rank with SelectChips on the scratch state.
func (s *selector) takeShaped(h pool.DomainID, ranks int) int {
	if s.scratch == nil {
		s.scratch = s.st.Clone()
	}
	taken := 0
	for taken < ranks {
		var cl pool.Claim
		for _, kind := range s.o.kinds {
			if chips := s.scratch.SelectChips(h, kind, s.r.k); chips != nil {
				cl = s.claim(h, chips)
				break
			}
		}
		if cl.Grants == nil || s.scratch.Allocate(cl) != nil {
			break
		}
		s.undo = append(s.undo, cl)
		s.claims = append(s.claims, cl)
		taken++
	}
	return taken * s.r.k
}

func (s *selector) claim(h pool.DomainID, chips []pool.ChipID) pool.Claim {
	return pool.WholeChipClaim(h, chips, s.r.cpu, s.r.mem)
}

// chips returns the selected chips in selection order.
func (s *selector) chips() []pool.ChipID {
	out := make([]pool.ChipID, 0, s.r.n)
	for _, cl := range s.claims {
		for _, g := range cl.Grants {
			out = append(out, g.Chip)
		}
	}
	return out
}

// hosts returns the number of distinct hosts of the selection.
func (s *selector) hosts() int {
	n := 0
	for d := range s.takenIn {
		if s.t.HostOf(d) == d {
			n++
		}
	}
	return n
}

// regroup turns chips in rank order into one claim per rank of k
// consecutive chips. It reports false when some group is not on one host
// or breaks a shape rule; the caller then keeps the selection's claims.
func regroup(t *pool.Topology, chips []pool.ChipID, k int, cpu, mem int64, shaped bool) ([]pool.Claim, bool) {
	out := make([]pool.Claim, 0, len(chips)/k)
	// One claim per rank, all sharing one backing array of grants (not
	// pool.WholeChipClaim per rank: this runs for every candidate the
	// search evaluates, and one allocation beats one per rank).
	grants := make([]pool.Grant, len(chips))
	for i, c := range chips {
		grants[i] = pool.Grant{Chip: c, Milli: pool.Full}
	}
	for i := 0; i < len(chips); i += k {
		cs, g := chips[i:i+k:i+k], grants[i:i+k:i+k]
		h := t.ChipHost(cs[0])
		for _, c := range cs[1:] {
			if t.ChipHost(c) != h {
				return nil, false
			}
		}
		if shaped && t.CheckShape(cs) != nil {
			return nil, false
		}
		out = append(out, pool.Claim{Host: h, CPUMilli: cpu, MemoryMiB: mem, Grants: g})
	}
	return out, true
}

// cloneClaims deep-copies claims.
func cloneClaims(cs []pool.Claim) []pool.Claim {
	out := make([]pool.Claim, len(cs))
	for i, c := range cs {
		c.Grants = slices.Clone(c.Grants)
		out[i] = c
	}
	return out
}
