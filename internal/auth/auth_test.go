package auth

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseToken(t *testing.T) {
	tok := newToken(false, "")
	join := newToken(true, strings.Repeat("ab", 32))
	for _, tc := range []struct {
		in      string
		want    Token
		wantErr string
	}{
		{in: tok.String(), want: tok},
		{in: join.String(), want: join},
		{in: "", wantErr: "starts with neither"},
		{in: "qun1." + tok.ID, wantErr: "want qun1.ID.SECRET"},
		{in: "qun1." + tok.ID + "." + strings.ToUpper(tok.Secret), wantErr: "secret is not 64 hex digits"},
		{in: "qun1.zz." + tok.Secret, wantErr: "ID is not 16 hex digits"},
		{in: "qunjoin1.00." + tok.ID + "." + tok.Secret, wantErr: "CA hash"},
		{in: tok.String() + ".x", wantErr: "want qun1.ID.SECRET"},
		{in: strings.Repeat("q", MaxTokenLen+1), wantErr: "at most"},
	} {
		got, err := ParseToken(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseToken(%q): err %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			if err != nil && len(tc.in) > 20 && strings.Contains(err.Error(), tok.Secret) {
				t.Errorf("error quotes the secret: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseToken(%q): %v", tc.in, err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseToken (-want +got):\n%s", d)
		}
	}
}

func TestParseAuthorization(t *testing.T) {
	tok := newToken(false, "")
	for _, h := range []string{"Bearer " + tok.String(), "bearer  " + tok.String(), "BEARER " + tok.String()} {
		got, err := ParseAuthorization(h)
		if err != nil || got != tok {
			t.Errorf("ParseAuthorization(%q) = %v, %v", h, got, err)
		}
	}
	if _, err := ParseAuthorization(""); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("empty header: %v, want ErrNoCredentials", err)
	}
	for _, h := range []string{"Basic abc", "Bearer", "Bearer ", "Bearer a b", tok.String(), "Bearer " + tok.String() + " x"} {
		if _, err := ParseAuthorization(h); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseAuthorization(%q): %v, want ErrMalformed", h, err)
		}
	}
}

