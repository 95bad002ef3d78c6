package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Roles of tenant tokens.
const (
	RoleReader    = "reader"    // read jobs of its queues (and sub-queues)
	RoleSubmitter = "submitter" // submit, cancel and read jobs of its queues
	RoleAdmin     = "admin"     // everything: nodes, tokens, every queue
)

// Roles lists the roles in order of power.
var Roles = []string{RoleReader, RoleSubmitter, RoleAdmin}

// Record is what the store keeps of a token: never its secret.
type Record struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role,omitempty"`   // tenant tokens
	Queues    []string  `json:"queues,omitempty"` // tenant tokens other than admin
	Join      bool      `json:"join,omitempty"`
	Hash      string    `json:"hash"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"` // zero: never
	Used      bool      `json:"used,omitempty"`   // join tokens: redeemed
	UsedBy    string    `json:"used_by,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
	Rate      float64   `json:"rate,omitempty"` // requests per second; 0: unlimited
	Burst     int       `json:"burst,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// MayQueue reports whether the token's scope covers queue: one of its
// queues or a sub-queue of one. Admin tokens cover every queue.
func (r *Record) MayQueue(queue string) bool {
	if r.Role == RoleAdmin {
		return true
	}
	for _, q := range r.Queues {
		if strings.HasPrefix(queue, q) && (len(queue) == len(q) || queue[len(q)] == '/') {
			return true
		}
	}
	return false
}

// Errors of Authenticate and Redeem. Each means 401 to a client; none says
// which part of the token was wrong beyond what the caller already knows.
var (
	ErrUnknownToken = errors.New("unknown token")
	ErrRevoked      = errors.New("the token was revoked")
	ErrExpired      = errors.New("the token expired")
	ErrUsed         = errors.New("the join token was already used")
	ErrNotJoin      = errors.New("not a join token")
	ErrJoin         = errors.New("a join token can only enrol a node")
)

var (
	bucketTokens = []byte("tokens")
	bucketNodes  = []byte("nodes")
)

// nodeCerts is the set of valid certificate serials of one node.
type nodeCerts struct {
	Serials map[string]time.Time `json:"serials"` // serial → not after
}

// Store keeps tokens and node certificate serials in DATA/auth.db (bbolt)
// and in memory. Every change is on disk (fsynced) before the call returns.
// It is safe for concurrent use.
type Store struct {
	db *bolt.DB

	mu     sync.RWMutex
	tokens map[string]*Record
	nodes  map[string]*nodeCerts
}

// OpenStore opens (or creates) the store at path.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, tokens: map[string]*Record{}, nodes: map[string]*nodeCerts{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketTokens, bucketNodes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			r := &Record{}
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("token %s: %w", k, err)
			}
			s.tokens[r.ID] = r
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			n := &nodeCerts{}
			if err := json.Unmarshal(v, n); err != nil {
				return fmt.Errorf("node %s: %w", k, err)
			}
			s.nodes[string(k)] = n
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("auth store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) putToken(r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketTokens).Put([]byte(r.ID), data) })
}

// HasAdmin reports whether a live admin token exists.
func (s *Store) HasAdmin() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.tokens {
		if r.Role == RoleAdmin && !r.Revoked {
			return true
		}
	}
	return false
}

// TokenSpec is what a new token is made from.
type TokenSpec struct {
	Name      string
	Role      string   // tenant tokens
	Queues    []string // reader and submitter
	Join      bool
	TTL       time.Duration // 0: never expires (tenant tokens only)
	Rate      float64
	Burst     int
	CreatedBy string
}

// Create makes a token, stores its hash and returns its text (shown once)
// and record. caHash is pinned in join tokens.
func (s *Store) Create(spec TokenSpec, caHash string, now time.Time) (string, Record, error) {
	if err := spec.check(); err != nil {
		return "", Record{}, err
	}
	t := newToken(spec.Join, caHash)
	r := &Record{ID: t.ID, Name: spec.Name, Join: spec.Join, Hash: hashSecret(t.Secret), Created: now.UTC(),
		Rate: spec.Rate, Burst: spec.Burst, CreatedBy: spec.CreatedBy}
	if !spec.Join {
		r.Role, r.Queues = spec.Role, slices.Clone(spec.Queues)
	}
	if spec.TTL > 0 {
		r.Expires = now.Add(spec.TTL).UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	if err := s.putToken(r); err != nil {
		return "", Record{}, err
	}
	s.tokens[r.ID] = r
	return t.String(), *r, nil
}

// pruneLocked forgets join tokens that expired a day ago.
func (s *Store) pruneLocked(now time.Time) {
	for id, r := range s.tokens {
		if r.Join && !r.Expires.IsZero() && now.Sub(r.Expires) > 24*time.Hour {
			if s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketTokens).Delete([]byte(id)) }) == nil {
				delete(s.tokens, id)
			}
		}
	}
}

