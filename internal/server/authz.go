package server

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// This file is the server's security layer: who is calling (a bearer
// token, or a node's client certificate), whether they may (roles and
// queue scopes), per-token rate limits, enrolment and certificate renewal,
// token management, and the audit entry of every mutating request. It
// wraps the API handler when Config.Auth is set (Serve does so).
//
// Rules:
//   - no credentials: 401, except POST /v1/enrol (the join token is in the
//     body) and the dashboard's files (GET / and /ui/...)
//   - the session cookie (authz_session.go) stands for its token on GET and
//     HEAD only
//   - any token: the read-only views (pool map, usage) and GET /metrics
//   - a node certificate (CN node:NAME) may register, heartbeat, renew as
//     NAME only, and append logs only to jobs placed on NAME; anything else 403
//   - reader: GET of jobs in its queues, and of nodes, queues and the pool
//   - submitter: reader, plus submit and cancel in its queues (sub-queues included)
//   - admin: everything, including /v1/tokens and node removal (which also
//     revokes the node's certificates)
//   - a job outside the token's queues answers exactly as a job that does
//     not exist (404 "no job ...")

type idKind int

const (
	idNone idKind = iota
	idToken
	idNode
)

// identity is the authenticated caller of one request.
type identity struct {
	kind   idKind
	rec    *auth.Record // idToken
	node   string       // idNode: canonical host name
	serial string       // idNode
	who    string       // for the audit log
}

func (id identity) admin() bool { return id.kind == idToken && id.rec.Role == auth.RoleAdmin }

// authState is the security layer's mutable state.
type authState struct {
	limiters sync.Map // token ID → *rate.Limiter
	auditErr error    // set when the audit log failed: mutating requests are refused
	mu       sync.Mutex
}

func unauthorized(format string, args ...any) *api.Error {
	return errorf(api.CodeUnauthorized, format, args...)
}

func forbidden(format string, args ...any) *api.Error {
	return errorf(api.CodeForbidden, format, args...)
}

// identify authenticates a request. A bearer token wins over a client
// certificate.
func (s *Server) identify(r *http.Request) (identity, error) {
	a := s.cfg.Auth
	h := r.Header.Get("Authorization")
	if h == "" {
		if c, ok := sessionToken(r); ok { // authz_session.go
			h = "Bearer " + c
		}
	}
	if h != "" {
		tok, err := auth.ParseAuthorization(h)
		if err != nil {
			return identity{who: "anonymous"}, unauthorized("%v", err)
		}
		rec, err := a.Store.Authenticate(tok, s.clock.Now())
		if err != nil {
			return identity{who: "token " + tok.ID + " (rejected)"}, unauthorized("token %s: %v", tok.ID, err)
		}
		return identity{kind: idToken, rec: rec, who: "token " + rec.ID + " (" + rec.Name + ", " + rec.Role + ")"}, nil
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		c := r.TLS.PeerCertificates[0] // verified against the CA by the TLS handshake
		node, ok := auth.NodeOf(c)
		serial := auth.SerialOf(c)
		if !ok {
			return identity{who: "certificate " + serial}, unauthorized("the client certificate is not a node certificate")
		}
		if !a.Store.CertValid(node, serial) {
			return identity{who: "node " + node + " (revoked certificate " + serial + ")"}, unauthorized("the certificate of node %s (serial %s) is revoked or unknown; enrol again with a join token", node, serial)
		}
		return identity{kind: idNode, node: node, serial: serial, who: "node " + node}, nil
	}
	return identity{who: "anonymous"}, unauthorized("%v", auth.ErrNoCredentials)
}

// limit applies the token's rate limit.
func (s *Server) limit(id identity) error {
	if id.kind != idToken || id.rec.Rate <= 0 {
		return nil
	}
	v, ok := s.authz.limiters.Load(id.rec.ID)
	if !ok {
		burst := id.rec.Burst
		if burst <= 0 {
			burst = max(1, int(2*id.rec.Rate))
		}
		v, _ = s.authz.limiters.LoadOrStore(id.rec.ID, rate.NewLimiter(rate.Limit(id.rec.Rate), burst))
	}
	if !v.(*rate.Limiter).Allow() {
		return errorf(api.CodeTooManyRequests, "token %s is limited to %g requests per second", id.rec.ID, id.rec.Rate)
	}
	return nil
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// secure wraps the API handler with the security layer.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mutating := r.Method != http.MethodGet && r.Method != http.MethodHead
		if !mutating {
			if err := s.authorize(w, r, next); err != nil {
				writeError(w, r, s.log, err)
			}
			return
		}
		s.authz.mu.Lock()
		aerr := s.authz.auditErr
		s.authz.mu.Unlock()
		if aerr != nil {
			writeError(w, r, s.log, errorf(api.CodeUnavailable, "the audit log failed (%v); restart the server", aerr))
			return
		}
		r, ea := withMutation(r) // authz_early.go
		ea.sw = statusWriter{ResponseWriter: w}
		sw := &ea.sw
		if err := s.authorize(sw, r, next); err != nil {
			writeError(sw, r, s.log, err)
		}
		s.finishAudit(r, ea, sw.status)
	})
}

