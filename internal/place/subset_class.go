package place

import (
	"encoding/binary"

	"github.com/qunhq/qun/internal/pool"
)

// stepClasses tells DecideSubset which candidate hosts for a lost rank
// give the gang the same modelled step as one already scored, so that each
// class of equivalent candidates is scored once.
//
// The estimator (comm.Estimator) sees a placement only through, for every
// level and every chip in rank order, the chip's domain there, renumbered
// densely, and its collectives' costs through how many of the gang's chips
// each domain holds and at which level two chips part. A candidate's class
// is, level by level and chip by chip, either the number of the gang's
// chips already in the chip's domain there (a used domain) or, for a domain
// holding none (a fresh one), its first-appearance index among the
// candidate's chips. Hosts of one rack with the same free chips, whole
// racks or pods holding no chip of the gang, and equally filled racks in
// equally filled pods fall in one class. Since DecideSubset keeps the first
// of equal candidates in topology order, the later members of a class are
// not scored. TestDecideSubsetClassesExact checks the claim against scoring
// every candidate.
type stepClasses struct {
	t     *pool.Topology
	used  []int32 // by domain: chips of the gang's placed ranks it holds
	seen  map[string]bool
	key   []byte
	fresh map[pool.DomainID]uint32
}

func newStepClasses(t *pool.Topology, claims []pool.Claim) *stepClasses {
	s := &stepClasses{t: t, used: make([]int32, t.NumDomains()), seen: map[string]bool{}, fresh: map[pool.DomainID]uint32{}}
	for _, c := range claims {
		s.mark(c)
	}
	return s
}

// mark records the chips of c as the gang's.
func (s *stepClasses) mark(c pool.Claim) {
	for _, g := range c.Grants {
		for l := range s.t.Levels {
			if d := s.t.ChipAncestor(g.Chip, l); d != pool.NoDomain {
				s.used[d]++
			}
		}
	}
}

// next starts the candidates of the next lost rank.
func (s *stepClasses) next() { clear(s.seen) }

// first reports whether chips, on a host with the given spare flag, are the
// first candidate of their class for this rank.
func (s *stepClasses) first(chips []pool.ChipID, spare bool) bool {
	k := s.key[:0]
	if spare {
		k = append(k, 1)
	} else {
		k = append(k, 0)
	}
	clear(s.fresh)
	for _, c := range chips {
		for l := range s.t.Levels {
			switch d := s.t.ChipAncestor(c, l); {
			case d == pool.NoDomain:
				k = append(k, 'n')
			case s.used[d] > 0:
				k = binary.AppendUvarint(append(k, 'u'), uint64(s.used[d]))
			default:
				i, ok := s.fresh[d]
				if !ok {
					i = uint32(len(s.fresh))
					s.fresh[d] = i
				}
				k = binary.AppendUvarint(append(k, 'f'), uint64(i))
			}
		}
	}
	s.key = k
	if s.seen[string(k)] {
		return false
	}
	s.seen[string(k)] = true
	return true
}
