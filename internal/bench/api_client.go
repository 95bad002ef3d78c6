package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/qunhq/qun/api"
)

// submitConn is one submitting client of the API benchmark: its own
// HTTP/1.1 connection (TLS with authentication), one request at a time,
// as api.Client sends them, but without net/http's client machinery (a
// transport's reader and writer goroutines, header copies, timers), whose
// CPU would be taken from the server on the machine they share. A
// submission is acknowledged when the answer is 201 with a job ID.
type submitConn struct {
	c    net.Conn
	r    *bufio.Reader
	head []byte // the request line and headers, up to Content-Length's value
	buf  []byte
}

// submitters opens clients submitting connections to the benchmark's
// server, their TLS handshakes done, before the clock starts. Both modes
// speak HTTP/1.1, so that the comparison of authentication on and off
// measures authentication (TLS, tokens, audit) and not the HTTP version.
func (b *benchServer) submitters(ctx context.Context, clients int) ([]*submitConn, error) {
	var tc *tls.Config
	if b.tls != nil {
		// A copy: an HTTP/2 transport sharing the config adds "h2" to it.
		tc = b.tls.Clone()
		tc.NextProtos = []string{"http/1.1"}
		tc.ServerName = "127.0.0.1"
	}
	head := "POST /v1/jobs HTTP/1.1\r\nHost: " + b.addr + "\r\nContent-Type: application/json\r\n"
	if b.token != "" {
		head += "Authorization: Bearer " + b.token + "\r\n"
	}
	head += "Content-Length: "
	d := &net.Dialer{Timeout: 10 * time.Second}
	var subs []*submitConn
	for range clients {
		c, err := d.DialContext(ctx, "tcp", b.addr)
		if err != nil {
			closeAll(subs)
			return nil, fmt.Errorf("open a submitter's connection: %w", err)
		}
		if tc != nil {
			tlc := tls.Client(c, tc)
			if err := tlc.HandshakeContext(ctx); err != nil {
				c.Close()
				closeAll(subs)
				return nil, fmt.Errorf("a submitter's TLS handshake: %w", err)
			}
			c = tlc
		}
		subs = append(subs, &submitConn{c: c, r: bufio.NewReader(c), head: []byte(head)})
	}
	return subs, nil
}

func closeAll(subs []*submitConn) {
	for _, s := range subs {
		s.c.Close()
	}
}

// submit sends one job spec and returns the ID the server answered with.
func (s *submitConn) submit(spec []byte) (string, error) {
	s.buf = append(s.buf[:0], s.head...)
	s.buf = strconv.AppendInt(s.buf, int64(len(spec)), 10)
	s.buf = append(s.buf, "\r\n\r\n"...)
	s.buf = append(s.buf, spec...)
	s.c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := s.c.Write(s.buf); err != nil {
		return "", fmt.Errorf("POST /v1/jobs: %w", err)
	}
	resp, err := http.ReadResponse(s.r, nil)
	if err != nil {
		return "", fmt.Errorf("POST /v1/jobs: reading the answer: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("POST /v1/jobs: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var e api.Error
		if json.Unmarshal(body, &e) == nil && e.Code != "" {
			return "", &e
		}
		return "", fmt.Errorf("POST /v1/jobs: %s: %s", resp.Status, body)
	}
	var j struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &j); err != nil || j.ID == "" {
		return "", fmt.Errorf("POST /v1/jobs: an answer without a job ID: %q", body)
	}
	return j.ID, nil
}
