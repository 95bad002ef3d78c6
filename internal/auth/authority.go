package auth

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Options say how a server secures itself.
type Options struct {
	DataDir string
	// CACert and CAKey name a CA to use; empty: DATA/ca.crt and DATA/ca.key,
	// created on first start.
	CACert, CAKey string
	// Names are the DNS names and IP addresses the server certificate is
	// valid for.
	Names       []string
	NodeCertTTL time.Duration // default 24h
	// Plaintext turns TLS and authentication off (audit stays on).
	Plaintext bool
}

// Authority is a server's security state: its CA, server certificate,
// token store and audit log.
type Authority struct {
	CA          *CA         // nil in plaintext mode
	Store       *Store      // nil in plaintext mode: authentication is off
	Audit       *Log        // always
	TLS         *tls.Config // nil in plaintext mode
	NodeCertTTL time.Duration
	// AdminToken is the admin token created by this Open (first start);
	// empty otherwise. It is also in AdminTokenFile (0600).
	AdminToken     string
	AdminTokenFile string
	CAFile         string
}

// Files in the data directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	AdminTokenFile = "admin.token"
	StoreFile      = "auth.db"
	AuditFile      = "audit.log"
)

// Open loads or creates everything a secured server needs in o.DataDir.
func Open(o Options) (*Authority, error) {
	if o.NodeCertTTL <= 0 {
		o.NodeCertTTL = 24 * time.Hour
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	a := &Authority{NodeCertTTL: o.NodeCertTTL}
	var err error
	if a.Audit, err = OpenLog(filepath.Join(o.DataDir, AuditFile)); err != nil {
		return nil, fmt.Errorf("%w (check it with qun audit --verify; move it aside to start a new log)", err)
	}
	if o.Plaintext {
		return a, nil
	}
	certFile, keyFile := o.CACert, o.CAKey
	if (certFile == "") != (keyFile == "") {
		a.Close()
		return nil, errors.New("--ca-cert and --ca-key go together")
	}
	if certFile == "" {
		certFile, keyFile = filepath.Join(o.DataDir, CACertFile), filepath.Join(o.DataDir, CAKeyFile)
		a.CA, _, err = LoadOrCreateCA(certFile, keyFile)
	} else {
		a.CA, err = LoadCA(certFile, keyFile)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	a.CAFile = certFile
	if certFile != filepath.Join(o.DataDir, CACertFile) {
		// Clients and qun up find the CA in the data directory.
		if err := WriteFileSync(filepath.Join(o.DataDir, CACertFile), a.CA.CertPEM, 0o644); err != nil {
			a.Close()
			return nil, err
		}
		a.CAFile = filepath.Join(o.DataDir, CACertFile)
	}
	cert, err := a.CA.ServerCert(o.Names, 397*24*time.Hour)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	a.TLS = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    a.CA.Pool(),
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if a.Store, err = OpenStore(filepath.Join(o.DataDir, StoreFile)); err != nil {
		a.Close()
		return nil, err
	}
	a.AdminTokenFile = filepath.Join(o.DataDir, AdminTokenFile)
	if !a.Store.HasAdmin() {
		tok, _, err := a.Store.Create(TokenSpec{Name: "admin", Role: RoleAdmin, CreatedBy: "first start"}, "", time.Now())
		if err != nil {
			a.Close()
			return nil, err
		}
		if err := WriteSecretFile(a.AdminTokenFile, []byte(tok+"\n")); err != nil {
			a.Close()
			return nil, err
		}
		a.AdminToken = tok
	}
	return a, nil
}

// Close closes the store and the audit log.
func (a *Authority) Close() error {
	var err error
	if a.Store != nil {
		err = a.Store.Close()
	}
	if a.Audit != nil {
		if e := a.Audit.Close(); err == nil {
			err = e
		}
	}
	return err
}
