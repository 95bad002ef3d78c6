package cli

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/qunhq/qun/internal/etcdlocal"
)

// startUpServers starts qun up's server: one on bbolt, or with --ha three
// `qun server --etcd` members on a local 3-member etcd cluster (its data
// in DATA_DIR/etcd, kept across runs). It returns the server children,
// the server list for clients and agents, and a function that stops etcd
// (after the servers were stopped). The one server serves TLS; the HA
// members serve plain HTTP on loopback (server_ha.go says why).
func startUpServers(ctx context.Context, f upFlags, exe string, env []string, poolFile, dataDir, logDir string) ([]*child, string, func(), error) {
	if !f.ha {
		srv, err := startChild("server", filepath.Join(logDir, "server.log"), env, exe, "server",
			"--pool", poolFile, "--data-dir", filepath.Join(dataDir, "server"), "--listen", f.listen,
			"--node-timeout", f.nodeTimeout.String())
		if err != nil {
			return nil, "", nil, err
		}
		return []*child{srv}, "https://" + f.listen, func() {}, nil
	}
	ec, err := etcdlocal.Start(ctx, filepath.Join(dataDir, "etcd"), 3)
	if err != nil {
		return nil, "", nil, fmt.Errorf("qun up --ha: %w", err)
	}
	host, _, _ := net.SplitHostPort(f.listen)
	listens := []string{f.listen}
	for range 2 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			ec.Stop()
			return nil, "", nil, fmt.Errorf("qun up --ha: a port for another server: %w", err)
		}
		listens = append(listens, l.Addr().String())
		l.Close()
	}
	var servers []*child
	var urls []string
	for i, l := range listens {
		c, err := startChild("server", filepath.Join(logDir, fmt.Sprintf("server%d.log", i)), env, exe, "server",
			"--pool", poolFile, "--data-dir", filepath.Join(dataDir, fmt.Sprintf("server%d", i)), "--listen", l,
			"--node-timeout", f.nodeTimeout.String(), "--etcd", strings.Join(ec.Endpoints(), ","),
			"--insecure-plaintext") // HA members share no CA or tokens yet (docs/security.md)
		if err != nil {
			for _, s := range servers {
				s.stop(f.stopTimeout, nil)
			}
			ec.Stop()
			return nil, "", nil, err
		}
		servers = append(servers, c)
		urls = append(urls, "http://"+l)
	}
	return servers, strings.Join(urls, ","), ec.Stop, nil
}

// allDone is closed once every child has exited.
func allDone(cs []*child) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for _, c := range cs {
			<-c.done
		}
		close(done)
	}()
	return done
}
