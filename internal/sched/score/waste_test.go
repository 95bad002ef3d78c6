package score

import (
	"math"
	"testing"

	"github.com/qunhq/qun/internal/sched"
)

// TestWasteTable checks the expected-waste recursion
// W(L) = (L·(1−F(L))·(1−c) + Σ_{s≤L} p_s·W(L−s)) / (1 − (1−F(L))·c) on
// hand-computed cases, without patience (c = 0) and with.
func TestWasteTable(t *testing.T) {
	share := func(milli int, w float64) sched.WorkloadShape {
		return sched.WorkloadShape{Chips: 1, Milli: milli, Weight: w}
	}
	tests := map[string]struct {
		shapes   []sched.WorkloadShape
		patience float64
		want     map[int]float64
	}{
		// Only halves arrive: a free half is always filled (W = 0); 200 is
		// never used; 700 takes one half and strands 200.
		"halves": {[]sched.WorkloadShape{share(500, 1)}, 0, map[int]float64{0: 0, 200: 200, 500: 0, 700: 200, 1000: 0}},
		// Quarters and halves equally often: W(250) = 250·½ = 125;
		// W(500) = 0 + ½·W(250) + ½·W(0) = 62.5;
		// W(750) = 0 + ½·W(500) + ½·W(250) = 93.75.
		"quarters and halves": {[]sched.WorkloadShape{share(250, 1), share(500, 1)}, 0,
			map[int]float64{250: 125, 500: 62.5, 750: 93.75}},
		// With patience ½, a free quarter that sees a half arrive waits
		// for a later share half the time: W(250) = (250·½·½ + ½·W(0)) /
		// (1 − ½·½) = 83.33…; W(500) = ½·W(250) + ½·W(0) = 41.66…;
		// W(750) = ½·W(500) + ½·W(250) = 62.5.
		"quarters and halves, patience ½": {[]sched.WorkloadShape{share(250, 1), share(500, 1)}, 0.5,
			map[int]float64{250: 250.0 / 3, 500: 125.0 / 3, 750: 62.5}},
		// Full patience: every leftover some share fits is filled in the end.
		"full patience": {[]sched.WorkloadShape{share(250, 1), share(500, 1)}, 1,
			map[int]float64{100: 100, 250: 0, 600: 100, 750: 0}},
		// Whole chips and CPU-only work are not shares: nothing is wasted.
		"no shares": {[]sched.WorkloadShape{{Chips: 1, Milli: 1000, Weight: 1}, {Chips: 0, Weight: 1}}, 0.98,
			map[int]float64{300: 0, 1000: 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := NewQunWith(QunOptions{Waste: 1, Patience: tc.patience})
			tab := q.wasteTable(&sched.Workload{Shapes: tc.shapes})
			for l, want := range tc.want {
				if !(math.Abs(tab[l]-want) <= 1e-9) { // NaN fails too
					t.Errorf("W(%d) = %g, want %g", l, tab[l], want)
				}
			}
		})
	}
}

// TestTablesBounded: as a History hands out new workloads, Qun and FGD keep
// tables for the last few only.
func TestTablesBounded(t *testing.T) {
	q := NewQun()
	for i := range 50 {
		w := &sched.Workload{Shapes: []sched.WorkloadShape{{Chips: 1, Milli: 100 + i, Weight: 1}}}
		q.wasteTable(w)
		q.ratios(w)
		q.fgd.models.get(w, true)
		if n := max(q.waste.len(), q.ratio.len(), q.fgd.models.c.len()); n > maxWorkloads {
			t.Fatalf("after %d workloads a table holds %d, want at most %d", i+1, n, maxWorkloads)
		}
	}
	// The newest stays cached: asking again builds nothing new.
	w := &sched.Workload{Shapes: []sched.WorkloadShape{{Chips: 1, Milli: 500, Weight: 1}}}
	a := q.wasteTable(w)
	if b := q.wasteTable(w); &a[0] != &b[0] {
		t.Error("the waste table of the newest workload was rebuilt")
	}
}
