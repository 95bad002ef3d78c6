package place

import (
	"cmp"
	"slices"

	"github.com/qunhq/qun/internal/pool"
)

// search finds the domains that can hold a gang, bottom-up in effect: a
// depth-first walk from the root that enters only children whose
// aggregates show enough usable capacity, tightest first, so the first
// domains it records at each level are the smallest, most used subtrees
// that fit. It stops at the host level, after perLevel domains there, or
// after budget visits: its cost depends on the gang and the tree's fan-out,
// never on the number of nodes.
type search struct {
	t        *pool.Topology
	usable   func(pool.DomainID) int
	need     int
	perLevel int
	budget   int
	visits   int
	found    [][]pool.DomainID // per level, in the order found
	free     map[pool.DomainID]int
}

func newSearch(t *pool.Topology, need int, usable func(pool.DomainID) int) *search {
	return &search{t: t, usable: usable, need: need, perLevel: 16, budget: 4096,
		found: make([][]pool.DomainID, len(t.Levels)), free: map[pool.DomainID]int{}}
}

func (s *search) run() {
	if u := s.usable(0); u >= s.need {
		s.free[0] = u
		s.dfs(0)
	}
}

func (s *search) done() bool {
	return s.visits >= s.budget || len(s.found[s.t.HostLevel]) >= s.perLevel
}

func (s *search) dfs(d pool.DomainID) {
	s.visits++
	l := s.t.LevelOf(d)
	if len(s.found[l]) < s.perLevel {
		s.found[l] = append(s.found[l], d)
	}
	if l >= s.t.HostLevel {
		return
	}
	var kids []kidFree
	for _, c := range s.t.Children(d) {
		if u := s.usable(c); u >= s.need {
			kids = append(kids, kidFree{c, u})
		}
	}
	slices.SortFunc(kids, func(a, b kidFree) int {
		if c := cmp.Compare(a.free, b.free); c != 0 {
			return c
		}
		return cmp.Compare(a.d, b.d)
	})
	for _, k := range kids {
		if s.done() {
			return
		}
		s.free[k.d] = k.free
		s.dfs(k.d)
	}
}

// deepest returns the innermost level with a recorded domain, or -1.
func (s *search) deepest() int {
	for l := len(s.found) - 1; l >= 0; l-- {
		if len(s.found[l]) > 0 {
			return l
		}
	}
	return -1
}

// candidates returns up to m recorded domains to evaluate, innermost level
// first, keeping room for up to two domains of each of the next two levels
// up, so that a wider but better-shaped domain is considered too.
func (s *search) candidates(m int) []pool.DomainID {
	deep := s.deepest()
	if deep < 0 {
		return nil
	}
	room := 0
	for l := deep - 1; l >= 0 && l >= deep-2; l-- {
		room += min(2, len(s.found[l]))
	}
	out := slices.Clone(s.found[deep][:min(len(s.found[deep]), max(m-room, 1))])
	for l := deep - 1; l >= 0 && l >= deep-2; l-- {
		for _, d := range s.found[l][:min(2, len(s.found[l]))] {
			if len(out) < m {
				out = append(out, d)
			}
		}
	}
	return out
}

// feasible returns how many domains were recorded in all.
func (s *search) feasible() int {
	n := 0
	for _, f := range s.found {
		n += len(f)
	}
	return n
}
