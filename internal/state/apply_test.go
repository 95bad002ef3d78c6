package state

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/job/jobtest"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

type fakeJobs map[string]*sched.Job

// gang is the scheduler's view of a job of ranks ranks of chipsPerRank whole
// chips each, built from its spec as the server and the simulator build it.
func gang(id string, ranks, chipsPerRank int) *sched.Job {
	spec := jobtest.Make(id).Ranks(ranks).ChipsPerRank(job.Milli(chipsPerRank) * job.Whole).Obj()
	return sched.FromSpec(id, spec, time.Time{})
}

func (f fakeJobs) Pending(id string) (*sched.Job, bool) {
	j, ok := f[id]
	return j, ok && j.Placement == nil
}

func (f fakeJobs) Placed(id string) (*sched.Job, bool) {
	j, ok := f[id]
	return j, ok && j.Placement != nil
}

// TestApplyToPoolConflictsChangeNothing checks each way a plan can be stale
// or wrong: the verifier refuses it and the pool is untouched.
func TestApplyToPoolConflictsChangeNothing(t *testing.T) {
	topo, err := pool.LoadFile("../../examples/pools/ascend910-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h0, h1 := topo.Hosts()[0], topo.Hosts()[1]
	lo0, _ := topo.ChipRange(h0)
	lo1, _ := topo.ChipRange(h1)
	claim := func(h pool.DomainID, chips ...pool.ChipID) pool.Claim {
		c := pool.Claim{Host: h}
		for _, x := range chips {
			c.Grants = append(c.Grants, pool.Grant{Chip: x, Milli: pool.Full})
		}
		return c
	}
	running := gang("run", 1, 2)
	running.Placement = &pool.Placement{Ranks: []pool.Claim{claim(h0, lo0, lo0+1)}}
	two := func(id string) *sched.Job { return gang(id, 1, 2) }
	tests := map[string]struct {
		plan  sched.Plan
		ready func(pool.DomainID) error
	}{
		"start a job that is running": {plan: sched.Plan{Start: []sched.Assignment{{JobID: "run", Placement: pool.Placement{Ranks: []pool.Claim{claim(h1, lo1, lo1+1)}}}}}},
		"start an unknown job":        {plan: sched.Plan{Start: []sched.Assignment{{JobID: "ghost", Placement: pool.Placement{Ranks: []pool.Claim{claim(h1, lo1, lo1+1)}}}}}},
		"chips already taken": {plan: sched.Plan{Start: []sched.Assignment{
			{JobID: "a", Placement: pool.Placement{Ranks: []pool.Claim{claim(h1, lo1, lo1+1)}}},
			{JobID: "b", Placement: pool.Placement{Ranks: []pool.Claim{claim(h0, lo0+1, lo0+2)}}}}}},
		"wrong chip count": {plan: sched.Plan{Start: []sched.Assignment{{JobID: "a", Placement: pool.Placement{Ranks: []pool.Claim{claim(h1, lo1)}}}}}},
		"evict a pending job": {plan: sched.Plan{Evict: []sched.Eviction{{JobID: "a"}},
			Start: []sched.Assignment{{JobID: "b", Placement: pool.Placement{Ranks: []pool.Claim{claim(h1, lo1, lo1+1)}}}}}},
		"host not ready": {plan: sched.Plan{Start: []sched.Assignment{{JobID: "a", Placement: pool.Placement{Ranks: []pool.Claim{claim(h1, lo1, lo1+1)}}}}},
			ready: func(h pool.DomainID) error { return errors.New("no agent") }},
		"start twice": {plan: sched.Plan{Start: []sched.Assignment{
			{JobID: "a", Placement: pool.Placement{Ranks: []pool.Claim{claim(h1, lo1, lo1+1)}}},
			{JobID: "a", Placement: pool.Placement{Ranks: []pool.Claim{claim(h1, lo1+2, lo1+3)}}}}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := pool.NewState(topo)
			if err := st.Allocate(running.Placement.Ranks...); err != nil {
				t.Fatal(err)
			}
			before := st.Clone()
			jobs := fakeJobs{"run": running, "a": two("a"), "b": two("b")}
			err := ApplyToPool(st, &tc.plan, jobs, ApplyOptions{ReleaseEvicted: true, HostReady: tc.ready})
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			for c := 0; c < topo.NumChips(); c++ {
				if before.ChipFree(pool.ChipID(c)) != st.ChipFree(pool.ChipID(c)) {
					t.Fatalf("chip %s changed on a refused plan", topo.ChipName(pool.ChipID(c)))
				}
			}
		})
	}
}

// TestApplyToPoolEvictThenStart checks that a simulator-style plan may start
// a job on chips an eviction without grace frees, and a server-style one may
// not.
func TestApplyToPoolEvictThenStart(t *testing.T) {
	topo, err := pool.LoadFile("../../examples/pools/ascend910-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := topo.Hosts()[0]
	lo, _ := topo.ChipRange(h)
	all := pool.Claim{Host: h}
	for x := lo; x < lo+8; x++ {
		all.Grants = append(all.Grants, pool.Grant{Chip: x, Milli: pool.Full})
	}
	for _, release := range []bool{true, false} {
		st := pool.NewState(topo)
		victim := gang("v", 1, 8)
		victim.Placement = &pool.Placement{Ranks: []pool.Claim{all}}
		if err := st.Allocate(all); err != nil {
			t.Fatal(err)
		}
		plan := &sched.Plan{Evict: []sched.Eviction{{JobID: "v"}}, Start: []sched.Assignment{{JobID: "p", Placement: pool.Placement{Ranks: []pool.Claim{all}}}}}
		err := ApplyToPool(st, plan, fakeJobs{"v": victim, "p": gang("p", 1, 8)}, ApplyOptions{ReleaseEvicted: release})
		if got, want := err == nil, release; got != want {
			t.Errorf("ReleaseEvicted=%v: err = %v", release, err)
		}
		if diff := cmp.Diff(0, st.FreeChips(h)); diff != "" {
			t.Errorf("ReleaseEvicted=%v: free chips on the host (-want +got):\n%s", release, diff)
		}
	}
}
