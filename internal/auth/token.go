package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Token text formats. Every part is lower-case hex so that a token survives
// shells, URLs and YAML unquoted:
//
//	qun1.ID.SECRET             a tenant (API) token
//	qunjoin1.CAHASH.ID.SECRET  a join token: CAHASH is the SHA-256 of the
//	                           CA certificate (DER) the agent must find
//
// ID is 16 hex digits (8 random bytes), public: it names the token in
// listings and the audit log. SECRET is 64 hex digits (32 random bytes);
// the server keeps only its SHA-256.
const (
	apiPrefix  = "qun1."
	joinPrefix = "qunjoin1."
	idLen      = 16
	secretLen  = 64
	hashLen    = 64
	// MaxTokenLen bounds what ParseToken looks at.
	MaxTokenLen = len(joinPrefix) + hashLen + 1 + idLen + 1 + secretLen
)

// Token is a parsed token.
type Token struct {
	Join   bool
	CAHash string // join tokens only
	ID     string
	Secret string
}

// String returns the token's text.
func (t Token) String() string {
	if t.Join {
		return joinPrefix + t.CAHash + "." + t.ID + "." + t.Secret
	}
	return apiPrefix + t.ID + "." + t.Secret
}

// ErrMalformed is wrapped by every ParseToken and ParseAuthorization error.
var ErrMalformed = errors.New("malformed token")

// ParseToken parses a token's text. Errors never quote the secret part.
func ParseToken(s string) (Token, error) {
	if len(s) > MaxTokenLen {
		return Token{}, fmt.Errorf("%w: %d characters, at most %d", ErrMalformed, len(s), MaxTokenLen)
	}
	var t Token
	var parts []string
	switch {
	case strings.HasPrefix(s, apiPrefix):
		parts = strings.Split(s[len(apiPrefix):], ".")
		if len(parts) != 2 {
			return Token{}, fmt.Errorf("%w: want qun1.ID.SECRET", ErrMalformed)
		}
		t.ID, t.Secret = parts[0], parts[1]
	case strings.HasPrefix(s, joinPrefix):
		parts = strings.Split(s[len(joinPrefix):], ".")
		if len(parts) != 3 {
			return Token{}, fmt.Errorf("%w: want qunjoin1.CAHASH.ID.SECRET", ErrMalformed)
		}
		t.Join, t.CAHash, t.ID, t.Secret = true, parts[0], parts[1], parts[2]
		if !isHex(t.CAHash, hashLen) {
			return Token{}, fmt.Errorf("%w: the CA hash is not %d hex digits", ErrMalformed, hashLen)
		}
	default:
		return Token{}, fmt.Errorf("%w: it starts with neither %q nor %q", ErrMalformed, apiPrefix, joinPrefix)
	}
	if !isHex(t.ID, idLen) {
		return Token{}, fmt.Errorf("%w: the ID is not %d hex digits", ErrMalformed, idLen)
	}
	if !isHex(t.Secret, secretLen) {
		return Token{}, fmt.Errorf("%w: the secret is not %d hex digits", ErrMalformed, secretLen)
	}
	return t, nil
}

// ParseAuthorization returns the token of an HTTP Authorization header
// value "Bearer TOKEN" (the scheme is case-insensitive, one or more spaces
// follow it). An empty header is ErrNoCredentials.
func ParseAuthorization(h string) (Token, error) {
	if h == "" {
		return Token{}, ErrNoCredentials
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Token{}, fmt.Errorf("%w: the Authorization header is not \"Bearer TOKEN\"", ErrMalformed)
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" || strings.ContainsAny(rest, " \t") {
		return Token{}, fmt.Errorf("%w: the Authorization header is not \"Bearer TOKEN\"", ErrMalformed)
	}
	return ParseToken(rest)
}

// ErrNoCredentials means the request carried no token and no certificate.
var ErrNoCredentials = errors.New("no credentials: send \"Authorization: Bearer TOKEN\" (see qun token)")

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// newToken returns a fresh random token.
func newToken(join bool, caHash string) Token {
	id, secret := make([]byte, idLen/2), make([]byte, secretLen/2)
	rand.Read(id)
	rand.Read(secret)
	return Token{Join: join, CAHash: caHash, ID: hex.EncodeToString(id), Secret: hex.EncodeToString(secret)}
}

// hashSecret is what the store keeps of a secret.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// secretMatches compares a secret with a stored hash in constant time. It
// runs on every request with a token, so it allocates nothing.
func secretMatches(secret, hash string) bool {
	var in [secretLen]byte
	if len(secret) != len(in) || len(hash) != hashLen {
		return false
	}
	copy(in[:], secret)
	sum := sha256.Sum256(in[:])
	var hx [hashLen]byte
	hex.Encode(hx[:], sum[:])
	var diff byte
	for i := range hx {
		diff |= hx[i] ^ hash[i]
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}
