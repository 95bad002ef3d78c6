package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestClusterClientCarriesTLSAndToken: a client given a list of TLS
// servers sends its bearer token to every one and trusts them with its one
// TLS configuration, following a follower's not_leader to the leader.
func TestClusterClientCarriesTLSAndToken(t *testing.T) {
	const tok = "secret-token"
	var followerSaw, leaderSaw atomic.Value
	leader := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaderSaw.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"jobs":[{"id":"j1"}]}`))
	}))
	defer leader.Close()
	follower := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followerSaw.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMisdirectedRequest)
		w.Write([]byte(`{"code":"not_leader","message":"follower","leader":"` + leader.URL + `"}`))
	}))
	defer follower.Close()
	pool := x509.NewCertPool()
	pool.AddCert(follower.Certificate())
	pool.AddCert(leader.Certificate())
	c, err := NewClient(follower.URL+","+leader.URL, WithToken(tok), WithTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}))
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.ListJobs(context.Background(), ListJobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Jobs) != 1 || l.Jobs[0].ID != "j1" {
		t.Errorf("jobs = %+v, want j1 from the leader", l.Jobs)
	}
	for who, v := range map[string]*atomic.Value{"follower": &followerSaw, "leader": &leaderSaw} {
		if got, _ := v.Load().(string); got != "Bearer "+tok {
			t.Errorf("%s got Authorization %q, want the token", who, got)
		}
	}
	if c.Addr() != leader.URL {
		t.Errorf("client stays on %s, want the leader %s", c.Addr(), leader.URL)
	}
	// A client trusting neither server's CA refuses both.
	bad, _ := NewClient(follower.URL+","+leader.URL, WithToken(tok), WithTLS(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}))
	if _, err := bad.ListJobs(context.Background(), ListJobsOptions{}); err == nil {
		t.Error("a client trusting another CA reached a server")
	}
}
