package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qunhq/qun/internal/auth"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/server"
)

// secureServer serves a real server on TLS with authentication and points
// the CLI at it with its admin token; it returns the data directory.
func secureServer(t *testing.T) string {
	t.Helper()
	topo, err := pool.LoadFile("../server/testdata/pool.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, err := auth.Open(auth.Options{DataDir: dir, Names: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: dir, Auth: a,
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
	t.Setenv("QUN_CONFIG", "") // ./data/client.json: absent here
	t.Setenv("QUN_ADDR", "https://"+ln.Addr().String())
	t.Setenv("QUN_CA", a.CAFile)
	t.Setenv("QUN_TOKEN_FILE", a.AdminTokenFile)
	return dir
}

// TestSecureCommands drives qun token, qun node remove and qun audit
// against a real TLS server: what works, and bad input with exit code 2
// naming what was wrong.
func TestSecureCommands(t *testing.T) {
	dir := secureServer(t)
	code, stdout, stderr := run(t, "token", "create", "--role", "submitter", "--queue", "research", "--name", "team-r")
	tok := strings.TrimSpace(stdout)
	if code != ExitOK || !strings.HasPrefix(tok, "qun1.") {
		t.Fatalf("token create: exit %d, %q %s", code, stdout, stderr)
	}
	parsed, err := auth.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := run(t, "token", "list"); code != ExitOK || !strings.Contains(stdout, "team-r") || strings.Contains(stdout, parsed.Secret) {
		t.Errorf("token list: exit %d, want team-r listed without its secret:\n%s", code, stdout)
	}
	if code, _, stderr := run(t, "job", "list", "--token", tok); code != ExitOK {
		t.Errorf("job list with the new token: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, "token", "revoke", parsed.ID); code != ExitOK {
		t.Errorf("token revoke: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"revoked token", []string{"job", "list", "--token", tok}, ExitFailure, "revoked"},
		{"malformed token", []string{"job", "list", "--token", "qun1.xyz"}, ExitBadInput, "token"},
		{"unknown role", []string{"token", "create", "--role", "boss", "--queue", "a"}, ExitBadInput, "role"},
		{"reader without a queue", []string{"token", "create", "--role", "reader"}, ExitBadInput, "queues"},
		{"join token living too long", []string{"token", "create", "--join", "--ttl", "200h"}, ExitBadInput, "ttl"},
		{"bad queue path", []string{"token", "create", "--role", "reader", "--queue", "Research"}, ExitBadInput, "queue path"},
		{"remove an unknown node", []string{"node", "remove", "nosuch"}, ExitBadInput, "nosuch"},
		{"plain HTTP on every interface", []string{"server", "--pool", "../server/testdata/pool.yaml", "--data-dir", t.TempDir(),
			"--listen", "0.0.0.0:0", "--insecure-plaintext"}, ExitBadInput, "--insecure-plaintext-non-loopback"},
		{"audit of a missing data directory", []string{"audit", "--data-dir", filepath.Join(dir, "nosuch")}, ExitBadInput, "--data-dir"},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d naming %q", tc.name, code, stderr, tc.code, tc.want)
		}
	}
	code, stdout, stderr = run(t, "audit", "--verify", "--data-dir", dir)
	if code != ExitOK || !strings.Contains(stdout, "chain intact") {
		t.Errorf("audit --verify: exit %d: %s %s", code, stdout, stderr)
	}
	if code, stdout, _ := run(t, "audit", "--data-dir", dir); code != ExitOK || !strings.Contains(stdout, "POST /v1/tokens") || !strings.Contains(stdout, "DELETE /v1/tokens/"+parsed.ID) {
		t.Errorf("audit: exit %d, want the token changes listed:\n%s", code, stdout)
	}
}
