package place

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// randomPool builds one of three pool shapes with random sizes: plain racks
// of nodes (several kinds, some power budgets and rank limits, some racks
// as fast as their nodes), 910-style
// nodes of two aligned rings with allowed counts, and A3-style nodes of
// eight aligned two-die modules.
func randomPool(t *testing.T, rng *rand.Rand) *pool.Topology {
	t.Helper()
	f := &pool.File{APIVersion: "qun/v1", Kind: "Pool", Name: "random"}
	lvl := func(name string, host bool, bw float64, shape *pool.ShapeRule) pool.LevelSpec {
		return pool.LevelSpec{Name: name, Host: host, BandwidthGBps: bw, LatencyUs: 1 + rng.Float64()*5, Oversubscription: 1 + float64(rng.IntN(3)), Shape: shape}
	}
	host := func(chips *pool.ChipsSpec, kids []pool.DomainSpec) pool.DomainSpec {
		d := pool.DomainSpec{Level: "node", CPUMilli: 64000, MemoryMiB: 1 << 20, Chips: chips, Children: kids}
		if rng.IntN(4) == 0 {
			d.MaxRanks = 2 + rng.IntN(6)
		}
		return d
	}
	kinds := []string{"910B", "H20", "H100"}
	switch rng.IntN(3) {
	case 0:
		// Racks as fast as their nodes (one time in three) let tensor
		// groups span the nodes of a rack (selector.span).
		f.Levels = []pool.LevelSpec{lvl("cluster", false, 25, nil), lvl("rack", false, []float64{50, 50, 400}[rng.IntN(3)], nil), lvl("node", true, 400, nil)}
		if f.Levels[1].BandwidthGBps == 400 {
			f.Levels[1].Oversubscription = 1
		}
		per := []int{4, 8}[rng.IntN(2)]
		var racks []pool.DomainSpec
		for i := range 1 + rng.IntN(4) {
			n := host(&pool.ChipsSpec{Kind: kinds[rng.IntN(3)], Count: per}, nil)
			n.Name, n.Count = "n{i}", 1+rng.IntN(6)
			r := pool.DomainSpec{Name: fmt.Sprintf("r%d", i), Level: "rack", Children: []pool.DomainSpec{n}}
			if rng.IntN(3) == 0 {
				r.PowerBudgetW = float64(n.Count*per) * 700 * (0.5 + rng.Float64())
			}
			racks = append(racks, r)
		}
		f.Root = pool.DomainSpec{Name: "dc", Level: "cluster", Children: racks}
	case 1:
		f.Levels = []pool.LevelSpec{lvl("cluster", false, 12.5, nil), lvl("node", true, 15, &pool.ShapeRule{Counts: []int{1, 2, 4, 8}}), lvl("ring", false, 30, &pool.ShapeRule{Align: true})}
		n := host(nil, []pool.DomainSpec{{Name: "ring{i}", Count: 2, Level: "ring", Chips: &pool.ChipsSpec{Kind: "910", Count: 4}}})
		n.Name, n.Count = "n{i}", 1+rng.IntN(8)
		f.Root = pool.DomainSpec{Name: "dc", Level: "cluster", Children: []pool.DomainSpec{n}}
	default:
		f.Levels = []pool.LevelSpec{lvl("supernode", false, 196, nil), lvl("node", true, 196, &pool.ShapeRule{Counts: []int{1, 2, 4, 6, 8, 10, 12, 14, 16}}), lvl("module", false, 400, &pool.ShapeRule{Align: true})}
		n := host(nil, []pool.DomainSpec{{Name: "m{i}", Count: 8, Level: "module", Chips: &pool.ChipsSpec{Kind: "910C", Count: 2}}})
		n.Name, n.Count = "a3-{i}", 1+rng.IntN(4)
		f.Root = pool.DomainSpec{Name: "sn", Level: "supernode", Children: []pool.DomainSpec{n}}
	}
	topo, err := pool.Build(f, pool.DefaultCatalog(), nil)
	if err != nil {
		t.Fatalf("random pool: %v", err)
	}
	return topo
}

func randomJob(rng *rand.Rand, topo *pool.Topology) *Request {
	j := &Request{ID: fmt.Sprint(rng.Uint32()), Ranks: 1 + rng.IntN(12), CPUMilli: int64(rng.IntN(3)) * 8000}
	switch x := rng.IntN(10); {
	case x == 0:
		j.RankMilli = []int{250, 500}[rng.IntN(2)]
	case x == 1:
		j.RankMilli = 0
	default:
		j.RankMilli = []int{1, 2, 4, 8}[rng.IntN(4)] * pool.Full
	}
	for _, k := range topo.Kinds {
		if rng.IntN(3) > 0 {
			j.Kinds = append(j.Kinds, k.Name)
		}
	}
	j.MixFamilies = rng.IntN(4) == 0
	if k, ok := j.WholeChips(); ok {
		n := k * j.Ranks
		for _, tp := range []int{8, 4, 2} {
			if n%tp == 0 && rng.IntN(2) == 0 {
				j.Plan = job.Parallelism{Tensor: tp}
				break
			}
		}
	}
	return j
}

