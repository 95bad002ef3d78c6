package pool

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// naive recomputes every aggregate of d from the chips and host usage alone.
type naiveAgg struct {
	FreeChips, FullChildren, LargestBlock int
	FreeMilli, PowerMW, FreeCPU, FreeMem  int64
	Ranks                                 int
	KindFree                              map[KindID][2]int64
}

func naive(s *State, hostCPU, hostMem map[DomainID]int64, hostRanks map[DomainID]int, d DomainID) naiveAgg {
	t := s.t
	lo, hi := t.ChipRange(d)
	a := naiveAgg{KindFree: map[KindID][2]int64{}}
	if t.HostOf(d) == d {
		a.Ranks = hostRanks[d]
	}
	for c := lo; c < hi; c++ {
		f := int64(s.chipFree[c])
		k := t.chips[c].kind
		kf := a.KindFree[k]
		if f == Full {
			a.FreeChips++
			kf[0]++
		}
		a.FreeMilli += f
		kf[1] += f
		a.KindFree[k] = kf
		a.PowerMW += (Full - f) * int64(t.Kinds[k].PowerW+0.5)
	}
	var blocks func(d DomainID) int
	blocks = func(d DomainID) int {
		lo, hi := t.ChipRange(d)
		all := true
		anyFree := false
		for c := lo; c < hi; c++ {
			if s.chipFree[c] != Full {
				all = false
			} else {
				anyFree = true
			}
		}
		if all {
			return int(hi - lo)
		}
		best := 0
		if t.IsLeaf(d) && anyFree {
			best = 1
		}
		for _, c := range t.Children(d) {
			best = max(best, blocks(c))
		}
		return best
	}
	a.LargestBlock = blocks(d)
	for _, c := range t.Children(d) {
		clo, chi := t.ChipRange(c)
		full := true
		for x := clo; x < chi; x++ {
			full = full && s.chipFree[x] == Full
		}
		if full {
			a.FullChildren++
		}
	}
	for _, h := range t.hosts {
		if t.Ancestor(h, t.LevelOf(d)) == d || d == 0 {
			a.FreeCPU += t.CPUMilli(h) - hostCPU[h]
			a.FreeMem += t.MemoryMiB(h) - hostMem[h]
		}
	}
	return a
}

func got(s *State, d DomainID) naiveAgg {
	a := naiveAgg{FreeChips: s.FreeChips(d), FullChildren: s.FullChildren(d), LargestBlock: s.LargestFreeBlock(d),
		FreeMilli: s.FreeMilli(d), PowerMW: s.agg[d].powerMW, FreeCPU: s.FreeCPU(d), FreeMem: s.FreeMemory(d),
		KindFree: map[KindID][2]int64{}}
	if s.t.HostOf(d) == d {
		a.Ranks = s.Ranks(d)
	}
	for k := range s.t.DomainKinds(d) {
		a.KindFree[k] = [2]int64{int64(s.FreeChipsOfKind(d, k)), s.FreeMilliOfKind(d, k)}
	}
	return a
}

