package fault

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestEscalate(t *testing.T) {
	rule := Escalation{Count: 3, Window: time.Hour, Level: IsolateDevice}
	at := func(m ...int) []time.Time {
		var out []time.Time
		for _, x := range m {
			out = append(out, t0.Add(time.Duration(x)*time.Minute))
		}
		return out
	}
	cases := map[string]struct {
		rule    Escalation
		level   Level
		earlier []time.Time
		now     int
		want    Level
		kept    []time.Time
	}{
		"first fault":            {rule, RestartJob, nil, 0, RestartJob, at(0)},
		"third within window":    {rule, RestartJob, at(0, 30), 50, IsolateDevice, at(0, 30, 50)},
		"old ones dropped":       {rule, ResetDevice, at(0, 30), 65, ResetDevice, at(30, 65)},
		"ignore does not count":  {rule, Ignore, at(0, 30), 50, Ignore, at(0, 30)},
		"never lowers":           {rule, IsolateNode, at(0, 30), 50, IsolateNode, at(0, 30, 50)},
		"disabled":               {Escalation{}, ResetDevice, at(0, 1), 2, ResetDevice, at(2)},
		"exactly window is gone": {rule, RestartJob, at(0, 30), 60, RestartJob, at(30, 60)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, kept := Escalate(c.rule, c.level, c.earlier, t0.Add(time.Duration(c.now)*time.Minute))
			if got != c.want {
				t.Errorf("level %s, want %s", got, c.want)
			}
			if diff := cmp.Diff(c.kept, kept); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrackerCountsOccurrencesNotPolls(t *testing.T) {
	tr := NewTracker(Default()) // fake: 3 within 10m → isolate-device
	poll := func(min int, cur map[int][]Seen) map[int]Status {
		return tr.Observe(t0.Add(time.Duration(min)*time.Minute), cur)
	}
	// A standing condition polled many times is one occurrence.
	for m := range 5 {
		st := poll(m, map[int][]Seen{2: {{Code: "fake:restart-job", Count: 1}}})
		want := map[int]Status{2: {Level: RestartJob, Codes: []string{"fake:restart-job"}, Reason: "fake:restart-job: injected, the job on the chip restarts"}}
		if diff := cmp.Diff(want, st); diff != "" {
			t.Fatalf("poll %d (-want +got):\n%s", m, diff)
		}
	}
	// Healed, then faulting again twice: the third occurrence escalates,
	// and the escalation outlives the fault until the window passes.
	poll(5, nil)
	poll(6, map[int][]Seen{2: {{Code: "fake:restart-job", Count: 1}}})
	poll(7, nil)
	st := poll(8, map[int][]Seen{2: {{Code: "fake:restart-job", Count: 1}}})
	if st[2].Level != IsolateDevice || st[2].Healthy() {
		t.Fatalf("after 3 occurrences in 10m: %+v, want isolate-device", st[2])
	}
	if st := poll(9, nil); st[2].Level != IsolateDevice || len(st[2].Codes) != 0 {
		t.Errorf("escalation dropped when the code cleared: %+v", st[2])
	}
	if st := poll(30, nil); len(st) != 0 {
		t.Errorf("escalation outlived its window: %+v", st)
	}
}

func TestTrackerEventCounts(t *testing.T) {
	tr := NewTracker(Default()) // xid: 3 within 24h
	st := tr.Observe(t0, map[int][]Seen{0: {{Code: "xid:13", Count: 1}}, 1: {{Code: "xid:45", Count: 7}}})
	if st[0].Level != RestartJob || st[1].Level != Ignore {
		t.Fatalf("first poll %+v", st)
	}
	// Two more Xid 13 events on device 0 between polls: escalated.
	st = tr.Observe(t0.Add(time.Minute), map[int][]Seen{0: {{Code: "xid:13", Count: 3}}, 1: {{Code: "xid:45", Count: 70}}})
	if st[0].Level != IsolateDevice {
		t.Errorf("device 0 after 3 Xid 13: %+v, want isolate-device", st[0])
	}
	if st[1].Level != Ignore {
		t.Errorf("ignored Xid 45 escalated: %+v", st[1])
	}
	// The worst code decides.
	st = tr.Observe(t0.Add(2*time.Minute), map[int][]Seen{5: {{Code: "xid:13", Count: 1}, {Code: "xid:79", Count: 1}}})
	if st[5].Level != IsolateNode || st[5].Reason != "xid:79: GPU has fallen off the bus; the machine needs a reboot" {
		t.Errorf("device 5: %+v", st[5])
	}
}
