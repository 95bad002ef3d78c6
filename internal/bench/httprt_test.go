package bench

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkHTTPRoundTrip is BenchmarkLoopbackRoundTrip through the
// API benchmark's own HTTP path: net/http's HTTP/1.1 server with a handler
// that reads the spec and answers 201 with a job's JSON, and the
// benchmark's submitters (submitConn), 128 connections, plain and over
// TLS 1.3. What TLS adds here is what qun bench api's comparison of
// authentication on and off cannot avoid. It reports cpu-µs/op (user and
// system, both ends):
//
//	go test ./internal/bench -run '^$' -bench HTTPRoundTrip -benchtime 100000x
func BenchmarkHTTPRoundTrip(b *testing.B) {
	cert := loopbackCert(b)
	answer := []byte(`{"id":"j-000001","name":"bench","queue":"default","state":"pending",` + strings.Repeat(`"x":"y",`, 100) + `"ranks":1}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(answer)
	})
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			hs := &http.Server{Handler: h}
			bs := &benchServer{addr: ln.Addr().String()}
			if secure {
				hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
				bs.tls = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} // the test's own certificate
				go hs.ServeTLS(ln, "", "")
			} else {
				go hs.Serve(ln)
			}
			defer hs.Close()
			subs, err := bs.submitters(b.Context(), 128)
			if err != nil {
				b.Fatal(err)
			}
			defer closeAll(subs)
			roundTrips(b, len(subs), func(i int) error {
				_, err := subs[i].submit(benchSpec)
				return err
			})
		})
	}
}
