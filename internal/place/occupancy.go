package place

import (
	"fmt"
	"math/rand/v2"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// FillRounds is how many fill-and-release rounds Fill runs.
const FillRounds = 4

// Fill occupies st to about target (the share of whole chips in use, 0 to
// 0.98) with a seeded random mix of gangs, each placed by pl and allocated
// like any other: mostly whole hosts (one to eight, sometimes up to 64),
// some parts of a host (1, 2 or 4 chips) and a few shared chips. To leave
// the holes that departures leave in a real pool, it fills about 15 points
// beyond the target, releases random gangs down to it, and tops up with
// small gangs. It does so FillRounds times (down to 15 points below the
// target between rounds), as a pool in steady state has seen many gangs come
// and go. It returns the gangs left running, with their placements.
func Fill(st *pool.State, pl *Placer, target float64, rng *rand.Rand) ([]*sched.Job, error) {
	if target < 0 || target > 0.98 {
		return nil, fmt.Errorf("occupancy %g is out of range (0 to 0.98)", target)
	}
	t := st.Topology()
	total := float64(t.NumChips())
	used := func() float64 { return 1 - float64(st.FreeChips(0))/total }
	hostChips := t.Size(t.Hosts()[0])
	var running []*sched.Job
	seq := 0
	add := func(small bool) bool {
		j := fillerJob(rng, hostChips, t.NumChips(), small)
		seq++
		j.ID = fmt.Sprintf("fill-%d", seq)
		d := pl.Decide(j, st, Env{})
		if !d.Placed {
			return false
		}
		if err := st.Allocate(d.Placement.Ranks...); err != nil {
			return false
		}
		j.Placement = d.Placement
		running = append(running, j)
		return true
	}
	release := func(to float64) error {
		for used() > to && len(running) > 0 {
			i := rng.IntN(len(running))
			j := running[i]
			if err := st.Release(j.Placement.Ranks...); err != nil {
				return fmt.Errorf("release %s: %w", j.ID, err)
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
				if add(false) {
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
		if add(true) {
			fails = 0
		} else {
			fails++
		}
	}
	return running, nil
}

func fillerJob(rng *rand.Rand, hostChips, poolChips int, small bool) *sched.Job {
	j := &sched.Job{Queue: "fill", RankMilli: pool.Full, Ranks: 1}
	x := rng.Float64()
	switch {
	case small || x < 0.25: // part of a host
		n := []int{1, 2, 4}[rng.IntN(3)]
		if n >= hostChips {
			n = 1
		}
		if rng.IntN(2) == 0 {
			j.Ranks = n
		} else {
			j.RankMilli = n * pool.Full
		}
		if small && rng.IntN(8) == 0 {
			j.Ranks, j.RankMilli = 1+rng.IntN(4), []int{250, 500}[rng.IntN(2)]
		}
	case x < 0.85: // one to eight whole hosts
		j.RankMilli = hostChips * pool.Full
		j.Ranks = 1 << rng.IntN(4)
	default: // up to 64 hosts, at most an eighth of the pool
		j.RankMilli = hostChips * pool.Full
		j.Ranks = max(1, min(16<<rng.IntN(3), poolChips/hostChips/8))
	}
	if k, ok := j.WholeChips(); ok && k*j.Ranks >= hostChips {
		j.Plan = job.Parallelism{Tensor: hostChips}
	}
	j.Volumes = job.Communication{DataBytes: 1e8, TensorBytes: 1e7}
	return j
}
