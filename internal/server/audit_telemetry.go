package server

// This file audits node telemetry in aggregate. A successful heartbeat, a
// successful log append and a successful stream report are counted in
// memory, per caller identity and action; every AuditTelemetryEvery (and on
// Close) each count becomes one hash-chained audit entry through the same
// Append as every other entry:
//
//	Who:    "node node0"
//	Action: "POST /v1/nodes/node0/heartbeat ×57 (telemetry 2026-12-03T17:30:00Z to 2026-12-03T17:31:00Z)"
//
// Refused telemetry is audited individually, as every refused request is.
// The counters are soft state: a crash loses at most one interval of
// successful telemetry counts, never a refusal or any other change.

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// telemetryMark separates an aggregated action from its count.
const telemetryMark = " ×"

type telKey struct {
	who, action string
	status      int
}

// telemetry holds the counts of the current interval.
type telemetry struct {
	mu     sync.Mutex
	from   time.Time
	counts map[telKey]int
	closed bool // after the final flush: everything is audited individually
}

// isTelemetry reports whether a request is node telemetry.
func isTelemetry(method, path string) bool {
	return method == http.MethodPost && (strings.HasSuffix(path, "/heartbeat") || strings.HasSuffix(path, "/logs"))
}

// absorbTelemetry counts a successful telemetry request instead of
// auditing it on its own. It returns false when the request must be
// audited individually: refused, not telemetry, or after Close's flush.
func (s *Server) absorbTelemetry(who, method, path string, status int) bool {
	if status >= 400 || !isTelemetry(method, path) {
		return false
	}
	return s.countTelemetry(telKey{who, method + " " + path, status})
}

func (s *Server) countTelemetry(k telKey) bool {
	t := &s.tel
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.counts == nil {
		t.counts = map[telKey]int{}
		if t.from.IsZero() {
			t.from = s.clock.Now().UTC()
		}
	}
	t.counts[k]++
	return true
}

// streamWho is the audit identity of the caller opening a node stream.
func (s *Server) streamWho(r *http.Request) string {
	if s.cfg.Auth == nil {
		return ""
	}
	id, _ := s.identify(r)
	return id.who
}

// auditReport audits one stream report: counted when it succeeded,
// an entry of its own when it was refused.
func (ss *session) auditReport(err error) {
	s := ss.s
	if s.cfg.Auth == nil {
		return
	}
	action := "STREAM /v1/nodes/" + ss.node + "/stream report"
	if err == nil {
		if s.countTelemetry(telKey{ss.who, action, http.StatusOK}) {
			return
		}
		s.appendAudit(auth.Entry{Time: s.clock.Now().UTC(), Who: ss.who, Action: action, Status: http.StatusOK, Result: "ok"})
		return
	}
	code := api.CodeInternal
	var e *api.Error
	if errors.As(err, &e) {
		code = e.Code
	}
	s.appendAudit(auth.Entry{Time: s.clock.Now().UTC(), Who: ss.who, Action: action, Status: api.HTTPStatus(code), Result: code})
}

// telemetryLoop flushes the counts every AuditTelemetryEvery until Close.
func (s *Server) telemetryLoop() {
	defer s.wg.Done()
	tk := time.NewTicker(s.cfg.AuditTelemetryEvery)
	defer tk.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tk.C:
			s.flushTelemetry(false)
		}
	}
}

// flushTelemetry appends one entry per counted identity and action, in a
// stable order, and starts a new interval. final marks Close's flush.
func (s *Server) flushTelemetry(final bool) {
	if s.cfg.Auth == nil {
		return
	}
	t := &s.tel
	t.mu.Lock()
	now := s.clock.Now().UTC()
	counts, from := t.counts, t.from
	t.counts, t.from = nil, now
	t.closed = t.closed || final
	t.mu.Unlock()
	keys := make([]telKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.who != b.who {
			return a.who < b.who
		}
		return a.action < b.action
	})
	for _, k := range keys {
		s.appendAudit(auth.Entry{Time: now, Who: k.who, Status: k.status, Result: "ok",
			Action: fmt.Sprintf("%s%s%d (telemetry %s to %s)", k.action, telemetryMark, counts[k], from.Format(time.RFC3339), now.Format(time.RFC3339))})
	}
}

// appendAudit appends an entry; when the log fails, mutating requests are
// refused from then on, as for audit.
func (s *Server) appendAudit(e auth.Entry) {
	if err := s.cfg.Auth.Audit.Append(e); err != nil {
		s.log.Error("audit log failed; refusing mutating requests", "err", err)
		s.authz.mu.Lock()
		s.authz.auditErr = err
		s.authz.mu.Unlock()
	}
}
