package sched_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/sched/schedtest"
	"github.com/qunhq/qun/internal/state"
)

// recordOrder is an Admit plugin that admits every job and notes the order
// in which the cycle asks about them.
type recordOrder struct{ ids *[]string }

func (recordOrder) Name() string { return "record-order" }
func (r recordOrder) Admit(_ *sched.CycleState, j *sched.Job) *sched.Status {
	*r.ids = append(*r.ids, j.ID)
	return nil
}

// depthSnapshots returns snapshots of a random workload (several queues,
// priorities, preemption and reservations) as a MemStore sees it cycle
// after cycle, each with the profile it was scheduled under.
func depthSnapshots(t *testing.T) []*sched.Snapshot {
	t.Helper()
	var snaps []*sched.Snapshot
	for seed := range 6 {
		rng := rand.New(rand.NewPCG(uint64(seed), 13))
		topo := loadTopo(t, propPools[seed%len(propPools)])
		prof := plugins.DefaultProfile()
		kind := topo.Kinds[0].Name
		queues := []sched.Queue{
			{Name: "org0/a", Weight: 1, Guaranteed: map[string]int64{kind: int64(topo.NumChips()/4) * pool.Full}},
			{Name: "org0/b", Weight: 2},
			{Name: "org1/c", Weight: 1},
		}
		store := state.NewMemStore(topo, queues, time.Hour)
		now := t0
		n := 0
		for range 12 {
			for range 2 + rng.IntN(8) {
				n++
				j := schedtest.Make(fmt.Sprintf("j%03d", n)).Queue(queues[rng.IntN(len(queues))].Name).Priority(rng.IntN(3)).
					Submitted(now).Ranks(1 + rng.IntN(3)).Chips([]int{1, 2, 4, 8}[rng.IntN(4)]).
					Duration(time.Duration(10+rng.IntN(110)) * time.Minute).Obj()
				if err := store.Submit(j); err != nil {
					t.Fatal(err)
				}
			}
			now = now.Add(10 * time.Minute)
			store.Tick(now)
			snap, _ := store.Snapshot(now)
			for _, j := range snap.Running {
				if !j.Evicting && rng.IntN(3) == 0 {
					if err := store.Complete(j.ID, now); err != nil {
						t.Fatal(err)
					}
				}
			}
			snap, _ = store.Snapshot(now)
			snaps = append(snaps, snap)
			plan, _ := sched.Schedule(snap, now, nil, prof)
			if err := store.Apply(plan, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	return snaps
}

// TestDepthAll: a depth of at least the number of pending jobs decides
// exactly what depth 0 (every job) does.
func TestDepthAll(t *testing.T) {
	prof := plugins.DefaultProfile()
	for i, snap := range depthSnapshots(t) {
		now := t0.Add(time.Duration(i%12+1) * 10 * time.Minute)
		plan0, ex0 := sched.Schedule(snap, now, nil, prof)
		for _, depth := range []int{len(snap.Pending), len(snap.Pending) + 1, 1 << 20} {
			d := *snap
			d.Depth = depth
			plan, ex := sched.Schedule(&d, now, nil, prof)
			if diff := cmp.Diff(plan0, plan, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("snapshot %d, depth %d of %d pending: plan differs from depth 0 (-0 +depth):\n%s", i, depth, len(snap.Pending), diff)
			}
			if diff := cmp.Diff(ex0, ex, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("snapshot %d, depth %d of %d pending: explanation differs from depth 0 (-0 +depth):\n%s", i, depth, len(snap.Pending), diff)
			}
		}
	}
}

// TestDepthPrefix: with depth k the cycle tries the first k pending jobs of
// its order and only them: they decide as in a full cycle (same records,
// same starts), the others are not started and not explained.
func TestDepthPrefix(t *testing.T) {
	for i, snap := range depthSnapshots(t) {
		if len(snap.Pending) < 2 {
			continue
		}
		now := t0.Add(time.Duration(i%12+1) * 10 * time.Minute)
		var fullOrder []string
		full := *plugins.DefaultProfile()
		full.Admit = append([]sched.Admit{recordOrder{&fullOrder}}, full.Admit...)
		planAll, exAll := sched.Schedule(snap, now, nil, &full)
		for _, k := range []int{1, 2, len(snap.Pending) / 2, len(snap.Pending) - 1} {
			if k < 1 {
				continue
			}
			var order []string
			prof := *plugins.DefaultProfile()
			prof.Admit = append([]sched.Admit{recordOrder{&order}}, prof.Admit...)
			d := *snap
			d.Depth = k
			plan, ex := sched.Schedule(&d, now, nil, &prof)
			// The jobs admitted (those tried that may fit the pool) come
			// first in the full cycle's order too.
			if len(order) > len(fullOrder) || !slices.Equal(order, fullOrder[:len(order)]) {
				t.Fatalf("snapshot %d, depth %d: jobs admitted %v are not the first of the full cycle's %v", i, k, order, fullOrder)
			}
			tried := map[string]bool{}
			for _, j := range snap.Pending {
				if _, ok := ex[j.ID]; ok {
					tried[j.ID] = true
				}
			}
			if len(tried) != k {
				t.Errorf("snapshot %d, depth %d: %d jobs explained", i, k, len(tried))
			}
			var want []sched.Assignment
			for _, a := range planAll.Start {
				if tried[a.JobID] {
					want = append(want, a)
				}
			}
			if diff := cmp.Diff(want, plan.Start, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("snapshot %d, depth %d: starts differ from the full cycle's starts among the jobs tried (-want +got):\n%s", i, k, diff)
			}
			for _, j := range snap.Pending {
				recs, ok := ex[j.ID]
				switch {
				case tried[j.ID]:
					if diff := cmp.Diff(exAll[j.ID], recs); diff != "" {
						t.Errorf("snapshot %d, depth %d: %s: records differ from the full cycle's (-full +depth):\n%s", i, k, j.ID, diff)
					}
				case ok:
					t.Errorf("snapshot %d, depth %d: %s is past the depth but explained: %+v", i, k, j.ID, recs)
				}
			}
		}
	}
}

// TestDepthUncounted: running jobs listed as pending and recovering jobs do
// not count against the depth and are tried wherever they are in the order.
func TestDepthUncounted(t *testing.T) {
	topo := loadTopo(t, "testdata/pools/flat16.yaml")
	h := topo.Hosts()
	st := pool.NewState(topo)
	lo, _ := topo.ChipRange(h[0])
	kept := pool.Claim{Host: h[0], Grants: []pool.Grant{{Chip: lo, Milli: pool.Full}}}
	run := pool.Claim{Host: h[0], Grants: []pool.Grant{{Chip: lo + 1, Milli: pool.Full}}}
	if err := st.Allocate(kept, run); err != nil {
		t.Fatal(err)
	}
	running := schedtest.Make("running").Priority(9).Running(&pool.Placement{Ranks: []pool.Claim{run}}, t0).Obj()
	rec := schedtest.Make("rec").Priority(-1).Submitted(t0.Add(time.Hour)).Ranks(2).Chips(1).Obj()
	rec.Recover = &sched.Recovery{Keep: []pool.Claim{kept, {Host: h[1]}}, Lost: []int{1}, From: []pool.DomainID{h[1]}}
	pending := []*sched.Job{running, rec}
	for i := range 5 {
		pending = append(pending, schedtest.Make(fmt.Sprintf("p%d", i)).Submitted(t0.Add(time.Duration(i)*time.Minute)).Chips(1).Obj())
	}
	snap := &sched.Snapshot{Pool: st, Pending: pending, Running: []*sched.Job{running}, Depth: 2}
	plan, ex := sched.Schedule(snap, t0.Add(2*time.Hour), nil, plugins.DefaultProfile())
	var got []string
	for id := range ex {
		got = append(got, id)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"p0", "p1", "rec", "running"}, got); diff != "" {
		t.Errorf("explained jobs (-want +got):\n%s", diff)
	}
	var started []string
	for _, a := range plan.Start {
		started = append(started, a.JobID)
	}
	slices.Sort(started)
	if diff := cmp.Diff([]string{"p0", "p1", "rec"}, started); diff != "" {
		t.Errorf("started jobs (-want +got):\n%s", diff)
	}
}

// TestNothingPendingNothingPlanned: a cycle without pending jobs plans
// nothing (no start, eviction or reservation: evictions are only for
// preemptors), which lets the server skip such cycles.
func TestNothingPendingNothingPlanned(t *testing.T) {
	prof := plugins.DefaultProfile()
	for i, snap := range depthSnapshots(t) {
		d := *snap
		d.Pending = nil
		plan, _ := sched.Schedule(&d, t0.Add(time.Duration(i%12+1)*10*time.Minute), nil, prof)
		if len(plan.Start)+len(plan.Evict)+len(plan.Reservations) > 0 {
			t.Errorf("snapshot %d with its %d running jobs and no pending one: plan %+v", i, len(d.Running), plan)
		}
	}
}
