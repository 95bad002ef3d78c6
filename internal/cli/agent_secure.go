package cli

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
)

// agentClient returns the agent's API client: over https, with the node
// certificate of the state directory or one obtained with the join token
// (--join, else $QUN_JOIN_TOKEN, which is then removed from the
// environment); over http (a --insecure-plaintext server), a plain client.
func agentClient(ctx context.Context, server, name, stateDir, join string, log *slog.Logger) (*api.Client, *agent.Identity, error) {
	if join == "" {
		join = os.Getenv("QUN_JOIN_TOKEN")
	}
	os.Unsetenv("QUN_JOIN_TOKEN")
	if strings.HasPrefix(server, "http://") {
		c, err := api.NewClient(server)
		if err != nil {
			return nil, nil, badInput("--server: %v", err)
		}
		return c, nil, nil
	}
	id, err := agent.Enrol(ctx, server, name, stateDir, join, log)
	if errors.Is(err, agent.ErrNoJoinToken) {
		return nil, nil, badInput("%v", err)
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := api.NewClient(server, api.WithTLS(id.TLSConfig()))
	if err != nil {
		return nil, nil, badInput("--server: %v", err)
	}
	return c, id, nil
}

// agentServerURL checks --server: https://HOST:PORT (host:port means
// https), or http:// for a --insecure-plaintext server; a comma-separated
// list names the servers of an HA cluster, all of one scheme (the agent's
// certificate, CA and fence serve every one of them).
func agentServerURL(server string) (string, error) {
	var out []string
	scheme := ""
	for _, s := range strings.Split(server, ",") {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "://") {
			s = "https://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http" {
			return "", badInput("--server %q: want https://HOST:PORT (or http:// for a server started with --insecure-plaintext), comma-separated for an HA cluster", server)
		}
		if scheme != "" && u.Scheme != scheme {
			return "", badInput("--server %q: mixes http:// and https:// servers; an HA cluster's servers share one scheme", server)
		}
		scheme = u.Scheme
		out = append(out, s)
	}
	return strings.Join(out, ","), nil
}

// agentRunAs parses --run-as; empty means nobody for a root agent.
func agentRunAs(s string) (*api.RunAs, error) {
	if s == "" {
		if os.Geteuid() != 0 {
			return nil, nil
		}
		s = "nobody"
	}
	user, group, _ := strings.Cut(s, ":")
	ra := &api.RunAs{User: user, Group: group}
	if _, _, err := agent.ResolveRunAs(*ra); err != nil {
		return nil, badInput("--run-as %q: %v", s, err)
	}
	return ra, nil
}

func runAsName(ra *api.RunAs) string {
	if ra == nil {
		return "(the agent's user)"
	}
	if ra.Group != "" {
		return ra.User + ":" + ra.Group
	}
	return ra.User
}
