package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultAddr is where clients look for the server when told nothing else.
const DefaultAddr = "https://127.0.0.1:7070"

// Client calls the v1 API of one server. It is safe for concurrent use.
type Client struct {
	base  string // scheme://host:port, no trailing slash
	hc    *http.Client
	token string // sent as a bearer token when set
	// servers is set when the client was given several servers (an HA
	// cluster): requests go to the one it believes leads (see servers.go).
	servers *serverList
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient makes the client send requests through hc.
func WithHTTPClient(hc *http.Client) ClientOption { return func(c *Client) { c.hc = hc } }

// NewClient returns a client for the server at addr: a URL such as
// "http://127.0.0.1:7070", or host:port, which means http. A
// comma-separated list of addresses names the servers of an HA cluster;
// the client then finds and follows the leader (see servers.go).
func NewClient(addr string, opts ...ClientOption) (*Client, error) {
	if strings.Contains(addr, ",") {
		return newClusterClient(addr, opts...)
	}
	base, err := parseServerAddr(addr)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, hc: &http.Client{Timeout: 60 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// parseServerAddr turns a server address into a base URL.
func parseServerAddr(addr string) (string, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("server address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("server address %q: want http://host:port", addr)
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/"), nil
}

// Addr returns the server's base URL.
func (c *Client) Addr() string {
	if c.servers != nil {
		return c.servers.current()
	}
	return c.base
}

// ErrorCode returns the Code of the *Error in err's chain, or "" when err
// did not come from the server (a transport failure, say).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// SubmitJob submits a job spec, as the JSON of a qun/v1 Job, and returns
// the accepted job. The job is durable when SubmitJob returns.
func (c *Client) SubmitJob(ctx context.Context, spec []byte) (*Job, error) {
	var j Job
	return &j, c.do(ctx, http.MethodPost, "/v1/jobs", "application/json", bytes.NewReader(spec), &j)
}

// ListJobsOptions filters ListJobs; empty fields match everything.
type ListJobsOptions struct {
	State JobState
	Queue string
}

// ListJobs lists jobs in ID order.
func (c *Client) ListJobs(ctx context.Context, o ListJobsOptions) (*JobList, error) {
	q := url.Values{}
	if o.State != "" {
		q.Set("state", string(o.State))
	}
	if o.Queue != "" {
		q.Set("queue", o.Queue)
	}
	p := "/v1/jobs"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var l JobList
	return &l, c.do(ctx, http.MethodGet, p, "", nil, &l)
}

// GetJob returns one job.
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	var j Job
	return &j, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), "", nil, &j)
}

// CancelJob cancels a job and returns it; cancelling a finished job is a
// conflict.
func (c *Client) CancelJob(ctx context.Context, id string) (*Job, error) {
	var j Job
	return &j, c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/cancel", "", nil, &j)
}

// ExplainJob returns why a job is placed or pending.
func (c *Client) ExplainJob(ctx context.Context, id string) (*Explanation, error) {
	var e Explanation
	return &e, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/explain", "", nil, &e)
}

// LogOptions selects one log of a job. Attempt < 0 means the job's current
// attempt; Stream "" means stdout.
type LogOptions struct {
	Rank    int
	Attempt int
	Stream  string
	Offset  int64 // reads start at this byte of the log (GET only)
}

func (o LogOptions) query() string {
	q := url.Values{}
	q.Set("rank", strconv.Itoa(o.Rank))
	if o.Attempt >= 0 {
		q.Set("attempt", strconv.Itoa(o.Attempt))
	}
	if o.Stream != "" {
		q.Set("stream", o.Stream)
	}
	if o.Offset > 0 {
		q.Set("offset", strconv.FormatInt(o.Offset, 10))
	}
	return q.Encode()
}

// JobLogs returns the log of one rank of a job.
func (c *Client) JobLogs(ctx context.Context, id string, o LogOptions) ([]byte, error) {
	var b bytes.Buffer
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/logs?"+o.query(), "", nil, &b)
	return b.Bytes(), err
}

// AppendLogs appends data to the log of one rank of a job (agents call it).
// o.Attempt must be given.
func (c *Client) AppendLogs(ctx context.Context, id string, o LogOptions, data []byte) error {
	return c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(id)+"/logs?"+o.query(), "application/octet-stream", bytes.NewReader(data), nil)
}

// RegisterNode registers (or idempotently re-registers) a node.
func (c *Client) RegisterNode(ctx context.Context, r RegisterRequest) (*Node, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var n Node
	return &n, c.do(ctx, http.MethodPost, "/v1/nodes", "application/json", bytes.NewReader(body), &n)
}

