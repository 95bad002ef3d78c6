package place

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/pool"
)

// TestFirstFitIsOblivious: first fit takes hosts in topology order and
// their free chips in chip order, ranks in the order taken, even when that
// splits tensor groups over partly used hosts.
func TestFirstFitIsOblivious(t *testing.T) {
	topo := loadPool(t, "dgx-h100-superpod")
	st := pool.NewState(topo)
	take(t, st, "su0/dgx0", 4)
	take(t, st, "su0/dgx1", 2)
	ff, fs := FirstFit(st, &Request{ID: "g", Ranks: 16, RankMilli: pool.Full}, FirstFitOptions{Scope: ScopePool})
	if fs != nil {
		t.Fatal(fs)
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
	if diff := cmp.Diff(want, ff.Chips()); diff != "" {
		t.Errorf("first-fit chips in rank order (-want +got):\n%s", diff)
	}
}
