package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/qunhq/qun/api"
)

// TestNodeOps: cordon, uncordon and drain against a real server; an
// unknown node is bad input (exit 2) naming it, and changes nothing.
func TestNodeOps(t *testing.T) {
	_, c, url, _ := testServer(t) // habits_test.go
	t.Setenv("QUN_ADDR", url)
	if _, err := c.RegisterNode(context.Background(), api.RegisterRequest{Name: "n0", BootID: "b0", Address: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"node", "cordon", "n9"}, ExitBadInput, "", `no node "n9"`},
		{[]string{"node", "drain", "n9"}, ExitBadInput, "", `no node "n9"`},
		{[]string{"node", "list", "-o", "json"}, ExitOK, `"name": "n0"`, ""},
		{[]string{"node", "cordon", "n0", "--reason", "bad fan"}, ExitOK, "node n0 cordoned: bad fan", ""},
		{[]string{"node", "list"}, ExitOK, "drain", ""},
		{[]string{"node", "uncordon", "n0"}, ExitOK, "node n0 takes new work", ""},
		{[]string{"node", "drain", "n0", "-o", "json"}, ExitOK, `"cordon_reason": "drained by request"`, ""},
		{[]string{"node", "cordon"}, ExitBadInput, "", ""},
	} {
		code, stdout, stderr := run(t, tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.out) || !strings.Contains(stderr, tc.errs) {
			t.Errorf("qun %s: exit %d, stdout %q, stderr %q; want exit %d, %q and %q", strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.out, tc.errs)
		}
		if tc.code == ExitBadInput && len(tc.args) > 2 {
			l, _ := c.ListNodes(context.Background())
			if len(l.Nodes) != 1 || l.Nodes[0].Cordoned {
				t.Errorf("qun %s changed the nodes: %+v", strings.Join(tc.args, " "), l.Nodes)
			}
		}
	}
}
