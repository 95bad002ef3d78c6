package sched_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/sched/schedtest"
	"github.com/qunhq/qun/internal/state"
)

var propPools = []string{"testdata/pools/tiny910.yaml", "testdata/pools/flat16.yaml", "../../examples/pools/ascend910-cluster.yaml"}

func loadTopo(t *testing.T, path string) *pool.Topology {
	t.Helper()
	topo, err := pool.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// checkState rebuilds the allocation from the running jobs: it must fit the
// pool (no chip over-allocated) and equal the store's state.
func checkState(t *testing.T, topo *pool.Topology, snap *sched.Snapshot) {
	t.Helper()
	st := pool.NewState(topo)
	for _, j := range snap.Running {
		if len(j.Placement.Ranks) != j.Ranks {
			t.Fatalf("job %s runs %d of %d ranks", j.ID, len(j.Placement.Ranks), j.Ranks)
		}
		if err := st.Allocate(j.Placement.Ranks...); err != nil {
			t.Fatalf("over-allocated: job %s: %v", j.ID, err)
		}
	}
	if st.FreeMilli(0) != snap.Pool.FreeMilli(0) || st.FreeCPU(0) != snap.Pool.FreeCPU(0) {
		t.Fatalf("store state drifted: %d free thousandths rebuilt, %d stored", st.FreeMilli(0), snap.Pool.FreeMilli(0))
	}
}

// TestPropertyRandom runs random queues, submissions and completions under
// every backfill mode and checks, after each cycle: plans apply cleanly, no
// chip is over-allocated, gangs run whole, and no job evicts a job that
// evicted it (no preemption loop).
func TestPropertyRandom(t *testing.T) {
	seeds, steps := 24, 40
	if testing.Short() {
		seeds, steps = 8, 25
	}
	modes := []string{"easy", "conservative", "off"}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		topo := loadTopo(t, propPools[seed%len(propPools)])
		prof := *plugins.DefaultProfile()
		prof.Backfill.Mode = modes[seed%len(modes)]
		prof.Preemption.Grace = time.Duration(rng.IntN(3)) * 5 * time.Minute
		kind := topo.Kinds[0].Name
		var queues []sched.Queue
		capChips := topo.NumChips()
		for i := range 1 + rng.IntN(4) {
			q := sched.Queue{Name: fmt.Sprintf("org%d/t%d", i%2, i), Weight: float64(1 + rng.IntN(3))}
			if rng.IntN(2) == 0 {
				q.Guaranteed = map[string]int64{kind: int64(rng.IntN(capChips/4+1)) * pool.Full}
			}
			if rng.IntN(3) == 0 {
				q.Borrowing = map[string]int64{kind: int64(rng.IntN(capChips/2+1)) * pool.Full}
			}
			if rng.IntN(3) == 0 {
				q.Lending = map[string]int64{kind: int64(rng.IntN(capChips/4+1)) * pool.Full}
			}
			queues = append(queues, q)
		}
		store := state.NewMemStore(topo, queues, time.Hour)
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		actual := map[string]time.Duration{}
		evictedBy := map[[2]string]bool{}
		n := 0
		for step := range steps {
			for range rng.IntN(4) {
				n++
				chips := []int{1, 2, 4, 8}[rng.IntN(4)]
				j := schedtest.Make(fmt.Sprintf("j%d", n)).Queue(queues[rng.IntN(len(queues))].Name).Priority(rng.IntN(3)).
					Submitted(now).Ranks(1 + rng.IntN(3)).Chips(chips).Duration(time.Duration(10+rng.IntN(110)) * time.Minute).Obj()
				if rng.IntN(8) == 0 {
					j.Ranks, j.RankMilli = 1, 250*(1+rng.IntN(3))
				}
				actual[j.ID] = time.Duration(float64(j.Duration) * (0.5 + rng.Float64()))
				if err := store.Submit(j); err != nil {
					t.Fatal(err)
				}
			}
			now = now.Add(10 * time.Minute)
			store.Tick(now)
			snap, _ := store.Snapshot(now)
			for _, j := range snap.Running {
				if !j.Evicting && !j.Started.Add(actual[j.ID]).After(now) {
					if err := store.Complete(j.ID, now); err != nil {
						t.Fatal(err)
					}
				}
			}
			snap, _ = store.Snapshot(now)
			plan, _ := sched.Schedule(snap, now, rng, &prof)
			for _, ev := range plan.Evict {
				if evictedBy[[2]string{ev.Preemptor, ev.JobID}] {
					t.Fatalf("seed %d step %d: %s evicts %s, which evicted it before", seed, step, ev.Preemptor, ev.JobID)
				}
				evictedBy[[2]string{ev.JobID, ev.Preemptor}] = true
			}
			if err := store.Apply(plan, now); err != nil {
				t.Fatalf("seed %d step %d: plan from a fresh snapshot does not apply: %v", seed, step, err)
			}
			snap, _ = store.Snapshot(now)
			checkState(t, topo, snap)
		}
	}
}

