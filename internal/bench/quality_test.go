package bench

import (
	"testing"

	"github.com/qunhq/qun/internal/place"
)

// TestQualityTargets runs a small placement-quality benchmark on the DGX
// SuperPOD and checks the first target, at least 95% of gangs
// within 1.10× of their bound at 30% and 60% occupancy, and that the
// placement never does worse than first fit on the median or the share.
// (The full table, on more pools, is `qun bench place`.)
func TestQualityTargets(t *testing.T) {
	topo := loadPool(t, "dgx-h100-superpod")
	rows, err := Quality(topo, place.New(place.Options{}), QualityConfig{Fills: 3, JobsPerFill: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Jobs < 40 {
			t.Errorf("%.0f%%: only %d gangs placed", r.Occupancy*100, r.Jobs)
		}
		if r.Occupancy <= 0.6 && r.Within110Share < 0.95 {
			t.Errorf("%.0f%%: %.1f%% within 1.10× of the bound, want ≥ 95%%", r.Occupancy*100, r.Within110Share*100)
		}
		if r.Within110Share < r.FirstFitWithin {
			t.Errorf("%.0f%%: first fit is within the bound more often (%.2f) than the placement (%.2f)", r.Occupancy*100, r.FirstFitWithin, r.Within110Share)
		}
		if r.MedianSpeedup < 1 {
			t.Errorf("%.0f%%: median speedup over first fit %.2f < 1", r.Occupancy*100, r.MedianSpeedup)
		}
	}
}

// TestQualityBackgrounds: one row per requested background, in order, on
// the same gangs; an unknown background is an error.
func TestQualityBackgrounds(t *testing.T) {
	topo := loadPool(t, "dgx-h100-superpod")
	bgs := []Background{BackgroundTopology, BackgroundFirstFit, BackgroundOwn}
	rows, err := Quality(topo, place.New(place.Options{}), QualityConfig{Occupancies: []float64{0.9}, Backgrounds: bgs, Fills: 2, JobsPerFill: 10, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(bgs) {
		t.Fatalf("%d rows, want %d", len(rows), len(bgs))
	}
	for i, r := range rows {
		if r.Background != bgs[i] {
			t.Errorf("row %d: background %q, want %q", i, r.Background, bgs[i])
		}
		if r.Jobs+r.Unplaced != 20 {
			t.Errorf("%s: %d placed + %d unplaced, want the same 20 gangs", r.Background, r.Jobs, r.Unplaced)
		}
	}
	if _, err := Quality(topo, place.New(place.Options{}), QualityConfig{Backgrounds: []Background{"slurm"}}); err == nil {
		t.Error("unknown background accepted")
	}
}