// FieldError is a bad value of a named field.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func (spec TokenSpec) check() error {
	if len(spec.Name) > 128 || strings.ContainsAny(spec.Name, "\n\r\t") {
		return &FieldError{"name", fmt.Sprintf("%q: at most 128 characters, no control characters", spec.Name)}
	}
	if spec.TTL < 0 {
		return &FieldError{"ttl", fmt.Sprintf("%v is negative", spec.TTL)}
	}
	if spec.Rate < 0 || spec.Rate > 1e6 {
		return &FieldError{"rate", fmt.Sprintf("%g: want 0 (unlimited) to 1000000 requests per second", spec.Rate)}
	}
	if spec.Burst < 0 || spec.Burst > 1e6 {
		return &FieldError{"burst", fmt.Sprintf("%d: want 0 to 1000000", spec.Burst)}
	}
	if spec.Join {
		if spec.Role != "" || len(spec.Queues) > 0 {
			return &FieldError{"role", "a join token has no role or queues"}
		}
		if spec.TTL <= 0 || spec.TTL > 7*24*time.Hour {
			return &FieldError{"ttl", fmt.Sprintf("%v: a join token needs a TTL of at most 168h", spec.TTL)}
		}
		return nil
	}
	if !slices.Contains(Roles, spec.Role) {
		return &FieldError{"role", fmt.Sprintf("%q is not a role (allowed: %s)", spec.Role, strings.Join(Roles, ", "))}
	}
	if spec.Role == RoleAdmin && len(spec.Queues) > 0 {
		return &FieldError{"queues", "an admin token covers every queue; name none"}
	}
	if spec.Role != RoleAdmin && len(spec.Queues) == 0 {
		return &FieldError{"queues", "a " + spec.Role + " token needs at least one queue"}
	}
	for _, q := range spec.Queues {
		if !ValidQueuePath(q) {
			return &FieldError{"queues", fmt.Sprintf("%q is not a queue path (names of lower-case letters, digits and '-', joined by '/')", q)}
		}
	}
	return nil
}

// ValidQueuePath reports whether q is a queue path such as research/llm.
func ValidQueuePath(q string) bool {
	if q == "" || len(q) > 255 {
		return false
	}
	for _, part := range strings.Split(q, "/") {
		if part == "" || len(part) > 63 || part[0] == '-' || part[len(part)-1] == '-' {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Authenticate returns the record of a tenant token.
func (s *Store) Authenticate(t Token, now time.Time) (*Record, error) {
	if t.Join {
		return nil, ErrJoin
	}
	s.mu.RLock()
	r, ok := s.tokens[t.ID]
	s.mu.RUnlock()
	switch {
	case !ok || r.Join || !secretMatches(t.Secret, r.Hash):
		return nil, ErrUnknownToken
	case r.Revoked:
		return nil, ErrRevoked
	case !r.Expires.IsZero() && !now.Before(r.Expires):
		return nil, ErrExpired
	}
	return r, nil
}

// Redeem uses a join token once, for node. It fails for an unknown, forged,
// expired or used token and for one that pins another CA.
func (s *Store) Redeem(t Token, caHash, node string, now time.Time) (*Record, error) {
	if !t.Join {
		return nil, ErrNotJoin
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tokens[t.ID]
	switch {
	case !ok || !r.Join || !secretMatches(t.Secret, r.Hash) || t.CAHash != caHash:
		return nil, ErrUnknownToken
	case r.Revoked:
		return nil, ErrRevoked
	case r.Used:
		return nil, ErrUsed
	case !now.Before(r.Expires):
		return nil, ErrExpired
	}
	used := *r
	used.Used, used.UsedBy = true, node
	if err := s.putToken(&used); err != nil {
		return nil, err
	}
	*r = used
	return r, nil
}

// Revoke revokes a token by ID.
func (s *Store) Revoke(id string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tokens[id]
	if !ok {
		return Record{}, ErrUnknownToken
	}
	rev := *r
	rev.Revoked = true
	if err := s.putToken(&rev); err != nil {
		return Record{}, err
	}
	*r = rev
	return rev, nil
}

// List returns every token record, oldest first.
func (s *Store) List() []Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Record, 0, len(s.tokens))
	for _, r := range s.tokens {
		out = append(out, *r)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Created.Equal(out[b].Created) {
			return out[a].Created.Before(out[b].Created)
		}
		return out[a].ID < out[b].ID
	})
	return out
}

// AllowCert records a certificate serial as valid for node until notAfter;
// serials that expired are dropped.
func (s *Store) AllowCert(node, serial string, notAfter, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := &nodeCerts{Serials: map[string]time.Time{}}
	if old, ok := s.nodes[node]; ok {
		for k, v := range old.Serials {
			if now.Before(v) {
				n.Serials[k] = v
			}
		}
	}
	n.Serials[serial] = notAfter.UTC()
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNodes).Put([]byte(node), data) }); err != nil {
		return err
	}
	s.nodes[node] = n
	return nil
}

// CertValid reports whether serial is a live certificate of node.
func (s *Store) CertValid(node, serial string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.nodes[node]
	if !ok {
		return false
	}
	_, ok = n.Serials[serial]
	return ok
}

// RevokeNode revokes every certificate of node.
func (s *Store) RevokeNode(node string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNodes).Delete([]byte(node)) }); err != nil {
		return err
	}
	delete(s.nodes, node)
	return nil
}