// checkPlacement fails unless p is a valid placement of j in st: one claim
// per rank, each on one host with its chips free, obeying the shape rules,
// of accepted kinds and one family (unless mixing is allowed), no chip
// booked twice, and the whole set allocatable.
func checkPlacement(t *testing.T, st *pool.State, j *Request, p *pool.Placement) {
	t.Helper()
	topo := st.Topology()
	if len(p.Ranks) != j.Ranks {
		t.Fatalf("job %+v: %d claims, want %d", j, len(p.Ranks), j.Ranks)
	}
	accepted := AcceptedKinds(topo, j)
	seen := map[pool.ChipID]int{}
	families := map[string]bool{}
	kinds := map[pool.KindID]bool{}
	k, whole := j.WholeChips()
	for i, cl := range p.Ranks {
		var chips []pool.ChipID
		for _, g := range cl.Grants {
			if topo.ChipHost(g.Chip) != cl.Host {
				t.Fatalf("rank %d: chip %s not on host %s", i, topo.ChipName(g.Chip), topo.Path(cl.Host))
			}
			seen[g.Chip] += int(g.Milli)
			if seen[g.Chip] > st.ChipFree(g.Chip) {
				t.Fatalf("rank %d: chip %s booked beyond its free share", i, topo.ChipName(g.Chip))
			}
			if !slices.Contains(accepted, topo.ChipKind(g.Chip)) {
				t.Fatalf("rank %d: kind %s not accepted by %v", i, topo.Kinds[topo.ChipKind(g.Chip)].Name, j.Kinds)
			}
			kinds[topo.ChipKind(g.Chip)] = true
			families[topo.Kinds[topo.ChipKind(g.Chip)].Collective] = true
			chips = append(chips, g.Chip)
		}
		switch {
		case whole:
			if len(chips) != k {
				t.Fatalf("rank %d: %d chips, want %d", i, len(chips), k)
			}
			if err := topo.CheckShape(chips); err != nil {
				t.Fatalf("rank %d: %v", i, err)
			}
		case j.RankMilli == 0:
			if len(chips) != 0 {
				t.Fatalf("CPU-only rank %d holds chips", i)
			}
		default:
			if len(cl.Grants) != 1 || int(cl.Grants[0].Milli) != j.RankMilli {
				t.Fatalf("shared rank %d: grants %+v", i, cl.Grants)
			}
		}
	}
	if !j.MixFamilies && len(kinds) > 1 {
		t.Fatalf("gang mixes kinds %v without mixFamilies", kinds)
	}
	if len(families) > 1 && !j.MixFamilies {
		t.Fatalf("gang mixes families %v", families)
	}
	if err := st.CanAllocate(p.Ranks...); err != nil {
		t.Fatalf("placement not allocatable: %v", err)
	}
}

// TestPropertyValidPlacements places random gangs on random pools at random
// occupancies, committing each, and checks every placement (and that
// Decide leaves the state alone).
func TestPropertyValidPlacements(t *testing.T) {
	pools := 60
	if testing.Short() {
		pools = 15
	}
	placed := 0
	for seed := range pools {
		rng := rand.New(rand.NewPCG(uint64(seed), 99))
		topo := randomPool(t, rng)
		st := pool.NewState(topo)
		pl := New(Options{})
		testFill(st, pl, rng.Float64()*0.9, rng)
		var running []bgGang
		for range 40 {
			j := randomJob(rng, topo)
			free, milli := st.FreeChips(0), st.FreeMilli(0)
			d := pl.Decide(j, st, Env{})
			if st.FreeChips(0) != free || st.FreeMilli(0) != milli {
				t.Fatalf("seed %d: Decide changed the state", seed)
			}
			ff, ffStatus := FirstFit(st, j, FirstFitOptions{Scope: ScopePool})
			if ffStatus == nil {
				checkPlacement(t, st, j, ff)
				if !d.Placed {
					t.Errorf("seed %d: first fit places %d × %d chips of %v, Decide does not: %v", seed, j.Ranks, j.RankMilli, j.Kinds, d.Status)
				}
			}
			if !d.Placed {
				if d.Status == nil || d.Status.Reason == "" {
					t.Fatalf("seed %d: not placed without a reason: %+v", seed, d)
				}
				continue
			}
			checkPlacement(t, st, j, d.Placement)
			if err := st.Allocate(d.Placement.Ranks...); err != nil {
				t.Fatal(err)
			}
			running = append(running, bgGang{j, d.Placement})
			placed++
			if rng.IntN(3) == 0 {
				i := rng.IntN(len(running))
				if err := st.Release(running[i].p.Ranks...); err != nil {
					t.Fatal(err)
				}
				running = slices.Delete(running, i, i+1)
			}
		}
	}
	if placed < pools*5 {
		t.Errorf("only %d gangs placed on %d pools: the test checks too little", placed, pools)
	}
}
