package pool

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// ErrShape is wrapped by errors for chip sets that break a shape rule.
var ErrShape = errors.New("shape rule violated")

// CheckShape reports whether chips, the whole chips of one rank, obey every
// shape rule: all on one host, allowed counts and caps per domain, and
// alignment.
func (t *Topology) CheckShape(chips []ChipID) error {
	if len(chips) == 0 {
		return fmt.Errorf("%w: a rank needs at least one chip", ErrShape)
	}
	host := t.chips[chips[0]].host
	for _, c := range chips[1:] {
		if t.chips[c].host != host {
			return fmt.Errorf("%w: one rank's chips span hosts %s and %s", ErrShape, t.Path(host), t.Path(t.chips[c].host))
		}
	}
	n := len(chips)
	per := map[DomainID]int{}
	for lvl := t.HostLevel; lvl < len(t.Levels); lvl++ {
		r := t.Levels[lvl].Shape
		if r.IsZero() {
			continue
		}
		clear(per)
		for _, c := range chips {
			if d := t.ChipAncestor(c, lvl); d != NoDomain {
				per[d]++
			}
		}
		name := t.Levels[lvl].Name
		for d, k := range per {
			if len(r.Counts) > 0 && !slices.Contains(r.Counts, k) {
				return fmt.Errorf("%w: %d chips of one rank in %s %s (allowed per %s: %v)", ErrShape, k, name, t.Path(d), name, r.Counts)
			}
			if r.MaxCount > 0 && k > r.MaxCount {
				return fmt.Errorf("%w: %d chips of one rank in %s %s (at most %d per %s)", ErrShape, k, name, t.Path(d), r.MaxCount, name)
			}
		}
		if s := t.Levels[lvl].DomainSize; r.Align && s > 0 {
			if n <= s && len(per) > 1 {
				return fmt.Errorf("%w: a rank of %d chips must sit inside one %s of %d, but spans %d", ErrShape, n, name, s, len(per))
			}
			if n%s == 0 {
				for d, k := range per {
					if k != s {
						return fmt.Errorf("%w: a rank of %d chips must take whole %ss of %d, but takes %d of %s", ErrShape, n, name, s, k, t.Path(d))
					}
				}
			}
		}
	}
	return nil
}

// SelectChips picks n whole chips of kind k on host h that are free in s and
// obey the shape rules, preferring the tightest fit at every level so that
// large free blocks stay whole (for a 910 node and one chip: a ring with one
// free chip first, then three, then two, then four). It returns nil when the
// host cannot hold such a rank.
func (s *State) SelectChips(h DomainID, k KindID, n int) []ChipID {
	t := s.t
	if n <= 0 || s.FreeChipsOfKind(h, k) < n {
		return nil
	}
	r := t.Levels[t.HostLevel].Shape
	if len(r.Counts) > 0 && !slices.Contains(r.Counts, n) || r.MaxCount > 0 && n > r.MaxCount {
		return nil
	}
	out := make([]ChipID, 0, n)
	out, ok := s.pick(h, k, n, n, out)
	if !ok || t.CheckShape(out) != nil {
		return nil
	}
	return out
}

