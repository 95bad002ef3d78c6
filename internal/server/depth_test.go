package server

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
)

// TestTriggeredDepth: a triggered cycle tries only the first
// TriggeredDepth pending jobs, so the jobs past it keep the explanation
// they had and are not started even when they fit; a full cycle (the
// ticker's, or Cycle) places a job deep in the queue that fits.
func TestTriggeredDepth(t *testing.T) {
	e := newEnvWith(t, "", func(c *Config) {
		prof := *plugins.DefaultProfile()
		prof.Backfill.Mode = "off" // no reservation holds the free chips
		c.Profile = &prof
		c.TriggeredDepth = 2
	})
	ctx := context.Background()
	e.register("n0", "b0")
	e.register("n1", "b1")
	x := e.submit(8)
	e.srv.Cycle()
	if got := e.job(x.ID).State; got == api.JobPending {
		t.Fatalf("%s is %s after a full cycle", x.ID, got)
	}
	// Four gangs of 16 chips wait for the 8 chips running x; behind
	// them one chip would fit.
	var big []api.Job
	for range 4 {
		big = append(big, e.submit(16))
	}
	e.srv.Cycle()
	explain := func(id string) []api.Record {
		t.Helper()
		ex, err := e.c.ExplainJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ex.Records
	}
	before := map[string][]api.Record{}
	for _, j := range big {
		if before[j.ID] = explain(j.ID); len(before[j.ID]) == 0 {
			t.Fatalf("%s unexplained after a full cycle", j.ID)
		}
	}
	small := e.submit(1)

	e.srv.cycle(e.srv.depth(false)) // a kick within CycleEvery of the last full cycle
	if got := e.job(small.ID).State; got != api.JobPending {
		t.Errorf("%s is %s after a triggered cycle of depth 2, want pending (past the depth)", small.ID, got)
	}
	if recs := explain(small.ID); len(recs) != 1 || recs[0].Reason != sched.ReasonNotConsidered {
		t.Errorf("%s is past the depth but explained: %+v, want only %s", small.ID, recs, sched.ReasonNotConsidered)
	}
	for _, j := range big {
		if diff := cmp.Diff(before[j.ID], explain(j.ID)); diff != "" {
			t.Errorf("%s: explanation changed by the triggered cycle (-before +after):\n%s", j.ID, diff)
		}
	}

	e.srv.Cycle()
	if got := e.job(small.ID).State; got == api.JobPending {
		t.Errorf("%s still pending after a full cycle: %+v", small.ID, explain(small.ID))
	}
}

// TestCycleDepth: the loop's cycles are full on the ticker, and on a kick
// when no full cycle began within CycleEvery (by the server's clock), else
// TriggeredDepth deep; a triggered cycle that reaches every pending job
// counts as full.
func TestCycleDepth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		depth  int // Config.TriggeredDepth
		want   int // depth of a kick right after a full cycle
		reject bool
	}{
		{name: "default", depth: 0, want: DefaultTriggeredDepth},
		{name: "set", depth: 3, want: 3},
		{name: "all", depth: -1, want: 0},
		{name: "negative", depth: -2, reject: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reject {
				_, err := New(Config{Pool: testPool(t), Profile: plugins.DefaultProfile(), DataDir: t.TempDir(), TriggeredDepth: tc.depth})
				if err == nil {
					t.Fatalf("TriggeredDepth %d accepted", tc.depth)
				}
				return
			}
			e := newEnvWith(t, "", func(c *Config) { c.TriggeredDepth = tc.depth })
			s := e.srv
			if got := s.depth(false); got != 0 {
				t.Errorf("first kick: depth %d, want 0 (no full cycle yet)", got)
			}
			s.Cycle()
			if got := s.depth(false); got != tc.want {
				t.Errorf("kick after a full cycle: depth %d, want %d", got, tc.want)
			}
			if got := s.depth(true); got != 0 {
				t.Errorf("tick: depth %d, want 0", got)
			}
			e.clock.Advance(s.cfg.CycleEvery - time.Nanosecond)
			if got := s.depth(false); got != tc.want {
				t.Errorf("kick just within CycleEvery: depth %d, want %d", got, tc.want)
			}
			e.clock.Advance(time.Nanosecond)
			if got := s.depth(false); got != 0 {
				t.Errorf("kick CycleEvery after the last full cycle: depth %d, want 0", got)
			}
			// Nothing is pending: a triggered cycle reaches every job and
			// counts as full.
			s.cycle(max(tc.want, 1))
			if got := s.depth(false); got != tc.want {
				t.Errorf("kick after a triggered cycle that tried every job: depth %d, want %d", got, tc.want)
			}
		})
	}
}
