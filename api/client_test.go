package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewClientAddr(t *testing.T) {
	tests := map[string]string{
		"":                       DefaultAddr,
		"127.0.0.1:9":            "http://127.0.0.1:9",
		"https://qun.example/x/": "https://qun.example/x",
		"http://localhost:7070/": "http://localhost:7070",
	}
	for in, want := range tests {
		c, err := NewClient(in)
		if err != nil {
			t.Errorf("NewClient(%q): %v", in, err)
			continue
		}
		if c.Addr() != want {
			t.Errorf("NewClient(%q).Addr() = %q, want %q", in, c.Addr(), want)
		}
	}
	for _, bad := range []string{"ftp://x", "http://", "http://a b"} {
		if _, err := NewClient(bad); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
}

func TestClientRequestsAndErrors(t *testing.T) {
	type seen struct{ Method, Path, Query, Body string }
	var got []seen
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(body)})
		switch r.URL.Path {
		case "/v1/jobs/j-1":
			w.Write([]byte(`{"id":"j-1","state":"running"}`))
		case "/v1/jobs/j-1/cancel":
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"code":"conflict","message":"job j-1 has already succeeded"}`))
		case "/v1/nodes/rack0/n1/heartbeat":
			w.Write([]byte(`{"assignments":[],"heartbeat_interval":"1s"}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("proxy trouble"))
		}
	}))
	defer hs.Close()
	c, err := NewClient(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	j, err := c.GetJob(ctx, "j-1")
	if err != nil || j.ID != "j-1" || j.State != JobRunning {
		t.Errorf("GetJob = %+v, %v", j, err)
	}
	if _, err := c.CancelJob(ctx, "j-1"); ErrorCode(err) != CodeConflict || err.Error() != "conflict: job j-1 has already succeeded" {
		t.Errorf("CancelJob error = %v", err)
	}
	hb, err := c.Heartbeat(ctx, "rack0/n1", HeartbeatRequest{BootID: "b"})
	if err != nil || hb.HeartbeatInterval != Duration(1e9) {
		t.Errorf("Heartbeat = %+v, %v", hb, err)
	}
	if _, err := c.ListQueues(ctx); ErrorCode(err) != CodeInternal {
		t.Errorf("a non-API error answer: %v, want code internal", err)
	}
	if err := c.AppendLogs(ctx, "j-1", LogOptions{Rank: 2, Attempt: 1, Stream: "stderr"}, []byte("x")); err == nil {
		t.Error("AppendLogs to a failing endpoint succeeded")
	}
	want := []seen{
		{"GET", "/v1/jobs/j-1", "", ""},
		{"POST", "/v1/jobs/j-1/cancel", "", ""},
		{"POST", "/v1/nodes/rack0%2Fn1/heartbeat", "", `{"boot_id":"b","ranks":null}`},
		{"GET", "/v1/queues", "", ""},
		{"POST", "/v1/jobs/j-1/logs", "attempt=1&rank=2&stream=stderr", "x"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if ErrorCode(io.EOF) != "" {
		t.Error("ErrorCode of a non-API error is not empty")
	}
}