// audit appends the entry of a mutating request. It runs before the
// handler returns, so a small answer (all mutating answers are) is still
// buffered and reaches the client only once its entry is on disk.
// Successful heartbeats and log appends are audited in aggregate
// (audit_telemetry.go); refused ones individually.
func (s *Server) audit(r *http.Request, who string, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	p := r.URL.Path
	if s.absorbTelemetry(who, r.Method, p, status) { // audit_telemetry.go
		return
	}
	if err := s.cfg.Auth.Audit.Append(s.auditEntry(r, who, status)); err != nil {
		s.auditFailed(err)
	}
}

func codeOfStatus(status int) string {
	for _, c := range []string{api.CodeBadData, api.CodeNotFound, api.CodeConflict, api.CodeGone, api.CodeTooLarge,
		api.CodeUnavailable, api.CodeUnauthorized, api.CodeForbidden, api.CodeTooManyRequests} {
		if api.HTTPStatus(c) == status {
			return c
		}
	}
	return api.CodeInternal
}

func setWho(r *http.Request, who string) {
	if m := mutationOf(r); m != nil {
		m.who = who
	}
}

// authorize identifies the caller, checks the route's rule and serves it.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		parts = nil
	}
	route := func(method string, p ...string) bool {
		if r.Method != method || len(parts) != len(p) {
			return false
		}
		for i := range p {
			if p[i] != "*" && p[i] != parts[i] {
				return false
			}
		}
		return true
	}
	if route(http.MethodPost, "enrol") {
		return s.handleEnrol(w, r)
	}
	if route(http.MethodDelete, "session") { // ending a session needs no credentials
		return s.handleSession(w, r, identity{})
	}
	if s.cfg.Auth.Store == nil || isDashboardFile(r) { // plaintext: authentication is off
		next.ServeHTTP(w, r)
		return nil
	}
	id, err := s.identify(r)
	setWho(r, id.who)
	if err != nil {
		return err
	}
	if err := s.limit(id); err != nil {
		return err
	}
	if id.kind == idNode {
		return s.authorizeNode(w, r, next, id, route, parts)
	}
	rec := id.rec
	admin := id.admin()
	switch {
	case route(http.MethodPost, "session"):
		return s.handleSession(w, r, id)
	case route(http.MethodPost, "tokens"), route(http.MethodGet, "tokens"), route(http.MethodDelete, "tokens", "*"):
		if !admin {
			return forbidden("managing tokens needs an admin token (token %s is %s)", rec.ID, rec.Role)
		}
		return s.handleTokens(w, r, id, parts)
	case admin:
		if route(http.MethodDelete, "nodes", "*") {
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.status/100 == 2 {
				if canon, ok := s.lookupHost(parts[1]); ok {
					if err := s.cfg.Auth.Store.RevokeNode(canon); err != nil {
						s.log.Error("revoking the certificates of a removed node failed", "node", canon, "err", err)
					}
				}
			}
			return nil
		}
		next.ServeHTTP(w, r)
		return nil
	case route(http.MethodGet, "jobs"):
		q := r.URL.Query()
		l, err := s.Jobs(api.JobState(q.Get("state")), q.Get("queue"))
		if err != nil {
			return err
		}
		out := api.JobList{Jobs: []api.Job{}}
		for _, j := range l.Jobs {
			if rec.MayQueue(j.Queue) {
				out.Jobs = append(out.Jobs, j)
			}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	case route(http.MethodPost, "jobs"):
		if rec.Role != auth.RoleSubmitter {
			return forbidden("token %s (%s) may not submit jobs", rec.ID, rec.Role)
		}
		// The handler checks the spec's queue once it has decoded it
		// (before it validates it or changes anything): one read, one
		// decode. A body that is not JSON is a bad request either way.
		mutationOf(r).mayQueue = func(queue string) error {
			if !rec.MayQueue(queue) {
				return forbidden("token %s may not submit to queue %q (its queues: %s)", rec.ID, queue, strings.Join(rec.Queues, ", "))
			}
			return nil
		}
		next.ServeHTTP(w, r)
		return nil
	case len(parts) >= 2 && parts[0] == "jobs" && (route(http.MethodGet, "jobs", "*") || route(http.MethodGet, "jobs", "*", "explain") ||
		route(http.MethodGet, "jobs", "*", "logs") || route(http.MethodPost, "jobs", "*", "cancel") ||
		route(http.MethodGet, "jobs", "*", "placement") || route(http.MethodGet, "jobs", "*", "logs", "tail")):
		queue, _, ok := s.jobAccess(parts[1])
		if !ok || !rec.MayQueue(queue) {
			return errorf(api.CodeNotFound, "no job %q", parts[1]) // as for a job that does not exist
		}
		if r.Method == http.MethodPost && rec.Role != auth.RoleSubmitter {
			return forbidden("token %s (%s) may not cancel jobs", rec.ID, rec.Role)
		}
		next.ServeHTTP(w, r)
		return nil
	case r.Method == http.MethodGet && (route(http.MethodGet, "nodes") || route(http.MethodGet, "queues") || route(http.MethodGet, "pool")):
		next.ServeHTTP(w, r)
		return nil
	case r.Method == http.MethodGet && !(len(parts) > 0 && (parts[0] == "jobs" || parts[0] == "nodes")):
		// Read-only routes of other parts of the server (the pool map,
		// usage, /metrics) are open to every token, a reader's included.
		next.ServeHTTP(w, r)
		return nil
	}
	return forbidden("token %s (%s) may not %s %s", rec.ID, rec.Role, r.Method, r.URL.Path)
}

