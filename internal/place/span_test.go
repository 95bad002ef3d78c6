package place

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// variants scores every selection evaluate tries for j in dom: plain,
// even, spread and spread with tensor groups spanning hosts, the last only
// when dom's children may be spanned. lb is the lower bound of j. A
// variant that gives up (same chips as another, or nothing to split) is
// absent.
func variants(t *testing.T, pl *Placer, st *pool.State, j *Request, dom pool.DomainID, lb float64, hostOK func(pool.DomainID) bool) map[string]*evalResult {
	t.Helper()
	topo := st.Topology()
	sel := testSelector(t, pl, st, j)
	sel.hostOK = hostOK
	info := sel.info
	est := info.estimator()
	defer info.release(est)
	dem := newDemand(nil, j, pl.opts.DefaultBlockWeight)
	out := map[string]*evalResult{}
	keep := func(name string, er *evalResult, ok bool) {
		if ok {
			out[name] = er
		}
	}
	sc := scoring{lb: lb, lambda: pl.opts.FragWeight, dem: dem}
	plain, ok := pl.evaluateOnce(sel, packTight, est, dom, sc)
	keep("plain", plain, ok)
	even, ok := pl.evaluateOnce(sel, splitEven, est, dom, sc, plain.chips)
	keep("even", even, ok)
	if sel.spreadable(dom) {
		sel.spreadAt = dom
		spread, ok := pl.evaluateOnce(sel, splitSpread, est, dom, sc, plain.chips)
		keep("spread", spread, ok)
		if sel.r.unit > sel.r.k && info.spanLevel == topo.LevelOf(dom)+1 {
			span, ok := pl.evaluateOnce(sel, splitSpreadSpan, est, dom, sc, plain.chips)
			keep("span", span, ok)
		}
	}
	return out
}

// testSelector is the selector of j's first accepted kind in st.
func testSelector(t *testing.T, pl *Placer, st *pool.State, j *Request) *selector {
	t.Helper()
	topo := st.Topology()
	single, _ := options(topo, j, AcceptedKinds(topo, j))
	o := &single[0]
	r, err := newGang(j, o.hbm)
	if err != nil {
		t.Fatal(err)
	}
	return newSelector(st, pl.info(topo), o, r)
}

// partlyFreeRacks is an Atlas 950 SuperPoD whose only free chips are rack
// r0 (wholly free) and racks r1-r3 with boards b0 and b1 wholly free, b2-b5
// 6 of 8 chips free and b6 and b7 in use: 40 free chips per rack, 16 of
// them on whole boards.
func partlyFreeRacks(t *testing.T) (*pool.Topology, *pool.State) {
	topo := loadPool(t, "atlas950-superpod")
	st := pool.NewState(topo)
	for r := 1; r < 128; r++ {
		for b := range 8 {
			n := 8
			switch {
			case r >= 4:
			case b < 2:
				n = 0
			case b < 6:
				n = 2
			}
			if n > 0 {
				take(t, st, fmt.Sprintf("r%d/b%d", r, b), n)
			}
		}
	}
	return topo, st
}

