package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// upClient waits for the server child to write its CA and admin token,
// writes DATA/client.json for the CLI and returns an admin client.
func upClient(ctx context.Context, deadline time.Time, children []*child, dataDir, base string) (*api.Client, error) {
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

// dashboardURLFile is DATA/dashboard.url: the dashboard's login link.
const dashboardURLFile = "dashboard.url"

// upDashboard returns what qun up prints for the dashboard. The login link
// is BASE/#login=TOKEN with a token of its own ("qun up dashboard", kept
// in DATA/dashboard.url, 0600, and reused while it is valid): the page
// trades it for an HttpOnly session cookie that authenticates reads only,
// and the fragment never reaches the server or its logs. The link is
// printed only to a terminal; otherwise the file is named.
func upDashboard(ctx context.Context, c *api.Client, dataDir, base string, out io.Writer) (string, error) {
	file := filepath.Join(dataDir, dashboardURLFile)
	link := ""
	if b, err := os.ReadFile(file); err == nil {
		old := strings.TrimSpace(string(b))
		if tok, ok := strings.CutPrefix(old, base+"/#login="); ok && dashboardTokenValid(ctx, c, tok) {
			link = old
		}
	}
	if link == "" {
		t, err := c.CreateToken(ctx, api.TokenRequest{Name: "qun up dashboard", Role: auth.RoleAdmin})
		if err != nil {
			return "", fmt.Errorf("create the dashboard's token: %w", err)
		}
		link = base + "/#login=" + t.Token
		if err := auth.WriteSecretFile(file, []byte(link+"\n")); err != nil {
			return "", err
		}
	}
	if isTerminal(out) {
		return link + "\n  (logs the browser in; the link is also in " + file + ")", nil
	}
	return base + "/ (its login link is in " + file + ", mode 0600)", nil
}

// dashboardTokenValid reports whether the server still accepts tok.
func dashboardTokenValid(ctx context.Context, admin *api.Client, tok string) bool {
	if _, err := auth.ParseToken(tok); err != nil {
		return false
	}
	_, err := admin.As(tok).Pool(ctx)
	return err == nil
}
