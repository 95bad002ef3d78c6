package server

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/pool"
)

// usageSpan is one allocation of a job: from its placement to its release,
// with the thousandths of a chip it held per kind. It is stored with the
// job: the record `qun usage` adds up, which nothing else could rebuild.
type usageSpan struct {
	Start time.Time        `json:"start"`
	End   *time.Time       `json:"end,omitempty"` // nil while held
	Milli map[string]int64 `json:"milli"`         // per chip kind name
}

// openUsage starts a span for the allocation j was just given. Callers
// hold mu.
func (s *Server) openUsage(j *jobRec, now time.Time) {
	t := s.cfg.Pool
	sp := usageSpan{Start: now, Milli: map[string]int64{}}
	for _, c := range j.claims {
		for _, g := range c.Grants {
			sp.Milli[t.Kinds[t.ChipKind(g.Chip)].Name] += int64(g.Milli)
		}
	}
	j.Usage = append(j.Usage, sp)
}

// closeUsage ends j's open span. Callers hold mu.
func (s *Server) closeUsage(j *jobRec, now time.Time) {
	if n := len(j.Usage); n > 0 && j.Usage[n-1].End == nil {
		j.Usage[n-1].End = &now
	}
}

// heldSpan is one allocation as the usage reports read it: the job, its
// queue, and the thousandths of a chip it held per kind from start to end
// (now, for one still held).
type heldSpan struct {
	job, queue string
	start, end time.Time
	milli      map[string]int64
}

// heldSpans copies the stored allocation spans of the jobs keep accepts
// (every job when keep is nil), open ones ending at now: what `qun usage`
// and the dashboard's usage history both add up. Callers hold mu.
func (s *Server) heldSpans(now time.Time, keep func(*jobRec) bool) []heldSpan {
	var out []heldSpan
	for _, j := range s.jobs {
		if keep != nil && !keep(j) {
			continue
		}
		for _, u := range j.Usage {
			sp := heldSpan{job: j.ID, queue: j.Queue, start: u.Start, end: now, milli: u.Milli}
			if u.End != nil {
				sp.end = *u.End
			}
			out = append(out, sp)
		}
	}
	return out
}

// chipHours calls add with sp's chip-hours per kind within [lo, hi), and
// reports whether sp overlaps that period at all.
func (sp *heldSpan) chipHours(lo, hi time.Time, add func(kind string, hours float64)) bool {
	d := minTime(hi, sp.end).Sub(maxTime(lo, sp.start))
	if d <= 0 {
		return false
	}
	for kind, milli := range sp.milli {
		add(kind, float64(milli)/pool.Full*d.Hours())
	}
	return true
}

// Usage adds up chip-hours per queue and kind over [since, until). Zero
// times take the defaults: until now, since 24 hours before until. queue ""
// means every queue; a queue that is neither declared nor named by any job
// is not found.
func (s *Server) Usage(since, until time.Time, queue string) (api.UsageReport, error) {
	s.mu.Lock()
	now := s.clock.Now()
	known := queue == "" || s.queueDeclared(queue)
	spans := s.heldSpans(now, func(j *jobRec) bool {
		if queue != "" && j.Queue != queue {
			return false
		}
		known = true
		return true
	})
	s.mu.Unlock()
	if until.IsZero() {
		until = now
	}
	if since.IsZero() {
		since = until.Add(-24 * time.Hour)
	}
	if !since.Before(until) {
		return api.UsageReport{}, &api.Error{Code: api.CodeBadData, Message: "invalid period", Problems: []api.Problem{{Field: "since",
			Message: fmt.Sprintf("%s is not before until %s", since.Format(time.RFC3339), until.Format(time.RFC3339))}}}
	}
	if !known {
		return api.UsageReport{}, errorf(api.CodeNotFound, "no queue %q (declared: %s; or a queue some job names)", queue, strings.Join(s.queueNames(), ", "))
	}
	type key struct{ queue, kind string }
	hours := map[key]float64{}
	jobs := map[key]map[string]bool{}
	for _, sp := range spans {
		sp.chipHours(since, until, func(kind string, h float64) {
			k := key{sp.queue, kind}
			hours[k] += h
			if jobs[k] == nil {
				jobs[k] = map[string]bool{}
			}
			jobs[k][sp.job] = true
		})
	}
	out := api.UsageReport{Since: since, Until: until, Rows: []api.UsageRow{}}
	for k, h := range hours {
		out.Rows = append(out.Rows, api.UsageRow{Queue: k.queue, Kind: k.kind, ChipHours: h, Jobs: len(jobs[k])})
		out.TotalChipHours += h
	}
	sort.Slice(out.Rows, func(a, b int) bool {
		x, y := out.Rows[a], out.Rows[b]
		if x.Queue != y.Queue {
			return x.Queue < y.Queue
		}
		return x.Kind < y.Kind
	})
	return out, nil
}

func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var probs []api.Problem
	parse := func(name string) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			probs = append(probs, api.Problem{Field: name, Message: fmt.Sprintf("%q is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)", v)})
		}
		return t
	}
	since, until := parse("since"), parse("until")
	if len(probs) > 0 {
		return &api.Error{Code: api.CodeBadData, Message: "invalid usage query", Problems: probs}
	}
	v, err := s.Usage(since, until, q.Get("queue"))
	return reply(w, http.StatusOK, v, err)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
