package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// upClient waits for the server child to write its CA and admin token,
// writes DATA/client.json for the CLI and returns an admin client. With
// --ha the servers serve plain HTTP (up_ha.go): the client and client.json
// name every server of the list, without CA or token.
func upClient(ctx context.Context, deadline time.Time, children []*child, dataDir, base string, ha bool) (*api.Client, error) {
	if ha {
		if err := writeClientConfig(filepath.Join(dataDir, "client.json"), ClientConfig{Server: base}); err != nil {
			return nil, err
		}
		c, err := api.NewClient(base)
		if err != nil {
			return nil, badInput("--listen: %v", err)
		}
		return c, waitUp(ctx, deadline, children, func(ctx context.Context) (bool, error) {
			_, err := c.ListNodes(ctx)
			return err == nil, nil
		})
	}
	srvDir := filepath.Join(dataDir, "server")
	caFile, tokFile := filepath.Join(srvDir, auth.CACertFile), filepath.Join(srvDir, auth.AdminTokenFile)
	var caPEM, tok []byte
	if err := waitUp(ctx, deadline, children, func(context.Context) (bool, error) {
		var err1, err2 error
		caPEM, err1 = os.ReadFile(caFile)
		tok, err2 = os.ReadFile(tokFile)
		return err1 == nil && err2 == nil && len(caPEM) > 0 && len(tok) > 0, nil
	}); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no certificate", caFile)
	}
	if err := writeClientConfig(filepath.Join(dataDir, "client.json"), ClientConfig{Server: base, CA: caFile, TokenFile: tokFile}); err != nil {
		return nil, err
	}
	c, err := api.NewClient(base, api.WithToken(strings.TrimSpace(string(tok))), api.WithTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}))
	if err != nil {
		return nil, badInput("--listen: %v", err)
	}
	if err := waitUp(ctx, deadline, children, func(ctx context.Context) (bool, error) {
		_, err := c.ListNodes(ctx)
		return err == nil, nil
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// upRunAs is the user of qun up's ranks: whoever runs qun up.
func upRunAs() string { return fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()) }

// upConfigHint tells the user how the CLI finds the server, when
// ./data/client.json is not this pool's.
func upConfigHint(dataDir string) string {
	if abs, err := filepath.Abs(filepath.Dir(clientConfigFile)); err == nil && abs == dataDir {
		return "The CLI finds the server, CA and token in ./" + clientConfigFile + ".\n"
	}
	return "Point the CLI at it: export QUN_CONFIG=" + filepath.Join(dataDir, "client.json") + "\n"
}

// Files qun up keeps its own tokens in (0600).
const (
	dashboardURLFile = "dashboard.url" // the dashboard's login link
	metricsTokenFile = "metrics.token" // the token Prometheus scrapes the server with
	promConfigFile   = "prometheus.yml"
)

// upToken returns the token kept in file (as prefix+TOKEN) while the
// server still accepts it, else a new one made with req and written there.
func upToken(ctx context.Context, c *api.Client, file, prefix string, req api.TokenRequest) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		tok, ok := strings.CutPrefix(strings.TrimSpace(string(b)), prefix)
		if _, perr := auth.ParseToken(tok); ok && perr == nil {
			if _, err := c.As(tok).Pool(ctx); err == nil {
				return tok, nil
			}
		}
	}
	t, err := c.CreateToken(ctx, req)
	if err != nil {
		return "", fmt.Errorf("create the token %q: %w", req.Name, err)
	}
	if err := auth.WriteSecretFile(file, []byte(prefix+t.Token)); err != nil {
		return "", err
	}
	return t.Token, nil
}

// upDashboard returns what qun up prints for the dashboard. The login link
// is BASE/#login=TOKEN with a token of its own ("qun up dashboard", kept
// in DATA/dashboard.url and reused while it is valid): the page trades it
// for an HttpOnly session cookie that authenticates reads only, and the
// fragment never reaches the server or its logs. The link is printed only
// to a terminal; otherwise the file is named.
func upDashboard(ctx context.Context, c *api.Client, dataDir, base string, out io.Writer, ha bool) (string, error) {
	if ha {
		return base + "/ (plain HTTP, no login)", nil
	}
	file := filepath.Join(dataDir, dashboardURLFile)
	// Every queue, as qun up's queues are made as jobs name them; the
	// session cookie reads only.
	tok, err := upToken(ctx, c, file, base+"/#login=", api.TokenRequest{Name: "qun up dashboard", Role: auth.RoleAdmin})
	if err != nil {
		return "", err
	}
	if isTerminal(out) {
		return base + "/#login=" + tok + "\n  (the link logs the browser in; it is also in " + file + ")", nil
	}
	return base + "/ (its login link is in " + file + ", mode 0600)", nil
}

// upPrometheus writes DATA/prometheus.yml: scrape configs for the server
// (https, the CA, a reader token of its own in DATA/metrics.token) and for
// the agents (plain http on loopback, listed in targetsFile).
func upPrometheus(ctx context.Context, c *api.Client, dataDir, servers, targetsFile string, ha bool) (string, error) {
	path := filepath.Join(dataDir, promConfigFile)
	if ha {
		var targets []string
		for _, s := range strings.Split(servers, ",") {
			targets = append(targets, strconv.Quote(strings.TrimPrefix(s, "http://")))
		}
		cfg := fmt.Sprintf(`# Written by qun up --ha. Use it as it is, or copy its scrape_configs.
scrape_configs:
  - job_name: qun-server
    static_configs:
      - targets: [%s]
  - job_name: qun-agent
    file_sd_configs:
      - files: [%q]
`, strings.Join(targets, ", "), targetsFile)
		return path, auth.WriteFileSync(path, []byte(cfg), 0o644)
	}
	listen := strings.TrimPrefix(servers, "https://")
	tokFile := filepath.Join(dataDir, metricsTokenFile)
	if _, err := upToken(ctx, c, tokFile, "", api.TokenRequest{Name: "qun up metrics (Prometheus)", Role: auth.RoleReader, Queues: []string{"default"}}); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`# Written by qun up. Use it as it is, or copy its scrape_configs.
scrape_configs:
  - job_name: qun-server
    scheme: https
    tls_config:
      ca_file: %q
    authorization:
      credentials_file: %q
    static_configs:
      - targets: [%q]
  - job_name: qun-agent
    file_sd_configs:
      - files: [%q]
`, filepath.Join(dataDir, "server", auth.CACertFile), tokFile, listen, targetsFile)
	if err := auth.WriteFileSync(path, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	return path, nil
}
