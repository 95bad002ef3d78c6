package cli

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/auth"
	"github.com/qunhq/qun/internal/server"
)

// secFlags are the security settings of `qun server`.
type secFlags struct {
	tlsNames             []string
	caCert, caKey        string
	plaintext            bool
	plaintextNonLoopback bool
	nodeCertTTL          time.Duration
}

func (f *secFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringArrayVar(&f.tlsNames, "tls-name", nil, "DNS name or IP the server certificate is valid for, besides the listen address and localhost (repeatable)")
	fl.StringVar(&f.caCert, "ca-cert", "", "PEM certificate of the CA to use (default: DATA_DIR/ca.crt, created on first start)")
	fl.StringVar(&f.caKey, "ca-key", "", "PEM private key of --ca-cert")
	fl.DurationVar(&f.nodeCertTTL, "node-cert-ttl", 24*time.Hour, "lifetime of node certificates (agents renew them after two thirds)")
	fl.BoolVar(&f.plaintext, "insecure-plaintext", false, "serve plain HTTP without authentication (loopback only, unless --insecure-plaintext-non-loopback)")
	fl.BoolVar(&f.plaintextNonLoopback, "insecure-plaintext-non-loopback", false, "allow --insecure-plaintext on an address other hosts can reach")
}

// open checks the flags and opens the server's security state.
func (f *secFlags) open(dataDir, listen string) (*auth.Authority, error) {
	if f.plaintextNonLoopback && !f.plaintext {
		return nil, badInput("--insecure-plaintext-non-loopback needs --insecure-plaintext")
	}
	if f.plaintext && !isLoopback(listen) && !f.plaintextNonLoopback {
		return nil, badInput("--listen %s: plain HTTP on an address other hosts can reach needs --insecure-plaintext-non-loopback as well", listen)
	}
	if f.nodeCertTTL < time.Minute {
		return nil, badInput("--node-cert-ttl %v: want at least 1m", f.nodeCertTTL)
	}
	return auth.Open(auth.Options{DataDir: dataDir, CACert: f.caCert, CAKey: f.caKey,
		Names: serverNames(listen, f.tlsNames), NodeCertTTL: f.nodeCertTTL, Plaintext: f.plaintext})
}

// announce tells the operator about a new admin token and writes the
// data directory's client.json. The token itself is printed only to a
// terminal, never to a log.
func announce(a *auth.Authority, dataDir, listen string, log *slog.Logger, stdout io.Writer) error {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	cc := ClientConfig{Server: "http://" + listen}
	if a.TLS != nil {
		cc = ClientConfig{Server: "https://" + listen, CA: filepath.Join(abs, auth.CACertFile), TokenFile: filepath.Join(abs, auth.AdminTokenFile)}
	}
	if err := writeClientConfig(filepath.Join(dataDir, "client.json"), cc); err != nil {
		return err
	}
	if a.AdminToken == "" {
		return nil
	}
	if isTerminal(stdout) {
		fmt.Fprintf(stdout, "Admin token (shown once; also in %s, mode 0600):\n  %s\n", a.AdminTokenFile, a.AdminToken)
	}
	log.Info("created the CA and an admin token", "ca", a.CAFile, "admin_token_file", a.AdminTokenFile, "client_config", filepath.Join(abs, "client.json"))
	return nil
}

// secureConfig opens the security state for a server about to listen.
func secureConfig(cfg *server.Config, f *secFlags, listen string, stdout io.Writer) (func(), error) {
	a, err := f.open(cfg.DataDir, listen)
	if err != nil {
		return nil, err
	}
	if err := announce(a, cfg.DataDir, listen, cfg.Logger, stdout); err != nil {
		a.Close()
		return nil, err
	}
	if a.TLS == nil {
		cfg.Logger.Warn("serving plain HTTP without authentication (--insecure-plaintext)", "listen", listen)
	}
	cfg.Auth = a
	return func() { a.Close() }, nil
}
