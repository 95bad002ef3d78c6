package cli

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/job/jobtest"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/server"
)

func TestRemoteJobCommands(t *testing.T) {
	topo, err := pool.LoadFile("../server/testdata/pool.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer func() { hs.Close(); srv.Close() }()
	t.Setenv("QUN_ADDR", hs.URL)

	code, stdout, stderr := run(t, "job", "submit", "../../examples/jobs/quick.yaml", "-o", "json")
	if code != ExitOK {
		t.Fatalf("submit: exit %d: %s", code, stderr)
	}
	var j api.Job
	if err := json.Unmarshal([]byte(stdout), &j); err != nil || j.ID != "j-000001" || j.State != api.JobPending {
		t.Fatalf("submit -o json printed %q (%v)", stdout, err)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"job", "list"}, ExitOK, "j-000001  quick"},
		{[]string{"job", "list", "-o", "json"}, ExitOK, `"id": "j-000001"`},
		{[]string{"job", "status", "j-000001"}, ExitOK, "Job j-000001 (quick)"},
		{[]string{"job", "explain", "j-000001"}, ExitOK, "PLUGIN"},
		{[]string{"job", "logs", "j-000001"}, ExitOK, ""},
		{[]string{"node", "list"}, ExitOK, "NAME"},
		{[]string{"queue", "list", "-o", "json"}, ExitOK, `"name": "default"`},
		{[]string{"job", "cancel", "j-000001"}, ExitOK, "j-000001: cancelled"},
		{[]string{"job", "cancel", "j-000001"}, ExitFailure, ""},
		{[]string{"job", "status", "j-999999"}, ExitBadInput, ""},
		{[]string{"job", "list", "--state", "bogus"}, ExitBadInput, ""},
		{[]string{"job", "status", "j-000001", "--server", "http://127.0.0.1:1"}, ExitFailure, ""},
		{[]string{"job", "list", "-o", "xml"}, ExitBadInput, ""},
		{[]string{"job", "list", "-o", "yaml"}, ExitOK, "- id: j-000001"},
		{[]string{"job", "list", "-o", "wide"}, ExitOK, "ATTEMPT"},
	} {
		code, stdout, stderr := run(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.out) {
			t.Errorf("qun %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.out)
		}
	}
	// A spec the pool cannot hold is rejected by the server: exit 2, nothing stored.
	bad := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(bad, jobtest.Make("big").Chips("", 64).Command("x").JSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "job", "submit", bad); code != ExitBadInput || !strings.Contains(stderr, "chips") {
		t.Errorf("submit too big: exit %d, stderr %q", code, stderr)
	}
	if code, stdout, _ := run(t, "job", "list", "-o", "json"); code != 0 || strings.Count(stdout, `"id"`) != 1 {
		t.Errorf("after a rejected submission: %s", stdout)
	}
}
