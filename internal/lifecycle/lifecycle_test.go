package lifecycle

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/job"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func code(c int) *int { return &c }

func tp(t time.Time) *time.Time { return &t }

func ints(v int) *int { return &v }

// running returns a job placed on nodes with every rank up at second 1.
func running(p job.RestartPolicy, nodes ...string) Job {
	j := New(p)
	mustApply(&j, Event{Kind: EvPlaced, At: at(0), Nodes: nodes})
	for r := range nodes {
		mustApply(&j, Event{Kind: EvRankStarted, At: at(1), Rank: r})
	}
	return j
}

func mustApply(j *Job, ev Event) Actions {
	a, err := j.Apply(ev)
	if err != nil {
		panic(err)
	}
	return a
}

func TestTransitions(t *testing.T) {
	def := job.RestartPolicy{}
	never := job.RestartPolicy{MaxRestarts: ints(0)}
	type step struct {
		ev   Event
		want Actions
	}
	tests := []struct {
		name    string
		start   Job
		steps   []step
		state   State
		attempt int
		hist    []Attempt
	}{{
		name:  "all ranks exit 0: succeeded, allocation released",
		start: running(def, "n0", "n1"),
		steps: []step{
			{Event{Kind: EvRankExited, At: at(5), Rank: 0, ExitCode: code(0)}, Actions{Changed: true}},
			{Event{Kind: EvRankExited, At: at(6), Rank: 1, ExitCode: code(0)}, Actions{Release: true, Done: true, Changed: true}},
		},
		state: Succeeded,
	}, {
		name:  "rank crash restarts in place after the backoff",
		start: running(def, "n0", "n1"),
		steps: []step{
			{Event{Kind: EvRankExited, At: at(5), Rank: 1, ExitCode: code(3)}, Actions{Stop: []int{0}, Changed: true}},
			{Event{Kind: EvRankGone, At: at(6), Rank: 0}, Actions{Changed: true}},
			{Event{Kind: EvTick, At: at(14)}, Actions{}},
			{Event{Kind: EvTick, At: at(15)}, Actions{Launch: true, Changed: true}},
			{Event{Kind: EvRankStarted, At: at(16), Rank: 0}, Actions{Changed: true}},
			{Event{Kind: EvRankStarted, At: at(17), Rank: 1}, Actions{Changed: true}},
		},
		state: Running, attempt: 1,
		hist: []Attempt{{Attempt: 0, Nodes: []string{"n0", "n1"}, StartedAt: at(0), EndedAt: tp(at(6)), Cause: job.CauseRankFailed,
			Detail: "rank 1 on n1 exited with code 3", DetectedAt: at(5), RecoveredAt: tp(at(17)), Path: InPlace,
			Why: "the rank's own process failed on a healthy node: every rank restarts on the chips it holds", Lost: []int{1}}},
	}, {
		name:  "node lost: survivors stop and keep their chips, only the lost rank is re-placed",
		start: running(def, "n0", "n1"),
		steps: []step{
			{Event{Kind: EvNodeLost, At: at(5), Node: "n1"}, Actions{Stop: []int{0}, Changed: true}},
			{Event{Kind: EvRankExited, At: at(6), Rank: 0, Signal: "SIGTERM"}, Actions{Changed: true}},
			{Event{Kind: EvTick, At: at(15)}, Actions{ReleaseRanks: []int{1}, Place: &Request{Lost: []int{1}, Pinned: []int{0}, Nodes: []string{"n1"}}, Changed: true}},
			{Event{Kind: EvPlaced, At: at(16), Nodes: []string{"n0", "n2"}}, Actions{Launch: true, Changed: true}},
			{Event{Kind: EvRankStarted, At: at(17), Rank: 0}, Actions{Changed: true}},
			{Event{Kind: EvRankStarted, At: at(18), Rank: 1}, Actions{Changed: true}},
		},
		state: Running, attempt: 1,
		hist: []Attempt{{Attempt: 0, Nodes: []string{"n0", "n1"}, StartedAt: at(0), EndedAt: tp(at(6)), Cause: job.CauseNodeLost,
			Detail: "node n1 lost", DetectedAt: at(5), RecoveredAt: tp(at(18)), Path: Replace, Why: whyReplace,
			Lost: []int{1}, Replaced: []Move{{Rank: 1, From: "n1", To: "n2"}}}},
	}, {
		name:  "node lost, no room near the survivors: the scheduler placed the whole gang again",
		start: running(def, "n0", "n1"),
		steps: []step{
			{Event{Kind: EvNodeLost, At: at(5), Node: "n1"}, Actions{Stop: []int{0}, Changed: true}},
			{Event{Kind: EvRankGone, At: at(6), Rank: 0}, Actions{Changed: true}},
			{Event{Kind: EvTick, At: at(15)}, Actions{ReleaseRanks: []int{1}, Place: &Request{Lost: []int{1}, Pinned: []int{0}, Nodes: []string{"n1"}}, Changed: true}},
			{Event{Kind: EvPlaced, At: at(16), Nodes: []string{"n3", "n4"}}, Actions{Launch: true, Changed: true}},
		},
		state: Starting, attempt: 1,
		hist: []Attempt{{Attempt: 0, Nodes: []string{"n0", "n1"}, StartedAt: at(0), EndedAt: tp(at(6)), Cause: job.CauseNodeLost,
			Detail: "node n1 lost", DetectedAt: at(5), Path: Replace, Why: whyReplace + "; no room near the survivors: the whole gang was placed again",
			Lost: []int{1}, Replaced: []Move{{Rank: 0, From: "n0", To: "n3"}, {Rank: 1, From: "n1", To: "n4"}}}},
	}, {
		name:  "a survivor's node lost while the lost rank waits: everything released, whole gang re-placed",
		start: running(def, "n0", "n1"),
		steps: []step{
			{Event{Kind: EvNodeLost, At: at(5), Node: "n1"}, Actions{Stop: []int{0}, Changed: true}},
			{Event{Kind: EvRankGone, At: at(6), Rank: 0}, Actions{Changed: true}},
			{Event{Kind: EvTick, At: at(15)}, Actions{ReleaseRanks: []int{1}, Place: &Request{Lost: []int{1}, Pinned: []int{0}, Nodes: []string{"n1"}}, Changed: true}},
			{Event{Kind: EvNodeLost, At: at(20), Node: "n0"}, Actions{Release: true, Place: &Request{Whole: true}, Changed: true}},
		},
		state: Recovering, attempt: 1,
	}, {
		name:  "every rank's node lost: the whole gang is re-placed",
		start: running(def, "n0", "n0"),
		steps: []step{
			{Event{Kind: EvNodeLost, At: at(5), Node: "n0"}, Actions{Changed: true}},
			{Event{Kind: EvTick, At: at(15)}, Actions{Release: true, Place: &Request{Whole: true, Lost: []int{0, 1}, Nodes: []string{"n0"}}, Changed: true}},
		},
		state: Recovering, attempt: 1,
	}, {
		name:  "maxRestarts 0: a crash fails the job with its history",
		start: running(never, "n0"),
		steps: []step{
			{Event{Kind: EvRankExited, At: at(5), Rank: 0, ExitCode: code(1)}, Actions{Release: true, Done: true, Changed: true}},
		},
		state: Failed,
		hist: []Attempt{{Attempt: 0, Nodes: []string{"n0"}, StartedAt: at(0), EndedAt: tp(at(5)), Cause: job.CauseRankFailed,
			Detail: "rank 0 on n0 exited with code 1", DetectedAt: at(5), Path: GiveUp,
			Why: "the restart policy allows 0 restarts and 0 were used", Lost: []int{0}}},
	}, {
		name:  "process group gone without a status: rank-failed, restarts in place",
		start: running(def, "n0"),
		steps: []step{
			{Event{Kind: EvRankExited, At: at(5), Rank: 0, Detail: GroupGone}, Actions{Changed: true}},
		},
		state: Recovering,
		hist: []Attempt{{Attempt: 0, Nodes: []string{"n0"}, StartedAt: at(0), EndedAt: tp(at(5)), Cause: job.CauseRankFailed,
			Detail: "rank 0 on n0 vanished: its process group is gone without an exit status", DetectedAt: at(5), Path: InPlace,
			Why: "the rank's own process failed on a healthy node: every rank restarts on the chips it holds", Lost: []int{0}}},
	}, {
		name:  "a chip breaks while a crashed rank waits to restart in place: re-placed instead, the chip the cause",
		start: running(def, "n0", "n1"),
		steps: []step{
			{Event{Kind: EvRankExited, At: at(5), Rank: 0, ExitCode: code(1)}, Actions{Stop: []int{1}, Changed: true}},
			{Event{Kind: EvDeviceUnhealthy, At: at(6), Node: "n1", Ranks: []int{1}}, Actions{Changed: true}},
			{Event{Kind: EvRankGone, At: at(7), Rank: 1}, Actions{Changed: true}},
			{Event{Kind: EvTick, At: at(15)}, Actions{ReleaseRanks: []int{1}, Place: &Request{Lost: []int{1}, Pinned: []int{0}, Nodes: []string{"n1"}}, Changed: true}},
		},
		state: Recovering, attempt: 1,
		hist: []Attempt{{Attempt: 0, Nodes: []string{"n0", "n1"}, StartedAt: at(0), EndedAt: tp(at(7)), Cause: job.CauseDeviceUnhealthy,
			Detail: "a chip of rank 1 on n1 is unhealthy (first seen as: rank 0 on n0 exited with code 1)", DetectedAt: at(5), Path: Replace,
			Why:  "the restart in place was due when a chip of rank 1 on n1 is unhealthy: the broken ranks are placed again, next to the others",
			Lost: []int{1}}},
	}, {
		name:  "signal not in the policy: fails",
		start: running(def, "n0"),
		steps: []step{
			{Event{Kind: EvRankExited, At: at(5), Rank: 0, Signal: "SIGKILL"}, Actions{Release: true, Done: true, Changed: true}},
		},
		state: Failed,
		hist: []Attempt{{Attempt: 0, Nodes: []string{"n0"}, StartedAt: at(0), EndedAt: tp(at(5)), Cause: job.CauseRankSignaled,
			Detail: "rank 0 on n0 was killed by SIGKILL", DetectedAt: at(5), Path: GiveUp,
			Why: "the restart policy does not restart on rank-signaled", Lost: []int{0}}},
	}, {
		name:  "node lost during a preemption's grace period: requeued, no restart counted",
		start: running(def, "n0", "n1"),
		steps: []step{
			{Event{Kind: EvPreempted, At: at(5), EvictAt: at(35), Detail: "preempted by j-2"}, Actions{Stop: []int{0, 1}, Changed: true}},
			{Event{Kind: EvNodeLost, At: at(7), Node: "n1"}, Actions{Changed: true}},
			{Event{Kind: EvRankGone, At: at(8), Rank: 0}, Actions{Release: true, Place: &Request{Whole: true}, Changed: true}},
		},
		state: Pending, attempt: 1,
		hist: []Attempt{{Attempt: 0, Nodes: []string{"n0", "n1"}, StartedAt: at(0), EndedAt: tp(at(8)), Cause: job.CausePreempted,
			Detail: "preempted by j-2; node n1 lost during the grace period", DetectedAt: at(5), Path: Requeue,
			Why: "the scheduler preempted the job; it returns to the queue and keeps its submission time", Lost: []int{1}}},
	}, {
		name:  "cancel while recovering waits for survivors, then cancelled",
		start: running(def, "n0", "n1"),
		steps: []step{
			{Event{Kind: EvNodeLost, At: at(5), Node: "n0"}, Actions{Stop: []int{1}, Changed: true}},
			{Event{Kind: EvCancelled, At: at(6)}, Actions{Stop: []int{1}, Changed: true}},
			{Event{Kind: EvRankGone, At: at(7), Rank: 1}, Actions{Release: true, Done: true, Changed: true}},
		},
		state: Cancelled,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.start
			for i, s := range tc.steps {
				got, err := j.Apply(s.ev)
				if err != nil {
					t.Fatalf("step %d (%s): %v", i, s.ev.Kind, err)
				}
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Errorf("step %d (%s) actions (-want +got):\n%s", i, s.ev.Kind, diff)
				}
			}
			if j.State != tc.state || j.Attempt != tc.attempt {
				t.Errorf("ended %s attempt %d (%s); want %s attempt %d", j.State, j.Attempt, j.Reason, tc.state, tc.attempt)
			}
			if tc.hist != nil {
				if diff := cmp.Diff(tc.hist, j.History); diff != "" {
					t.Errorf("history (-want +got):\n%s", diff)
				}
			}
		})
	}
}

