package comm

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// randomCase draws a 3-level fabric with random figures, a random placement
// of a random plan on all of its 64 chips and random volumes.
func randomCase(r *rand.Rand) (*fakeFabric, []int32, Plan, Volumes) {
	lv := make([]Level, 3)
	for i := range lv {
		lv[i] = Level{
			Name:             []string{"cluster", "leaf", "node"}[i],
			BandwidthGBps:    1 + r.Float64()*400,
			LatencyUs:        r.Float64() * 20,
			Oversubscription: []float64{0, 1, 2, 3.5}[r.IntN(4)],
		}
	}
	f := uniform(lv, 2, 4, 8)
	chips := seq(0, 64)
	r.Shuffle(len(chips), func(i, j int) { chips[i], chips[j] = chips[j], chips[i] })
	if r.IntN(2) == 0 {
		chips = slices.Sorted(slices.Values(chips))
	}
	pow := func(max int) int { return 1 << r.IntN(max+1) }
	var p Plan
	for {
		p = Plan{Tensor: pow(3), Pipeline: pow(3), Expert: pow(2)}
		if rest := 64 / (p.Tensor * p.Pipeline); rest >= 1 && 64%(p.Tensor*p.Pipeline) == 0 && rest%p.Expert == 0 {
			p.Data = rest
			break
		}
	}
	v := Volumes{r.Float64() * 1e9, r.Float64() * 1e8, r.Float64() * 4e9, r.Float64() * 1e9}
	if r.IntN(4) == 0 {
		v.DataBytes = r.Float64() * 1e4 // small, latency-bound
	}
	return f, chips, p, v
}

// TestPropertyBandwidthMonotone: lowering any level's bandwidth (or raising
// its oversubscription or latency) never makes a step cheaper.
func TestPropertyBandwidthMonotone(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 500 {
		f, chips, p, v := randomCase(r)
		before := EstimateStep(f, chips, p, v)
		l := r.IntN(3)
		switch r.IntN(3) {
		case 0:
			f.levels[l].BandwidthGBps *= r.Float64()
		case 1:
			f.levels[l].Oversubscription = max(f.levels[l].Oversubscription, 1) * (1 + r.Float64()*3)
		case 2:
			f.levels[l].LatencyUs += r.Float64() * 10
		}
		after := EstimateStep(f, chips, p, v)
		if after.Seconds < before.Seconds*(1-1e-12) {
			t.Fatalf("case %d: a slower level %d (%+v) made plan %+v cheaper: %v -> %v\nbefore %+v\nafter  %+v",
				i, l, f.levels[l], p, before.Seconds, after.Seconds, before.Items, after.Items)
		}
	}
}

// TestPropertyInsideDomainIgnoresOuterLevels: a job, or a group, entirely
// inside one domain of level l costs the same whatever the levels above l.
func TestPropertyInsideDomainIgnoresOuterLevels(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for i := range 300 {
		f, _, _, v := randomCase(r)
		l := 1 + r.IntN(2) // leaf (32 chips) or node (8 chips)
		size := []int{64, 32, 8}[l]
		base := int32(r.IntN(64/size) * size)
		chips := seq(base, base+int32(size))
		r.Shuffle(len(chips), func(i, j int) { chips[i], chips[j] = chips[j], chips[i] })
		p := Plan{Tensor: 2, Pipeline: 2, Data: size / 4, Expert: 2}
		group := chips[:1+r.IntN(size)]

		step := EstimateStep(f, chips, p, v)
		prims := primitives(f, group)
		for j := range l {
			f.levels[j] = Level{Name: f.levels[j].Name, BandwidthGBps: r.Float64(), LatencyUs: 1e6 * r.Float64(), Oversubscription: 100}
		}
		if got := EstimateStep(f, chips, p, v); got.Seconds != step.Seconds {
			t.Fatalf("case %d: job inside one level-%d domain changed with outer levels: %v -> %v", i, l, step.Seconds, got.Seconds)
		}
		if got := primitives(f, group); !slices.Equal(got, prims) {
			t.Fatalf("case %d: group %v inside one level-%d domain changed with outer levels: %v -> %v", i, group, l, prims, got)
		}
	}
}

func primitives(f Fabric, g []int32) []float64 {
	h, _ := HierarchicalAllReduce(f, 3e8, g)
	var pairs [][2]int32
	for i := 0; i+1 < len(g); i++ {
		pairs = append(pairs, [2]int32{g[i], g[i+1]})
	}
	return []float64{
		RingAllReduce(f, 3e8, g).Seconds,
		TreeAllReduce(f, 3e8, g).Seconds,
		h.Seconds,
		AllReduce(f, 3e8, g).Seconds,
		ReduceScatter(f, 3e8, g).Seconds,
		AllToAll(f, 3e8, g).Seconds,
		SendRecv(f, 3e8, pairs...).Seconds,
	}
}

// TestSortTopologyFallback checks the packed-key sort against the comparison
// sort used when the keys do not fit 64 bits.
func TestSortTopologyFallback(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	f := uniform(benchLevels(), 2, 4, 4, 8)
	chips := seq(0, 256)
	r.Shuffle(len(chips), func(i, j int) { chips[i], chips[j] = chips[j], chips[i] })
	e := NewEstimator(f)
	e.load(chips)
	fast := slices.Clone(e.byPos)
	e.sortTopologyBy(false)
	if !slices.Equal(fast, e.byPos) {
		t.Errorf("packed-key order %v differs from comparison order %v", fast, e.byPos)
	}
}

// TestLowestCommonLevel checks the Estimator's packed-key lookup and its
// level-by-level fallback (used when a branch skips a level) against
// CommonLevel on every pair of chips.
func TestLowestCommonLevel(t *testing.T) {
	lv := []Level{{Name: "cluster"}, {Name: "leaf"}, {Name: "node"}}
	for name, f := range map[string]*fakeFabric{
		"uniform": uniform(lv, 2, 3, 4),
		"gaps":    fab(lv, L(L(L(0, 1), L(2, 3), 4), 5, L(6, L(7, 8)), L(L(9)))),
	} {
		chips := seq(0, int32(len(f.paths)))
		e := NewEstimator(f)
		e.load(chips)
		if want := name == "uniform"; e.fast != want {
			t.Errorf("%s: fast lookup = %v, want %v", name, e.fast, want)
		}
		for a := range chips {
			for b := range chips {
				if got, want := e.lcl(int32(a), int32(b)), CommonLevel(f, chips[a], chips[b]); a != b && got != want {
					t.Errorf("%s: lcl(%d, %d) = %d, want %d", name, a, b, got, want)
				}
			}
		}
	}
}
