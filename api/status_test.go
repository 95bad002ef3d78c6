package api

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHTTPStatusTable(t *testing.T) {
	want := map[string]int{
		CodeBadData:         http.StatusBadRequest,
		CodeNotFound:        http.StatusNotFound,
		CodeConflict:        http.StatusConflict,
		CodeGone:            http.StatusGone,
		CodeTooLarge:        http.StatusRequestEntityTooLarge,
		CodeUnavailable:     http.StatusServiceUnavailable,
		CodeInternal:        http.StatusInternalServerError,
		CodeUnauthorized:    http.StatusUnauthorized,
		CodeForbidden:       http.StatusForbidden,
		CodeTooManyRequests: http.StatusTooManyRequests,
		"no-such-code":      http.StatusInternalServerError,
	}
	got := map[string]int{}
	for code := range want {
		got[code] = HTTPStatus(code)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("HTTPStatus (-want +got):\n%s", d)
	}
	// Every code survives the round trip a body-less answer takes.
	for code := range want {
		if code == "no-such-code" {
			continue
		}
		if back := codeOf(HTTPStatus(code)); back != code {
			t.Errorf("codeOf(HTTPStatus(%q)) = %q", code, back)
		}
	}
	if c := codeOf(http.StatusBadGateway); c != CodeInternal {
		t.Errorf("codeOf(502) = %q, want %q", c, CodeInternal)
	}
}
