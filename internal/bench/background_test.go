package bench

import (
	"encoding/csv"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
)

const openbPods = "../../../shared/traces/alibaba-gpu-v2023/csv/openb_pod_list_default.csv"

// TestOpenBChips re-derives openbChips from the trace: GPUs requested per
// pod size, fractional one-GPU pods counted as one chip.
func TestOpenBChips(t *testing.T) {
	f, err := os.Open(openbPods)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("trace not present (%v): openbChips not re-derived", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, name := range rows[0] {
		if name == "num_gpu" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("%s has no num_gpu column: %v", openbPods, rows[0])
	}
	chips := map[int]float64{}
	for _, r := range rows[1:] {
		n, err := strconv.Atoi(r[col])
		if err != nil {
			t.Fatalf("num_gpu %q: %v", r[col], err)
		}
		if n > 0 {
			chips[n] += float64(n)
		}
	}
	want := map[int]float64{}
	for _, s := range openbChips {
		want[s.chips] = s.weight
	}
	if diff := cmp.Diff(want, chips); diff != "" {
		t.Errorf("chips per pod size (-code +trace):\n%s", diff)
	}
}

func TestBackgroundMixShares(t *testing.T) {
	m, err := NewBackgroundMix(0.5)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Shares()
	sum := 0.0
	for _, v := range got {
		sum += v
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("shares sum to %g", sum)
	}
	if math.Abs(got[1]-0.5*6989/7433) > 1e-9 || math.Abs(got[64]-0.5/3) > 1e-9 {
		t.Errorf("shares %v", got)
	}
	for _, bad := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := NewBackgroundMix(bad); err == nil {
			t.Errorf("multi-host share %g accepted", bad)
		}
	}
}

// TestFillFollowsMix fills the DGX SuperPOD with both schedulers and checks
// the occupancy reached and that the running gangs split the chips in use
// by size about as the mix says.
func TestFillFollowsMix(t *testing.T) {
	topo := loadPool(t, "dgx-h100-superpod")
	mix, err := NewBackgroundMix(DefaultMultiHostShare)
	if err != nil {
		t.Fatal(err)
	}
	want := mix.Shares()
	for name, placeFn := range map[Background]PlaceFunc{
		BackgroundTopology: TopologyPlace(place.New(place.Options{})),
		BackgroundFirstFit: FirstFitPlace,
	} {
		got := map[int]float64{}
		used := 0.0
		for seed := range 4 {
			st := pool.NewState(topo)
			running, err := FillWith(st, placeFn, mix, 0.6, rand.New(rand.NewPCG(uint64(seed), 3)))
			if err != nil {
				t.Fatal(err)
			}
			if occ := 1 - float64(st.FreeChips(0))/float64(topo.NumChips()); math.Abs(occ-0.6) > 0.01 {
				t.Errorf("%s seed %d: occupancy %.3f, want 0.6", name, seed, occ)
			}
			for _, g := range running {
				k, _ := g.Request.WholeChips()
				got[k*g.Request.Ranks] += float64(k * g.Request.Ranks)
				used += float64(k * g.Request.Ranks)
			}
		}
		for n, w := range want {
			t.Logf("%s: %d chips: %.3f (mix %.3f)", name, n, got[n]/used, w)
			if g := got[n] / used; math.Abs(g-w) > 0.06 {
				t.Errorf("%s: %d-chip gangs hold %.3f of the chips in use, want %.3f ± 0.06", name, n, g, w)
			}
		}
	}
}

func loadPool(t testing.TB, name string) *pool.Topology {
	t.Helper()
	topo, err := LoadPool("../../examples/pools/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	return topo
}