// TestSpanHostsInRack: on partlyFreeRacks, a gang of 128 one-chip ranks
// with tensor parallelism 8 (one data-group member per tensor group) needs
// 64 chips beyond the free rack. Counting whole boards only, the partly
// free racks give 2 tensor groups each, and the selections leave some rack
// with 2 (the plain one: 64 + 32 + 16 + 16 chips), whose data-group members
// carry half the gradient across the superpod level. Letting tensor groups
// span the boards of a rack (rack and board both 1,000 GB/s per chip), each
// partly free rack gives 5, and the spread selection takes 48 + 40 + 40
// chips, 24 of each 40 on partly free boards: it scores better than every
// other selection and is chosen. A gang of 8-chip ranks never spans: each
// rank needs one board.
func TestSpanHostsInRack(t *testing.T) {
	topo, st := partlyFreeRacks(t)
	pl := New(Options{})
	if info := pl.info(topo); info.spanLevel != 1 {
		t.Fatalf("span level %d, want 1 (rack)", info.spanLevel)
	}
	j := &Request{ID: "tp8", Ranks: 128, RankMilli: 1000, Plan: job.Parallelism{Tensor: 8, Data: 16}}
	d := pl.Decide(j, st, Env{})
	if !d.Placed {
		t.Fatal(d.Status)
	}
	perRack := map[string]int{}
	partial := map[string]int{}
	for _, cl := range d.Placement.Ranks {
		rack := topo.Path(topo.Parent(cl.Host))
		perRack[rack] += len(cl.Grants)
		if st.FreeChips(cl.Host) < topo.Size(cl.Host) {
			partial[rack] += len(cl.Grants)
		}
	}
	var sizes []int
	for rack, n := range perRack {
		sizes = append(sizes, n)
		if want := map[bool]int{true: 0, false: 24}[rack == "r0"]; partial[rack] != want {
			t.Errorf("rack %s: %d chips on partly free boards, want %d", rack, partial[rack], want)
		}
	}
	slices.Sort(sizes)
	if diff := cmp.Diff([]int{40, 40, 48}, sizes); diff != "" || perRack["r0"] != 48 {
		t.Errorf("chips per rack %v, want 48 in r0 and 40 in two others", perRack)
	}
	// Every tensor group (ranks 8g … 8g+7) sits in one rack.
	for g := 0; g < len(d.Chips); g += 8 {
		rack := topo.ChipAncestor(d.Chips[g], 1)
		for _, c := range d.Chips[g : g+8] {
			if topo.ChipAncestor(c, 1) != rack {
				t.Fatalf("tensor group %d spans racks", g/8)
			}
		}
	}

	vs := variants(t, pl, st, j, 0, d.LowerBound.Seconds, nil)
	span, ok := vs["span"]
	if !ok {
		t.Fatalf("no span selection; variants %v", vs)
	}
	for name, er := range vs {
		t.Logf("%s: ratio %.3f, fragmentation %.3f, score %.4f", name, er.ratio, er.frag, er.score)
		if name != "span" && er.score <= span.score {
			t.Errorf("%s selection scores %.4f, span %.4f: want span strictly better", name, er.score, span.score)
		}
	}
	if math.Abs(d.Score-span.score) > 1e-12 {
		t.Errorf("decision scores %.6f, span selection %.6f", d.Score, span.score)
	}

	t.Run("8-chip ranks", func(t *testing.T) {
		j := &Request{ID: "whole", Ranks: 12, RankMilli: 8000, Plan: job.Parallelism{Tensor: 8}}
		d := pl.Decide(j, st, Env{})
		if !d.Placed {
			t.Fatal(d.Status)
		}
		for _, cl := range d.Placement.Ranks {
			if st.FreeChips(cl.Host) != topo.Size(cl.Host) {
				t.Errorf("rank on partly free board %s", topo.Path(cl.Host))
			}
		}
		if _, ok := variants(t, pl, st, j, 0, d.LowerBound.Seconds, nil)["span"]; ok {
			t.Error("8-chip ranks: span selection evaluated")
		}
		// Even forced on, span changes no selection of 8-chip ranks.
		sel := testSelector(t, pl, st, j)
		sel.spreadAt = 0
		var got [2][]pool.ChipID
		for i, strat := range []strategy{splitSpread, splitSpreadSpan} {
			sel.reset()
			sel.strategy = strat
			if n := sel.selectAll(0, 96); n != 96 {
				t.Fatalf("strategy %d: took %d of 96 chips", strat, n)
			}
			got[i] = sel.chips()
		}
		if !slices.Equal(got[0], got[1]) {
			t.Errorf("spanning hosts changes the spread selection of 8-chip ranks")
		}
	})
}

