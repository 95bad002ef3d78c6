package pool

import (
	"errors"
	"fmt"
	"sort"
)

// Errors returned by State.Allocate and State.Release; they are wrapped with
// detail, so test with errors.Is.
var (
	ErrInsufficient = errors.New("insufficient free capacity")
	ErrPowerBudget  = errors.New("power budget exceeded")
	ErrBadClaim     = errors.New("malformed claim")
	ErrNotAllocated = errors.New("releasing more than is allocated")
)

// Full is one whole chip in thousandths.
const Full = 1000

// Grant is a share of one chip, in thousandths (Full for a whole chip).
type Grant struct {
	Chip  ChipID
	Milli int32
}

// Claim is what one rank takes from its host: chips or shares of chips, CPU
// and memory. Each claim counts as one rank against the host's MaxRanks.
type Claim struct {
	Host      DomainID
	CPUMilli  int64
	MemoryMiB int64
	Grants    []Grant
}

type domAgg struct {
	freeChips    int32 // chips with all thousandths free
	fullChildren int32 // children whose chips are all free
	largestBlock int32 // chips of the largest fully free domain at or below
	freeMilli    int64
	powerMW      int64 // committed power in milliwatts
	freeCPU      int64 // sum over hosts at or below
	freeMem      int64
	ranks        int32 // ranks running (hosts only)
}

type kindAgg struct {
	freeChips int32
	freeMilli int64
}

// State is the allocation state of a Topology. It is not safe for
// concurrent use; Clone gives an independent snapshot.
type State struct {
	t        *Topology
	chipFree []int16
	agg      []domAgg
	kagg     []kindAgg // aligned with Topology.kinds
}

// NewState returns the state of an empty pool.
func NewState(t *Topology) *State {
	s := &State{t: t, chipFree: make([]int16, len(t.chips)), agg: make([]domAgg, len(t.doms)), kagg: make([]kindAgg, len(t.kinds))}
	for i := range s.chipFree {
		s.chipFree[i] = Full
	}
	for i := len(t.doms) - 1; i >= 0; i-- {
		d := &t.doms[i]
		a := &s.agg[i]
		size := int32(d.chipHi - d.chipLo)
		a.freeChips = size
		a.freeMilli = int64(size) * Full
		a.largestBlock = size
		if int(d.level) == t.HostLevel {
			a.freeCPU, a.freeMem = d.cpuMilli, d.memoryMiB
		}
		for j := d.childLo; j < d.childHi; j++ {
			c := t.children[j]
			a.freeCPU += s.agg[c].freeCPU
			a.freeMem += s.agg[c].freeMem
			if s.agg[c].freeChips == int32(t.doms[c].chipHi-t.doms[c].chipLo) {
				a.fullChildren++
			}
		}
		for k := d.kindLo; k < d.kindHi; k++ {
			s.kagg[k] = kindAgg{freeChips: t.kinds[k].total, freeMilli: int64(t.kinds[k].total) * Full}
		}
	}
	return s
}

// Topology returns the state's topology.
func (s *State) Topology() *Topology { return s.t }

// Clone returns an independent copy sharing the immutable topology.
func (s *State) Clone() *State {
	return &State{
		t:        s.t,
		chipFree: append([]int16(nil), s.chipFree...),
		agg:      append([]domAgg(nil), s.agg...),
		kagg:     append([]kindAgg(nil), s.kagg...),
	}
}

// ChipFree returns chip c's free thousandths.
func (s *State) ChipFree(c ChipID) int { return int(s.chipFree[c]) }

// FreeChips returns the number of fully free chips below d.
func (s *State) FreeChips(d DomainID) int { return int(s.agg[d].freeChips) }

// FreeMilli returns the free thousandths below d.
func (s *State) FreeMilli(d DomainID) int64 { return s.agg[d].freeMilli }

