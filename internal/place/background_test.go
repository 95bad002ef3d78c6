package place

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

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
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
	for name, place := range map[Background]PlaceFunc{
		BackgroundTopology: TopologyPlace(New(Options{})),
		BackgroundFirstFit: FirstFitPlace,
	} {
		got := map[int]float64{}
		used := 0.0
		for seed := range 4 {
			st := pool.NewState(topo)
			running, err := FillWith(st, place, mix, 0.6, rand.New(rand.NewPCG(uint64(seed), 3)))
			if err != nil {
				t.Fatal(err)
			}
			if occ := 1 - float64(st.FreeChips(0))/float64(topo.NumChips()); math.Abs(occ-0.6) > 0.01 {
				t.Errorf("%s seed %d: occupancy %.3f, want 0.6", name, seed, occ)
			}
			for _, j := range running {
				k, _ := j.WholeChips()
				got[k*j.Ranks] += float64(k * j.Ranks)
				used += float64(k * j.Ranks)
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

// TestFirstFitIsOblivious: first fit takes hosts in topology order and
// their free chips in chip order, ranks in the order taken, even when that
// splits tensor groups over partly used hosts.
func TestFirstFitIsOblivious(t *testing.T) {
	topo := loadPool(t, "dgx-h100-superpod")
	st := pool.NewState(topo)
	take(t, st, "su0/dgx0", 4)
	take(t, st, "su0/dgx1", 2)
	ff, err := FirstFit(st, &sched.Job{ID: "g", Ranks: 16, RankMilli: pool.Full})
	if err != nil {
		t.Fatal(err)
	}
	var want []pool.ChipID
	for _, h := range []struct {
		name     string
		from, to int
	}{{"su0/dgx0", 4, 8}, {"su0/dgx1", 2, 8}, {"su0/dgx2", 0, 6}} {
		d, _ := topo.HostByName(h.name)
		lo, _ := topo.ChipRange(d)
		for i := h.from; i < h.to; i++ {
			want = append(want, lo+pool.ChipID(i))
		}
	}
	if diff := cmp.Diff(want, PlacementChips(ff)); diff != "" {
		t.Errorf("first-fit chips in rank order (-want +got):\n%s", diff)
	}
}
