package plugins

import (
	"testing"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// TestFitsShareNeedsOneChip checks that a fractional rank passes only a
// host with one chip holding the whole share, not a host whose free shares
// add up to it across chips.
func TestFitsShareNeedsOneChip(t *testing.T) {
	topo, err := pool.LoadFile("../../../examples/pools/dgx-h100-superpod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := pool.NewState(topo)
	h := topo.Hosts()[0]
	lo, hi := topo.ChipRange(h)
	c := pool.Claim{Host: h}
	for x := lo; x < hi; x++ {
		c.Grants = append(c.Grants, pool.Grant{Chip: x, Milli: 700}) // 300 free on each of 8 chips
	}
	if err := st.Allocate(c); err != nil {
		t.Fatal(err)
	}
	prof := DefaultProfile()
	j := &sched.Job{ID: "half", Ranks: 1, RankMilli: 500}
	cs := sched.NewCycleState(&sched.Snapshot{Pool: st}, prof)
	if s := (Fits{}).FilterHost(cs, j, st, h); s.IsSuccess() {
		t.Errorf("a 500-thousandth share passed a host with 300 free on each chip (2,400 in total)")
	}
	j.RankMilli = 300
	if s := (Fits{}).FilterHost(cs, j, st, h); !s.IsSuccess() {
		t.Errorf("a 300-thousandth share was refused: %v", s)
	}
}
