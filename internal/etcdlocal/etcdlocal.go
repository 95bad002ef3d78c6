// Package etcdlocal starts a real etcd cluster of local processes (the
// etcd binary of Debian's etcd-server, installed by scripts/deps.sh) on
// loopback ports in a directory of its own, for tests, `qun bench
// failover` and `qun up --ha`.
package etcdlocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrNoEtcd is returned by Start when no etcd binary is found.
var ErrNoEtcd = errors.New("no etcd binary in PATH (install etcd-server: scripts/deps.sh)")

// Member is one etcd process of a Cluster.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	Dir       string
	cmd       *exec.Cmd
	done      chan struct{}
}

// Cluster is a running local etcd cluster.
type Cluster struct {
	Members []*Member
}

// Endpoints returns the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Available reports whether an etcd binary is in PATH.
func Available() bool {
	_, err := exec.LookPath("etcd")
	return err == nil
}

// Start starts an n-member cluster with its data and logs below dir and
// waits until it answers. Its limits fit the server's transactions: up to
// 100,000 operations and 64 MiB per request. The ports are picked free the
// first time and kept in dir/ports, so a cluster started again in the same
// directory (qun up --ha) finds its members and data.
func Start(ctx context.Context, dir string, n int) (*Cluster, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, ErrNoEtcd
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ports, err := clusterPorts(filepath.Join(dir, "ports"), 2*n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		m := &Member{Name: fmt.Sprintf("e%d", i), ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]), Dir: filepath.Join(dir, fmt.Sprintf("e%d", i))}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		if err := os.MkdirAll(m.Dir, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		logf, err := os.Create(filepath.Join(dir, m.Name+".log"))
		if err != nil {
			c.Stop()
			return nil, err
		}
		m.cmd = exec.Command(bin, "--name", m.Name, "--data-dir", filepath.Join(m.Dir, "data"),
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "qun-"+filepath.Base(dir),
			"--heartbeat-interval", "100", "--election-timeout", "1000",
			"--max-txn-ops", "100000", "--max-request-bytes", "67108864",
			"--quota-backend-bytes", "8589934592", "--auto-compaction-mode", "revision", "--auto-compaction-retention", "100000",
			"--log-level", "warn", "--logger", "zap")
		m.cmd.Stdout, m.cmd.Stderr = logf, logf
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		err = m.cmd.Start()
		logf.Close()
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("start etcd %s: %w", m.Name, err)
		}
		m.done = make(chan struct{})
		go func(m *Member) { m.cmd.Wait(); close(m.done) }(m)
	}
	if err := c.wait(ctx, 30*time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// wait polls until the cluster commits a write.
func (c *Cluster) wait(ctx context.Context, timeout time.Duration) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(timeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Put(pctx, "/etcdlocal/ready", "1")
		cancel()
		if err == nil {
			return nil
		}
		for _, m := range c.Members {
			select {
			case <-m.done:
				return fmt.Errorf("etcd %s exited while starting; see %s.log", m.Name, m.Dir)
			default:
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("etcd cluster not ready after %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills every member and waits for them.
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		if m.cmd != nil && m.cmd.Process != nil {
			syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			if m.done != nil {
				<-m.done
			}
		}
	}
}

// clusterPorts returns the n ports kept in path, or n free ones it keeps
// there.
func clusterPorts(path string, n int) ([]int, error) {
	if data, err := os.ReadFile(path); err == nil {
		var out []int
		for _, f := range strings.Fields(string(data)) {
			p, err := strconv.Atoi(f)
			if err != nil || p < 1 || p > 65535 {
				return nil, fmt.Errorf("etcd ports file %s: %q is not a port", path, f)
			}
			out = append(out, p)
		}
		if len(out) == n {
			return out, nil
		}
		return nil, fmt.Errorf("etcd ports file %s: %d ports for a cluster that needs %d; remove the directory to start anew", path, len(out), n)
	}
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%d\n", p)
	}
	return ports, os.WriteFile(path, []byte(b.String()), 0o644)
}

// freePorts returns n loopback ports free now.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
