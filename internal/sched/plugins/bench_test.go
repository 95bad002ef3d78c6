package plugins

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/schedtest"
	"github.com/qunhq/qun/internal/state"
)

// These benchmarks time sched.Schedule with the default profile on the
// example pools; `qun bench sched` reports the figures at full scale.

func benchTopo(b *testing.B, name string) *pool.Topology {
	b.Helper()
	t, err := pool.LoadFile("../../../examples/pools/" + name)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

func benchJob(id string, ranks, chips int, now time.Time) *sched.Job {
	return schedtest.Make(id).Submitted(now).Ranks(ranks).Chips(chips).Plan(1, 1, ranks*chips, 1).Duration(time.Hour).Obj()
}

// BenchmarkScheduleSingleChip places 1,000 one-chip jobs in one cycle on the
// 8,192-chip SuperPoD.
func BenchmarkScheduleSingleChip(b *testing.B) {
	t := benchTopo(b, "atlas950-superpod.yaml")
	prof := DefaultProfile()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st := state.NewMemStore(t, nil, 0)
	for i := range 1000 {
		if err := st.Submit(benchJob(fmt.Sprintf("j%d", i), 1, 1, now)); err != nil {
			b.Fatal(err)
		}
	}
	snap, _ := st.Snapshot(now)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for b.Loop() {
		plan, _ := sched.Schedule(snap, now, rng, prof)
		if len(plan.Start) != 1000 {
			b.Fatalf("placed %d of 1000", len(plan.Start))
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "placements/s")
}

// BenchmarkScheduleGang1024 decides one 1,024-chip gang (128 ranks of 8) on
// the SuperPoD with half of its boards busy.
func BenchmarkScheduleGang1024(b *testing.B) {
	t := benchTopo(b, "atlas950-superpod.yaml")
	prof := DefaultProfile()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st := state.NewMemStore(t, nil, 0)
	for i := range 512 {
		if err := st.Submit(benchJob(fmt.Sprintf("fill%d", i), 1, 8, now)); err != nil {
			b.Fatal(err)
		}
	}
	snap, _ := st.Snapshot(now)
	plan, _ := sched.Schedule(snap, now, rand.New(rand.NewPCG(1, 1)), prof)
	if err := st.Apply(plan, now); err != nil {
		b.Fatal(err)
	}
	base, _ := st.Snapshot(now)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for b.Loop() {
		s := *base
		s.Pending = []*sched.Job{benchJob("gang", 128, 8, now)}
		plan, _ := sched.Schedule(&s, now, rng, prof)
		if len(plan.Start) != 1 {
			b.Fatal("gang not placed")
		}
	}
}
