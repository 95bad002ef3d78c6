package score_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/sched/schedtest"
	"github.com/qunhq/qun/internal/sched/score"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TestLargeHost schedules shared-GPU and whole-GPU jobs on a host of 128
// chips (pool files allow 1,024 a host) with every policy, the FGD and Qun
// ones among them, whose scorers once kept a host's chips in fixed buffers
// of 64 and panicked.
func TestLargeHost(t *testing.T) {
	data := []byte(`apiVersion: qun/v1
kind: Pool
name: large
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 5}
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
root:
  name: c
  level: cluster
  children:
    - {name: big, level: node, cpuMilli: 1024000, memoryMiB: 4194304, chips: {kind: H100, count: 128}}
    - {name: small, level: node, cpuMilli: 64000, memoryMiB: 262144, chips: {kind: H100, count: 8}}
`)
	topo, err := pool.Load("large.yaml", data, pool.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	st := pool.NewState(topo)
	big := topo.Hosts()[0]
	lo, _ := topo.ChipRange(big)
	// Leave shares of every size about, so that a share has a choice of chips.
	c := pool.Claim{Host: big}
	for i := range 100 {
		c.Grants = append(c.Grants, pool.Grant{Chip: lo + pool.ChipID(i), Milli: int32(100 * (1 + i%9))})
	}
	if err := st.Allocate(c); err != nil {
		t.Fatal(err)
	}
	w := &sched.Workload{Shapes: []sched.WorkloadShape{
		{Chips: 1, Milli: 250, CPUMilli: 1000, MemoryMiB: 1024, Weight: 0.5},
		{Chips: 1, Milli: 1000, CPUMilli: 4000, MemoryMiB: 8192, Weight: 0.3},
		{Chips: 4, Milli: 1000, CPUMilli: 8000, MemoryMiB: 16384, Weight: 0.2},
	}}
	for _, policy := range score.Policies() {
		spec, err := score.Spec(policy)
		if err != nil {
			t.Fatal(err)
		}
		prof, err := sched.BuildProfile(spec, plugins.Default(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range []*sched.Job{
			schedtest.Make("share").Milli(250).Resources(1000, 1024).Obj(),
			schedtest.Make("whole").Chips(4).Resources(8000, 16384).Obj(),
		} {
			snap := &sched.Snapshot{Pool: st, Pending: []*sched.Job{j}, Workload: w}
			var plan *sched.Plan
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s: %s job: panic: %v", policy, j.ID, r)
					}
				}()
				plan, _ = sched.Schedule(snap, t0, nil, prof)
			}()
			if plan != nil && len(plan.Start) != 1 {
				t.Errorf("%s: %s job not placed: %v", policy, j.ID, fmt.Sprint(plan))
			}
		}
	}
}