// Heartbeat reports a node's ranks and returns what it should run.
func (c *Client) Heartbeat(ctx context.Context, node string, r HeartbeatRequest) (*HeartbeatResponse, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var h HeartbeatResponse
	return &h, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/heartbeat", "application/json", bytes.NewReader(body), &h)
}

// ListNodes lists the registered nodes.
func (c *Client) ListNodes(ctx context.Context) (*NodeList, error) {
	var l NodeList
	return &l, c.do(ctx, http.MethodGet, "/v1/nodes", "", nil, &l)
}

// RemoveNode removes a node; its later heartbeats get CodeGone.
func (c *Client) RemoveNode(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/nodes/"+url.PathEscape(name), "", nil, nil)
}

// ListQueues lists the queues with their usage.
func (c *Client) ListQueues(ctx context.Context) (*QueueList, error) {
	var l QueueList
	return &l, c.do(ctx, http.MethodGet, "/v1/queues", "", nil, &l)
}

// Pool returns the pool summary as JSON.
func (c *Client) Pool(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	return raw, c.do(ctx, http.MethodGet, "/v1/pool", "", nil, &raw)
}

// PoolMap returns the aggregated map of a domain (0 is the root) and its
// descendants down to depth levels (a leaf's chips count as one level).
func (c *Client) PoolMap(ctx context.Context, domain, depth int) (*PoolMap, error) {
	var m PoolMap
	q := url.Values{"domain": {strconv.Itoa(domain)}, "depth": {strconv.Itoa(depth)}}
	return &m, c.do(ctx, http.MethodGet, "/v1/pool/map?"+q.Encode(), "", nil, &m)
}

// JobPlacement returns where a job's chips are and its modelled
// communication.
func (c *Client) JobPlacement(ctx context.Context, id string) (*JobPlacement, error) {
	var p JobPlacement
	return &p, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/placement", "", nil, &p)
}

// UsageHistory returns chip-hours per queue and kind over the window ending
// now, in buckets of step (zero values: the server's defaults).
func (c *Client) UsageHistory(ctx context.Context, window, step time.Duration) (*UsageHistory, error) {
	q := url.Values{}
	if window > 0 {
		q.Set("window", window.String())
	}
	if step > 0 {
		q.Set("step", step.String())
	}
	var u UsageHistory
	return &u, c.do(ctx, http.MethodGet, "/v1/usage/history?"+q.Encode(), "", nil, &u)
}

// JobLogTail returns at most the last n bytes (0: the server's default) of
// one rank's log, from a line start where one is in range.
func (c *Client) JobLogTail(ctx context.Context, id string, o LogOptions, n int) ([]byte, error) {
	q := o.query()
	if n > 0 {
		q += "&bytes=" + strconv.Itoa(n)
	}
	var b bytes.Buffer
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/logs/tail?"+q, "", nil, &b)
	return b.Bytes(), err
}

// maxResponse bounds what the client reads from the server.
const maxResponse = 256 << 20

// do sends a request and decodes a 2xx answer into out (a *bytes.Buffer
// takes the raw body; nil discards it). Any other status is returned as an
// *Error.
func (c *Client) do(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	if c.servers != nil {
		return c.doCluster(ctx, method, path, ctype, body, out)
	}
	return c.doAt(ctx, c.base, method, path, ctype, body, out)
}

// doAt sends one request to the server at base.
func (c *Client) doAt(ctx context.Context, base, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := readAnswer(resp)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			e = &Error{Code: codeOf(resp.StatusCode), Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))}
		}
		return e
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *bytes.Buffer:
		o.Write(data)
		return nil
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
		return nil
	}
}

// readAnswer reads an answer's body, at most maxResponse bytes, in one
// buffer of its announced length when it has one.
func readAnswer(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= maxResponse {
		buf := make([]byte, n) // net/http holds the body to its announced length
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxResponse))
}

// CordonNode keeps new work off a node; its running ranks stay.
func (c *Client) CordonNode(ctx context.Context, name, reason string) (*Node, error) {
	return c.nodeOp(ctx, name, "cordon", reason)
}

// UncordonNode lets a cordoned node take new work again.
func (c *Client) UncordonNode(ctx context.Context, name string) (*Node, error) {
	return c.nodeOp(ctx, name, "uncordon", "")
}

// DrainNode cordons a node and moves every rank off it: their jobs recover
// elsewhere (docs/recovery.md).
func (c *Client) DrainNode(ctx context.Context, name, reason string) (*Node, error) {
	return c.nodeOp(ctx, name, "drain", reason)
}

func (c *Client) nodeOp(ctx context.Context, name, op, reason string) (*Node, error) {
	body, err := json.Marshal(CordonRequest{Reason: reason})
	if err != nil {
		return nil, err
	}
	var n Node
	return &n, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(name)+"/"+op, "application/json", bytes.NewReader(body), &n)
}
