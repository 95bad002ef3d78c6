package score

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/schedtest"
)

// refFrag is the fragmentation measure written plainly, shape by shape, as
// the FGD paper describes it.
func refFrag(w *sched.Workload, kind string, free []int32, cpu, mem int64, withMem bool) float64 {
	var total float64
	for _, f := range free {
		total += float64(f)
	}
	var out float64
	for _, s := range w.Shapes {
		if s.Chips == 0 || (len(s.Kinds) > 0 && !slices.Contains(s.Kinds, kind)) {
			out += s.Weight * total
			continue
		}
		holds, small := 0, 0.0
		for _, f := range free {
			if int(f) >= s.Milli {
				holds++
			} else {
				small += float64(f)
			}
		}
		fitsHost := s.CPUMilli <= cpu && (!withMem || s.MemoryMiB <= mem)
		if holds >= s.Chips && fitsHost {
			out += s.Weight * small
		} else {
			out += s.Weight * total
		}
	}
	return out
}

func testTopology(t *testing.T) *pool.Topology {
	t.Helper()
	cat := pool.DefaultCatalog()
	f := &pool.File{APIVersion: "qun/v1", Kind: "Pool", Name: "t",
		ChipKinds: []pool.ChipKind{
			{Name: "A", Vendor: "x", BF16TFLOPS: 1, HBMGiB: 16, HBMTBps: 1, ScaleUpGBps: 1, ScaleOutGbps: 1, PowerW: 1, Collective: pool.FamilyNCCL},
			{Name: "B", Vendor: "x", BF16TFLOPS: 1, HBMGiB: 16, HBMTBps: 1, ScaleUpGBps: 1, ScaleOutGbps: 1, PowerW: 1, Collective: pool.FamilyNCCL},
		},
		Levels: []pool.LevelSpec{{Name: "cluster", BandwidthGBps: 1}, {Name: "node", Host: true, BandwidthGBps: 2}},
		Root: pool.DomainSpec{Name: "t", Level: "cluster", Children: []pool.DomainSpec{
			{Name: "a", Level: "node", CPUMilli: 32000, MemoryMiB: 65536, Chips: &pool.ChipsSpec{Kind: "A", Count: 4}},
			{Name: "b", Level: "node", CPUMilli: 16000, MemoryMiB: 65536, Chips: &pool.ChipsSpec{Kind: "B", Count: 2}},
		}},
	}
	top, err := pool.Build(f, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func randomWorkload(r *rand.Rand) *sched.Workload {
	w := &sched.Workload{}
	milli := []int{0, 100, 250, 500, 810, 1000}
	for range 1 + r.Intn(12) {
		m := milli[r.Intn(len(milli))]
		s := sched.WorkloadShape{Milli: m, CPUMilli: int64(r.Intn(20)) * 1000, MemoryMiB: int64(r.Intn(40)) * 1024, Weight: r.Float64()}
		switch {
		case m == 0:
		case m < 1000:
			s.Chips = 1
		default:
			s.Chips = []int{1, 2, 4}[r.Intn(3)]
		}
		if r.Intn(4) == 0 {
			s.Kinds = []string{"B"}
		}
		w.Shapes = append(w.Shapes, s)
	}
	var sum float64
	for _, s := range w.Shapes {
		sum += s.Weight
	}
	for i := range w.Shapes {
		w.Shapes[i].Weight /= sum
	}
	return w
}

// TestFragMatchesReference checks the grouped, memoised measure against
// the plain one on random hosts and workloads.
func TestFragMatchesReference(t *testing.T) {
	top := testTopology(t)
	r := rand.New(rand.NewSource(1))
	for i := range 2000 {
		w := randomWorkload(r)
		withMem := i%2 == 0
		m := NewFragModel(w, withMem)
		k := pool.KindID(r.Intn(2))
		free := make([]int32, 1+r.Intn(8))
		for c := range free {
			free[c] = int32([]int{0, 90, 190, 500, 750, 1000}[r.Intn(6)])
		}
		cpu, mem := int64(r.Intn(20))*1000, int64(r.Intn(40))*1024
		for range 2 { // second time from the memo
			got := m.Frag(top, k, free, cpu, mem)
			want := refFrag(w, top.Kinds[k].Name, free, cpu, mem, withMem)
			if math.Abs(got-want) > 1e-6*math.Max(1, want) {
				t.Fatalf("case %d: Frag(%v, cpu %d, mem %d) = %g, want %g (workload %+v)", i, free, cpu, mem, got, want, w.Shapes)
			}
		}
	}
}

func TestFGDPicksLeastFragmentingChip(t *testing.T) {
	top := testTopology(t)
	st := pool.NewState(top)
	a, _ := top.HostByName("a")
	lo, _ := top.ChipRange(a)
	// Chip 0 has 190 free, chip 1 has 500 free, chips 2-3 are free.
	if err := st.Allocate(pool.Claim{Host: a, Grants: []pool.Grant{{Chip: lo, Milli: 810}, {Chip: lo + 1, Milli: 500}}}); err != nil {
		t.Fatal(err)
	}
	w := &sched.Workload{Shapes: []sched.WorkloadShape{
		{Chips: 1, Milli: 1000, CPUMilli: 1000, Weight: 0.5},
		{Chips: 1, Milli: 500, CPUMilli: 1000, Weight: 0.4},
		{Chips: 1, Milli: 150, CPUMilli: 1000, Weight: 0.1},
	}}
	cs := sched.NewCycleState(&sched.Snapshot{Pool: st, Workload: w}, &sched.Profile{})
	f := NewFGD(false, false)
	// A 150 share fills the 190 chip's gap: that chip loses its fragment.
	j := schedtest.Make("s").Milli(150).Resources(1000, 0).Obj()
	if c := f.ChooseShare(cs, j, st, a); c != lo {
		t.Errorf("150 share went to chip %d, want %d (the 190 gap)", c-lo, 0)
	}
	// A 500 share takes the half-used chip rather than breaking a free one.
	j.RankMilli = 500
	if c := f.ChooseShare(cs, j, st, a); c != lo+1 {
		t.Errorf("500 share went to chip %d, want 1", c-lo)
	}
	if s := f.ScoreHost(cs, j, st, a); !(s > 50) {
		t.Errorf("filling a half chip scored %g, want above 50 (fragmentation falls)", s)
	}
}

func TestHistory(t *testing.T) {
	h := NewHistory()
	if h.Workload() != nil {
		t.Fatal("empty history has a workload")
	}
	for i := range 3000 {
		m := 1000
		if i%3 == 0 {
			m = 500
		}
		h.Observe(schedtest.Make("j").Milli(m).Resources(4000, 1024).Obj())
	}
	w := h.Workload()
	if len(w.Shapes) != 2 || w.Shapes[0].Milli != 1000 || math.Abs(w.Shapes[0].Weight-2.0/3) > 1e-9 {
		t.Fatalf("workload %+v, want 1000 (2/3) then 500 (1/3)", w.Shapes)
	}
	h.Observe(schedtest.Make("k").Milli(250).Resources(1, 0).Obj())
	if h.Workload() != w {
		t.Error("one more job rebuilt the workload; it should be kept until the history grows")
	}
}

// BenchmarkFrag measures the fragmentation of one host, memo hits and
// misses mixed as in a run.
func BenchmarkFrag(b *testing.B) {
	top := testTopology(&testing.T{})
	r := rand.New(rand.NewSource(1))
	w := randomWorkload(r)
	m := NewFragModel(w, true)
	frees := make([][]int32, 512)
	for i := range frees {
		frees[i] = make([]int32, 8)
		for c := range frees[i] {
			frees[i][c] = int32(r.Intn(11) * 100)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Frag(top, 0, frees[i%len(frees)], int64(i%64)*1000, 65536)
	}
}
