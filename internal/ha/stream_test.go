package ha

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qunhq/qun/api"
)

// TestMemberOffersNoNodeStream: a member answers a node stream with the
// 404 "no endpoint" that makes agents heartbeat (their answers carry the
// epoch), and passes everything else to its current handler.
func TestMemberOffersNoNodeStream(t *testing.T) {
	m := &member{cfg: Config{Advertise: "http://127.0.0.1:1"}}
	m.setHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/v1/nodes/n0/stream", http.StatusNotFound},
		{http.MethodPost, "/v1/nodes/n0/stream", http.StatusTeapot},
		{http.MethodGet, "/v1/nodes/n0", http.StatusTeapot},
		{http.MethodPost, "/v1/nodes/n0/heartbeat", http.StatusTeapot},
		{http.MethodGet, "/v1/nodes/a/b/stream", http.StatusTeapot},
	} {
		w := httptest.NewRecorder()
		m.serveHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.want {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, w.Code, c.want)
			continue
		}
		if c.want == http.StatusNotFound {
			var e api.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || !strings.HasPrefix(e.Message, "no endpoint") {
				t.Errorf("%s %s: %q (%v), want a \"no endpoint\" error", c.method, c.path, w.Body.String(), err)
			}
		}
	}
}