// authorizeNode serves what a node certificate may do.
func (s *Server) authorizeNode(w http.ResponseWriter, r *http.Request, next http.Handler, id identity,
	route func(string, ...string) bool, parts []string) error {
	same := func(name string) bool {
		canon, ok := s.lookupHost(name)
		return ok && canon == id.node
	}
	switch {
	case route(http.MethodPost, "nodes"):
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
		if err != nil {
			return err
		}
		req, err := DecodeRegister(body)
		if err != nil {
			return err
		}
		if !same(req.Name) {
			return forbidden("the certificate of node %s cannot register node %q", id.node, req.Name)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	case route(http.MethodPost, "nodes", "*", "heartbeat"):
		if !same(parts[1]) {
			return forbidden("the certificate of node %s cannot heartbeat as node %q", id.node, parts[1])
		}
	case route(http.MethodGet, "nodes", "*", "stream"): // the node stream (stream.go)
		if !same(parts[1]) {
			return forbidden("the certificate of node %s cannot open the stream of node %q", id.node, parts[1])
		}
	case route(http.MethodPost, "nodes", "*", "certificate"):
		if !same(parts[1]) {
			return forbidden("the certificate of node %s cannot renew node %q", id.node, parts[1])
		}
		return s.handleRenew(w, r, id)
	case route(http.MethodPost, "jobs", "*", "logs"):
		_, nodes, ok := s.jobAccess(parts[1])
		placed := false
		for _, n := range nodes {
			placed = placed || same(n)
		}
		if !ok || !placed {
			return errorf(api.CodeNotFound, "no job %q", parts[1])
		}
	case route(http.MethodGet, "pool"):
	default:
		return forbidden("a node certificate (node %s) may not %s %s", id.node, r.Method, r.URL.Path)
	}
	next.ServeHTTP(w, r)
	return nil
}

// jobAccess returns a job's queue and the nodes it is placed on.
func (s *Server) jobAccess(id string) (string, []string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return "", nil, false
	}
	nodes := make([]string, 0, len(j.Placement))
	for _, p := range j.Placement {
		nodes = append(nodes, p.Node)
	}
	return j.Queue, nodes, true
}

// DecodeEnrol strictly decodes and checks an enrolment request.
func DecodeEnrol(data []byte) (api.EnrolRequest, error) {
	var req api.EnrolRequest
	if err := decodeStrict(data, &req); err != nil {
		return req, err
	}
	var probs []api.Problem
	if req.Token == "" {
		probs = append(probs, api.Problem{Field: "token", Message: "required: a join token (qun token create --join)"})
	}
	if req.Node == "" || len(req.Node) > 253 {
		probs = append(probs, api.Problem{Field: "node", Message: fmt.Sprintf("%q: want the node's host name in the pool (1 to 253 characters)", trimForMsg(req.Node))})
	}
	if req.CSR == "" || len(req.CSR) > 16<<10 {
		probs = append(probs, api.Problem{Field: "csr", Message: "want a PEM certificate request of at most 16 KiB"})
	} else if _, err := auth.ParseCSRPEM([]byte(req.CSR)); err != nil {
		probs = append(probs, api.Problem{Field: "csr", Message: err.Error()})
	}
	if len(probs) > 0 {
		return req, &api.Error{Code: api.CodeBadData, Message: "invalid enrolment request", Problems: probs}
	}
	return req, nil
}

