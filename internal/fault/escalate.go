package fault

import (
	"fmt"
	"slices"
	"time"
)

// Escalate is frequency escalation, a pure function: given the times of a
// chip's earlier counted faults and a new fault of level at now, it returns
// the level to act on and the times to keep (those within the window,
// now included). A fault at Ignore is not counted. When the kept times
// number at least e.Count, the level is raised to e.Level (never lowered).
func Escalate(e Escalation, level Level, earlier []time.Time, now time.Time) (Level, []time.Time) {
	kept := within(e, earlier, now)
	if level == Ignore {
		return level, kept
	}
	kept = append(kept, now)
	if e.Count > 0 && len(kept) >= e.Count && e.Level > level {
		level = e.Level
	}
	return level, kept
}

// within returns the times of ts no older than e.Window at now.
func within(e Escalation, ts []time.Time, now time.Time) []time.Time {
	out := make([]time.Time, 0, len(ts)+1)
	for _, t := range ts {
		if e.Count > 0 && now.Sub(t) < e.Window {
			out = append(out, t)
		}
	}
	return out
}

// Seen is one fault code a device reports now, with how many times it has
// occurred since its reporter started (1 for a standing condition; an event
// source such as NVML's Xid events counts each event).
type Seen struct {
	Code  string
	Count int
}

// Status is a device's health after Tracker.Observe.
type Status struct {
	Level  Level
	Codes  []string // the codes reported now, sorted
	Reason string   // what decided the level, e.g. "xid:48: double-bit ECC error (DBE)"
}

// Healthy reports whether the device may receive new work.
func (s Status) Healthy() bool { return s.Level.Healthy() }

// Tracker turns each poll's fault codes into device statuses, counting new
// occurrences for escalation. Not safe for concurrent use.
type Tracker struct {
	t     *Table
	count map[int]map[string]int // device → code → last count seen
	hist  map[int][]time.Time
	rule  map[int]Escalation // the rule of the device's latest counted fault
}

// NewTracker returns a tracker over t.
func NewTracker(t *Table) *Tracker {
	return &Tracker{t: t, count: map[int]map[string]int{}, hist: map[int][]time.Time{}, rule: map[int]Escalation{}}
}

// Observe takes the codes every device reports at now (a device absent
// from current reports none) and returns the status of every device that
// has a code or an escalation in force. A code whose count grew since the
// last poll (or that is new) is an occurrence, counted for escalation;
// codes new at the same poll are one occurrence.
func (tr *Tracker) Observe(now time.Time, current map[int][]Seen) map[int]Status {
	out := map[int]Status{}
	devs := map[int]bool{}
	for d := range current {
		devs[d] = true
	}
	for d := range tr.hist {
		devs[d] = true
	}
	for d := range devs {
		prev := tr.count[d]
		counts := map[string]int{}
		st := Status{}
		var newest struct {
			n     int
			level Level
			rule  Escalation
		}
		for _, s := range current[d] {
			e := tr.t.Classify(s.Code)
			n := max(s.Count, 1)
			counts[s.Code] = n
			if !slices.Contains(st.Codes, s.Code) {
				st.Codes = append(st.Codes, s.Code)
			}
			if e.Level > st.Level || st.Reason == "" {
				st.Level, st.Reason = e.Level, fmt.Sprintf("%s: %s", s.Code, e.Name)
			}
			fresh := n - prev[s.Code]
			if fresh < 0 { // the reporter started counting again
				fresh = n
			}
			if e.Level != Ignore && fresh > newest.n {
				newest.n, newest.level, newest.rule = fresh, e.Level, tr.t.EscalationFor(s.Code)
			}
		}
		// Codes that appear together are one fault of the chip; only a
		// code that occurred several times since the last poll (events)
		// counts several times.
		for range newest.n {
			_, tr.hist[d] = Escalate(newest.rule, newest.level, tr.hist[d], now)
			tr.rule[d] = newest.rule
		}
		rule := tr.rule[d]
		tr.hist[d] = within(rule, tr.hist[d], now)
		if len(tr.hist[d]) == 0 {
			delete(tr.hist, d)
			delete(tr.rule, d)
		} else if rule.Count > 0 && len(tr.hist[d]) >= rule.Count && rule.Level > st.Level {
			st.Level = rule.Level
			st.Reason = fmt.Sprintf("escalated: %d faults within %v (escalation after %d)", len(tr.hist[d]), rule.Window, rule.Count)
		}
		if len(counts) > 0 {
			tr.count[d] = counts
		} else {
			delete(tr.count, d)
		}
		if len(st.Codes) > 0 || st.Level != Ignore {
			slices.Sort(st.Codes)
			out[d] = st
		}
	}
	return out
}
