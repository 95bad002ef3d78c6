package ha

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/qunhq/qun/api"
)

// leaderOnly serves h only while check says the lease still holds. Reads
// (GET, HEAD) are buffered and checked again before they are answered:
// the state they read was then the leader's under a valid lease, so a
// leader paused between reading and answering cannot hand out a stale
// view. Writes need no second check: their commits are fenced by etcd,
// and answers to agents carry the epoch. Log and metrics reads, which may
// be long, are not buffered.
func leaderOnly(check func() error, h http.Handler) http.Handler {
	refuse := func(w http.ResponseWriter, err error) {
		writeJSON(w, api.HTTPStatus(api.CodeNotLeader), &api.Error{Code: api.CodeNotLeader, Message: err.Error()})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := check(); err != nil {
			refuse(w, err)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead || strings.Contains(r.URL.Path, "/logs") || r.URL.Path == "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		b := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		h.ServeHTTP(b, r)
		if err := check(); err != nil {
			refuse(w, err)
			return
		}
		for k, v := range b.header {
			w.Header()[k] = v
		}
		w.WriteHeader(b.status)
		w.Write(b.body.Bytes())
	})
}

// bufferedResponse holds an answer until it may be sent.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
