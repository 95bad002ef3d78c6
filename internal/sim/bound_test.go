package sim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func repeat(size, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = size
	}
	return out
}

func TestShareBound(t *testing.T) {
	cases := []struct {
		name  string
		milli []int
		want  float64
	}{
		{"pairs", []int{600, 600, 400, 400}, 2},
		{"810 with 190", []int{810, 810, 810, 190, 190, 190}, 3},
		{"three halves", []int{500, 500, 500}, 1.5},
		{"810 and two 160", append(repeat(810, 5), 160, 160), 5},
		{"empty", nil, 0},
		{"one full", []int{1000}, 1},
		{"thirds", repeat(340, 3), 1.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ShareBound(c.milli, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-c.want) > 1e-6 {
				t.Errorf("ShareBound(%v) = %v, want %v", c.milli, got, c.want)
			}
		})
	}
}

func TestShareBoundErrors(t *testing.T) {
	cases := []struct {
		name     string
		milli    []int
		capacity int
		want     string
	}{
		{"zero size", []int{500, 0}, 1000, "item size 0 is outside (0, 1000]"},
		{"negative size", []int{-5}, 1000, "item size -5 is outside"},
		{"too large", []int{1001}, 1000, "item size 1001 is outside"},
		{"no capacity", []int{1}, 0, "capacity 0 is not positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ShareBound(c.milli, c.capacity)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestShareBoundTooManyPatterns(t *testing.T) {
	// Many distinct small sizes: far more than the limit of maximal patterns.
	var milli []int
	for s := 20; s < 120; s++ {
		milli = append(milli, repeat(s, 50)...)
	}
	_, err := ShareBound(milli, 1000)
	if err == nil || !strings.Contains(err.Error(), "more than 200000 packing patterns") {
		t.Errorf("error %v, want the pattern limit", err)
	}
}

// exactBins is the optimal number of bins, by dynamic programming over
// subsets (items ≤ 16).
func exactBins(milli []int, capacity int) int {
	n := len(milli)
	full := 1<<n - 1
	fits := make([]bool, full+1)
	for s := 0; s <= full; s++ {
		sum := 0
		for i := range n {
			if s&(1<<i) != 0 {
				sum += milli[i]
			}
		}
		fits[s] = sum <= capacity
	}
	best := make([]int, full+1)
	for s := 1; s <= full; s++ {
		best[s] = n + 1
		low := s & -s
		// Bins containing the lowest item of s.
		rest := s &^ low
		for sub := rest; ; sub = (sub - 1) & rest {
			if bin := sub | low; fits[bin] && best[s&^bin]+1 < best[s] {
				best[s] = best[s&^bin] + 1
			}
			if sub == 0 {
				break
			}
		}
	}
	return best[full]
}

// TestShareBoundAgainstExact compares the bound with the exact optimum on
// random small instances: between the total size and the optimum.
func TestShareBoundAgainstExact(t *testing.T) {
	sizes := []int{110, 160, 230, 320, 470, 650, 810}
	r := rand.New(rand.NewPCG(1, 2))
	gaps := 0
	for k := range 200 {
		n := 1 + r.IntN(9)
		milli := make([]int, n)
		total := 0
		for i := range milli {
			milli[i] = sizes[r.IntN(len(sizes))]
			total += milli[i]
		}
		got, err := ShareBound(milli, 1000)
		if err != nil {
			t.Fatalf("instance %d %v: %v", k, milli, err)
		}
		opt := exactBins(milli, 1000)
		if got > float64(opt)+1e-9 || got < float64(total)/1000-1e-9 {
			t.Errorf("instance %d %v: bound %v, want between %v and the optimum %d", k, milli, got, float64(total)/1000, opt)
		}
		if float64(opt)-got > 1-1e-9 {
			gaps++
		}
	}
	// The LP bound is within one bin of the optimum on small instances.
	if gaps > 0 {
		t.Errorf("%d instances with the optimum a full bin or more above the bound", gaps)
	}
}

// openbLikeShares is a synthetic instance shaped like the openb default
// trace's GPU shares: 20 sizes, about 3,000 items.
func openbLikeShares() []int {
	mix := []struct{ size, n int }{
		{50, 7}, {110, 24}, {140, 2}, {160, 74}, {220, 62}, {230, 140}, {270, 4}, {290, 2}, {320, 328}, {330, 7},
		{350, 6}, {370, 47}, {440, 2}, {460, 128}, {470, 750}, {480, 19}, {550, 72}, {590, 75}, {650, 253}, {810, 1078},
	}
	var out []int
	for _, m := range mix {
		out = append(out, repeat(m.size, m.n)...)
	}
	return out
}

func BenchmarkShareBoundOpenBLike(b *testing.B) {
	milli := openbLikeShares()
	for b.Loop() {
		if _, err := ShareBound(milli, 1000); err != nil {
			b.Fatal(err)
		}
	}
}

func TestShareBoundOpenBLike(t *testing.T) {
	milli := openbLikeShares()
	got, err := ShareBound(milli, 1000)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range milli {
		total += m
	}
	// Every 810 needs its own bin, and the bound is at least the total size.
	if got < 1078 || got < float64(total)/1000-1e-6 {
		t.Errorf("bound %v for %d items of total %d", got, len(milli), total)
	}
	t.Logf("%d items: bound %.4f, total size %.4f", len(milli), got, float64(total)/1000)
}

// TestRunFGDPackingBound runs FGD with seed 42 on the openb default trace
// with the packing bound: the shares sit on at least as many GPUs as the
// bound allows.
func TestRunFGDPackingBound(t *testing.T) {
	nodes, pods := loadOpenB(t, "default")
	if testing.Short() {
		t.Skip("short")
	}
	res, err := RunFGD(nodes, pods, FGDOptions{Policy: "fgd", Seed: 42, Ratio: 1.3, Lean: true, Bound: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstFailureArrived == nil || res.ShareChipsAtFirstFailure == nil {
		t.Fatalf("no first-failure figures: %+v", res)
	}
	if res.ShareChipsBound == nil || res.ShareBoundGap == nil {
		t.Fatalf("no bound: %s", res.ShareBoundError)
	}
	chips, bound := *res.ShareChipsAtFirstFailure, *res.ShareChipsBound
	if bound <= 0 || float64(chips) < math.Ceil(bound-1e-6) {
		t.Errorf("%d share GPUs at the first failure, bound %.2f: want bound > 0 and chips ≥ ⌈bound⌉", chips, bound)
	}
	if *res.FirstFailureArrived <= 0 || *res.FirstFailureArrived > 130 {
		t.Errorf("first failure at %.2f%% arrived", *res.FirstFailureArrived)
	}
	if got := round2(float64(chips) - bound); math.Abs(got-*res.ShareBoundGap) > 0.011 {
		t.Errorf("gap %.2f, want chips − bound = %.2f", *res.ShareBoundGap, got)
	}
	t.Logf("first failure at %.2f%% arrived: %d share GPUs, bound %.2f, gap %.2f (%.1fs)",
		*res.FirstFailureArrived, chips, bound, *res.ShareBoundGap, res.WallSeconds)
}

// TestFGDWithoutBoundOmitsFields checks that a run without the option
// writes none of the packing-bound fields, and that the option changes
// nothing else.
func TestFGDWithoutBoundOmitsFields(t *testing.T) {
	nodes, jobs := smallWorkload(t, 800)
	plain, err := RunFGD(nodes, jobs, FGDOptions{Policy: "qun", Seed: 5, Ratio: 1.3, Lean: true})
	if err != nil {
		t.Fatal(err)
	}
	js := fgdJSON(t, plain)
	for _, k := range []string{"first_failure_arrived", "share_chips", "share_bound"} {
		if strings.Contains(js, k) {
			t.Errorf("JSON without the option has %q: %s", k, js)
		}
	}
	with, err := RunFGD(nodes, jobs, FGDOptions{Policy: "qun", Seed: 5, Ratio: 1.3, Lean: true, Bound: true})
	if err != nil {
		t.Fatal(err)
	}
	if with.ShareChipsAtFirstFailure == nil {
		t.Fatal("no packing figures with the option")
	}
	c := *with
	c.FirstFailureArrived, c.ShareChipsAtFirstFailure, c.ShareChipsBound, c.ShareBoundGap, c.ShareBoundError = nil, nil, nil, nil, ""
	if fgdJSON(t, &c) != js {
		t.Error("the option changed the run's other figures")
	}
	r := &Report{Experiment: "fgd", Policies: []string{"qun"}, Seeds: []int64{5}, FGD: []*FGDResult{with}}
	r.Summarise()
	s := r.Summary[0]
	if s.ShareChipsAtFirstFailure == nil || *s.ShareChipsAtFirstFailure != float64(*with.ShareChipsAtFirstFailure) {
		t.Errorf("summary share GPUs %v, want %d", s.ShareChipsAtFirstFailure, *with.ShareChipsAtFirstFailure)
	}
	if md := string(r.Markdown()); !strings.Contains(md, "## Packing bound at the first failure") {
		t.Errorf("report.md lacks the packing-bound table:\n%s", md)
	}
}
