package bench

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
)

// TestSubmitConn runs the benchmark's lean client against a server that
// checks what it sends and answers as the API does.
func TestSubmitConn(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.Header.Get("Content-Type")+" "+string(body))
		switch string(body) {
		case `{"ok":true}`:
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"j-000001","state":"pending"}`+"\n")
		case `{"ok":false}`:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"code":"forbidden","message":"no"}`)
		default:
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"state":"pending"}`)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	b := &benchServer{addr: addr, token: "qun_t1.secret"}
	subs, err := b.submitters(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(subs)
	s := subs[0]
	id, err := s.submit([]byte(`{"ok":true}`))
	if err != nil || id != "j-000001" {
		t.Fatalf("submit = %q, %v; want j-000001", id, err)
	}
	_, err = s.submit([]byte(`{"ok":false}`)) // the same connection
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeForbidden {
		t.Fatalf("a 403 gave %v, want the API's forbidden error", err)
	}
	if _, err := s.submit([]byte(`{}`)); err == nil || !strings.Contains(err.Error(), "without a job ID") {
		t.Fatalf("an answer without an ID gave %v", err)
	}
	want := []string{
		"POST /v1/jobs Bearer qun_t1.secret application/json {\"ok\":true}",
		"POST /v1/jobs Bearer qun_t1.secret application/json {\"ok\":false}",
		"POST /v1/jobs Bearer qun_t1.secret application/json {}",
	}
	if d := cmp.Diff(want, seen); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

// TestSubmitConnBrokenAnswer: an answer that is not HTTP is an error, not
// an acknowledgement.
func TestSubmitConnBrokenAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "garbage\r\n\r\n")
		c.Close()
	}()
	b := &benchServer{addr: ln.Addr().String()}
	subs, err := b.submitters(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(subs)
	if _, err := subs[0].submit([]byte(`{}`)); err == nil {
		t.Fatal("a broken answer was taken as an acknowledgement")
	}
}
