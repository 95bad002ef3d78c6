package place

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

func loadPool(t testing.TB, name string) *pool.Topology {
	t.Helper()
	topo, err := pool.LoadFile("../../examples/pools/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// take allocates the first n chips of host path h.
func take(t testing.TB, st *pool.State, h string, n int) pool.Claim {
	t.Helper()
	topo := st.Topology()
	d, ok := topo.HostByName(h)
	if !ok {
		t.Fatalf("no host %s", h)
	}
	lo, _ := topo.ChipRange(d)
	cl := pool.Claim{Host: d}
	for i := range n {
		cl.Grants = append(cl.Grants, pool.Grant{Chip: lo + pool.ChipID(i), Milli: pool.Full})
	}
	if err := st.Allocate(cl); err != nil {
		t.Fatal(err)
	}
	return cl
}

func hostsOf(topo *pool.Topology, p *pool.Placement) []string {
	var out []string
	for _, cl := range p.Ranks {
		h := topo.Path(cl.Host)
		if len(out) == 0 || out[len(out)-1] != h {
			out = append(out, h)
		}
	}
	return out
}

// TestTensorGroupsStayInHosts: with partly used DGX nodes first in
// topology order, the topology-aware placement keeps each tensor group of 8
// on one node while first fit splits them, and models the difference.
func TestTensorGroupsStayInHosts(t *testing.T) {
	topo := loadPool(t, "dgx-h100-superpod")
	st := pool.NewState(topo)
	take(t, st, "su0/dgx0", 4)
	take(t, st, "su0/dgx1", 2)
	j := &Request{ID: "tp", Ranks: 16, RankMilli: 1000, Plan: job.Parallelism{Tensor: 8, Data: 2}}
	d := New(Options{}).Decide(j, st, Env{})
	if !d.Placed {
		t.Fatal(d.Status)
	}
	for g := range 2 {
		h := d.Placement.Ranks[8*g].Host
		for _, cl := range d.Placement.Ranks[8*g : 8*g+8] {
			if cl.Host != h {
				t.Fatalf("tensor group %d spans hosts %v", g, hostsOf(topo, d.Placement))
			}
		}
	}
	if d.Ratio != 1 {
		t.Errorf("ratio to lower bound %.3f, want 1", d.Ratio)
	}
	ff, fs := FirstFit(st, j, FirstFitOptions{Scope: ScopePool})
	if fs != nil {
		t.Fatal(fs)
	}
	// Both share the data all-reduce across nodes; first fit's tensor groups
	// (4+4 and 2+6 chips over two nodes) all-reduce hierarchically over the
	// 50 GB/s fabric instead of inside a node at 450 GB/s.
	tensor := func(e comm.Estimate) float64 {
		for _, it := range e.Items {
			if it.Collective == comm.TensorAllReduce {
				return it.Seconds
			}
		}
		t.Fatalf("no tensor all-reduce in %+v", e)
		return 0
	}
	ffEst := comm.EstimateStep(NewFabric(topo), chips32(ff.Chips()), d.Plan, d.Volumes)
	if ff, tp := tensor(ffEst), tensor(d.Step); ff < 2*tp {
		t.Errorf("tensor all-reduce: first fit %.4f s, topology-aware %.4f s: want first fit at least 2× slower", ff, tp)
	}
	if ffEst.Seconds <= d.Step.Seconds {
		t.Errorf("step: first fit %.4f s, topology-aware %.4f s: want first fit slower", ffEst.Seconds, d.Step.Seconds)
	}
}

// TestPrefersPartlyUsedDomains: a small gang goes to the partly used node
// and a rack-sized gang into the partly used rack, leaving free blocks
// whole.
func TestPrefersPartlyUsedDomains(t *testing.T) {
	t.Run("node", func(t *testing.T) {
		topo := loadPool(t, "dgx-h100-superpod")
		st := pool.NewState(topo)
		take(t, st, "su2/dgx7", 4)
		d := New(Options{}).Decide(&Request{ID: "four", Ranks: 4, RankMilli: 1000}, st, Env{})
		if diff := cmp.Diff([]string{"su2/dgx7"}, hostsOf(topo, d.Placement)); diff != "" {
			t.Errorf("hosts (-want +got):\n%s", diff)
		}
	})
	t.Run("rack", func(t *testing.T) {
		topo := loadPool(t, "atlas950-superpod")
		st := pool.NewState(topo)
		take(t, st, "r77/b3", 8)
		d := New(Options{}).Decide(&Request{ID: "rack", Ranks: 4, RankMilli: 8000, Plan: job.Parallelism{Tensor: 8}}, st, Env{})
		if !d.Placed || d.Domain != "r77" {
			t.Errorf("placed in %q (%v), want r77; candidates %+v", d.Domain, d.Status, d.Candidates)
		}
	})
}

// TestPrefersBalancedSplit: a gang of 128 chips (T8, D16: one data-group
// member per board) that no rack can hold, on an Atlas 950 SuperPoD whose
// only free chips are 56 in racks 0 and 1, 32 in racks 2 and 3 and 16 in
// rack 4. Taking the freest racks first gives 7+7+2 boards, whose 2-board
// rack makes every member there carry S/2 across the superpod level; four
// racks of 4 boards carry S/4 at no extra fragmentation (no free block is
// broken either way), so the placement takes 32 chips from each of racks
// 0-3.
func TestPrefersBalancedSplit(t *testing.T) {
	topo := loadPool(t, "atlas950-superpod")
	st := pool.NewState(topo)
	used := map[int]int{0: 1, 1: 1, 2: 4, 3: 4, 4: 6} // boards in use per rack
	for r := range 128 {
		n, ok := used[r]
		if !ok {
			n = 8
		}
		for b := range n {
			take(t, st, fmt.Sprintf("r%d/b%d", r, b), 8)
		}
	}
	j := &Request{ID: "split", Ranks: 128, RankMilli: 1000, Plan: job.Parallelism{Tensor: 8, Data: 16}}
	d := New(Options{}).Decide(j, st, Env{})
	if !d.Placed {
		t.Fatal(d.Status)
	}
	perRack := map[string]int{}
	for _, c := range d.Placement.Chips() {
		perRack[topo.Path(topo.Parent(topo.ChipHost(c)))]++
	}
	want := map[string]int{"r0": 32, "r1": 32, "r2": 32, "r3": 32}
	if diff := cmp.Diff(want, perRack); diff != "" {
		t.Errorf("chips per rack (-want +got):\n%s\ncandidates %+v", diff, d.Candidates)
	}
}

// TestLowerBoundOnEmptyPool: on an empty pool the placement is its own
// lower bound.
func TestLowerBoundOnEmptyPool(t *testing.T) {
	for _, name := range []string{"atlas950-superpod", "dgx-h100-superpod", "cloudmatrix384", "ascend910-cluster"} {
		topo := loadPool(t, name)
		st := pool.NewState(topo)
		pl := New(Options{})
		for _, n := range []int{8, 64, 256} {
			if n > topo.NumChips() {
				continue
			}
			d := pl.Decide(&Request{ID: "lb", Ranks: n, RankMilli: 1000, Plan: job.Parallelism{Tensor: 8}}, st, Env{})
			if !d.Placed {
				t.Fatalf("%s, %d chips: %v", name, n, d.Status)
			}
			if d.Ratio > 1+1e-9 || d.Step.Seconds <= 0 {
				t.Errorf("%s, %d chips: step %.6f s, bound %.6f s", name, n, d.Step.Seconds, d.LowerBound.Seconds)
			}
		}
	}
}

// TestKindChoice: a job accepting 910B or H20 on the mixed pool goes to the
// kind that finishes it first, and the explanation says why.
func TestKindChoice(t *testing.T) {
	topo := loadPool(t, "mixed-sovereign")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := &Request{ID: "finetune-8", Ranks: 8, RankMilli: 1000, Kinds: []string{"910B", "H20"}, Duration: 4 * time.Hour}
	// busy910B occupies every 910B chip with one running job ending after d.
	busy910B := func(st *pool.State, d time.Duration) []Running {
		k, _ := topo.KindID("910B")
		var claims []pool.Claim
		for _, h := range topo.Hosts() {
			lo, hi := topo.ChipRange(h)
			if topo.ChipKind(lo) != k {
				continue
			}
			cl := pool.Claim{Host: h}
			for c := lo; c < hi; c++ {
				cl.Grants = append(cl.Grants, pool.Grant{Chip: c, Milli: pool.Full})
			}
			claims = append(claims, cl)
		}
		if err := st.Allocate(claims...); err != nil {
			t.Fatal(err)
		}
		return []Running{{Placement: &pool.Placement{Ranks: claims}, Started: now.Add(-time.Hour), Duration: time.Hour + d}}
	}
	tests := map[string]struct {
		busyFor    time.Duration // 0: 910B free
		wantPlaced bool
		wantKind   string
		wantReason string // of the status or of the losing kind
		wantDetail string // substring of that detail
	}{
		"both free: 910B computes faster":      {0, true, "910B", ReasonLaterFinish, "finishes in"},
		"910B busy for days: H20 now":          {72 * time.Hour, true, "H20", ReasonLaterFinish, "wait 72h0m0s"},
		"910B free in 10 minutes: wait for it": {10 * time.Minute, false, "910B", ReasonWaitFaster, "910B finishes first"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := pool.NewState(topo)
			var running []Running
			if tc.busyFor > 0 {
				running = busy910B(st, tc.busyFor)
			}
			d := New(Options{}).Decide(j, st, Env{Now: now, Running: running})
			if d.Placed != tc.wantPlaced || d.Kind != tc.wantKind {
				t.Fatalf("placed %v on %q (%v), want %v on %q; kinds %+v", d.Placed, d.Kind, d.Status, tc.wantPlaced, tc.wantKind, d.Kinds)
			}
			var reason, detail string
			if d.Placed {
				for _, k := range d.Kinds {
					if !k.Chosen {
						reason, detail = k.Reason, k.Detail
					}
				}
			} else {
				reason, detail = d.Status.Reason, d.Status.Detail
			}
			if reason != tc.wantReason || !strings.Contains(detail, tc.wantDetail) {
				t.Errorf("explanation %q: %q, want %q containing %q", reason, detail, tc.wantReason, tc.wantDetail)
			}
			if d.Placed {
				for _, cl := range d.Placement.Ranks {
					if got := topo.Kinds[topo.ChipKind(cl.Grants[0].Chip)].Name; got != tc.wantKind {
						t.Fatalf("rank on %s, want %s", got, tc.wantKind)
					}
				}
			}
		})
	}
}

func TestUnresolvable(t *testing.T) {
	topo := loadPool(t, "dgx-h100-superpod")
	st := pool.NewState(topo)
	tests := map[string]struct {
		job    Request
		reason string
	}{
		"no kind":        {Request{ID: "a", Ranks: 1, RankMilli: 1000, Kinds: []string{"910B"}}, ReasonNoKind},
		"1.5 chips":      {Request{ID: "b", Ranks: 1, RankMilli: 1500}, ReasonBadRankSize},
		"bigger than it": {Request{ID: "c", Ranks: 2048, RankMilli: 1000}, ReasonInsufficient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := New(Options{}).Decide(&tc.job, st, Env{})
			if d.Placed || d.Status == nil || d.Status.Reason != tc.reason {
				t.Errorf("got %v, want reason %q", d.Status, tc.reason)
			}
		})
	}
}

// TestDefaultVolumes: a job without volumes gets every collective of its
// plan, tensor traffic the largest for a dense model.
func TestDefaultVolumes(t *testing.T) {
	v := DefaultVolumes(PlanFor(job.Parallelism{Tensor: 8, Pipeline: 4, Expert: 2}, 512), 128)
	if v.DataBytes <= 0 || v.TensorBytes <= 0 || v.PipelineBytes <= 0 || v.ExpertBytes <= 0 {
		t.Errorf("volumes %+v, want all four", v)
	}
	if v := DefaultVolumes(PlanFor(job.Parallelism{Tensor: 8}, 64), 128); v.TensorBytes <= v.DataBytes {
		t.Errorf("volumes %+v, want tensor traffic above the gradient's", v)
	}
	if v := DefaultVolumes(PlanFor(job.Parallelism{}, 1), 64); v != (DefaultVolumes(PlanFor(job.Parallelism{}, 1), 32)) || v.DataBytes != 0 {
		t.Errorf("a one-chip job communicates: %+v", v)
	}
}

func chips32(cs []pool.ChipID) []int32 {
	out := make([]int32, len(cs))
	for i, c := range cs {
		out[i] = int32(c)
	}
	return out
}