// FreeChipsOfKind returns the fully free chips of kind k below d.
func (s *State) FreeChipsOfKind(d DomainID, k KindID) int {
	di := &s.t.doms[d]
	for i := di.kindLo; i < di.kindHi; i++ {
		if s.t.kinds[i].kind == k {
			return int(s.kagg[i].freeChips)
		}
	}
	return 0
}

// FreeMilliOfKind returns the free thousandths of kind k below d.
func (s *State) FreeMilliOfKind(d DomainID, k KindID) int64 {
	di := &s.t.doms[d]
	for i := di.kindLo; i < di.kindHi; i++ {
		if s.t.kinds[i].kind == k {
			return s.kagg[i].freeMilli
		}
	}
	return 0
}

// FullChildren returns how many of d's children have all chips free.
func (s *State) FullChildren(d DomainID) int { return int(s.agg[d].fullChildren) }

// LargestFreeBlock returns the chip count of the largest domain at or below
// d whose chips are all free (a lone free chip counts as a block of one).
func (s *State) LargestFreeBlock(d DomainID) int { return int(s.agg[d].largestBlock) }

// IsFree reports whether all chips below d are free.
func (s *State) IsFree(d DomainID) bool {
	return s.agg[d].freeChips == int32(s.t.doms[d].chipHi-s.t.doms[d].chipLo)
}

// CommittedPowerW returns the power committed below d in watts.
func (s *State) CommittedPowerW(d DomainID) float64 { return float64(s.agg[d].powerMW) / 1000 }

// FreeCPU returns the free CPU thousandths summed over the hosts below d.
func (s *State) FreeCPU(d DomainID) int64 { return s.agg[d].freeCPU }

// Ranks returns the ranks running on host h.
func (s *State) Ranks(h DomainID) int { return int(s.agg[h].ranks) }

// FreeMemory returns the free memory in MiB summed over the hosts below d.
func (s *State) FreeMemory(d DomainID) int64 { return s.agg[d].freeMem }

// Allocate takes every claim or, on any error, none. Several claims may name
// the same host and several grants the same chip; they add up.
func (s *State) Allocate(claims ...Claim) error {
	n, err := s.normalise(claims)
	if err != nil {
		return err
	}
	if err := s.check(n, +1); err != nil {
		return err
	}
	s.apply(n, +1)
	return nil
}

// Release returns every claim or, on any error, none.
func (s *State) Release(claims ...Claim) error {
	n, err := s.normalise(claims)
	if err != nil {
		return err
	}
	if err := s.check(n, -1); err != nil {
		return err
	}
	s.apply(n, -1)
	return nil
}

// CanAllocate reports what Allocate would, without changing anything.
func (s *State) CanAllocate(claims ...Claim) error {
	n, err := s.normalise(claims)
	if err != nil {
		return err
	}
	return s.check(n, +1)
}

type hostUse struct {
	host     DomainID
	cpu, mem int64
	ranks    int32
}

type normalised struct {
	hosts  []hostUse
	grants []Grant // sorted by chip, one per chip
}

