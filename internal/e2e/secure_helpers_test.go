package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
)

// serverCreds waits for a server's first start to write its CA and admin
// token into dataDir and returns them.
func serverCreds(t *testing.T, dataDir string) (caPEM []byte, adminToken string) {
	t.Helper()
	eventually(t, 30*time.Second, "the server's CA and admin token in "+dataDir, func() (bool, string) {
		ca, err1 := os.ReadFile(filepath.Join(dataDir, "ca.crt"))
		tok, err2 := os.ReadFile(filepath.Join(dataDir, "admin.token"))
		caPEM, adminToken = ca, strings.TrimSpace(string(tok))
		return err1 == nil && err2 == nil && len(ca) > 0 && adminToken != "", "not yet"
	})
	return caPEM, adminToken
}

// secureClient returns a client of the server at base trusting the CA of
// dataDir, with token ("" for the admin token of dataDir).
func secureClient(t *testing.T, base, dataDir, token string) *api.Client {
	t.Helper()
	_, admin := serverCreds(t, dataDir)
	if token == "" {
		token = admin
	}
	c, err := api.NewClient(base, api.WithToken(token), api.WithTLS(&tls.Config{RootCAs: caPool(t, dataDir)}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// useServerCreds makes the qun CLI the test runs trust the CA of dataDir
// and use its admin token.
func useServerCreds(t *testing.T, dataDir string) {
	t.Helper()
	serverCreds(t, dataDir)
	t.Setenv("QUN_CA", filepath.Join(dataDir, "ca.crt"))
	t.Setenv("QUN_TOKEN_FILE", filepath.Join(dataDir, "admin.token"))
}

// joinToken creates a single-use join token, waiting for the server to
// answer (it writes its credentials just before it listens).
func joinToken(t *testing.T, c *api.Client) string {
	t.Helper()
	var tok *api.NewToken
	eventually(t, 30*time.Second, "a join token from the server", func() (bool, string) {
		var err error
		tok, err = c.CreateToken(t.Context(), api.TokenRequest{Join: true, TTL: api.Duration(15 * time.Minute)})
		return err == nil, fmt.Sprint(err)
	})
	return tok.Token
}

// ownUser is --run-as for agents whose ranks run as the test's own user
// (a root agent's default is nobody).
func ownUser() string { return fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()) }

// upCreds points the qun CLI the test runs at the client.json of a qun up
// data directory (server, CA, admin token) and returns an admin client.
func upCreds(t *testing.T, data, base string) *api.Client {
	t.Helper()
	c := secureClient(t, base, filepath.Join(data, "server"), "")
	t.Setenv("QUN_CONFIG", filepath.Join(data, "client.json"))
	return c
}

// metricsNeedToken checks the server's /metrics: no token is 401, the
// reader token qun up made for Prometheus (DATA/metrics.token) is enough.
func metricsNeedToken(t *testing.T, base, data string) {
	t.Helper()
	roots := caPool(t, filepath.Join(data, "server"))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	tok, err := os.ReadFile(filepath.Join(data, "metrics.token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {strings.TrimSpace(string(tok)), http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /metrics with token %t: %d, want %d", tc.token != "", resp.StatusCode, tc.want)
		}
	}
}

// caPool returns a pool holding the CA of dataDir.
func caPool(t *testing.T, dataDir string) *x509.CertPool {
	t.Helper()
	ca, _ := serverCreds(t, dataDir)
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(ca) {
		t.Fatalf("%s/ca.crt holds no certificate", dataDir)
	}
	return p
}

// upLeaksNoSecret checks that no secret qun up holds — the admin,
// dashboard, metrics and join tokens' secrets and the private keys — is in
// qun up's output (not a terminal here) or in any log under its data
// directory.
func upLeaksNoSecret(t *testing.T, data string, up *proc) {
	t.Helper()
	secrets := map[string]string{}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for name, p := range map[string]string{"admin token": "server/admin.token", "metrics token": "metrics.token", "dashboard link": "dashboard.url"} {
		tok := read(filepath.Join(data, p))
		secrets[name] = tok[strings.LastIndexByte(tok, '.')+1:]
	}
	var logs []string
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".key"):
			if pem := strings.Split(read(p), "\n"); len(pem) > 1 {
				secrets["private key "+p] = pem[1]
			}
		case strings.HasSuffix(p, ".log"):
			logs = append(logs, p)
		}
		return nil
	})
	if len(logs) < 5 {
		t.Fatalf("%d logs under %s, want the server's and every agent's", len(logs), data)
	}
	texts := map[string]string{"qun up's output": up.output()}
	for _, p := range logs {
		texts[p] = read(p)
	}
	for where, text := range texts {
		for what, s := range secrets {
			if len(s) >= 32 && strings.Contains(text, s) {
				t.Errorf("%s holds the %s", where, what)
			}
		}
	}
	t.Logf("no secret (%d tokens and keys) in qun up's output or its %d logs", len(secrets), len(logs))
}
