package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Error codes of authentication and authorization.
const (
	CodeUnauthorized    = "unauthorized"      // 401: no, unknown, expired or revoked credentials
	CodeForbidden       = "forbidden"         // 403: known caller, not allowed
	CodeTooManyRequests = "too_many_requests" // 429: the token's rate limit
)

// TokenRequest asks for a new token (POST /v1/tokens, admin only).
type TokenRequest struct {
	Name   string   `json:"name,omitempty"`
	Role   string   `json:"role,omitempty"`   // reader, submitter or admin; none for join tokens
	Queues []string `json:"queues,omitempty"` // reader and submitter: the queues (and their sub-queues)
	Join   bool     `json:"join,omitempty"`   // a single-use join token for one agent
	TTL    Duration `json:"ttl,omitempty"`    // 0: never expires (not for join tokens)
	Rate   float64  `json:"rate,omitempty"`   // requests per second; 0: unlimited
	Burst  int      `json:"burst,omitempty"`
}

// Token describes a token; its secret is never shown again.
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Role    string    `json:"role,omitempty"`
	Queues  []string  `json:"queues,omitempty"`
	Join    bool      `json:"join,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
	Used    bool      `json:"used,omitempty"`
	UsedBy  string    `json:"used_by,omitempty"`
	Revoked bool      `json:"revoked,omitempty"`
	Rate    float64   `json:"rate,omitempty"`
	Burst   int       `json:"burst,omitempty"`
}

// NewToken is the answer to POST /v1/tokens: the token's text, shown once.
type NewToken struct {
	Token  string `json:"token"`
	Record Token  `json:"record"`
}

// TokenList is the answer to GET /v1/tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// EnrolRequest is what an agent sends to POST /v1/enrol: its join token,
// its node name and a PEM certificate request for its key.
type EnrolRequest struct {
	Token string `json:"token"`
	Node  string `json:"node"`
	CSR   string `json:"csr"`
}

// Certificate is a node's signed client certificate and the cluster CA.
type Certificate struct {
	Certificate string    `json:"certificate"` // PEM
	CA          string    `json:"ca"`          // PEM
	NotAfter    time.Time `json:"not_after"`
}

// RenewRequest is what an agent sends to POST /v1/nodes/NAME/certificate,
// over mTLS with its current certificate.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RunAs names the user and group a job's ranks run as (from its queue).
type RunAs struct {
	User  string `json:"user"`
	Group string `json:"group,omitempty"` // default: the user's primary group
}

// WithToken makes the client send "Authorization: Bearer token".
func WithToken(token string) ClientOption { return func(c *Client) { c.token = token } }

// As returns a copy of the client that sends token instead; it shares the
// connections.
func (c *Client) As(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// WithTLS makes the client use cfg for https.
func WithTLS(cfg *tls.Config) ClientOption {
	return func(c *Client) {
		c.hc = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			TLSClientConfig: cfg, MaxIdleConnsPerHost: 256, ForceAttemptHTTP2: true,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
		}}
	}
}

// CreateToken creates a token (admin only).
func (c *Client) CreateToken(ctx context.Context, r TokenRequest) (*NewToken, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var t NewToken
	return &t, c.do(ctx, http.MethodPost, "/v1/tokens", "application/json", bytes.NewReader(body), &t)
}

// ListTokens lists every token (admin only).
func (c *Client) ListTokens(ctx context.Context) (*TokenList, error) {
	var l TokenList
	return &l, c.do(ctx, http.MethodGet, "/v1/tokens", "", nil, &l)
}

// RevokeToken revokes a token by ID (admin only).
func (c *Client) RevokeToken(ctx context.Context, id string) (*Token, error) {
	var t Token
	return &t, c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), "", nil, &t)
}

// Enrol redeems a join token for a node certificate.
func (c *Client) Enrol(ctx context.Context, r EnrolRequest) (*Certificate, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var cert Certificate
	return &cert, c.do(ctx, http.MethodPost, "/v1/enrol", "application/json", bytes.NewReader(body), &cert)
}

// RenewCertificate asks for a fresh certificate for node (mTLS).
func (c *Client) RenewCertificate(ctx context.Context, node string, r RenewRequest) (*Certificate, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var cert Certificate
	return &cert, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/certificate", "application/json", bytes.NewReader(body), &cert)
}
