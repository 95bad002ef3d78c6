package place

import (
	"errors"
	"fmt"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// ErrNoFit is returned by FirstFit when the gang does not fit.
var ErrNoFit = errors.New("gang does not fit")

// FirstFit is the topology-oblivious baseline of the placement benchmark:
// the first accepted kind with enough free chips, hosts in topology order,
// free chips taken greedily (with SelectChips where shape rules apply), and
// ranks in the order the chips were taken (no rank mapping). It supports
// whole-chip ranks only and does not change st.
func FirstFit(st *pool.State, j *sched.Job) (*sched.Placement, error) {
	t := st.Topology()
	k, ok := j.WholeChips()
	if !ok || j.Ranks <= 0 {
		return nil, fmt.Errorf("first fit: %w: only whole-chip ranks are supported", ErrNoFit)
	}
	n := k * j.Ranks
	var shaped bool
	for l := t.HostLevel; l < len(t.Levels); l++ {
		shaped = shaped || !t.Levels[l].Shape.IsZero()
	}
	for _, kind := range acceptedKinds(t, j) {
		if st.FreeChipsOfKind(0, kind) < n {
			continue
		}
		var scratch *pool.State
		if shaped {
			scratch = st.Clone()
		}
		var claims []pool.Claim
		for _, h := range t.Hosts() {
			if len(claims) == j.Ranks {
				break
			}
			if st.FreeChipsOfKind(h, kind) < k {
				continue
			}
			ranks := j.Ranks - len(claims)
			if j.CPUMilli > 0 {
				ranks = min(ranks, int(st.FreeCPU(h)/j.CPUMilli))
			}
			if j.MemoryMiB > 0 {
				ranks = min(ranks, int(st.FreeMemory(h)/j.MemoryMiB))
			}
			if m := t.MaxRanks(h); m > 0 {
				ranks = min(ranks, m-st.Ranks(h))
			}
			claims = appendRanks(claims, st, scratch, h, kind, k, ranks, j)
		}
		if len(claims) == j.Ranks && st.CanAllocate(claims...) == nil {
			return &sched.Placement{Kinds: []pool.KindID{kind}, Ranks: claims}, nil
		}
	}
	return nil, fmt.Errorf("first fit: %w: %d chips", ErrNoFit, n)
}

func appendRanks(claims []pool.Claim, st, scratch *pool.State, h pool.DomainID, kind pool.KindID, k, ranks int, j *sched.Job) []pool.Claim {
	t := st.Topology()
	mk := func(chips []pool.ChipID) pool.Claim {
		g := make([]pool.Grant, len(chips))
		for i, c := range chips {
			g[i] = pool.Grant{Chip: c, Milli: pool.Full}
		}
		return pool.Claim{Host: h, CPUMilli: j.CPUMilli, MemoryMiB: j.MemoryMiB, Grants: g}
	}
	if scratch != nil {
		for range ranks {
			chips := scratch.SelectChips(h, kind, k)
			if chips == nil {
				break
			}
			cl := mk(chips)
			if scratch.Allocate(cl) != nil {
				break
			}
			claims = append(claims, cl)
		}
		return claims
	}
	lo, hi := t.ChipRange(h)
	var run []pool.ChipID
	for c := lo; c < hi && ranks > 0; c++ {
		if t.ChipKind(c) == kind && st.ChipFree(c) == pool.Full {
			run = append(run, c)
			if len(run) == k {
				claims = append(claims, mk(run))
				run = nil
				ranks--
			}
		}
	}
	return claims
}

// PlacementChips lists a placement's chips in rank order.
func PlacementChips(p *sched.Placement) []pool.ChipID {
	var out []pool.ChipID
	for _, cl := range p.Ranks {
		for _, g := range cl.Grants {
			out = append(out, g.Chip)
		}
	}
	return out
}
