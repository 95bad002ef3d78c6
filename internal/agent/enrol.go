package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// ErrNoJoinToken is Enrol's error when it needs a join token and has none.
var ErrNoJoinToken = errors.New("no valid node certificate in the state directory and no join token: give --join TOKEN (qun token create --join on the server)")

// Identity is a node's client certificate, kept in the agent's state
// directory (node.key 0600, node.crt, ca.crt) and renewed before it
// expires. Its TLSConfig always presents the current certificate.
type Identity struct {
	node, dir string
	ca        *x509.CertPool
	cert      atomic.Pointer[tls.Certificate]
	log       *slog.Logger
}

// Files of an enrolled agent's state directory.
const (
	nodeKeyFile  = "node.key"
	nodeCertFile = "node.crt"
	caCertFile   = "ca.crt"
)

// Enrol returns the node's identity: the one in stateDir when it is still
// valid, else a new one obtained with joinToken (qunjoin1…) from the
// server at base. The join token pins the CA: the server must present a
// chain ending in the CA whose hash it carries.
func Enrol(ctx context.Context, base, node, stateDir, joinToken string, log *slog.Logger) (*Identity, error) {
	id := &Identity{node: node, dir: stateDir, log: log}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	if err := id.load(); err == nil {
		leaf := id.cert.Load().Leaf
		if cn, _ := auth.NodeOf(leaf); time.Now().Before(leaf.NotAfter) && (cn == node || filepath.Base(cn) == node) {
			log.Info("using the node certificate of the state directory", "serial", auth.SerialOf(leaf), "not_after", leaf.NotAfter)
			return id, nil
		}
		log.Info("the node certificate of the state directory is expired or for another node; enrolling again")
	}
	if joinToken == "" {
		return nil, ErrNoJoinToken
	}
	tok, err := auth.ParseToken(joinToken)
	if err != nil || !tok.Join {
		return nil, fmt.Errorf("--join: not a join token (want qunjoin1.CAHASH.ID.SECRET): %v", err)
	}
	// base may list an HA cluster's servers: each must be https, and each
	// is checked against the name it is dialled by.
	serverName := ""
	for _, b := range strings.Split(base, ",") {
		u, err := url.Parse(strings.TrimSpace(b))
		if err != nil || u.Scheme != "https" {
			return nil, fmt.Errorf("--server %s: enrolment needs https:// servers", base)
		}
		if !strings.Contains(base, ",") {
			serverName = u.Hostname()
		}
	}
	c, err := api.NewClient(base, api.WithTLS(auth.PinnedConfig(tok.CAHash, serverName)))
	if err != nil {
		return nil, err
	}
	keyPEM, csrPEM, err := auth.NewKeyAndCSR(node)
	if err != nil {
		return nil, err
	}
	cert, err := c.Enrol(ctx, api.EnrolRequest{Token: joinToken, Node: node, CSR: string(csrPEM)})
	if err != nil {
		return nil, fmt.Errorf("enrol node %s: %w", node, err)
	}
	if err := id.store(keyPEM, cert); err != nil {
		return nil, err
	}
	log.Info("enrolled", "serial", auth.SerialOf(id.cert.Load().Leaf), "not_after", cert.NotAfter)
	return id, nil
}

func (id *Identity) load() error {
	kc, err := tls.LoadX509KeyPair(filepath.Join(id.dir, nodeCertFile), filepath.Join(id.dir, nodeKeyFile))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(id.dir, caCertFile))
	if err != nil {
		return err
	}
	ca, err := auth.ParseCertPEM(caPEM)
	if err != nil {
		return err
	}
	p := x509.NewCertPool()
	p.AddCert(ca)
	id.ca = p
	id.cert.Store(&kc)
	return nil
}

// store writes a new key and certificate (key first, 0600) and loads them.
func (id *Identity) store(keyPEM []byte, c *api.Certificate) error {
	if err := auth.WriteSecretFile(filepath.Join(id.dir, nodeKeyFile), keyPEM); err != nil {
		return err
	}
	if err := auth.WriteFileSync(filepath.Join(id.dir, caCertFile), []byte(c.CA), 0o644); err != nil {
		return err
	}
	if err := auth.WriteFileSync(filepath.Join(id.dir, nodeCertFile), []byte(c.Certificate), 0o644); err != nil {
		return err
	}
	return id.load()
}

// TLSConfig is the client configuration of every call the agent makes:
// the cluster CA as the only root, the node certificate as the client's.
func (id *Identity) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    id.ca,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return id.cert.Load(), nil
		},
	}
}

// NotAfter is when the current certificate expires.
func (id *Identity) NotAfter() time.Time { return id.cert.Load().Leaf.NotAfter }

// RenewLoop renews the certificate once two thirds of its lifetime have
// passed (retrying every minute on failure) until ctx is done.
func (id *Identity) RenewLoop(ctx context.Context, c *api.Client) {
	for {
		leaf := id.cert.Load().Leaf
		at := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
		wait := time.Until(at)
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, 0)):
		}
		if err := id.Renew(ctx, c); err != nil {
			id.log.Warn("renewing the node certificate failed; retrying in a minute", "err", err, "not_after", leaf.NotAfter)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Minute):
			}
		}
	}
}

// Renew obtains a fresh certificate (with a new key) over mTLS.
func (id *Identity) Renew(ctx context.Context, c *api.Client) error {
	keyPEM, csrPEM, err := auth.NewKeyAndCSR(id.node)
	if err != nil {
		return err
	}
	cert, err := c.RenewCertificate(ctx, id.node, api.RenewRequest{CSR: string(csrPEM)})
	if err != nil {
		return err
	}
	if err := id.store(keyPEM, cert); err != nil {
		return err
	}
	id.log.Info("node certificate renewed", "serial", auth.SerialOf(id.cert.Load().Leaf), "not_after", cert.NotAfter)
	return nil
}