const whyReplace = "a node or chip of the gang broke: the survivors keep their chips and only the broken ranks are placed again, next to them (spares first); the whole gang when no room is left there"

func TestGiveUpAfterMaxRestarts(t *testing.T) {
	j := running(job.RestartPolicy{MaxRestarts: ints(2), Backoff: job.Duration(time.Second)}, "n0")
	now := 1
	for i := 0; ; i++ {
		now++
		mustApply(&j, Event{Kind: EvRankExited, At: at(now), Rank: 0, ExitCode: code(1)})
		if j.State == Failed {
			break
		}
		if j.State != Recovering {
			t.Fatalf("after crash %d: %s", i, j.State)
		}
		now += 10
		if a := mustApply(&j, Event{Kind: EvTick, At: at(now)}); !a.Launch {
			t.Fatalf("after crash %d and the backoff: no launch (%s)", i, j.Reason)
		}
		mustApply(&j, Event{Kind: EvRankStarted, At: at(now), Rank: 0})
	}
	if j.Attempt != 2 || len(j.History) != 3 || j.History[2].Path != GiveUp {
		t.Fatalf("attempt %d, history %+v; want attempt 2 and 3 entries, the last giving up", j.Attempt, j.History)
	}
}

func TestReservationAndStartTime(t *testing.T) {
	j := New(job.RestartPolicy{})
	j.Reserved = at(0)
	mustApply(&j, Event{Kind: EvPlaced, At: at(3), Nodes: []string{"n0"}})
	if !j.Reserved.IsZero() || !j.PlacedAt.Equal(at(3)) {
		t.Fatalf("after placement: reserved %v, placed at %v; want no reservation, placed at %v", j.Reserved, j.PlacedAt, at(3))
	}
	if _, err := j.Apply(Event{Kind: EvPlaced, At: at(4), Nodes: []string{"n1"}}); err == nil {
		t.Fatal("placing a placed job succeeded")
	}
}
