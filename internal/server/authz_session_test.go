package server

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// TestSecureSessionCookie logs a browser-like client in through the real
// server: the dashboard's files load without credentials, POST /v1/session
// sets an HttpOnly, Secure, SameSite=Strict cookie, the cookie reads but
// cannot change anything, a revoked token's cookie is refused, and DELETE
// /v1/session clears it.
func TestSecureSessionCookie(t *testing.T) {
	e := newSecureEnv(t)
	ctx := context.Background()
	tok := e.token(api.TokenRequest{Name: "browser", Role: auth.RoleSubmitter, Queues: []string{"a"}})
	rec, err := auth.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.a.CA.Pool()}}}
	do := func(method, path, authz, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, e.base+path, strings.NewReader(body))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, p := range []string{"/", "/ui/app.js"} {
		if r := do("GET", p, "", ""); r.StatusCode != http.StatusOK {
			t.Errorf("GET %s without credentials: %d, want 200 (the dashboard's files hold no data)", p, r.StatusCode)
		}
	}
	if r := do("GET", "/v1/jobs", "", ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/jobs before logging in: %d, want 401", r.StatusCode)
	}
	if r := do("POST", "/v1/session", "", ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /v1/session without a token: %d, want 401", r.StatusCode)
	}
	r := do("POST", "/v1/session", "Bearer "+tok, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/session: %d", r.StatusCode)
	}
	var c *http.Cookie
	for _, k := range r.Cookies() {
		if k.Name == sessionCookie {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/", c)
	}
	if r := do("GET", "/v1/jobs", "", ""); r.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/jobs with the session cookie: %d, want 200", r.StatusCode)
	}
	if r := do("GET", "/metrics", "", ""); r.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics with the session cookie: %d, want 200", r.StatusCode)
	}
	// The cookie alone changes nothing, though its token could.
	if r := do("POST", "/v1/jobs", "", string(queueSpec("a"))); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /v1/jobs with only the session cookie: %d, want 401", r.StatusCode)
	}
	if l, _ := e.admin.ListJobs(ctx, api.ListJobsOptions{}); len(l.Jobs) != 0 {
		t.Errorf("a cookie-only submission created %d jobs", len(l.Jobs))
	}
	// Revoked: the cookie is refused at the next request.
	if _, err := e.admin.RevokeToken(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if r := do("GET", "/v1/jobs", "", ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/jobs with the cookie of a revoked token: %d, want 401", r.StatusCode)
	}
	if r := do("DELETE", "/v1/session", "", ""); r.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE /v1/session: %d, want 204", r.StatusCode)
	}
	if len(jar.Cookies(mustURL(t, e.base))) != 0 {
		t.Errorf("DELETE /v1/session left the cookie: %v", jar.Cookies(mustURL(t, e.base)))
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
