package place

import (
	"fmt"
	"math/rand/v2"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// bgGang is a gang of a test background and where it runs.
type bgGang struct {
	r *Request
	p *pool.Placement
}

// testFill occupies st to about target (the share of whole chips in use) with
// gangs placed by pl: one rank of 1 to 8 chips below a host's size, or
// ranks of a whole host, placed past the target and released at random
// back to it twice, so the free chips are scattered. (The benchmark's
// churned background is internal/bench.FillWith; the tests here need only
// holes.)
func testFill(st *pool.State, pl *Placer, target float64, rng *rand.Rand) []bgGang {
	t := st.Topology()
	hostChips := t.Size(t.Hosts()[0])
	used := func() float64 { return 1 - float64(st.FreeChips(0))/float64(t.NumChips()) }
	var running []bgGang
	seq := 0
	for round := range 2 {
		over := min(target+0.1*float64(1-round), 0.98)
		for fails := 0; used() < over && fails < 30; {
			seq++
			r := &Request{ID: fmt.Sprintf("bg-%d", seq), Ranks: 1, RankMilli: (1 + rng.IntN(min(hostChips, 8))) * pool.Full}
			if rng.IntN(4) == 0 {
				r.RankMilli, r.Ranks = hostChips*pool.Full, 1+rng.IntN(4)
				r.Plan = job.Parallelism{Tensor: hostChips}
			}
			d := pl.Decide(r, st, Env{})
			if !d.Placed || st.Allocate(d.Placement.Ranks...) != nil {
				fails++
				continue
			}
			fails = 0
			running = append(running, bgGang{r, d.Placement})
		}
		for used() > target && len(running) > 0 {
			i := rng.IntN(len(running))
			if err := st.Release(running[i].p.Ranks...); err != nil {
				panic(err)
			}
			running[i] = running[len(running)-1]
			running = running[:len(running)-1]
		}
	}
	return running
}
