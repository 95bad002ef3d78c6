package cli

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/ha"
	"github.com/qunhq/qun/internal/server"
)

// haFlags are `qun server`'s settings for running as a member of an HA
// cluster on etcd.
type haFlags struct {
	etcd, advertise, prefix string
	ttl                     time.Duration
}

func (f *haFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.etcd, "etcd", "", "etcd client URLs, comma-separated: run as a member of an HA cluster with its state in etcd (default: one server on DATA_DIR/state.db)")
	c.Flags().StringVar(&f.advertise, "advertise", "", "with --etcd: this server's API URL as clients reach it (default: http://LISTEN)")
	c.Flags().StringVar(&f.prefix, "etcd-prefix", "/qun", "with --etcd: the cluster's etcd key prefix")
	c.Flags().DurationVar(&f.ttl, "lease-ttl", 2*time.Second, "with --etcd: the leader's lease, in whole seconds; a dead leader is replaced after about this long")
}

// check refuses bad HA flags before anything is opened, and an HA member
// that would serve TLS: each member keeps its CA, tokens and node
// certificates in its own data directory (auth.db is a bbolt file one
// process holds), so a token or node certificate made by one leader would
// be unknown to the next. Until that state lives in etcd too, HA members
// serve plain HTTP, on loopback unless --insecure-plaintext-non-loopback
// says otherwise (docs/security.md).
func (f *haFlags) check(listen string, sec secFlags) error {
	if _, err := parseEtcdURLs(f.etcd); err != nil {
		return err
	}
	if f.ttl < time.Second || f.ttl%time.Second != 0 {
		return badInput("--lease-ttl %v: want whole seconds, at least 1s", f.ttl)
	}
	if f.prefix == "" || !strings.HasPrefix(f.prefix, "/") || strings.HasSuffix(f.prefix, "/") {
		return badInput("--etcd-prefix %q: want a key prefix like /qun (leading slash, no trailing one)", f.prefix)
	}
	if u, err := url.Parse(f.advertiseURL(listen)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return badInput("--advertise %q: want the API URL clients use, like http://10.0.0.1:7070", f.advertise)
	}
	if !sec.plaintext {
		return badInput("--etcd: HA members do not share their CA, tokens and node certificates yet; run them with --insecure-plaintext (plain HTTP on loopback; see docs/security.md)")
	}
	return nil
}

func (f *haFlags) advertiseURL(listen string) string {
	if f.advertise == "" {
		return "http://" + listen
	}
	return f.advertise
}

// parseEtcdURLs checks a comma-separated list of etcd client URLs.
func parseEtcdURLs(list string) ([]string, error) {
	var out []string
	for i, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		u, err := url.Parse(e)
		if e == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, badInput("--etcd %q: entry %d (%q) is not a URL like http://127.0.0.1:2379", list, i+1, e)
		}
		out = append(out, e)
	}
	return out, nil
}

// runHAServer runs the server as a member of an HA cluster until ctx is
// done; f passed check.
func runHAServer(ctx context.Context, cfg server.Config, listen string, f haFlags) error {
	eps, err := parseEtcdURLs(f.etcd)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (--listen): %w", listen, err)
	}
	return ha.Run(ctx, ha.Config{Endpoints: eps, Prefix: f.prefix, Advertise: f.advertiseURL(listen), TTL: f.ttl, Server: cfg, Logger: cfg.Logger}, ln)
}
