package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/device"
)

// TestClientServerSpeaksTheAPI checks the requests the agent's Server sends
// through api.Client: paths, query parameters and bodies.
func TestClientServerSpeaksTheAPI(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+" "+strings.TrimSpace(string(body)))
		mu.Unlock()
		switch {
		case r.URL.Path == "/v1/nodes":
			json.NewEncoder(w).Encode(api.Node{Name: "n0", State: api.NodeReady})
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			json.NewEncoder(w).Encode(api.HeartbeatResponse{HeartbeatInterval: api.Duration(time.Second)})
		case strings.HasSuffix(r.URL.Path, "/logs"):
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(api.Error{Code: api.CodeNotFound, Message: "no"})
		}
	}))
	defer ts.Close()
	c, err := api.NewClient(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := ClientServer{C: c}
	ctx := context.Background()
	if _, err := s.Register(ctx, api.RegisterRequest{Name: "n0", BootID: "b"}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b", Ranks: []api.RankReport{}})
	if err != nil || time.Duration(resp.HeartbeatInterval) != time.Second {
		t.Fatalf("heartbeat: %+v, %v", resp, err)
	}
	if err := s.AppendLog(ctx, "j-1", 2, 3, "stderr", []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`POST /v1/nodes? {"name":"n0","boot_id":"b","address":"","devices":null}`,
		`POST /v1/nodes/n0/heartbeat? {"boot_id":"b","ranks":[]}`,
		"POST /v1/jobs/j-1/logs?attempt=2&rank=3&stream=stderr hello",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestAbsentVendorStacksMeanNoDevices runs the real nvidia and ascend
// plugins where neither stack is installed (as on CI): the node registers
// with the fake devices only, and the log says why there are no others.
func TestAbsentVendorStacksMeanNoDevices(t *testing.T) {
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, nil))
	discs, err := ParseDevices([]string{"nvidia,ascend,fake:910B:2"}, device.WithLogger(log), device.WithNPUSMIPath("npu-smi-absent-for-test"))
	if err != nil {
		t.Fatal(err)
	}
	srv := newFakeServer()
	exe := "/bin/false"
	a, err := New(Config{Name: "n0", Address: "127.0.0.1", StateDir: t.TempDir(), Server: srv, Shim: []string{exe}, Devices: discs, Logger: log, DefaultInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	srv.waitFor(t, 10*time.Second, "registration", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.regs) > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []api.Device{
		{Index: 0, Kind: "910B", Vendor: "fake", UUID: "fake-910B-0", HBMMiB: 64 << 10, Healthy: true},
		{Index: 1, Kind: "910B", Vendor: "fake", UUID: "fake-910B-1", HBMMiB: 64 << 10, Healthy: true},
	}
	if diff := cmp.Diff(want, srv.regs[0].Devices); diff != "" {
		t.Errorf("registered devices (-want +got):\n%s", diff)
	}
	logMu.Lock()
	defer logMu.Unlock()
	for _, line := range []string{"no NVIDIA devices", "no Ascend devices"} {
		if !strings.Contains(logBuf.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, logBuf.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
