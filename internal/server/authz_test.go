package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
	"github.com/qunhq/qun/internal/auth"
	"github.com/qunhq/qun/internal/sched/plugins"
)

// secureEnv is a real server on TLS with authentication, served on
// 127.0.0.1:0 by Serve, as `qun server` runs it.
type secureEnv struct {
	t     *testing.T
	srv   *Server
	a     *auth.Authority
	base  string
	admin *api.Client
	clock *fakeClock
	dir   string
}

func newSecureEnv(t *testing.T) *secureEnv {
	t.Helper()
	dir := t.TempDir()
	clock := &fakeClock{now: time.Now()}
	a, err := auth.Open(auth.Options{DataDir: dir, Names: []string{"127.0.0.1"}, NodeCertTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if a.AdminToken == "" {
		t.Fatal("first start created no admin token")
	}
	srv, err := New(Config{Pool: testPool(t), Profile: plugins.DefaultProfile(), DataDir: dir, Clock: clock, Auth: a,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	e := &secureEnv{t: t, srv: srv, a: a, base: "https://" + ln.Addr().String(), clock: clock, dir: dir}
	e.admin = e.client(a.AdminToken)
	return e
}

// client returns a client trusting the server's CA, with token (if any).
func (e *secureEnv) client(token string, opts ...api.ClientOption) *api.Client {
	e.t.Helper()
	all := []api.ClientOption{api.WithTLS(&tls.Config{RootCAs: e.a.CA.Pool()})}
	if token != "" {
		all = append(all, api.WithToken(token))
	}
	c, err := api.NewClient(e.base, append(all, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *secureEnv) token(req api.TokenRequest) string {
	e.t.Helper()
	t, err := e.admin.CreateToken(context.Background(), req)
	if err != nil {
		e.t.Fatal(err)
	}
	return t.Token
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := api.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

func queueSpec(queue string) []byte {
	return []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"q","queue":"` + queue + `","chips":1,"command":["sleep","1"]}`)
}

func TestAuthNegativeThroughTheServer(t *testing.T) {
	e := newSecureEnv(t)
	ctx := context.Background()

	// No token: 401 for reads and writes.
	anon := e.client("")
	_, err := anon.ListJobs(ctx, api.ListJobsOptions{})
	wantCode(t, "no token, list", err, api.CodeUnauthorized)
	_, err = anon.SubmitJob(ctx, queueSpec("a"))
	wantCode(t, "no token, submit", err, api.CodeUnauthorized)
	forgedAPI := strings.Repeat("0", 64)
	_, err = e.client("qun1.0123456789abcdef."+forgedAPI).ListJobs(ctx, api.ListJobsOptions{})
	wantCode(t, "forged token", err, api.CodeUnauthorized)

	a := e.client(e.token(api.TokenRequest{Name: "team-a", Role: auth.RoleSubmitter, Queues: []string{"a"}}))
	b := e.client(e.token(api.TokenRequest{Name: "team-b", Role: auth.RoleSubmitter, Queues: []string{"b"}}))
	reader := e.client(e.token(api.TokenRequest{Name: "watch-a", Role: auth.RoleReader, Queues: []string{"a"}}))

	ja, err := a.SubmitJob(ctx, queueSpec("a/sub"))
	if err != nil {
		t.Fatalf("submitter of a submitting to a/sub: %v", err)
	}
	jb, err := b.SubmitJob(ctx, queueSpec("b"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.SubmitJob(ctx, queueSpec("b"))
	wantCode(t, "token of queue a submitting to b", err, api.CodeForbidden)
	_, err = a.SubmitJob(ctx, queueSpec("ab"))
	wantCode(t, "token of queue a submitting to ab (not a sub-queue)", err, api.CodeForbidden)
	_, err = reader.SubmitJob(ctx, queueSpec("a"))
	wantCode(t, "reader submitting", err, api.CodeForbidden)
	_, err = reader.CancelJob(ctx, ja.ID)
	wantCode(t, "reader cancelling", err, api.CodeForbidden)
	if _, err := reader.GetJob(ctx, ja.ID); err != nil {
		t.Errorf("reader of a reading a job of a/sub: %v", err)
	}

	// A job of queue b answers to a's token exactly as a job that does
	// not exist, for every job route.
	missing := "j-999999"
	for _, call := range []struct {
		name string
		do   func(id string) error
	}{
		{"get", func(id string) error { _, err := a.GetJob(ctx, id); return err }},
		{"explain", func(id string) error { _, err := a.ExplainJob(ctx, id); return err }},
		{"logs", func(id string) error {
			_, err := a.JobLogs(ctx, id, api.LogOptions{Attempt: -1})
			return err
		}},
		{"cancel", func(id string) error { _, err := a.CancelJob(ctx, id); return err }},
		{"placement", func(id string) error { _, err := a.JobPlacement(ctx, id); return err }},
		{"log tail", func(id string) error {
			_, err := a.JobLogTail(ctx, id, api.LogOptions{Attempt: -1}, 100)
			return err
		}},
	} {
		hidden, absent := call.do(jb.ID), call.do(missing)
		wantCode(t, "token of a: "+call.name+" of b's job", hidden, api.CodeNotFound)
		if hidden == nil || absent == nil || strings.ReplaceAll(hidden.Error(), jb.ID, "ID") != strings.ReplaceAll(absent.Error(), missing, "ID") {
			t.Errorf("%s: b's job answers %v, a missing job %v: they must not differ", call.name, hidden, absent)
		}
	}
	l, err := a.ListJobs(ctx, api.ListJobsOptions{})
	if err != nil || len(l.Jobs) != 1 || l.Jobs[0].ID != ja.ID {
		t.Errorf("a's job list %+v (err %v): want only %s", l, err, ja.ID)
	}
	if j, _ := e.admin.GetJob(ctx, jb.ID); j.State != api.JobPending {
		t.Errorf("b's job after a's cancel: %s, want pending (untouched)", j.State)
	}
	_, err = a.CreateToken(ctx, api.TokenRequest{Role: auth.RoleAdmin})
	wantCode(t, "submitter creating a token", err, api.CodeForbidden)
	err = a.RemoveNode(ctx, "n0")
	wantCode(t, "submitter removing a node", err, api.CodeForbidden)

	// A revoked token is refused at its next request.
	bl, _ := e.admin.ListTokens(ctx)
	var bID string
	for _, tk := range bl.Tokens {
		if tk.Name == "team-b" {
			bID = tk.ID
		}
	}
	if _, err := e.admin.RevokeToken(ctx, bID); err != nil {
		t.Fatal(err)
	}
	_, err = b.GetJob(ctx, jb.ID)
	wantCode(t, "revoked token", err, api.CodeUnauthorized)

	// Rate limits: a token of 1 request per second and burst 1.
	slow := e.client(e.token(api.TokenRequest{Role: auth.RoleReader, Queues: []string{"a"}, Rate: 1, Burst: 1}))
	slow.ListJobs(ctx, api.ListJobsOptions{})
	_, err = slow.ListJobs(ctx, api.ListJobsOptions{})
	wantCode(t, "second request within a second at rate 1", err, api.CodeTooManyRequests)
}

func TestEnrolmentAndNodeCertificates(t *testing.T) {
	e := newSecureEnv(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	join := func() string {
		return e.token(api.TokenRequest{Join: true, TTL: api.Duration(15 * time.Minute)})
	}

	// Forged, expired and used join tokens: 401.
	good := join()
	tok, _ := auth.ParseToken(good)
	forged := tok
	forged.Secret = strings.Repeat("1", 64)
	_, err := agent.Enrol(ctx, e.base, "n0", t.TempDir(), forged.String(), log)
	wantCode(t, "forged join token", err, api.CodeUnauthorized)
	expiring := join()
	e.clock.Advance(16 * time.Minute)
	_, err = agent.Enrol(ctx, e.base, "n0", t.TempDir(), expiring, log)
	wantCode(t, "expired join token", err, api.CodeUnauthorized)
	e.clock.Advance(-16 * time.Minute)
	_, err = agent.Enrol(ctx, e.base, "n0", t.TempDir(), e.a.AdminToken, log)
	if err == nil {
		t.Error("an admin token enrolled a node")
	}

	dir0 := t.TempDir()
	id0, err := agent.Enrol(ctx, e.base, "n0", dir0, good, log)
	if err != nil {
		t.Fatalf("enrol n0: %v", err)
	}
	_, err = agent.Enrol(ctx, e.base, "n1", t.TempDir(), good, log)
	wantCode(t, "used join token", err, api.CodeUnauthorized)
	if st, _ := os.Stat(filepath.Join(dir0, "node.key")); st == nil || st.Mode().Perm() != 0o600 {
		t.Errorf("node.key: %v, want mode 0600", st)
	}
	dir1 := t.TempDir()
	if _, err := agent.Enrol(ctx, e.base, "n1", dir1, join(), log); err != nil {
		t.Fatal(err)
	}

	n0, err := api.NewClient(e.base, api.WithTLS(id0.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n0.RegisterNode(ctx, api.RegisterRequest{Name: "n0", BootID: "b0", Address: "10.0.0.1"}); err != nil {
		t.Fatalf("n0 registering with its certificate: %v", err)
	}
	if _, err := n0.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b0"}); err != nil {
		t.Fatalf("n0 heartbeating: %v", err)
	}
	// n0's certificate cannot speak as n1, nor act as a tenant.
	_, err = n0.RegisterNode(ctx, api.RegisterRequest{Name: "n1", BootID: "b1", Address: "10.0.0.2"})
	wantCode(t, "n0's certificate registering n1", err, api.CodeForbidden)
	_, err = n0.Heartbeat(ctx, "n1", api.HeartbeatRequest{BootID: "b1"})
	wantCode(t, "n0's certificate heartbeating as n1", err, api.CodeForbidden)
	_, err = n0.RenewCertificate(ctx, "n1", api.RenewRequest{CSR: "x"})
	wantCode(t, "n0's certificate renewing n1", err, api.CodeForbidden)
	_, err = n0.SubmitJob(ctx, queueSpec("a"))
	wantCode(t, "a node certificate submitting", err, api.CodeForbidden)
	_, err = n0.ListJobs(ctx, api.ListJobsOptions{})
	wantCode(t, "a node certificate listing jobs", err, api.CodeForbidden)

	// Renewal: a new certificate, and the node keeps working with it.
	before := readFile(t, filepath.Join(dir0, "node.crt"))
	if err := id0.Renew(ctx, n0); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if after := readFile(t, filepath.Join(dir0, "node.crt")); after == before {
		t.Error("renewal left the same certificate in the state directory")
	}
	n0b, _ := api.NewClient(e.base, api.WithTLS(id0.TLSConfig()))
	if _, err := n0b.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b0"}); err != nil {
		t.Fatalf("heartbeat with the renewed certificate: %v", err)
	}

	// Removing the node revokes its certificates: the next request is refused.
	if err := e.admin.RemoveNode(ctx, "n0"); err != nil {
		t.Fatal(err)
	}
	_, err = n0b.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b0"})
	wantCode(t, "heartbeat after node remove", err, api.CodeUnauthorized)

	// A client that trusts another CA refuses the server; so does an agent
	// whose join token pins another CA.
	other, _, err := auth.LoadOrCreateCA(filepath.Join(t.TempDir(), "ca.crt"), filepath.Join(t.TempDir(), "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := api.NewClient(e.base, api.WithTLS(&tls.Config{RootCAs: other.Pool()}), api.WithToken(e.a.AdminToken))
	_, err = stranger.ListNodes(ctx)
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) {
		t.Errorf("client trusting another CA: %v, want an unknown-authority error", err)
	}
	pinned := tok
	pinned.Join, pinned.CAHash = true, other.Hash()
	_, err = agent.Enrol(ctx, e.base, "n2", t.TempDir(), pinned.String(), log)
	if err == nil || !strings.Contains(err.Error(), "pins") {
		t.Errorf("join token pinning another CA: %v, want a refusal naming the pin", err)
	}

	// Plain HTTP to the TLS port gets nothing useful.
	resp, err := http.Get(strings.Replace(e.base, "https://", "http://", 1) + "/v1/jobs")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP answered 200: %s", body)
		}
	}

	// Every mutating request above is in the audit log, which verifies.
	n, _, err := auth.Verify(filepath.Join(e.dir, auth.AuditFile))
	if err != nil {
		t.Fatal(err)
	}
	var refused, enrols int
	auth.Scan(filepath.Join(e.dir, auth.AuditFile), func(en auth.Entry) error {
		if en.Status == 401 || en.Status == 403 {
			refused++
		}
		if en.Action == "POST /v1/enrol" && en.Status == 200 {
			enrols++
		}
		for _, secret := range []string{tok.Secret, e.a.AdminToken} {
			if strings.Contains(en.Who, secret) {
				t.Errorf("audit entry %d holds a secret: %+v", en.Seq, en)
			}
		}
		return nil
	}, nil, nil)
	if enrols != 2 || refused < 8 {
		t.Errorf("audit log of %d entries: %d enrolments (want 2), %d refusals (want ≥ 8)", n, enrols, refused)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
