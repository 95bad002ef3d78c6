package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
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
	line, _ := appendEntry(nil, Entry{Seq: 1, Who: "w", Action: "POST /v1/jobs", Status: 201, Result: "ok"})
	f.Add(line[:len(line)-1])
	f.Add([]byte(`{"hash":"` + strings.Repeat("0", 64) + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, _, err := decodeEntry(b)
		if err != nil {
			return
		}
		again, _ := appendEntry(nil, e)
		if string(again[:len(again)-1]) != string(b) {
			t.Fatalf("accepted a line that does not re-encode to itself:\n%q\n%q", b, again)
		}
	})
}

// FuzzAppendEntryIsJSONMarshal checks the hand-written entry encoder
// against encoding/json on any strings and numbers.
func FuzzAppendEntryIsJSONMarshal(f *testing.F) {
	f.Add(uint64(1), int64(1764812830123456789), "token t1 (bench, submitter)", "POST /v1/jobs", 201, "ok", "")
	f.Add(uint64(7), int64(0), "a<b>&\"c\"\\\n\t\x00\u2028\u2029é\xff", "DELETE /v1/nodes/n%2F1", 403, "forbidden", strings.Repeat("f", 64))
	f.Fuzz(func(t *testing.T, seq uint64, nanos int64, who, action string, status int, result, prev string) {
		e := Entry{Seq: seq, Time: time.Unix(0, nanos).UTC(), Who: who, Action: action, Status: status, Result: result, Prev: prev}
		want, err := json.Marshal(e)
		if err != nil {
			t.Skip(err) // a time json cannot encode; entries carry the clock's
		}
		line, h := appendEntry(nil, e)
		body := append(append([]byte(nil), line[:len(line)-hashSuffixLen-1]...), '}')
		if string(body) != string(want) {
			t.Fatalf("appendEntry body\n%s\njson.Marshal\n%s", body, want)
		}
		if sum := sha256.Sum256(want); hex.EncodeToString(sum[:]) != h {
			t.Fatalf("hash %s is not the SHA-256 of the body", h)
		}
	})
}
