package lifecycle

import (
	"slices"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/job"
)

// A driver may report a whole gang's ranks in one event; the outcome is
// the same as one event per rank.
func TestRankEventsForManyRanks(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := New(job.RestartPolicy{})
	if _, err := j.Apply(Event{Kind: EvPlaced, At: t0, Nodes: []string{"a", "b", "c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Apply(Event{Kind: EvRankStarted, At: t0, Ranks: []int{0, 1}}); err != nil {
		t.Fatal(err)
	}
	if j.State != Starting {
		t.Fatalf("state %s after two of three ranks started, want starting", j.State)
	}
	if _, err := j.Apply(Event{Kind: EvRankStarted, At: t0, Ranks: []int{2}}); err != nil {
		t.Fatal(err)
	}
	if j.State != Running {
		t.Fatalf("state %s, want running", j.State)
	}
	a, err := j.Apply(Event{Kind: EvNodeLost, At: t0.Add(time.Hour), Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Stop) != 2 {
		t.Fatalf("stop %v, want the two survivors", a.Stop)
	}
	a, err = j.Apply(Event{Kind: EvRankGone, At: t0.Add(time.Hour + time.Minute), Ranks: a.Stop})
	if err != nil {
		t.Fatal(err)
	}
	if a.Place == nil || !a.Release && !slices.Equal(a.ReleaseRanks, []int{1}) {
		t.Fatalf("actions %+v after every survivor stopped, want the lost rank (or every rank) released and a placement", a)
	}
}

// The backoff doubles while attempts fail soon after they run, and starts
// over after an attempt ran StableRun.
func TestBackoffStartsOverAfterAStableRun(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	max := 100
	j := New(job.RestartPolicy{MaxRestarts: &max})
	now := t0
	var waits []time.Duration
	for _, ran := range []time.Duration{time.Minute, time.Minute, time.Minute, time.Hour, time.Minute} {
		if _, err := j.Apply(Event{Kind: EvPlaced, At: now, Nodes: []string{"a", "b"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := j.Apply(Event{Kind: EvRankStarted, At: now, Ranks: []int{0, 1}}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(ran)
		a, err := j.Apply(Event{Kind: EvNodeLost, At: now, Node: "a"})
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, j.RestartAt.Sub(now))
		if _, err := j.Apply(Event{Kind: EvRankGone, At: now, Ranks: a.Stop}); err != nil {
			t.Fatal(err)
		}
		now = j.RestartAt
		if _, err := j.Apply(Event{Kind: EvTick, At: now}); err != nil {
			t.Fatal(err)
		}
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 10 * time.Second, 20 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", waits, want)
		}
	}
}
