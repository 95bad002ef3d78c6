package auth

import (
	"strings"
	"testing"
)

func FuzzParseToken(f *testing.F) {
	f.Add(newToken(false, "").String())
	f.Add(newToken(true, strings.Repeat("0", 64)).String())
	f.Add("qun1..")
	f.Add("qunjoin1....")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if tok.String() != s {
			t.Fatalf("round trip: %q parsed to %+v, prints %q", s, tok, tok.String())
		}
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("Bearer " + newToken(false, "").String())
	f.Add("bearer   x")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ParseAuthorization(h)
		if err != nil {
			return
		}
		if !strings.HasSuffix(h, tok.String()) || !strings.EqualFold(h[:6], "bearer") {
			t.Fatalf("%q accepted as %+v", h, tok)
		}
	})
}

func FuzzAuditEntry(f *testing.F) {
	line, _, _ := encodeEntry(Entry{Seq: 1, Who: "w", Action: "POST /v1/jobs", Status: 201, Result: "ok"})
	f.Add(line[:len(line)-1])
	f.Add([]byte(`{"hash":"` + strings.Repeat("0", 64) + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, _, err := decodeEntry(b)
		if err != nil {
			return
		}
		again, _, err := encodeEntry(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(again[:len(again)-1]) != string(b) {
			t.Fatalf("accepted a line that does not re-encode to itself:\n%q\n%q", b, again)
		}
	})
}
