package api

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The node stream (docs/agent.md, "Transport"): an agent opens
//
//	GET /v1/nodes/{name}/stream?boot_id=ID
//	Connection: Upgrade
//	Upgrade: qun-stream/1
//
// and, after 101 Switching Protocols, both sides exchange frames on the
// same (TLS) connection: a 4-byte big-endian length n, then n bytes: one
// frame type byte and the payload. The agent sends rank reports when they
// change and pings; the server pushes assignment deltas when they change.
const (
	StreamProtocol = "qun-stream/1"
	// StreamPingHeader and StreamTimeoutHeader, in the 101 answer, give the
	// ping interval the server wants and the silence after which it drops
	// the stream and counts the node's time without a sign of life.
	StreamPingHeader    = "Qun-Ping-Interval"
	StreamTimeoutHeader = "Qun-Ping-Timeout"
	// MaxStreamFrame bounds a frame's length (type byte and payload).
	MaxStreamFrame = 4 << 20
)

// Frame types.
const (
	// FramePing (agent → server): a sign of life. An empty payload asks for
	// nothing; an 8-byte token asks for a FramePong carrying it back.
	FramePing byte = 'p'
	// FramePong (server → agent): the token of a ping that asked for one.
	FramePong byte = 'o'
	// FrameReport (agent → server): an 8-byte big-endian sequence number,
	// then the JSON of a HeartbeatRequest (every rank, as in a heartbeat).
	FrameReport byte = 'r'
	// FrameAssign (server → agent): the JSON of a StreamAssignments.
	FrameAssign byte = 'a'
	// FrameError (server → agent): the JSON of an Error; the server closes
	// the stream after it (not_found, conflict, gone: register again).
	FrameError byte = 'e'
	// FrameFiles (server → agent): a 2-byte big-endian length n, n bytes
	// of a reference, then the JSON of an assignment's Files (a name →
	// content map) compressed with DEFLATE (RFC 1951). The server sends it
	// once per stream, before the first StreamAssignments naming it in
	// FileRefs: the ranks of a job share one file set (an 8,192-chip HCCL
	// rank table is about a megabyte), so a launch moves it compressed and
	// encodes it once.
	FrameFiles byte = 'f'
)

// StreamAssignments is a change of the ranks a node must run. Full
// replaces the agent's list with Set; otherwise Set adds (or replaces, by
// job, attempt and rank) and Remove drops. Answer is the sequence number
// of the newest report the server had processed before computing it (0: a
// push nobody asked for): an exit carried by that report and absent from
// the list is acknowledged.
type StreamAssignments struct {
	Answer uint64       `json:"answer,omitempty"`
	Full   bool         `json:"full,omitempty"`
	Set    []Assignment `json:"set,omitempty"`
	// FileRefs, when present, is parallel to Set: a non-empty entry names
	// the FrameFiles whose map is that assignment's Files (sent without
	// them).
	FileRefs []string  `json:"file_refs,omitempty"`
	Remove   []RankRef `json:"remove,omitempty"`
}

// AppendFilesFrame appends a FrameFiles frame for files under ref.
func AppendFilesFrame(dst []byte, ref string, files map[string]string) ([]byte, error) {
	data, err := json.Marshal(files)
	if err != nil {
		return nil, err
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestSpeed)
	w.Write(data)
	if err := w.Close(); err != nil {
		return nil, err
	}
	if len(ref) > 0xffff {
		return nil, fmt.Errorf("files reference of %d bytes", len(ref))
	}
	return AppendFrame(dst, FrameFiles, binary.BigEndian.AppendUint16(nil, uint16(len(ref))), []byte(ref), z.Bytes()), nil
}

// ParseFilesFrame reads a FrameFiles payload. The decompressed map may be
// at most limit bytes of JSON.
func ParseFilesFrame(p []byte, limit int64) (ref string, files map[string]string, err error) {
	if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
		return "", nil, fmt.Errorf("files frame of %d bytes: want a 2-byte length, the reference, the compressed files", len(p))
	}
	n := int(binary.BigEndian.Uint16(p))
	ref = string(p[2 : 2+n])
	r := flate.NewReader(bytes.NewReader(p[2+n:]))
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return "", nil, fmt.Errorf("files frame %s: %w", ref, err)
	}
	if int64(len(data)) > limit {
		return "", nil, fmt.Errorf("files frame %s: more than %d bytes uncompressed", ref, limit)
	}
	if err := json.Unmarshal(data, &files); err != nil {
		return "", nil, fmt.Errorf("files frame %s: %w", ref, err)
	}
	return ref, files, nil
}

// RankRef names one rank of one attempt of a job.
type RankRef struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
	Rank    int    `json:"rank"`
}

// RefOf names the rank an assignment is for.
func RefOf(a Assignment) RankRef { return RankRef{a.JobID, a.Attempt, a.Rank} }

// AppendFrame appends one frame to dst.
func AppendFrame(dst []byte, typ byte, payload ...[]byte) []byte {
	n := 1
	for _, p := range payload {
		n += len(p)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, typ)
	for _, p := range payload {
		dst = append(dst, p...)
	}
	return dst
}

// ErrFrameTooLarge is returned by ReadFrame for a frame above its limit.
var ErrFrameTooLarge = errors.New("stream frame too large")

