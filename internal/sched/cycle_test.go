package sched_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/sched/schedtest"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TestHostNotReady: hosts without a ready agent take nothing, and a job
// that would fit with them says it waits for them rather than only that
// chips are short.
func TestHostNotReady(t *testing.T) {
	topo := loadTopo(t, "testdata/pools/flat16.yaml")
	h := topo.Hosts()
	snap := &sched.Snapshot{Pool: pool.NewState(topo), NotReady: []pool.DomainID{h[1], h[2]},
		Pending: []*sched.Job{
			schedtest.Make("big").Ranks(3).Chips(4).Obj(),                                // 12 chips: only with h1 or h2
			schedtest.Make("one").Submitted(t0.Add(1)).Ranks(2).Chips(4).Obj(),           // h0 and h3
			schedtest.Make("more").Submitted(t0.Add(2)).Chips(4).Obj(),                   // nothing left that is ready
			schedtest.Make("cpu").Submitted(t0.Add(3)).Chips(0).Resources(1000, 0).Obj(), // CPU-only: not on h1, h2 either
		}}
	for _, prof := range []string{"default", "hostscore"} {
		p := plugins.DefaultProfile()
		if prof == "hostscore" {
			var err error
			p, err = sched.LoadProfile("p.yaml", []byte("filters: [{name: fits}]\nplace: {name: hostscore}\nbackfill: {mode: off}\n"), plugins.Default())
			if err != nil {
				t.Fatal(err)
			}
		}
		plan, ex := sched.Schedule(snap, t0, nil, p)
		used := map[string]bool{}
		for _, a := range plan.Start {
			for _, cl := range a.Placement.Ranks {
				used[topo.Path(cl.Host)] = true
			}
		}
		if used["h1"] || used["h2"] {
			t.Errorf("%s: placed on a host without a ready agent: %v", prof, plan.Start)
		}
		want := map[string]string{"big": "h1", "more": "h1"}
		for id, host := range want {
			var got []string
			for _, r := range ex[id] {
				if r.Reason == sched.ReasonHostNotReady {
					got = append(got, r.Plugin+"/"+r.Reason+" "+r.Detail)
				}
			}
			if len(got) != 1 || !strings.Contains(got[0], host) {
				t.Errorf("%s: %s: host-not-ready records %q, want one naming %s (all: %+v)", prof, id, got, host, ex[id])
			}
		}
	}
	// With every host ready nobody mentions readiness.
	snap.NotReady = nil
	_, ex := sched.Schedule(snap, t0, nil, plugins.DefaultProfile())
	for id, rs := range ex {
		for _, r := range rs {
			if r.Reason == sched.ReasonHostNotReady {
				t.Errorf("all hosts ready: %s: %+v", id, r)
			}
		}
	}
}

// TestPostPlaceQuota: a job accepting two kinds is admitted on the kind its
// queue may borrow, but the placer puts it on the other; the PostPlace
// stage refuses that placement with the quota's constant reason.
func TestPostPlaceQuota(t *testing.T) {
	topo, err := pool.Load("two.yaml", []byte(`apiVersion: qun/v1
kind: Pool
name: two
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 5}
  - {name: host, host: true, bandwidthGBps: 450, latencyUs: 1}
root:
  name: c
  level: cluster
  children:
    - {name: a, level: host, cpuMilli: 64000, memoryMiB: 262144, chips: {kind: H100, count: 4}}
    - {name: b, level: host, cpuMilli: 64000, memoryMiB: 262144, chips: {kind: H200, count: 4}}
`), pool.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	st := pool.NewState(topo)
	// H100 is busy except one chip; the queue may not borrow A100 at all.
	a := topo.Hosts()[0]
	lo, _ := topo.ChipRange(a)
	busy := pool.WholeChipClaim(a, []pool.ChipID{lo, lo + 1, lo + 2}, 0, 0)
	if err := st.Allocate(busy); err != nil {
		t.Fatal(err)
	}
	running := schedtest.Make("busy").Queue("other").Chips(3).Kinds("H100").
		Running(&pool.Placement{Kinds: []pool.KindID{0}, Ranks: []pool.Claim{busy}}, t0).Obj()
	queues := []sched.Queue{{Name: "q", Weight: 1, Borrowing: map[string]int64{"H200": 0}}}
	job := schedtest.Make("j").Queue("q").Chips(2).Kinds("H100", "H200").Obj()
	snap := &sched.Snapshot{Pool: st, Queues: queues, Running: []*sched.Job{running}, Pending: []*sched.Job{job}}
	type rec struct{ Plugin, Reason string }
	cases := []struct {
		name      string
		postPlace string // the profile's postPlace line; "" omits it
		started   bool
		first     rec
	}{
		{"default profile", "", false, rec{"quota", sched.ReasonBorrowLimit}},
		{"explicit", "postPlace: [{name: quota}]\n", false, rec{"quota", sched.ReasonBorrowLimit}},
		{"none", "postPlace: []\n", true, rec{"hostscore", sched.ReasonPlaced}},
	}
	for _, c := range cases {
		prof, err := sched.LoadProfile("p.yaml", []byte("admit: [{name: quota}]\nfilters: [{name: fits}]\nplace: {name: hostscore}\nbackfill: {mode: off}\n"+c.postPlace), plugins.Default())
		if err != nil {
			t.Fatal(err)
		}
		plan, ex := sched.Schedule(snap, t0, nil, prof)
		var got rec
		if rs := ex["j"]; len(rs) > 0 {
			got = rec{rs[0].Plugin, rs[0].Reason}
		}
		if diff := cmp.Diff(c.first, got); diff != "" {
			t.Errorf("%s: first record (-want +got):\n%s\n%+v", c.name, diff, ex["j"])
		}
		if (len(plan.Start) == 1) != c.started {
			t.Errorf("%s: started %v, want %v", c.name, plan.Start, c.started)
		}
		if !c.started && !strings.Contains(ex["j"][0].Detail, "placed on H200") {
			t.Errorf("%s: detail %q does not name the kind", c.name, ex["j"][0].Detail)
		}
	}
}