// TestSpanLevel: tensor groups may span the hosts of a rack only when the
// rack is as fast per chip as a host (pool files allow no faster), after
// oversubscription, and the pool has no shape rules.
func TestSpanLevel(t *testing.T) {
	mk := func(rackBW, oversub float64, shape *pool.ShapeRule) *pool.Topology {
		f := &pool.File{APIVersion: "qun/v1", Kind: "Pool", Name: "span",
			Levels: []pool.LevelSpec{
				{Name: "pod", BandwidthGBps: 100, LatencyUs: 2},
				{Name: "rack", BandwidthGBps: rackBW, LatencyUs: 1, Oversubscription: oversub},
				{Name: "node", Host: true, BandwidthGBps: 400, LatencyUs: 0.5, Shape: shape},
			},
			Root: pool.DomainSpec{Name: "p", Level: "pod", Children: []pool.DomainSpec{{
				Name: "r{i}", Count: 2, Level: "rack", Children: []pool.DomainSpec{{
					Name: "n{i}", Count: 2, Level: "node", CPUMilli: 64000, MemoryMiB: 1 << 20,
					Chips: &pool.ChipsSpec{Kind: "H100", Count: 8},
				}},
			}}},
		}
		topo, err := pool.Build(f, pool.DefaultCatalog(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	tests := map[string]struct {
		topo *pool.Topology
		want int
	}{
		"equal":               {mk(400, 0, nil), 1},
		"slower":              {mk(200, 1, nil), -1},
		"equal, oversub 2":    {mk(400, 2, nil), -1},
		"equal, shape rules":  {mk(400, 1, &pool.ShapeRule{Counts: []int{1, 2, 4, 8}}), -1},
		"Atlas 950":           {loadPool(t, "atlas950-superpod"), 1},
		"DGX (50 vs 450)":     {loadPool(t, "dgx-h100-superpod"), -1},
		"Ascend 910 (shaped)": {loadPool(t, "ascend910-cluster"), -1},
	}
	for name, tc := range tests {
		if got := newTopoInfo(tc.topo).spanLevel; got != tc.want {
			t.Errorf("%s: span level %d, want %d", name, got, tc.want)
		}
	}
}

// TestPropertySpanSelection runs every selection variant, the span one
// included, at the root of random pools whose racks are as fast as their
// nodes (some with rank limits, power budgets, CPU limits and a host
// filter), after random fills, and checks every selection that succeeds:
// one claim per rank on one host, free chips, no chip twice, host limits
// and the filter respected, and the whole set allocatable.
func TestPropertySpanSelection(t *testing.T) {
	pools := 40
	if testing.Short() {
		pools = 10
	}
	spans := 0
	for seed := range pools {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		topo := spanPool(t, rng)
		st := pool.NewState(topo)
		pl := New(Options{})
		testFill(st, pl, 0.3+rng.Float64()*0.5, rng)
		banned := topo.Hosts()[rng.IntN(len(topo.Hosts()))]
		hostOK := func(h pool.DomainID) bool { return h != banned }
		for range 20 {
			k := []int{1, 2, 4}[rng.IntN(3)]
			tp := []int{4, 8}[rng.IntN(2)]
			if tp <= k {
				tp = 8
			}
			j := &Request{ID: fmt.Sprint(rng.Uint32()), RankMilli: k * pool.Full, Ranks: (1 + rng.IntN(8)) * tp / k,
				CPUMilli: int64(rng.IntN(3)) * 4000, Plan: job.Parallelism{Tensor: tp}}
			for name, er := range variants(t, pl, st, j, 0, 1, hostOK) {
				if name == "span" {
					spans++
				}
				checkPlacement(t, st, j, &pool.Placement{Ranks: er.claims})
				for _, cl := range er.claims {
					if cl.Host == banned {
						t.Fatalf("seed %d, %s: rank on filtered host %s", seed, name, topo.Path(cl.Host))
					}
				}
			}
		}
	}
	if spans < pools/2 {
		t.Errorf("only %d span selections on %d pools: the test checks too little", spans, pools)
	}
}

// spanPool is a pod of racks of nodes whose racks are as fast per chip as
// their nodes, with random sizes, rank limits and power budgets.
func spanPool(t *testing.T, rng *rand.Rand) *pool.Topology {
	t.Helper()
	per := []int{4, 8}[rng.IntN(2)]
	var racks []pool.DomainSpec
	for i := range 2 + rng.IntN(4) {
		n := pool.DomainSpec{Name: "n{i}", Count: 1 + rng.IntN(6), Level: "node", CPUMilli: 32000, MemoryMiB: 1 << 20,
			Chips: &pool.ChipsSpec{Kind: "H100", Count: per}}
		if rng.IntN(4) == 0 {
			n.MaxRanks = 2 + rng.IntN(6)
		}
		r := pool.DomainSpec{Name: fmt.Sprintf("r%d", i), Level: "rack", Children: []pool.DomainSpec{n}}
		if rng.IntN(4) == 0 {
			r.PowerBudgetW = float64(n.Count*per) * 700 * (0.5 + rng.Float64())
		}
		racks = append(racks, r)
	}
	f := &pool.File{APIVersion: "qun/v1", Kind: "Pool", Name: "span",
		Levels: []pool.LevelSpec{
			{Name: "pod", BandwidthGBps: 200, LatencyUs: 2},
			{Name: "rack", BandwidthGBps: 400, LatencyUs: 1},
			{Name: "node", Host: true, BandwidthGBps: 400, LatencyUs: 0.5},
		},
		Root: pool.DomainSpec{Name: "pod", Level: "pod", Children: racks},
	}
	topo, err := pool.Build(f, pool.DefaultCatalog(), nil)
	if err != nil {
		t.Fatalf("span pool: %v", err)
	}
	return topo
}