func TestStoreTokens(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	text, rec, err := s.Create(TokenSpec{Name: "team-a", Role: RoleSubmitter, Queues: []string{"research"}}, "", now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ParseToken(text)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Authenticate(tok, now)
	if err != nil || got.ID != rec.ID {
		t.Fatalf("Authenticate: %v, %v", got, err)
	}
	for q, want := range map[string]bool{"research": true, "research/llm": true, "researchers": false, "default": false} {
		if got.MayQueue(q) != want {
			t.Errorf("MayQueue(%q) = %v, want %v", q, !want, want)
		}
	}
	forged := tok
	forged.Secret = strings.Repeat("0", 64)
	if _, err := s.Authenticate(forged, now); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("forged secret: %v", err)
	}
	if bytes.Contains(mustRead(t, filepath.Join(dir, "auth.db")), []byte(tok.Secret)) {
		t.Error("auth.db holds the secret")
	}
	// Join tokens: single use, expire, pin the CA.
	ca := strings.Repeat("c", 64)
	jt, _, err := s.Create(TokenSpec{Join: true, TTL: 15 * time.Minute}, ca, now)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := ParseToken(jt)
	if _, err := s.Redeem(j, strings.Repeat("d", 64), "n0", now); !errors.Is(err, ErrUnknownToken) {
		t.Errorf("redeem against another CA: %v", err)
	}
	if _, err := s.Redeem(j, ca, "n0", now.Add(16*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("redeem expired: %v", err)
	}
	if _, err := s.Redeem(j, ca, "n0", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Redeem(j, ca, "n0", now); !errors.Is(err, ErrUsed) {
		t.Errorf("redeem twice: %v", err)
	}
	if _, err := s.Authenticate(j, now); !errors.Is(err, ErrJoin) {
		t.Errorf("join token as API token: %v", err)
	}
	if _, err := s.Revoke(rec.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Everything survives a reopen.
	s, err = OpenStore(filepath.Join(dir, "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Authenticate(tok, now); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked token after reopen: %v", err)
	}
	if _, err := s.Redeem(j, ca, "n0", now); !errors.Is(err, ErrUsed) {
		t.Errorf("used join token after reopen: %v", err)
	}
	for _, bad := range []TokenSpec{
		{Role: "owner", Queues: []string{"a"}},
		{Role: RoleReader},
		{Role: RoleAdmin, Queues: []string{"a"}},
		{Role: RoleReader, Queues: []string{"A/b"}},
		{Join: true},
		{Join: true, TTL: time.Hour, Role: RoleAdmin},
	} {
		var fe *FieldError
		if _, _, err := s.Create(bad, ca, now); !errors.As(err, &fe) {
			t.Errorf("Create(%+v): %v, want a FieldError", bad, err)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuditChainDetectsEditsAndTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Append(Entry{Time: time.Unix(int64(i), 0).UTC(), Who: "token x", Action: "POST /v1/jobs", Status: 201, Result: "ok"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	l.Close()
	n, _, err := Verify(path)
	if err != nil || n != 50 {
		t.Fatalf("Verify: %d entries, %v", n, err)
	}
	orig := mustRead(t, path)
	lines := bytes.SplitAfter(orig, []byte("\n"))

	edited := bytes.Join(lines, nil)
	edited = bytes.Replace(edited, []byte(`"status":201`), []byte(`"status":200`), 1)
	checkBad(t, path, edited, 1, "edited")

	l17 := append([]byte(nil), lines[16]...)
	l17 = bytes.Replace(l17, []byte(`"who":"token x"`), []byte(`"who":"token y"`), 1)
	edit17 := bytes.Join(append(append(append([][]byte{}, lines[:16]...), l17), lines[17:]...), nil)
	checkBad(t, path, edit17, 17, "edited")

	removed := bytes.Join(append(append([][]byte{}, lines[:9]...), lines[10:]...), nil)
	checkBad(t, path, removed, 10, "removed")

	tail := bytes.Join(lines[:45], nil)
	checkBad(t, path, tail, 46, "truncated")

	cut := orig[:len(orig)-10]
	checkBad(t, path, cut, 50, "cut mid-entry")

	// Reopened intact, the log appends after its last entry.
	os.WriteFile(path, orig, 0o600)
	l, err = OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Entry{Who: "x", Action: "DELETE /v1/nodes/n0", Status: 200, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if n, _, err := Verify(path); err != nil || n != 51 {
		t.Fatalf("after reopen: %d, %v", n, err)
	}
}

func checkBad(t *testing.T, path string, content []byte, entry uint64, what string) {
	t.Helper()
	orig := mustRead(t, path)
	defer os.WriteFile(path, orig, 0o600)
	os.WriteFile(path, content, 0o600)
	_, _, err := Verify(path)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Entry != entry {
		t.Errorf("%s: Verify = %v, want the first bad entry %d", what, err, entry)
	}
	if _, err := OpenLog(path); err == nil {
		t.Errorf("%s: OpenLog appends to a bad log", what)
	}
}

func TestCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, created, err := LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil || !created {
		t.Fatalf("create CA: %v %v", created, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "ca.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v, want 0600", st.Mode().Perm())
	}
	again, created, err := LoadOrCreateCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil || created || again.Hash() != ca.Hash() {
		t.Fatalf("reload CA: created %v hash %s vs %s, %v", created, again.Hash(), ca.Hash(), err)
	}
	_, csrPEM, err := NewKeyAndCSR("spoofed")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSRPEM(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.SignNode(csr, "n0", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if node, ok := NodeOf(c); !ok || node != "n0" {
		t.Errorf("signed certificate names %q, want the node the CA chose, n0", c.Subject.CommonName)
	}
}

// TestSecretMatches: the allocation-free comparison agrees with comparing
// hashSecret's output, for the right secret, a changed one, a changed
// hash and wrong lengths; and it allocates nothing.
func TestSecretMatches(t *testing.T) {
	tok := newToken(false, "")
	hash := hashSecret(tok.Secret)
	other := newToken(false, "").Secret
	flip := []byte(hash)
	flip[len(flip)-1] ^= 1
	for _, c := range []struct {
		secret, hash string
	}{{tok.Secret, hash}, {other, hash}, {tok.Secret, string(flip)}, {tok.Secret[1:], hash}, {tok.Secret, hash[1:]}, {"", ""}} {
		if got, want := secretMatches(c.secret, c.hash), hashSecret(c.secret) == c.hash; got != want {
			t.Errorf("secretMatches(%q, %q) = %v, want %v", c.secret, c.hash, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { secretMatches(tok.Secret, hash) }); n != 0 {
		t.Errorf("secretMatches allocates %v times per call", n)
	}
}
