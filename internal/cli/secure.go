package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// ClientConfig is DATA/client.json: where a server is and how to trust and
// authenticate to it. `qun server` writes one into its data directory and
// `qun up` into its own; the CLI reads $QUN_CONFIG, else ./data/client.json.
type ClientConfig struct {
	Server    string `json:"server"`
	CA        string `json:"ca,omitempty"`         // PEM file of the cluster CA
	TokenFile string `json:"token_file,omitempty"` // file holding the token (0600)
}

// clientConfigFile is the client.json the CLI reads when nothing names one.
const clientConfigFile = "data/client.json"

func writeClientConfig(path string, c ClientConfig) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return auth.WriteFileSync(path, append(data, '\n'), 0o644)
}

// loadClientConfig reads $QUN_CONFIG, else ./data/client.json; a missing
// default file is an empty config.
func loadClientConfig() (ClientConfig, string, error) {
	path, named := os.Getenv("QUN_CONFIG"), true
	if path == "" {
		path, named = clientConfigFile, false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !named && errors.Is(err, os.ErrNotExist) {
			return ClientConfig{}, "", nil
		}
		return ClientConfig{}, path, badInput("client config %s ($QUN_CONFIG): %v", path, err)
	}
	var c ClientConfig
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return ClientConfig{}, path, badInput("client config %s: %v (allowed fields: server, ca, token_file)", path, err)
	}
	// Relative paths are relative to the file.
	for _, p := range []*string{&c.CA, &c.TokenFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(filepath.Dir(path), *p)
		}
	}
	return c, path, nil
}

// connFlags are --server, --token and --ca of commands that talk to a server.
type connFlags struct{ addr, token, ca string }

func (f *connFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.addr, "server", "", "server URL, or an HA cluster's server URLs comma-separated (default: $QUN_ADDR, else the server of $QUN_CONFIG or ./"+clientConfigFile+", else "+api.DefaultAddr+")")
	c.Flags().StringVar(&f.token, "token", "", "bearer token (default: $QUN_TOKEN, $QUN_TOKEN_FILE, else the token file of the client config)")
	c.Flags().StringVar(&f.ca, "ca", "", "PEM file of the cluster CA to trust (default: $QUN_CA, else the CA of the client config)")
}

// client builds an API client: flags, then environment, then client.json.
func (f *connFlags) client() (*api.Client, error) {
	cfg, cfgPath, err := loadClientConfig()
	if err != nil {
		return nil, err
	}
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	addr := pick(f.addr, os.Getenv("QUN_ADDR"), cfg.Server)
	caFile := pick(f.ca, os.Getenv("QUN_CA"), cfg.CA)
	token := pick(f.token, os.Getenv("QUN_TOKEN"))
	if token == "" {
		if tf := pick(os.Getenv("QUN_TOKEN_FILE"), cfg.TokenFile); tf != "" {
			b, err := os.ReadFile(tf)
			if err != nil {
				return nil, badInput("token file %s (from %s): %v", tf, pick(os.Getenv("QUN_TOKEN_FILE"), cfgPath), err)
			}
			token = strings.TrimSpace(string(b))
		}
	}
	var opts []api.ClientOption
	if token != "" {
		if _, err := auth.ParseToken(token); err != nil {
			return nil, badInput("token: %v", err)
		}
		opts = append(opts, api.WithToken(token))
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, badInput("CA file %s: %v", caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, badInput("CA file %s: no PEM certificate in it", caFile)
		}
		opts = append(opts, api.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}))
	}
	c, err := api.NewClient(addr, opts...)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return c, nil
}

// serverNames are the names and addresses the server certificate covers:
// --tls-name values, the listen host (every interface address when it is
// unspecified) and the loopback names.
func serverNames(listen string, extra []string) []string {
	names := append([]string{"localhost", "127.0.0.1", "::1"}, extra...)
	host, _, _ := net.SplitHostPort(listen)
	ip := net.ParseIP(host)
	switch {
	case host == "" || ip != nil && ip.IsUnspecified():
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					names = append(names, n.IP.String())
				}
			}
		}
		if h, err := os.Hostname(); err == nil {
			names = append(names, h)
		}
	default:
		names = append(names, host)
	}
	return names
}

// isLoopback reports whether a listen address only reaches this host.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