// ReadFrame reads one frame of at most limit bytes. *buf is reused for
// the frame when it is large enough (and replaced when not, up to 64 KiB);
// the payload is valid until the next call with the same buf.
func ReadFrame(r *bufio.Reader, limit int, buf *[]byte) (typ byte, payload []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	switch {
	case n == 0:
		return 0, nil, errors.New("stream frame of length 0 (no type byte)")
	case n > limit:
		return 0, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrFrameTooLarge, n, limit)
	}
	b := *buf
	if cap(b) < n {
		b = make([]byte, n)
		if n <= 64<<10 {
			*buf = b
		}
	}
	b = b[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return b[0], b[1:], nil
}

// ErrNoStreamEndpoint is in the chain of DialStream's error when the
// server does not offer node streams (a server from before them answers
// 404 "no endpoint"); agents then post heartbeats.
var ErrNoStreamEndpoint = errors.New("the server has no node stream endpoint")

// StreamOptions says how to open a node stream.
type StreamOptions struct {
	// Server is the server's base URL (http://host:port or https://...).
	Server string
	Node   string
	BootID string
	// TLS is the client configuration for https (the node certificate);
	// nil uses the defaults. Its NextProtos is replaced by http/1.1: the
	// upgrade needs HTTP/1.1.
	TLS *tls.Config
	// LocalAddr, when set, is the local address to dial from.
	LocalAddr net.Addr
	// Header is added to the upgrade request (e.g. Authorization).
	Header http.Header
	// Timeout bounds the dial and the upgrade; default 10 s.
	Timeout time.Duration
}

// Stream is the agent's end of an open node stream. WriteFrame is safe
// for concurrent use; ReadFrame must be called from one goroutine.
type Stream struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	// PingInterval and PingTimeout are what the server asked for.
	PingInterval, PingTimeout time.Duration

	wmu  sync.Mutex
	wbuf []byte
}

// DialStream opens a node stream. A server that answers with an API error
// (node not registered, other boot ID, removed) returns it as *Error; one
// that does not know the endpoint returns an *Error with CodeNotFound.
func DialStream(ctx context.Context, o StreamOptions) (*Stream, error) {
	u, err := url.Parse(o.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server address %q: want http://host:port or https://host:port", o.Server)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	d := net.Dialer{LocalAddr: o.LocalAddr, KeepAlive: -1}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if o.TLS != nil {
			cfg = o.TLS.Clone()
		}
		cfg.NextProtos = []string{"http/1.1"}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	s, err := upgrade(conn, u, o)
	if !stop() || err != nil {
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return s, nil
}

func upgrade(conn net.Conn, u *url.URL, o StreamOptions) (*Stream, error) {
	path := strings.TrimSuffix(u.Path, "/") + "/v1/nodes/" + url.PathEscape(o.Node) + "/stream?boot_id=" + url.QueryEscape(o.BootID)
	req, err := http.NewRequest(http.MethodGet, u.Scheme+"://"+u.Host+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range o.Header {
		req.Header[k] = v
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", StreamProtocol)
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e Error
		plain := json.Unmarshal(data, &e) != nil || e.Code == ""
		if plain {
			e = Error{Code: codeOf(resp.StatusCode), Message: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(data)))}
		}
		if resp.StatusCode == http.StatusNotFound && (plain || strings.HasPrefix(e.Message, "no endpoint")) {
			return nil, fmt.Errorf("%w: %w", ErrNoStreamEndpoint, &e)
		}
		return nil, &e
	}
	s := &Stream{conn: conn, br: br}
	s.PingInterval, _ = time.ParseDuration(resp.Header.Get(StreamPingHeader))
	s.PingTimeout, _ = time.ParseDuration(resp.Header.Get(StreamTimeoutHeader))
	if s.PingInterval <= 0 {
		s.PingInterval = time.Second
	}
	if s.PingTimeout <= 0 {
		s.PingTimeout = 10 * s.PingInterval
	}
	return s, nil
}

// WriteFrame writes one frame, failing after timeout.
func (s *Stream) WriteFrame(typ byte, timeout time.Duration, payload ...[]byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wbuf = AppendFrame(s.wbuf[:0], typ, payload...)
	s.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := s.conn.Write(s.wbuf)
	return err
}

// Ping sends a ping; a non-zero token asks for a pong.
func (s *Stream) Ping(token uint64, timeout time.Duration) error {
	if token == 0 {
		return s.WriteFrame(FramePing, timeout)
	}
	return s.WriteFrame(FramePing, timeout, binary.BigEndian.AppendUint64(nil, token))
}

// Report sends a rank report with sequence number seq.
func (s *Stream) Report(seq uint64, req HeartbeatRequest, timeout time.Duration) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return s.WriteFrame(FrameReport, timeout, binary.BigEndian.AppendUint64(nil, seq), data)
}

// ReadFrame reads the next frame from the server, waiting at most timeout
// (0: no limit). The payload is valid until the next call.
func (s *Stream) ReadFrame(timeout time.Duration) (byte, []byte, error) {
	if timeout > 0 {
		s.conn.SetReadDeadline(time.Now().Add(timeout))
	}
	return ReadFrame(s.br, MaxStreamFrame, &s.buf)
}

// Close closes the stream's connection.
func (s *Stream) Close() error { return s.conn.Close() }

// LocalAddr returns the local address of the stream's connection.
func (s *Stream) LocalAddr() net.Addr { return s.conn.LocalAddr() }