func trimForMsg(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// handleEnrol redeems a join token for a node certificate.
func (s *Server) handleEnrol(w http.ResponseWriter, r *http.Request) error {
	a := s.cfg.Auth
	if a.Store == nil {
		return errorf(api.CodeNotFound, "enrolment needs TLS; this server runs in plaintext")
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return err
	}
	req, err := DecodeEnrol(data)
	if err != nil {
		return err
	}
	tok, err := auth.ParseToken(req.Token)
	if err != nil {
		return unauthorized("join token: %v", err)
	}
	setWho(r, "join token "+tok.ID+" for node "+trimForMsg(req.Node))
	canon, ok := s.lookupHost(req.Node)
	if !ok {
		return &api.Error{Code: api.CodeBadData, Message: "invalid enrolment request",
			Problems: []api.Problem{{Field: "node", Message: fmt.Sprintf("%q is not a host of pool %s", trimForMsg(req.Node), s.cfg.Pool.Name)}}}
	}
	csr, _ := auth.ParseCSRPEM([]byte(req.CSR))
	if err := csr.CheckSignature(); err != nil {
		return &api.Error{Code: api.CodeBadData, Message: "invalid enrolment request", Problems: []api.Problem{{Field: "csr", Message: err.Error()}}}
	}
	now := s.clock.Now()
	if _, err := a.Store.Redeem(tok, a.CA.Hash(), canon, now); err != nil {
		if errors.Is(err, auth.ErrNotJoin) {
			return unauthorized("not a join token (qun token create --join)")
		}
		return unauthorized("join token %s: %v", tok.ID, err)
	}
	return s.issue(w, csr, canon, now)
}

func (s *Server) issue(w http.ResponseWriter, csr *x509.CertificateRequest, node string, now time.Time) error {
	a := s.cfg.Auth
	c, err := a.CA.SignNode(csr, node, a.NodeCertTTL)
	if err != nil {
		return err
	}
	if err := a.Store.AllowCert(node, auth.SerialOf(c), c.NotAfter, now); err != nil {
		return err
	}
	s.log.Info("node certificate issued", "node", node, "serial", auth.SerialOf(c), "not_after", c.NotAfter)
	writeJSON(w, http.StatusOK, api.Certificate{Certificate: string(auth.CertPEM(c)), CA: string(a.CA.CertPEM), NotAfter: c.NotAfter})
	return nil
}

// handleRenew signs a fresh certificate for a node that holds a valid one.
func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request, id identity) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return err
	}
	var req api.RenewRequest
	if err := decodeStrict(data, &req); err != nil {
		return err
	}
	csr, err := auth.ParseCSRPEM([]byte(req.CSR))
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		return &api.Error{Code: api.CodeBadData, Message: "invalid renewal request", Problems: []api.Problem{{Field: "csr", Message: err.Error()}}}
	}
	return s.issue(w, csr, id.node, s.clock.Now())
}

// handleTokens serves /v1/tokens for admins.
func (s *Server) handleTokens(w http.ResponseWriter, r *http.Request, id identity, parts []string) error {
	st := s.cfg.Auth.Store
	switch {
	case r.Method == http.MethodGet:
		out := api.TokenList{Tokens: []api.Token{}}
		for _, rec := range st.List() {
			out.Tokens = append(out.Tokens, publicToken(rec))
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	case r.Method == http.MethodDelete:
		rec, err := st.Revoke(parts[1])
		if errors.Is(err, auth.ErrUnknownToken) {
			return errorf(api.CodeNotFound, "no token %q", parts[1])
		}
		if err != nil {
			return err
		}
		s.authz.limiters.Delete(rec.ID)
		writeJSON(w, http.StatusOK, publicToken(rec))
		return nil
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return err
	}
	var req api.TokenRequest
	if err := decodeStrict(data, &req); err != nil {
		return err
	}
	text, rec, err := st.Create(auth.TokenSpec{Name: req.Name, Role: req.Role, Queues: req.Queues, Join: req.Join,
		TTL: time.Duration(req.TTL), Rate: req.Rate, Burst: req.Burst, CreatedBy: id.who}, s.cfg.Auth.CA.Hash(), s.clock.Now())
	var fe *auth.FieldError
	if errors.As(err, &fe) {
		return &api.Error{Code: api.CodeBadData, Message: "invalid token request", Problems: []api.Problem{{Field: fe.Field, Message: fe.Msg}}}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.NewToken{Token: text, Record: publicToken(rec)})
	return nil
}

func publicToken(r auth.Record) api.Token {
	return api.Token{ID: r.ID, Name: r.Name, Role: r.Role, Queues: r.Queues, Join: r.Join, Created: r.Created,
		Expires: r.Expires, Used: r.Used, UsedBy: r.UsedBy, Revoked: r.Revoked, Rate: r.Rate, Burst: r.Burst}
}
