package plugins

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/schedtest"
)

// TestFits checks each reason of the fits filter on one host of the
// SuperPoD example whose 8 chips have 300 thousandths free each: a share
// passes only when one chip holds it whole, not when free shares add up to
// it across chips (which is why the sharefit filter is gone).
func TestFits(t *testing.T) {
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
	other := topo.Hosts()[1]
	cases := []struct {
		name string
		job  *schedtest.Wrapper
		host pool.DomainID
		down bool // the host has no ready agent
		want string
	}{
		{"a 300 share", schedtest.Make("j").Milli(300), h, false, ""},
		{"a 500 share (2,400 free across chips)", schedtest.Make("j").Milli(500), h, false, ReasonInsufficientChips},
		{"one whole chip", schedtest.Make("j").Chips(1), h, false, ReasonInsufficientChips},
		{"one whole chip on a free host", schedtest.Make("j").Chips(1), other, false, ""},
		{"no ready agent", schedtest.Make("j").Chips(1), other, true, sched.ReasonHostNotReady},
		{"cpu", schedtest.Make("j").Chips(1).Resources(topo.CPUMilli(other)+1, 0), other, false, ReasonInsufficientCPU},
		{"memory", schedtest.Make("j").Chips(1).Resources(0, topo.MemoryMiB(other)+1), other, false, ReasonInsufficientMemory},
		{"cpu only", schedtest.Make("j").Chips(0).Resources(1000, 1024), h, false, ""},
	}
	prof := DefaultProfile()
	for _, tc := range cases {
		snap := &sched.Snapshot{Pool: st}
		if tc.down {
			snap.NotReady = []pool.DomainID{tc.host}
		}
		cs := sched.NewCycleState(snap, prof)
		got := ""
		if s := (Fits{}).FilterHost(cs, tc.job.Obj(), st, tc.host); !s.IsSuccess() {
			got = s.Reason
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: reason (-want +got):\n%s", tc.name, diff)
		}
	}
}