func (s *State) normalise(claims []Claim) (normalised, error) {
	var n normalised
	t := s.t
	total := 0
	for _, c := range claims {
		total += len(c.Grants)
	}
	n.grants = make([]Grant, 0, total)
	for i, c := range claims {
		if c.Host < 0 || int(c.Host) >= len(t.doms) || t.doms[c.Host].host != c.Host {
			return n, fmt.Errorf("%w: claim %d: domain %d is not a host", ErrBadClaim, i, c.Host)
		}
		if c.CPUMilli < 0 || c.MemoryMiB < 0 {
			return n, fmt.Errorf("%w: claim %d: negative CPU or memory", ErrBadClaim, i)
		}
		n.hosts = append(n.hosts, hostUse{c.Host, c.CPUMilli, c.MemoryMiB, 1})
		for _, g := range c.Grants {
			if g.Chip < 0 || int(g.Chip) >= len(t.chips) {
				return n, fmt.Errorf("%w: claim %d: chip %d does not exist", ErrBadClaim, i, g.Chip)
			}
			if t.chips[g.Chip].host != c.Host {
				return n, fmt.Errorf("%w: claim %d: chip %s is not on host %s", ErrBadClaim, i, t.ChipName(g.Chip), t.Path(c.Host))
			}
			if g.Milli < 1 || g.Milli > Full {
				return n, fmt.Errorf("%w: claim %d: %d thousandths of chip %s (allowed: 1 to %d)", ErrBadClaim, i, g.Milli, t.ChipName(g.Chip), Full)
			}
			n.grants = append(n.grants, g)
		}
	}
	if !sort.SliceIsSorted(n.grants, func(i, j int) bool { return n.grants[i].Chip < n.grants[j].Chip }) {
		sort.Slice(n.grants, func(i, j int) bool { return n.grants[i].Chip < n.grants[j].Chip })
	}
	out := n.grants[:0]
	for _, g := range n.grants {
		if len(out) > 0 && out[len(out)-1].Chip == g.Chip {
			out[len(out)-1].Milli += g.Milli
			continue
		}
		out = append(out, g)
	}
	n.grants = out
	if len(n.hosts) > 1 {
		sort.Slice(n.hosts, func(i, j int) bool { return n.hosts[i].host < n.hosts[j].host })
		hs := n.hosts[:0]
		for _, h := range n.hosts {
			if len(hs) > 0 && hs[len(hs)-1].host == h.host {
				hs[len(hs)-1].cpu += h.cpu
				hs[len(hs)-1].mem += h.mem
				hs[len(hs)-1].ranks += h.ranks
				continue
			}
			hs = append(hs, h)
		}
		n.hosts = hs
	}
	return n, nil
}

func (s *State) check(n normalised, sign int) error {
	t := s.t
	for _, g := range n.grants {
		free := int32(s.chipFree[g.Chip])
		if sign > 0 && g.Milli > free {
			return fmt.Errorf("%w: chip %s has %d thousandths free, %d requested", ErrInsufficient, t.ChipName(g.Chip), free, g.Milli)
		}
		if sign < 0 && g.Milli > Full-free {
			return fmt.Errorf("%w: chip %s has %d thousandths allocated, %d released", ErrNotAllocated, t.ChipName(g.Chip), Full-free, g.Milli)
		}
	}
	for _, h := range n.hosts {
		a := &s.agg[h.host]
		d := &t.doms[h.host]
		if sign > 0 && (h.cpu > a.freeCPU || h.mem > a.freeMem) {
			return fmt.Errorf("%w: host %s has %d CPU thousandths and %d MiB free, %d and %d requested",
				ErrInsufficient, t.Path(h.host), a.freeCPU, a.freeMem, h.cpu, h.mem)
		}
		if sign > 0 && d.maxRanks > 0 && a.ranks+h.ranks > d.maxRanks {
			return fmt.Errorf("%w: host %s runs %d of its %d ranks, %d more requested", ErrInsufficient, t.Path(h.host), a.ranks, d.maxRanks, h.ranks)
		}
		if sign < 0 && h.ranks > a.ranks {
			return fmt.Errorf("%w: host %s runs %d ranks, %d released", ErrNotAllocated, t.Path(h.host), a.ranks, h.ranks)
		}
		if sign < 0 && (h.cpu > d.cpuMilli-a.freeCPU || h.mem > d.memoryMiB-a.freeMem) {
			return fmt.Errorf("%w: host %s has %d CPU thousandths and %d MiB allocated, %d and %d released",
				ErrNotAllocated, t.Path(h.host), d.cpuMilli-a.freeCPU, d.memoryMiB-a.freeMem, h.cpu, h.mem)
		}
	}
	if sign > 0 && t.hasBudgets {
		extra := map[DomainID]int64{}
		for _, g := range n.grants {
			p := t.powerMW[t.chips[g.Chip].kind] * int64(g.Milli)
			for d := t.chips[g.Chip].leaf; d != NoDomain; d = t.doms[d].parent {
				if t.doms[d].powerBudgetMW > 0 {
					extra[d] += p
				}
			}
		}
		for d, p := range extra {
			if s.agg[d].powerMW+p > t.doms[d].powerBudgetMW {
				return fmt.Errorf("%w: %s would draw %.0f W of its %.0f W budget", ErrPowerBudget, t.Path(d),
					float64(s.agg[d].powerMW+p)/1000, float64(t.doms[d].powerBudgetMW)/1000)
			}
		}
	}
	return nil
}

