package server

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
	"github.com/qunhq/qun/internal/auth"
)

var telemetryAction = regexp.MustCompile(`^(.+) ×([0-9]+) \(telemetry (\S+) to (\S+)\)$`)

// TestTelemetryAuditedInAggregate: successful heartbeats are counted per
// node identity and flushed as one entry per interval and on Close;
// refused ones are entries of their own; the log verifies.
func TestTelemetryAuditedInAggregate(t *testing.T) {
	e := newSecureEnv(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	id0, err := agent.Enrol(ctx, e.base, "n0", t.TempDir(), e.token(api.TokenRequest{Join: true, TTL: api.Duration(time.Hour)}), log)
	if err != nil {
		t.Fatal(err)
	}
	n0, err := api.NewClient(e.base, api.WithTLS(id0.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n0.RegisterNode(ctx, api.RegisterRequest{Name: "n0", BootID: "b0", Address: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	beat := func(times int) {
		for range times {
			if _, err := n0.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "b0"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	beat(3)
	e.srv.flushTelemetry(false) // the interval ends
	beat(2)
	_, err = n0.Heartbeat(ctx, "n1", api.HeartbeatRequest{BootID: "b1"})
	wantCode(t, "n0 heartbeating as n1", err, api.CodeForbidden)
	_, err = n0.Heartbeat(ctx, "n0", api.HeartbeatRequest{BootID: "other"})
	if err == nil {
		t.Fatal("a heartbeat with another boot ID was accepted")
	}
	e.srv.flushTelemetry(false) // the interval ends
	e.srv.flushTelemetry(false) // an empty interval writes nothing
	beat(4)
	if err := e.srv.Close(); err != nil { // flushes the last interval
		t.Fatal(err)
	}

	type row struct {
		Who, Action string
		Status      int
		Count       int
	}
	var got []row
	file := filepath.Join(e.dir, auth.AuditFile)
	if err := auth.Scan(file, func(en auth.Entry) error {
		if en.Who != "node n0" {
			return nil
		}
		r := row{Who: en.Who, Action: en.Action, Status: en.Status}
		if m := telemetryAction.FindStringSubmatch(en.Action); m != nil {
			r.Action = m[1]
			r.Count, _ = strconv.Atoi(m[2])
			from, err1 := time.Parse(time.RFC3339, m[3])
			to, err2 := time.Parse(time.RFC3339, m[4])
			if err1 != nil || err2 != nil || to.Before(from) || en.Result != "ok" {
				t.Errorf("aggregated entry %d: interval %q to %q, result %q; want an ordered RFC 3339 interval, ok", en.Seq, m[3], m[4], en.Result)
			}
		}
		got = append(got, r)
		return nil
	}, nil, nil); err != nil {
		t.Fatal(err)
	}
	hb := "POST /v1/nodes/n0/heartbeat"
	want := []row{
		{"node n0", "POST /v1/nodes", 201, 0},
		{"node n0", hb, 200, 3},
		{"node n0", "POST /v1/nodes/n1/heartbeat", 403, 0},
		{"node n0", hb, 409, 0},
		{"node n0", hb, 200, 2},
		{"node n0", hb, 200, 4},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("node n0's audit entries (-want +got):\n%s", d)
	}
	if _, _, err := auth.Verify(file); err != nil {
		t.Errorf("the audit log does not verify: %v", err)
	}

	// After Close's flush nothing is counted any more: telemetry is
	// audited one by one, so none is lost.
	if e.srv.absorbTelemetry("node n0", "POST", "/v1/nodes/n0/heartbeat", 200) {
		t.Error("telemetry counted after the final flush")
	}
}

func TestTelemetryClassification(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/v1/nodes/n0/heartbeat", true},
		{"POST", "/v1/jobs/j1/logs", true},
		{"POST", "/v1/nodes", false},
		{"POST", "/v1/jobs/j1/cancel", false},
		{"GET", "/v1/jobs/j1/logs", false},
	} {
		if got := isTelemetry(c.method, c.path); got != c.want {
			t.Errorf("isTelemetry(%s %s) = %v, want %v", c.method, c.path, got, c.want)
		}
	}
}