// TestPropertyReclaim: a queue below its guarantee with demand gets its
// guarantee back within one cycle plus the grace period, whatever borrowed it.
func TestPropertyReclaim(t *testing.T) {
	topo := loadTopo(t, "testdata/pools/flat16.yaml")
	for seed := range 20 {
		rng := rand.New(rand.NewPCG(uint64(seed), 9))
		g := 1 + rng.IntN(12)
		grace := time.Duration(rng.IntN(3)) * 5 * time.Minute
		prof := *plugins.DefaultProfile()
		prof.Preemption.Grace = grace
		queues := []sched.Queue{
			{Name: "a", Weight: 1, Guaranteed: map[string]int64{"H100": int64(g) * pool.Full}},
			{Name: "b", Weight: 1, Guaranteed: map[string]int64{"H100": int64(16-g) * pool.Full}},
		}
		store := state.NewMemStore(topo, queues, 0)
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		// b fills the pool with jobs of random sizes, borrowing a's share.
		for i := 0; i < 40; i++ {
			_ = store.Submit(schedtest.Make(fmt.Sprintf("b%d", i)).Queue("b").Priority(rng.IntN(3)).Submitted(now).
				Chips(1 + rng.IntN(2)).Duration(10 * time.Hour).Obj())
		}
		cycle := func() {
			store.Tick(now)
			snap, _ := store.Snapshot(now)
			plan, _ := sched.Schedule(snap, now, rng, &prof)
			if err := store.Apply(plan, now); err != nil {
				t.Fatal(err)
			}
		}
		cycle()
		want := 1 + rng.IntN(g)
		for i := range want {
			_ = store.Submit(schedtest.Make(fmt.Sprintf("a%d", i)).Queue("a").Submitted(now).Duration(time.Hour).Obj())
		}
		cycle()
		now = now.Add(grace)
		cycle()
		snap, _ := store.Snapshot(now)
		got := 0
		for _, j := range snap.Running {
			if j.Queue == "a" {
				got++
			}
		}
		if got != want {
			t.Errorf("seed %d: guarantee %d, demand %d, grace %s: a runs %d after one cycle plus the grace", seed, g, want, grace, got)
		}
		checkState(t, topo, snap)
	}
}

// TestPropertyNoStarvation: small jobs from a favoured queue keep arriving;
// a gang needing the whole pool still starts once the jobs running when it
// got its reservation have ended, plus the overrun grace.
func TestPropertyNoStarvation(t *testing.T) {
	topo := loadTopo(t, "testdata/pools/tiny910.yaml")
	for seed := range 10 {
		rng := rand.New(rand.NewPCG(uint64(seed), 11))
		prof := *plugins.DefaultProfile()
		store := state.NewMemStore(topo, []sched.Queue{{Name: "small", Weight: 100}, {Name: "big", Weight: 1}}, 0)
		now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		actual := map[string]time.Duration{}
		n := 0
		submitSmall := func() {
			for range 1 + rng.IntN(3) {
				n++
				d := time.Duration(10+rng.IntN(50)) * time.Minute
				id := fmt.Sprintf("s%d", n)
				actual[id] = d
				_ = store.Submit(schedtest.Make(id).Queue("small").Submitted(now).Chips([]int{1, 2, 4, 8}[rng.IntN(4)]).Duration(d).Obj())
			}
		}
		submitSmall()
		started := time.Time{}
		var bigAt time.Time
		for step := 0; step < 60 && started.IsZero(); step++ {
			if step == 2 {
				bigAt = now
				_ = store.Submit(schedtest.Make("big").Queue("big").Submitted(now).Ranks(4).Chips(8).Duration(time.Hour).Obj())
			}
			submitSmall()
			snap, _ := store.Snapshot(now)
			for _, j := range snap.Running {
				if j.ID != "big" && !j.Started.Add(actual[j.ID]).After(now) {
					_ = store.Complete(j.ID, now)
				}
			}
			snap, _ = store.Snapshot(now)
			plan, _ := sched.Schedule(snap, now, rng, &prof)
			if err := store.Apply(plan, now); err != nil {
				t.Fatal(err)
			}
			for _, a := range plan.Start {
				if a.JobID == "big" {
					started = now
				}
			}
			now = now.Add(5 * time.Minute)
		}
		if started.IsZero() {
			t.Fatalf("seed %d: the whole-pool gang never started while small jobs kept arriving", seed)
		}
		// Every small job lasts at most an hour (60m with rounding to the
		// 5-minute steps), so the gang waits at most that long.
		if w := started.Sub(bigAt); w > 65*time.Minute {
			t.Errorf("seed %d: the gang waited %s", seed, w)
		}
	}
}