// TestAggregatesMatchNaiveRecount drives random allocate/free sequences of
// whole and fractional chips and compares every domain's aggregates with a
// recount after every step.
func TestAggregatesMatchNaiveRecount(t *testing.T) {
	pools := []string{"ascend910-cluster.yaml", "cloudmatrix384.yaml", "mixed-sovereign.yaml", "dgx-h100-superpod.yaml"}
	for i, name := range pools {
		t.Run(name, func(t *testing.T) {
			topo := mustLoad(t, "../../examples/pools/"+name)
			s := NewState(topo)
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			hostCPU, hostMem, hostRanks := map[DomainID]int64{}, map[DomainID]int64{}, map[DomainID]int{}
			var live [][]Claim
			steps := 300
			if testing.Short() {
				steps = 80
			}
			for step := 0; step < steps; step++ {
				if len(live) > 0 && rng.IntN(3) == 0 {
					j := rng.IntN(len(live))
					if err := s.Release(live[j]...); err != nil {
						t.Fatalf("step %d: release: %v", step, err)
					}
					for _, c := range live[j] {
						hostCPU[c.Host] -= c.CPUMilli
						hostMem[c.Host] -= c.MemoryMiB
						hostRanks[c.Host]--
					}
					live = append(live[:j], live[j+1:]...)
				} else {
					claims := randomClaims(rng, s)
					err := s.Allocate(claims...)
					switch {
					case err == nil:
						live = append(live, claims)
						for _, c := range claims {
							hostCPU[c.Host] += c.CPUMilli
							hostMem[c.Host] += c.MemoryMiB
							hostRanks[c.Host]++
						}
					case errors.Is(err, ErrInsufficient), errors.Is(err, ErrPowerBudget):
					default:
						t.Fatalf("step %d: allocate: %v", step, err)
					}
				}
				for d := 0; d < topo.NumDomains(); d++ {
					want := naive(s, hostCPU, hostMem, hostRanks, DomainID(d))
					if diff := cmp.Diff(want, got(s, DomainID(d))); diff != "" {
						t.Fatalf("step %d, domain %s (-naive +aggregate):\n%s", step, topo.Path(DomainID(d)), diff)
					}
				}
			}
		})
	}
}

// randomClaims builds a gang of 1 to 4 claims of whole or fractional chips,
// sometimes over-asking so that failures are exercised too.
func randomClaims(rng *rand.Rand, s *State) []Claim {
	t := s.t
	var out []Claim
	for n := 1 + rng.IntN(4); n > 0; n-- {
		h := t.hosts[rng.IntN(len(t.hosts))]
		lo, hi := t.ChipRange(h)
		c := Claim{Host: h, CPUMilli: int64(rng.IntN(40000)), MemoryMiB: int64(rng.IntN(200000))}
		if rng.IntN(2) == 0 {
			c.Grants = append(c.Grants, Grant{Chip: lo + ChipID(rng.IntN(int(hi-lo))), Milli: int32(1 + rng.IntN(Full))})
		} else {
			for k := 1 + rng.IntN(int(hi-lo)); k > 0; k-- {
				c.Grants = append(c.Grants, Grant{Chip: lo + ChipID(rng.IntN(int(hi-lo))), Milli: Full})
			}
		}
		out = append(out, c)
	}
	return out
}

func TestAllocateIsAllOrNothing(t *testing.T) {
	topo := mustLoad(t, "../../examples/pools/ascend910-cluster.yaml")
	s := NewState(topo)
	h0, h1 := topo.Hosts()[0], topo.Hosts()[1]
	lo0, _ := topo.ChipRange(h0)
	lo1, _ := topo.ChipRange(h1)
	if err := s.Allocate(Claim{Host: h1, Grants: []Grant{{lo1, 600}}}); err != nil {
		t.Fatal(err)
	}
	before := s.Clone()
	err := s.Allocate(Claim{Host: h0, Grants: []Grant{{lo0, Full}, {lo0 + 1, Full}}}, Claim{Host: h1, Grants: []Grant{{lo1, 500}}})
	if !errors.Is(err, ErrInsufficient) {
		t.Fatalf("err = %v, want ErrInsufficient", err)
	}
	if diff := cmp.Diff(before.chipFree, s.chipFree); diff != "" {
		t.Errorf("a failed gang changed chips (-before +after):\n%s", diff)
	}
	if err := s.Release(Claim{Host: h1, Grants: []Grant{{lo1, 700}}}); !errors.Is(err, ErrNotAllocated) {
		t.Errorf("over-release: err = %v, want ErrNotAllocated", err)
	}
	if err := s.Allocate(Claim{Host: h0, Grants: []Grant{{lo1, Full}}}); !errors.Is(err, ErrBadClaim) {
		t.Errorf("chip on another host: err = %v, want ErrBadClaim", err)
	}
}

