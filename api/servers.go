package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A client of an HA cluster knows every server's address and sends each
// request to the one it believes leads. A follower answers CodeNotLeader,
// naming the leader when it knows it; the client then moves to that
// server. A refused connection (the server is down) or a follower that
// knows no leader (an election is on) moves it to the next server in the
// list. Only answers that prove the request changed nothing are retried
// this way: a request whose connection broke after it was sent may have
// been applied, so that error is returned to the caller, who knows
// whether repeating it is safe.

// clusterRetry bounds how long one request looks for a leader: long
// enough for an election after the leader's lease expired.
const clusterRetry = 15 * time.Second

// serverList is the servers of one cluster client and the one it uses.
type serverList struct {
	bases []string
	mu    sync.Mutex
	cur   int
}

func (l *serverList) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bases[l.cur]
}

// move makes the server at base current (adding it when the list does not
// have it), or the next one after failed when base is "".
func (l *serverList) move(failed, base string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if base != "" {
		for i, b := range l.bases {
			if b == base {
				l.cur = i
				return
			}
		}
		l.bases = append(l.bases, base)
		l.cur = len(l.bases) - 1
		return
	}
	if l.bases[l.cur] == failed {
		l.cur = (l.cur + 1) % len(l.bases)
	}
}

// ParseServers parses a comma-separated list of server addresses (see
// NewClient) into base URLs, rejecting an empty entry or a duplicate.
func ParseServers(list string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for i, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			return nil, fmt.Errorf("server list %q: entry %d is empty; want ADDR[,ADDR…]", list, i+1)
		}
		b, err := parseServerAddr(a)
		if err != nil {
			return nil, fmt.Errorf("server list %q: entry %d: %w", list, i+1, err)
		}
		if seen[b] {
			return nil, fmt.Errorf("server list %q: %s is listed twice", list, b)
		}
		seen[b] = true
		out = append(out, b)
	}
	return out, nil
}

func newClusterClient(list string, opts ...ClientOption) (*Client, error) {
	bases, err := ParseServers(list)
	if err != nil {
		return nil, err
	}
	c := &Client{base: bases[0], hc: &http.Client{Timeout: 60 * time.Second}, servers: &serverList{bases: bases}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// doCluster sends a request to the leader, following CodeNotLeader answers
// and skipping servers that refuse connections, for up to clusterRetry.
func (c *Client) doCluster(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = io.ReadAll(body); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(clusterRetry)
	for tries := 1; ; tries++ {
		base := c.servers.current()
		err := c.doAt(ctx, base, method, path, ctype, bytes.NewReader(data), out)
		hint, retry := retryOn(err)
		if !retry {
			return err
		}
		if hint != "" {
			if b, perr := parseServerAddr(hint); perr == nil && b != base {
				c.servers.move(base, b)
				continue
			}
		}
		c.servers.move(base, "")
		if time.Now().After(deadline) {
			return fmt.Errorf("no leader among %s after %d tries: %w", strings.Join(c.servers.bases, ","), tries, err)
		}
		if tries%len(c.servers.bases) == 0 {
			// A whole round without a leader: an election is on.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// retryOn tells whether err proves the request changed nothing and another
// server should be asked, and the leader the answer named.
func retryOn(err error) (leader string, retry bool) {
	if err == nil {
		return "", false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Leader, e.Code == CodeNotLeader
	}
	return "", errors.Is(err, syscall.ECONNREFUSED)
}
