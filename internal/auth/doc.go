// Package auth is Qun's security core: the cluster CA and the certificates
// it signs (the server's, and each node's after enrolment), bearer tokens
// (tenant tokens with roles and queue scopes, single-use join tokens that
// pin the CA), their store (DATA/auth.db, bbolt; only hashes of secrets),
// and the hash-chained, fsynced audit log of every mutating request.
//
// Only the standard library's crypto is used: crypto/ecdsa keys on P-256,
// crypto/x509 certificates, crypto/sha256 hashes and crypto/subtle
// comparisons. The HTTP side (who may call what) is internal/server's
// authz.go; this package knows nothing of routes.
package auth
