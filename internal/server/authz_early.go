package server

import (
	"context"
	"net/http"

	"github.com/qunhq/qun/internal/auth"
)

// The audit entry of a mutating request is written before its answer. A
// handler that knows its result before it waits for the state commit (a
// submission: accepted, waiting for its batch) enqueues the entry then
// (auditEarly), so the audit log's fsync runs beside the state's instead of
// after it; the security layer (secure) still returns only once the entry
// is durable, so the answer follows both fsyncs. When the request ends
// with another status than the one audited early (the state commit
// failed), a second entry records the status actually answered.

// earlyAudit is what auditEarly leaves for secure.
type earlyAudit struct {
	who    *string // set by authorize
	queued bool
	status int
	batch  uint64
	err    error
}

type earlyKey struct{}

// withEarlyAudit returns r carrying an earlyAudit for its handler.
func withEarlyAudit(r *http.Request, who *string) (*http.Request, *earlyAudit) {
	ea := &earlyAudit{who: who}
	return r.WithContext(context.WithValue(r.Context(), earlyKey{}, ea)), ea
}

// auditEarly enqueues the audit entry of r answering status, when the
// security layer audits r. Handlers call it once, before awaiting the
// state commit of their change.
func (s *Server) auditEarly(r *http.Request, status int) {
	ea, ok := r.Context().Value(earlyKey{}).(*earlyAudit)
	if !ok || ea.queued || s.cfg.Auth == nil || s.cfg.Auth.Audit == nil {
		return
	}
	ea.queued, ea.status = true, status
	ea.batch, ea.err = s.cfg.Auth.Audit.Enqueue(s.auditEntry(r, *ea.who, status))
}

// finishAudit makes the audit entry of a request durable: the one
// enqueued early when its status is the one answered, else (also) a new
// one.
func (s *Server) finishAudit(r *http.Request, ea *earlyAudit, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	if !ea.queued {
		s.audit(r, *ea.who, status)
		return
	}
	err := ea.err
	if err == nil {
		err = s.cfg.Auth.Audit.Wait(ea.batch)
	}
	if err != nil {
		s.auditFailed(err)
		return
	}
	if status != ea.status {
		s.audit(r, *ea.who, status)
	}
}

func (s *Server) auditFailed(err error) {
	s.log.Error("audit log failed; refusing mutating requests", "err", err)
	s.authz.mu.Lock()
	s.authz.auditErr = err
	s.authz.mu.Unlock()
}

// auditEntry is the entry of r answered with status.
func (s *Server) auditEntry(r *http.Request, who string, status int) auth.Entry {
	result := "ok"
	if status >= 400 {
		result = codeOfStatus(status)
	}
	return auth.Entry{Time: s.clock.Now().UTC(), Who: who, Action: r.Method + " " + r.URL.Path, Status: status, Result: result}
}
