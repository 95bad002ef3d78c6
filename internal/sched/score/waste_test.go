package score

import (
	"math"
	"testing"

	"github.com/qunhq/qun/internal/sched"
)

// TestWasteTable checks the expected-waste recursion
// W(L) = L·(1−F(L)) + Σ_{s≤L} p_s·W(L−s) on hand-computed cases.
func TestWasteTable(t *testing.T) {
	share := func(milli int, w float64) sched.WorkloadShape {
		return sched.WorkloadShape{Chips: 1, Milli: milli, Weight: w}
	}
	tests := map[string]struct {
		shapes []sched.WorkloadShape
		want   map[int]float64
	}{
		// Only halves arrive: a free half is always filled (W = 0); 200 is
		// never used; 700 takes one half and strands 200.
		"halves": {[]sched.WorkloadShape{share(500, 1)}, map[int]float64{0: 0, 200: 200, 500: 0, 700: 200, 1000: 0}},
		// Quarters and halves equally often: W(250) = 250·½ = 125;
		// W(500) = 0 + ½·W(250) + ½·W(0) = 62.5;
		// W(750) = 0 + ½·W(500) + ½·W(250) = 93.75.
		"quarters and halves": {[]sched.WorkloadShape{share(250, 1), share(500, 1)},
			map[int]float64{250: 125, 500: 62.5, 750: 93.75}},
		// Whole chips and CPU-only work are not shares: nothing is wasted.
		"no shares": {[]sched.WorkloadShape{{Chips: 1, Milli: 1000, Weight: 1}, {Chips: 0, Weight: 1}},
			map[int]float64{300: 0, 1000: 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := NewQun()
			tab := q.wasteTable(&sched.Workload{Shapes: tc.shapes})
			for l, want := range tc.want {
				if math.Abs(tab[l]-want) > 1e-9 {
					t.Errorf("W(%d) = %g, want %g", l, tab[l], want)
				}
			}
		})
	}
}