func (s *State) apply(n normalised, sign int) {
	t := s.t
	for _, h := range n.hosts {
		s.agg[h.host].ranks += int32(sign) * h.ranks
		dc, dm := -int64(sign)*h.cpu, -int64(sign)*h.mem
		for d := h.host; d != NoDomain; d = t.doms[d].parent {
			s.agg[d].freeCPU += dc
			s.agg[d].freeMem += dm
		}
	}
	for _, g := range n.grants {
		s.change(g.Chip, -int32(sign)*g.Milli)
	}
}

// change adds delta thousandths to chip c's free share and updates every
// aggregate above it.
func (s *State) change(c ChipID, delta int32) {
	t := s.t
	ci := &t.chips[c]
	before := int32(s.chipFree[c])
	after := before + delta
	s.chipFree[c] = int16(after)
	var dFree int32
	switch {
	case before == Full && after != Full:
		dFree = -1
	case before != Full && after == Full:
		dFree = 1
	}
	dPower := -int64(delta) * t.powerMW[ci.kind]
	wasFullChild, isFullChild := false, false
	for d := ci.leaf; d != NoDomain; d = t.doms[d].parent {
		di := &t.doms[d]
		a := &s.agg[d]
		size := int32(di.chipHi - di.chipLo)
		if wasFullChild != isFullChild {
			if isFullChild {
				a.fullChildren++
			} else {
				a.fullChildren--
			}
		}
		wasFullChild = a.freeChips == size
		a.freeChips += dFree
		a.freeMilli += int64(delta)
		a.powerMW += dPower
		isFullChild = a.freeChips == size
		for k := di.kindLo; k < di.kindHi; k++ {
			if t.kinds[k].kind == ci.kind {
				s.kagg[k].freeChips += dFree
				s.kagg[k].freeMilli += int64(delta)
				break
			}
		}
	}
	if dFree == 0 {
		return
	}
	// The largest free block can only change where the chip's free/used
	// status flipped, and stops changing at the first unchanged ancestor.
	for d := ci.leaf; d != NoDomain; d = t.doms[d].parent {
		nb := s.block(d)
		if nb == s.agg[d].largestBlock {
			return
		}
		s.agg[d].largestBlock = nb
	}
}

func (s *State) block(d DomainID) int32 {
	t := s.t
	di := &t.doms[d]
	a := &s.agg[d]
	size := int32(di.chipHi - di.chipLo)
	if a.freeChips == size {
		return size
	}
	var best int32
	if di.leaf {
		if a.freeChips > 0 {
			best = 1
		}
		return best
	}
	for _, c := range t.children[di.childLo:di.childHi] {
		if b := s.agg[c].largestBlock; b > best {
			best = b
		}
	}
	return best
}

// FullestHost returns the host with the most fully free chips of the given
// kinds and that count, walking only into domains whose aggregates can beat
// the best host found so far. It returns NoDomain when no host has any. It
// is what explanations name when a gang's chips are free in aggregate but
// too scattered to form its ranks.
func (s *State) FullestHost(kinds []KindID) (DomainID, int) {
	t := s.t
	free := func(d DomainID) int {
		n := 0
		for _, k := range kinds {
			n += s.FreeChipsOfKind(d, k)
		}
		return n
	}
	best, bestFree := NoDomain, 0
	var walk func(d DomainID)
	walk = func(d DomainID) {
		f := free(d)
		if f <= bestFree {
			return
		}
		if t.doms[d].host == d {
			best, bestFree = d, f
			return
		}
		for _, c := range t.Children(d) {
			walk(c)
		}
	}
	walk(0)
	return best, bestFree
}
