package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
)

// Gang is a background gang and where it runs.
type Gang struct {
	Request   *place.Request
	Placement *pool.Placement
}

// FillRounds is how many fill-and-release rounds Fill runs.
const FillRounds = 4

// Fill occupies st to about target (the share of whole chips in use, 0 to
// 0.98) with the default background mix, each gang placed by pl: see
// FillWith.
func Fill(st *pool.State, pl *place.Placer, target float64, rng *rand.Rand) ([]Gang, error) {
	mix, err := NewBackgroundMix(DefaultMultiHostShare)
	if err != nil {
		return nil, err
	}
	return FillWith(st, TopologyPlace(pl), mix, target, rng)
}

// FillWith occupies st to about target (the share of whole chips in use, 0
// to 0.98) with gangs drawn from mix, each placed by placeFn and allocated.
// To leave the holes that departures leave in a real pool, it fills to 15
// points beyond the target and releases random gangs down to 15 points
// below it, FillRounds times (a pool in steady state has seen many gangs
// come and go), the last time down to the target, and tops up with gangs
// of at most one host. It returns the gangs left running, with their
// placements.
func FillWith(st *pool.State, placeFn PlaceFunc, mix *BackgroundMix, target float64, rng *rand.Rand) ([]Gang, error) {
	if target < 0 || target > 0.98 {
		return nil, fmt.Errorf("occupancy %g is out of range (0 to 0.98)", target)
	}
	t := st.Topology()
	total := float64(t.NumChips())
	used := func() float64 { return 1 - float64(st.FreeChips(0))/total }
	hostChips := t.Size(t.Hosts()[0])
	var running []Gang
	seq := 0
	add := func(maxChips int) bool {
		j := mix.job(mix.draw(rng, maxChips), hostChips, t.NumChips())
		seq++
		j.ID = fmt.Sprintf("fill-%d", seq)
		p := placeFn(j, st)
		if p == nil {
			return false
		}
		if err := st.Allocate(p.Ranks...); err != nil {
			return false
		}
		running = append(running, Gang{Request: j, Placement: p})
		return true
	}
	release := func(to float64) error {
		for used() > to && len(running) > 0 {
			i := rng.IntN(len(running))
			j := running[i]
			if err := st.Release(j.Placement.Ranks...); err != nil {
				return fmt.Errorf("release %s: %w", j.Request.ID, err)
			}
			running[i] = running[len(running)-1]
			running = running[:len(running)-1]
		}
		return nil
	}
	if target > 0 {
		for round := range FillRounds {
			over := min(target+0.15, 0.98)
			for fails := 0; used() < over && fails < 50; {
				if add(0) {
					fails = 0
				} else {
					fails++
				}
			}
			to := target
			if round < FillRounds-1 {
				to = max(target-0.15, 0)
			}
			if err := release(to); err != nil {
				return nil, err
			}
		}
	}
	for fails := 0; used() < target-0.002 && fails < 50; {
		if add(hostChips) {
			fails = 0
		} else {
			fails++
		}
	}
	return running, nil
}
