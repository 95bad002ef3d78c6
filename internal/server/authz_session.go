package server

import (
	"net/http"
	"strings"
)

// This file is how a browser authenticates to the dashboard. The page
// (web/) posts a token once, in an Authorization header, to POST
// /v1/session; the answer sets it as the cookie qun_session (HttpOnly,
// Secure, SameSite=Strict, so no script reads it and no other site sends
// it). The cookie then authenticates GET and HEAD requests only: every
// mutating request still needs the Authorization header, so a cookie
// cannot be ridden into a change (no CSRF). DELETE /v1/session clears it.

// sessionCookie is the name of the dashboard's session cookie.
const sessionCookie = "qun_session"

// sessionToken returns the token of a safe request's session cookie.
func sessionToken(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	return c.Value, true
}

// isDashboardFile reports whether a request is for the dashboard's own
// files (index.html, app.js, app.css): they hold no data and load before
// the page can log in.
func isDashboardFile(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/ui/"))
}

// handleSession serves POST /v1/session (id is the caller's token) and
// DELETE /v1/session.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request, id identity) error {
	c := &http.Cookie{Name: sessionCookie, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
	if r.Method == http.MethodDelete {
		c.MaxAge = -1
		http.SetCookie(w, c)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if id.kind != idToken {
		return forbidden("a session needs a bearer token")
	}
	tok := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer"))
	c.Value = tok
	if !id.rec.Expires.IsZero() {
		c.Expires = id.rec.Expires
	}
	http.SetCookie(w, c)
	writeJSON(w, http.StatusOK, publicToken(*id.rec))
	return nil
}
