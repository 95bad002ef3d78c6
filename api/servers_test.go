package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseServers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  string
	}{
		{"a:1,b:2", []string{"http://a:1", "http://b:2"}, ""},
		{"http://a:1, https://b:2/", []string{"http://a:1", "https://b:2"}, ""},
		{"a:1,,b:2", nil, "entry 2 is empty"},
		{"a:1,a:1", nil, "listed twice"},
		{"a:1,ftp://b", nil, "entry 2"},
	} {
		got, err := ParseServers(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseServers(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseServers(%q): %v", c.in, err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ParseServers(%q) (-want +got):\n%s", c.in, diff)
		}
	}
}

func FuzzParseServers(f *testing.F) {
	for _, s := range []string{"a:1,b:2", "http://x:1,https://y:2/", ",", "a:1,a:1", "http://[::1]:7070"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseServers(s)
		if err != nil {
			return
		}
		if len(got) != strings.Count(s, ",")+1 {
			t.Errorf("ParseServers(%q) = %d servers for %d entries", s, len(got), strings.Count(s, ",")+1)
		}
		for _, b := range got {
			if !strings.HasPrefix(b, "http://") && !strings.HasPrefix(b, "https://") {
				t.Errorf("ParseServers(%q): %q is not a URL", s, b)
			}
		}
	})
}

// TestClusterClientFollowsLeader: a follower's not_leader answer moves the
// client to the leader it names; a refused connection moves it to the
// next server; an answer that proves nothing (a server error) is returned.
func TestClusterClientFollowsLeader(t *testing.T) {
	var leaderHits, followerHits atomic.Int32
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaderHits.Add(1)
		json.NewEncoder(w).Encode(JobList{Jobs: []Job{{ID: "j-000001"}}})
	}))
	defer leader.Close()
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followerHits.Add(1)
		w.WriteHeader(HTTPStatus(CodeNotLeader))
		json.NewEncoder(w).Encode(Error{Code: CodeNotLeader, Message: "follower", Leader: leader.URL})
	}))
	defer follower.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	c, err := NewClient(deadURL + "," + follower.URL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.ListJobs(context.Background(), ListJobsOptions{})
	if err != nil || len(l.Jobs) != 1 {
		t.Fatalf("ListJobs through the cluster client: %v, %v", l, err)
	}
	if c.Addr() != leader.URL || followerHits.Load() != 1 || leaderHits.Load() != 1 {
		t.Errorf("client at %s after %d follower and %d leader hits; want the leader %s after one each", c.Addr(), followerHits.Load(), leaderHits.Load(), leader.URL)
	}
	// Later calls go straight to the leader.
	if _, err := c.ListJobs(context.Background(), ListJobsOptions{}); err != nil || followerHits.Load() != 1 {
		t.Errorf("second call: %v, %d follower hits", err, followerHits.Load())
	}

	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(Error{Code: CodeUnavailable, Message: "store failed"})
	}))
	defer broken.Close()
	c2, _ := NewClient(broken.URL + "," + leader.URL)
	if _, err := c2.ListJobs(context.Background(), ListJobsOptions{}); ErrorCode(err) != CodeUnavailable {
		t.Errorf("an unavailable leader: %v, want it returned (not retried elsewhere)", err)
	}
}
