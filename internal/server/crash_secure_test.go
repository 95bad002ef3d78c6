package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

// client returns an admin client of the secured server child: it waits for
// the CA and admin token the server writes on its first start.
func (p *serverProc) client() *api.Client {
	p.t.Helper()
	data := filepath.Join(p.dir, "data")
	var ca, tok []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ca, _ = os.ReadFile(filepath.Join(data, auth.CACertFile))
		tok, _ = os.ReadFile(filepath.Join(data, auth.AdminTokenFile))
		if len(ca) > 0 && len(tok) > 0 {
			break
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the server wrote no CA and admin token in %s", data)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	c, err := api.NewClient("https://"+p.listen, api.WithToken(strings.TrimSpace(string(tok))), api.WithTLS(&tls.Config{RootCAs: pool}))
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}
