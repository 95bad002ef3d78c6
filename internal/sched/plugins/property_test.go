package plugins_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/strictyaml"
)

// propertyPools are the example and test pools small enough to fill and
// place on many times (the 524,288-chip SuperCluster is left out).
var propertyPools = []string{
	"../../../examples/pools/ascend910-cluster.yaml",
	"../../../examples/pools/atlas950-superpod.yaml",
	"../../../examples/pools/cloudmatrix384.yaml",
	"../../../examples/pools/dgx-h100-superpod.yaml",
	"../../../examples/pools/mixed-sovereign.yaml",
	"../../pool/testdata/a3-dies.yaml",
	"../testdata/pools/flat16.yaml",
	"../testdata/pools/tiny910.yaml",
}

// loadVariant loads a pool file and, when tighten is set, gives hosts
// random rank limits and domains above them random power budgets, some
// tighter than their chips draw at full use.
func loadVariant(t *testing.T, file string, tighten bool, rng *rand.Rand) *pool.Topology {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var f pool.File
	if _, err := strictyaml.Decode(file, data, &f); err != nil {
		t.Fatal(err)
	}
	if tighten {
		hostLevel := ""
		for _, l := range f.Levels {
			if l.Host {
				hostLevel = l.Name
			}
		}
		var walk func(d *pool.DomainSpec)
		walk = func(d *pool.DomainSpec) {
			switch {
			case d.Level == hostLevel && rng.IntN(2) == 0:
				d.MaxRanks = 1 + rng.IntN(4)
			case d.Level != hostLevel && d.Level != "" && rng.IntN(3) == 0:
				d.PowerBudgetW = 700 * float64(4+rng.IntN(60))
			}
			for i := range d.Children {
				walk(&d.Children[i])
			}
		}
		for name, d := range f.Templates {
			walk(&d)
			f.Templates[name] = d
		}
		walk(&f.Root)
	}
	topo, err := pool.Build(&f, pool.DefaultCatalog(), nil)
	if err != nil {
		t.Fatalf("%s (tightened %v): %v", file, tighten, err)
	}
	return topo
}

// occupy takes chips, shares of chips, CPU, memory and ranks host by host
// at random so that about occ of the pool is in use and partly used hosts
// are everywhere.
func occupy(t *testing.T, st *pool.State, occ float64, rng *rand.Rand) {
	t.Helper()
	topo := st.Topology()
	for _, h := range topo.Hosts() {
		if rng.Float64() >= occ*1.2 {
			continue
		}
		lo, hi := topo.ChipRange(h)
		cl := pool.Claim{Host: h}
		for c := lo; c < hi; c++ {
			switch x := rng.Float64(); {
			case x < occ:
				cl.Grants = append(cl.Grants, pool.Grant{Chip: c, Milli: pool.Full})
			case x < occ+0.05:
				cl.Grants = append(cl.Grants, pool.Grant{Chip: c, Milli: int32(250 * (1 + rng.IntN(3)))})
			}
		}
		if rng.IntN(4) == 0 {
			cl.CPUMilli = int64(rng.Float64() * float64(st.FreeCPU(h)))
			cl.MemoryMiB = int64(rng.Float64() * float64(st.FreeMemory(h)))
		}
		if len(cl.Grants) == 0 && cl.CPUMilli == 0 && cl.MemoryMiB == 0 {
			continue
		}
		if err := st.Allocate(cl); err != nil && !errors.Is(err, pool.ErrPowerBudget) {
			t.Fatalf("occupy %s: %v", topo.Path(h), err)
		}
	}
}

// randomGang draws a job of whole-chip ranks (sometimes shared or
// CPU-only ones) accepting a random subset of the pool's kinds.
func randomGang(rng *rand.Rand, topo *pool.Topology, id int) *sched.Job {
	j := &sched.Job{ID: fmt.Sprintf("g%d", id), Queue: "default", Ranks: 1 + rng.IntN(64)}
	switch x := rng.IntN(10); {
	case x == 0:
		j.RankMilli = []int{250, 500}[rng.IntN(2)]
	case x == 1:
		j.RankMilli = 0
		j.CPUMilli = 1000
	default:
		j.RankMilli = []int{1, 2, 4, 8}[rng.IntN(4)] * pool.Full
	}
	if rng.IntN(3) == 0 {
		j.CPUMilli = int64(1+rng.IntN(16)) * 1000
		j.MemoryMiB = int64(1+rng.IntN(64)) * 1024
	}
	for _, k := range topo.Kinds {
		if rng.IntN(3) > 0 {
			j.Kinds = append(j.Kinds, k.Name)
		}
	}
	j.MixFamilies = rng.IntN(4) == 0
	if k, ok := j.WholeChips(); ok {
		if n := k * j.Ranks; n%8 == 0 && rng.IntN(2) == 0 {
			j.Plan = job.Parallelism{Tensor: 8}
		}
	}
	return j
}

// TestPropertyTopologyPlacesWhatFirstFitPlaces checks the promise the
// cycle driver relies on when it asks Topology.Feasible (first fit) whether
// a job would fit: whenever first fit places a gang, the topology plugin
// places it too, on random example and test pools at random occupancies,
// through the default profile's host filters; every other round with
// random rank limits and power budgets.
func TestPropertyTopologyPlacesWhatFirstFitPlaces(t *testing.T) {
	prof := plugins.DefaultProfile()
	topoPlugin, ok := prof.Place.(plugins.Topology)
	if !ok {
		t.Fatalf("default profile places with %T, want plugins.Topology", prof.Place)
	}
	rounds := 30
	if testing.Short() {
		rounds = 6
	}
	checked, placed := 0, 0
	for _, file := range propertyPools {
		for seed := range rounds {
			rng := rand.New(rand.NewPCG(uint64(seed), 11))
			topo := loadVariant(t, file, seed%2 == 1, rng)
			st := pool.NewState(topo)
			occupy(t, st, rng.Float64()*0.95, rng)
			cs := sched.NewCycleState(&sched.Snapshot{Pool: st}, prof)
			for i := range 25 {
				j := randomGang(rng, topo, i)
				ff, _ := plugins.FirstFit{}.Place(cs, j, st)
				if ff == nil {
					continue
				}
				checked++
				free := st.FreeMilli(0)
				p, s := topoPlugin.Place(cs, j, st)
				if st.FreeMilli(0) != free {
					t.Fatalf("%s seed %d: Place changed the state", file, seed)
				}
				if p == nil {
					t.Errorf("%s seed %d: first fit places %s (%d × %d thousandths of %v, cpu %d, mem %d), topology does not: %v",
						file, seed, j.ID, j.Ranks, j.RankMilli, j.Kinds, j.CPUMilli, j.MemoryMiB, s)
					continue
				}
				if err := st.CanAllocate(p.Ranks...); err != nil {
					t.Errorf("%s seed %d: %s (%d × %d thousandths of %v): topology placement not allocatable: %v", file, seed, j.ID, j.Ranks, j.RankMilli, j.Kinds, err)
				}
				placed++
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d gangs that first fit places: the test checks too little", checked)
	}
	t.Logf("%d gangs first fit places, %d placed by topology", checked, placed)
}
