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

// mutation is what the security layer and the handler of one mutating
// request tell each other, carried in the request's context.
type mutation struct {
	sw  statusWriter // the answer, whose status is audited
	who string       // set by authorize, for the audit entry
	// mayQueue, when set, is the queue scope of the caller: the submit
	// handler asks it once it has decoded the spec, so the body is read
	// and decoded once.
	mayQueue func(queue string) error
	// What auditEarly leaves for secure.
	queued bool
	status int
	batch  uint64
	err    error
}

type mutationKey struct{}

// withMutation returns r carrying a mutation for its handler.
func withMutation(r *http.Request) (*http.Request, *mutation) {
	m := &mutation{who: "anonymous"}
	return r.WithContext(context.WithValue(r.Context(), mutationKey{}, m)), m
}

// mutationOf returns the mutation r carries, or nil.
func mutationOf(r *http.Request) *mutation {
	m, _ := r.Context().Value(mutationKey{}).(*mutation)
	return m
}

// queueGuard returns the caller's queue check of r, or nil when any
// queue is allowed (authentication off, or an admin).
func queueGuard(r *http.Request) func(string) error {
	if m := mutationOf(r); m != nil {
		return m.mayQueue
	}
	return nil
}

// auditEarly enqueues the audit entry of r answering status, when the
// security layer audits r. Handlers call it once, before awaiting the
// state commit of their change.
func (s *Server) auditEarly(r *http.Request, status int) {
	ea := mutationOf(r)
	if ea == nil || ea.queued || s.cfg.Auth == nil || s.cfg.Auth.Audit == nil {
		return
	}
	ea.queued, ea.status = true, status
	ea.batch, ea.err = s.cfg.Auth.Audit.Enqueue(s.auditEntry(r, ea.who, status))
}

// finishAudit makes the audit entry of a request durable: the one
// enqueued early when its status is the one answered, else (also) a new
// one.
func (s *Server) finishAudit(r *http.Request, ea *mutation, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	if !ea.queued {
		s.audit(r, ea.who, status)
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
		s.audit(r, ea.who, status)
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
