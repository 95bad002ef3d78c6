package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/qunhq/qun/api"
)

// spkiPin returns the base64 SHA-256 of the public key of the server
// certificate at base, checked against the CA of dataDir first. It is the
// value of Chromium's --ignore-certificate-errors-spki-list: the browser
// then trusts exactly this server's certificate (headless Chromium has no
// CA store the test could add the cluster CA to without NSS's tools).
func spkiPin(t *testing.T, base, dataDir string) string {
	t.Helper()
	roots := caPool(t, dataDir)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var pin string
	eventually(t, 30*time.Second, "a TLS handshake with "+base, func() (bool, string) {
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: roots, ServerName: u.Hostname(), MinVersion: tls.VersionTLS13})
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close()
		sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
		pin = base64.StdEncoding.EncodeToString(sum[:])
		return true, ""
	})
	return pin
}

// secureBrowser is a browser that trusts the certificate of the server at
// base (whose data directory is dataDir) and nothing else self-signed.
func secureBrowser(t *testing.T, base, dataDir string) *browser {
	t.Helper()
	chromiumPath(t)
	return newBrowser(t, base, chromedp.Flag("ignore-certificate-errors-spki-list", spkiPin(t, base, dataDir)))
}

// loginUp logs the browser in as a person would with qun up: first the
// page without a session asks for a token, then the link qun up keeps in
// DATA/dashboard.url logs it in. The token leaves the address bar, and the
// session cookie is out of the page's scripts' reach.
func (b *browser) loginUp(data string) {
	b.t.Helper()
	link, err := os.ReadFile(filepath.Join(data, "dashboard.url"))
	if err != nil {
		b.t.Fatalf("qun up's dashboard link: %v", err)
	}
	b.askedForToken()
	b.login(strings.TrimSpace(string(link)))
}

// loginToken logs the browser in with a new reader token, which is all
// the dashboard needs.
func (b *browser) loginToken(admin *api.Client) {
	b.t.Helper()
	tok, err := admin.CreateToken(context.Background(), api.TokenRequest{Name: "dashboard test", Role: "reader", Queues: []string{"default"}})
	if err != nil {
		b.t.Fatal(err)
	}
	b.askedForToken()
	b.login(b.base + "/#login=" + tok.Token)
}

// askedForToken opens the dashboard without a session and checks it asks
// for a token; the 401 answers it saw are forgotten.
func (b *browser) askedForToken() {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+"/#/overview")); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.dataset.view === 'login' && !!document.getElementById('token')`, chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
		b.t.Fatalf("the dashboard without a session does not ask for a token: %v", err)
	}
	b.take()
}

func (b *browser) login(link string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(link)); err != nil {
		b.t.Fatalf("open the login link: %v", err)
	}
	b.waitRendered("overview", 0)
	tok := link[strings.Index(link, "#login=")+len("#login="):]
	hash, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		b.t.Fatal(err)
	}
	cookies, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		b.t.Fatal(err)
	}
	if strings.Contains(hash, tok) || strings.Contains(cookies, tok) {
		b.t.Errorf("after logging in the token is still in the address (%t) or visible to scripts (%t)", strings.Contains(hash, tok), strings.Contains(cookies, tok))
	}
	if p, _ := b.take(); len(p) > 0 {
		b.t.Errorf("logging in: %s", fmt.Sprint(p))
	}
}