func TestPowerBudget(t *testing.T) {
	topo := mustLoad(t, "../../examples/pools/mixed-sovereign.yaml")
	s := NewState(topo)
	// a2rack0 has a 30 kW budget; 64 x 910B at 400 W is 25.6 kW: all fit,
	// but the h100rack (25 kW) cannot take all 32 H100 at 700 W (22.4 kW fits)
	// plus nothing more. Use the 910B rack: fill it, then a 910B in another
	// rack still fits.
	var claims []Claim
	for _, h := range topo.Hosts()[:8] {
		lo, hi := topo.ChipRange(h)
		c := Claim{Host: h}
		for x := lo; x < hi; x++ {
			c.Grants = append(c.Grants, Grant{x, Full})
		}
		claims = append(claims, c)
	}
	if err := s.Allocate(claims...); err != nil {
		t.Fatalf("25.6 kW in a 30 kW rack: %v", err)
	}
	rack := topo.Parent(topo.Hosts()[0])
	if got := s.CommittedPowerW(rack); got != 25600 {
		t.Errorf("committed = %v W, want 25600", got)
	}
}

func TestPowerBudgetRejects(t *testing.T) {
	data := []byte(`apiVersion: qun/v1
kind: Pool
name: tight
levels:
  - {name: rack, bandwidthGBps: 25, latencyUs: 3}
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
root:
  level: rack
  powerBudgetW: 2000
  children:
    - {level: node, count: 1, name: n, chips: {kind: H100, count: 4}}
`)
	topo, err := Load("tight.yaml", data, DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	s := NewState(topo)
	h := topo.Hosts()[0]
	two := Claim{Host: h, Grants: []Grant{{0, Full}, {1, Full}}}
	if err := s.Allocate(two); err != nil {
		t.Fatalf("1.4 kW of 2 kW: %v", err)
	}
	if err := s.Allocate(Claim{Host: h, Grants: []Grant{{2, Full}}}); !errors.Is(err, ErrPowerBudget) {
		t.Fatalf("2.1 kW of 2 kW: err = %v, want ErrPowerBudget", err)
	}
	if err := s.Allocate(Claim{Host: h, Grants: []Grant{{2, 500}}}); err != nil {
		t.Fatalf("half a chip (1.75 kW): %v", err)
	}
}

func BenchmarkAllocateReleaseOneChip(b *testing.B) {
	topo := mustLoad(b, "../../examples/pools/atlas950-supercluster.yaml")
	s := NewState(topo)
	h := topo.Hosts()[12345]
	lo, _ := topo.ChipRange(h)
	c := Claim{Host: h, Grants: []Grant{{lo + 3, Full}}}
	for b.Loop() {
		if err := s.Allocate(c); err != nil {
			b.Fatal(err)
		}
		if err := s.Release(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllocate8192(b *testing.B) {
	topo := mustLoad(b, "../../examples/pools/atlas950-supercluster.yaml")
	s := NewState(topo)
	var claims []Claim
	for _, h := range topo.Hosts()[1024*7 : 1024*8] {
		lo, hi := topo.ChipRange(h)
		c := Claim{Host: h}
		for x := lo; x < hi; x++ {
			c.Grants = append(c.Grants, Grant{x, Full})
		}
		claims = append(claims, c)
	}
	for b.Loop() {
		if err := s.Allocate(claims...); err != nil {
			b.Fatal(err)
		}
		if err := s.Release(claims...); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMaxRanks(t *testing.T) {
	data := []byte(`apiVersion: qun/v1
kind: Pool
name: pods
levels:
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
root: {level: node, name: n, maxRanks: 2, cpuMilli: 8000, memoryMiB: 1024, chips: {kind: H100, count: 1}}
`)
	topo, err := Load("pods.yaml", data, DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	s := NewState(topo)
	h := topo.Hosts()[0]
	pod := Claim{Host: h, CPUMilli: 1000, Grants: []Grant{{0, 100}}}
	if err := s.Allocate(pod, pod); err != nil {
		t.Fatalf("two ranks on a 2-rank host: %v", err)
	}
	if err := s.Allocate(Claim{Host: h, CPUMilli: 1}); !errors.Is(err, ErrInsufficient) {
		t.Fatalf("third rank: err = %v, want ErrInsufficient", err)
	}
	if err := s.Release(pod); err != nil || s.Ranks(h) != 1 {
		t.Fatalf("release: %v, ranks = %d", err, s.Ranks(h))
	}
}
