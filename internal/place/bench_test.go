package place

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

var (
	benchPools   = map[string]*pool.Topology{}
	benchPoolsMu sync.Mutex
)

func loadBenchPool(b *testing.B, name string) *pool.Topology {
	benchPoolsMu.Lock()
	defer benchPoolsMu.Unlock()
	if t, ok := benchPools[name]; ok {
		return t
	}
	t, err := pool.LoadFile("../../examples/pools/" + name + ".yaml")
	if err != nil {
		b.Fatal(err)
	}
	benchPools[name] = t
	return t
}

// randomFill occupies hosts directly (not through the placer, which would
// take long on 524,288 chips): each host is taken whole with probability
// 0.9·occ, else loses up to half its chips with probability 0.2, so that
// about occ of the chips are used, partly used hosts are everywhere and no
// rack or pod stays wholly free: the hard case for a large gang.
func randomFill(st *pool.State, occ float64, rng *rand.Rand) {
	t := st.Topology()
	if occ == 0 {
		return
	}
	for _, h := range t.Hosts() {
		lo, hi := t.ChipRange(h)
		var n int
		switch x := rng.Float64(); {
		case x < occ*0.9:
			n = int(hi - lo)
		case x < occ*0.9+0.2:
			n = rng.IntN(int(hi-lo)) + 1
			n = min(n, int(hi-lo)) / 2
		}
		if n == 0 {
			continue
		}
		g := make([]pool.Grant, n)
		for i := range g {
			g[i] = pool.Grant{Chip: lo + pool.ChipID(i), Milli: pool.Full}
		}
		if err := st.Allocate(pool.Claim{Host: h, Grants: g}); err != nil {
			panic(err)
		}
	}
}

func benchPlace(b *testing.B, poolName string, occ float64, j *Request) {
	t := loadBenchPool(b, poolName)
	st := pool.NewState(t)
	randomFill(st, occ, rand.New(rand.NewPCG(7, 7)))
	pl := New(Options{})
	d := pl.Decide(j, st, Env{}) // warm the lower-bound memo, as a long-running scheduler would
	if !d.Placed {
		b.Fatalf("not placed: %v (occupancy %.2f)", d.Status, 1-float64(st.FreeChips(0))/float64(t.NumChips()))
	}
	for b.Loop() {
		pl.Decide(j, st, Env{})
	}
	b.ReportMetric(1-float64(st.FreeChips(0))/float64(t.NumChips()), "occupancy")
	b.ReportMetric(d.Ratio, "ratio")
}

func benchGang(ranks, chipsPerRank int, p job.Parallelism) *Request {
	return &Request{ID: "bench", Ranks: ranks, RankMilli: chipsPerRank * pool.Full, Plan: p}
}

var bigPlan = job.Parallelism{Tensor: 8, Pipeline: 8, Data: 128, Expert: 8}

// BenchmarkPlaceSuperPoD8192 places an 8,192-chip gang (1,024 ranks of 8)
// on an empty 8,192-chip Atlas 950 SuperPoD.
func BenchmarkPlaceSuperPoD8192(b *testing.B) {
	benchPlace(b, "atlas950-superpod", 0, benchGang(1024, 8, bigPlan))
}

// BenchmarkPlaceSuperPoD1024 places a 1,024-chip gang of one-chip ranks on
// the SuperPoD at about 60% occupancy.
func BenchmarkPlaceSuperPoD1024(b *testing.B) {
	benchPlace(b, "atlas950-superpod", 0.6, benchGang(1024, 1, job.Parallelism{Tensor: 8, Pipeline: 4}))
}

// BenchmarkPlaceSuperCluster8192 is the scheduler's target case: an
// 8,192-chip gang (1,024 ranks of 8) on the 524,288-chip SuperCluster at
// about 70% occupancy.
func BenchmarkPlaceSuperCluster8192(b *testing.B) {
	benchPlace(b, "atlas950-supercluster", 0.7, benchGang(1024, 8, bigPlan))
}

// BenchmarkPlaceSuperCluster8192OneChip is the same gang as 8,192 one-chip
// ranks.
func BenchmarkPlaceSuperCluster8192OneChip(b *testing.B) {
	benchPlace(b, "atlas950-supercluster", 0.7, benchGang(8192, 1, bigPlan))
}

// BenchmarkPlaceSuperCluster64 places a small gang on the SuperCluster.
func BenchmarkPlaceSuperCluster64(b *testing.B) {
	benchPlace(b, "atlas950-supercluster", 0.7, benchGang(64, 1, job.Parallelism{Tensor: 8}))
}
