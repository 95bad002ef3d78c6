package schedtest_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/job/jobtest"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/schedtest"
)

func TestMake(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		got  *sched.Job
		want *sched.Job
	}{
		{"minimal", schedtest.Make("a").Obj(),
			&sched.Job{ID: "a", Queue: "default", Ranks: 1, RankMilli: pool.Full}},
		{"every field", schedtest.Make("b").Queue("org/t").Priority(3).Submitted(at).Ranks(4).Chips(8).
			Kinds("H100", "H200").MinHBM(80).Resources(2000, 4096).Plan(8, 1, 4, 1).Duration(time.Hour).
			Checkpoint(10 * time.Minute).Obj(),
			&sched.Job{ID: "b", Queue: "org/t", Priority: 3, Submitted: at, Ranks: 4, RankMilli: 8000,
				Kinds: []string{"H100", "H200"}, MinHBMGiB: 80, CPUMilli: 2000, MemoryMiB: 4096,
				Plan: job.Parallelism{Tensor: 8, Pipeline: 1, Data: 4, Expert: 1}, Duration: time.Hour,
				CheckpointInterval: 10 * time.Minute}},
		{"a share", schedtest.Make("c").Milli(250).Obj(),
			&sched.Job{ID: "c", Queue: "default", Ranks: 1, RankMilli: 250}},
		{"from a spec", schedtest.From("d", jobtest.Make("d").Chips("910C", 16).Ranks(2).Duration(time.Hour), at).Obj(),
			&sched.Job{ID: "d", Queue: "default", Submitted: at, Ranks: 2, RankMilli: 8000, Kinds: []string{"910C"},
				Plan: job.Parallelism{Tensor: 1, Pipeline: 1, Data: 16, Expert: 1}, Duration: time.Hour}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

// TestObjSharesNothing: changing a built job leaves the wrapper's next job
// as it was.
func TestObjSharesNothing(t *testing.T) {
	p := &pool.Placement{Kinds: []pool.KindID{0}, Ranks: []pool.Claim{{Host: 1}}}
	w := schedtest.Make("a").Kinds("H100").Running(p, time.Time{})
	a := w.Obj()
	a.Kinds[0] = "x"
	a.Placement.Ranks[0].Host = 9
	b := w.Obj()
	if b.Kinds[0] != "H100" || b.Placement.Ranks[0].Host != 1 {
		t.Errorf("a change to one built job reached the next: %+v %+v", b.Kinds, b.Placement)
	}
}
