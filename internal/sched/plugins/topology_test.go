package plugins_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
)

// TestPluginInProfile runs a scheduling cycle whose profile places with
// "topology": the gang starts, its tensor groups sit on single nodes, and
// the explanation carries the placement record.
func TestPluginInProfile(t *testing.T) {
	prof, err := sched.LoadProfile("p.yaml", []byte(`name: topo
queueSort: {name: priority-fairshare}
filters: [{name: fits}]
place: {name: topology, args: {fragWeight: 0.1}}
`), plugins.Default())
	if err != nil {
		t.Fatal(err)
	}
	if prof.Place.Name() != place.Name {
		t.Fatalf("place plugin %q", prof.Place.Name())
	}
	topo, err := pool.LoadFile("../../../examples/pools/dgx-h100-superpod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := &sched.Job{ID: "g", Queue: "default", Ranks: 16, RankMilli: 1000, Plan: job.Parallelism{Tensor: 8, Data: 2}, Submitted: now}
	snap := &sched.Snapshot{Pool: pool.NewState(topo), Pending: []*sched.Job{j}, Queues: []sched.Queue{{Name: "default", Weight: 1}}}
	plan, ex := sched.Schedule(snap, now, rand.New(rand.NewPCG(1, 2)), prof)
	if len(plan.Start) != 1 {
		t.Fatalf("plan %+v, explanation %+v", plan, ex)
	}
	ranks := plan.Start[0].Placement.Ranks
	for g := range 2 {
		for _, cl := range ranks[8*g : 8*g+8] {
			if cl.Host != ranks[8*g].Host {
				t.Fatalf("tensor group %d spans hosts", g)
			}
		}
	}
	found := false
	for _, r := range ex["g"] {
		found = found || r.Plugin == place.Name && r.Reason == place.ReasonPlaced
	}
	if !found {
		t.Errorf("explanation %+v has no %q record", ex["g"], place.ReasonPlaced)
	}
}

func TestTopologyArgs(t *testing.T) {
	reg := plugins.Default()
	if _, err := reg.Build(place.Name, map[string]any{"fragWeight": 0.2, "maxEvalChips": 1000}); err != nil {
		t.Error(err)
	}
	for _, args := range []map[string]any{{"nope": 1}, {"fragWeight": "x"}, {"fragWeight": -1.0}} {
		if _, err := reg.Build(place.Name, args); err == nil {
			t.Errorf("args %v accepted", args)
		}
	}
}