// pick takes n chips of kind k below d for a rank of total chips.
func (s *State) pick(d DomainID, k KindID, n, total int, out []ChipID) ([]ChipID, bool) {
	t := s.t
	di := &t.doms[d]
	if di.leaf {
		for c := di.chipLo; c < di.chipHi && n > 0; c++ {
			if t.chips[c].kind == k && s.chipFree[c] == Full {
				out = append(out, c)
				n--
			}
		}
		return out, n == 0
	}
	kids := t.children[di.childLo:di.childHi]
	if len(kids) == 0 {
		return out, false
	}
	lvl := int(t.doms[kids[0]].level)
	r := t.Levels[lvl].Shape
	size := t.Levels[lvl].DomainSize
	cand := make([]DomainID, 0, len(kids))
	for _, c := range kids {
		if s.FreeChipsOfKind(c, k) > 0 {
			cand = append(cand, c)
		}
	}
	// Tightest fit first; ties by order.
	sort.SliceStable(cand, func(i, j int) bool {
		return s.FreeChipsOfKind(cand[i], k) < s.FreeChipsOfKind(cand[j], k)
	})
	if r.Align && size > 0 {
		if n <= size {
			for _, c := range cand {
				if s.FreeChipsOfKind(c, k) >= n && allowed(r, n) {
					if got, ok := s.pick(c, k, n, total, out); ok {
						return got, true
					}
				}
			}
			return out, false
		}
		if n%size == 0 {
			for _, c := range cand {
				if n == 0 {
					break
				}
				if s.FreeChipsOfKind(c, k) == size && t.KindCount(c, k) == size {
					var ok bool
					if out, ok = s.pick(c, k, size, total, out); !ok {
						return out, false
					}
					n -= size
				}
			}
			return out, n == 0
		}
	}
	// Fill the fullest-fitting children first, each with the largest
	// portion the level's rules allow.
	for _, c := range cand {
		if n == 0 {
			break
		}
		take := min(n, s.FreeChipsOfKind(c, k))
		for take > 0 && !allowed(r, take) {
			take--
		}
		if take == 0 {
			continue
		}
		var ok bool
		if out, ok = s.pick(c, k, take, total, out); !ok {
			return out, false
		}
		n -= take
	}
	return out, n == 0
}

func allowed(r ShapeRule, n int) bool {
	if len(r.Counts) > 0 && !slices.Contains(r.Counts, n) {
		return false
	}
	return r.MaxCount == 0 || n <= r.MaxCount
}

// SelectShare picks one chip of kind k on host h with at least milli
// thousandths free, preferring the chip with the least free share that fits
// (fill shared chips before starting new ones). It returns -1 if none fits.
func (s *State) SelectShare(h DomainID, k KindID, milli int) ChipID {
	t := s.t
	best, bestFree := ChipID(-1), Full+1
	lo, hi := t.doms[h].chipLo, t.doms[h].chipHi
	for c := lo; c < hi; c++ {
		f := int(s.chipFree[c])
		if t.chips[c].kind == k && f >= milli && f < bestFree {
			best, bestFree = c, f
		}
	}
	return best
}

// RankFits reports whether a rank of n whole chips could ever be placed on
// some host of the pool, whatever else is running: the static check that a
// request does not break the shape rules outright. It returns nil or an
// error that says why not.
func (t *Topology) RankFits(n int, kinds []KindID) error {
	empty := NewState(t)
	seen := map[[2]int]bool{}
	largest := 0
	for _, h := range t.hosts {
		for _, k := range kinds {
			key := [2]int{t.Size(h), int(k)}
			if seen[key] {
				continue
			}
			seen[key] = true
			largest = max(largest, t.KindCount(h, k))
			if empty.SelectChips(h, k, n) != nil {
				return nil
			}
		}
	}
	host := t.Levels[t.HostLevel]
	if n > largest {
		return fmt.Errorf("%w: a rank of %d chips needs one %s with %d chips of an accepted kind; the largest has %d", ErrShape, n, host.Name, n, largest)
	}
	return fmt.Errorf("%w: no %s can hold a rank of %d chips under the pool's shape rules (%s)", ErrShape, host.Name, n, t.describeShapes())
}

func (t *Topology) describeShapes() string {
	out := ""
	for i := t.HostLevel; i < len(t.Levels); i++ {
		r := t.Levels[i].Shape
		if r.IsZero() {
			continue
		}
		if out != "" {
			out += "; "
		}
		out += t.Levels[i].Name + ":"
		if len(r.Counts) > 0 {
			out += fmt.Sprintf(" counts %v", r.Counts)
		}
		if r.MaxCount > 0 {
			out += fmt.Sprintf(" at most %d", r.MaxCount)
		}
		if r.Align {
			out += fmt.Sprintf(" aligned to %d", t.Levels[i].DomainSize)
		}
	}
	if out == "" {
		return "none"
	}
	return out
}
