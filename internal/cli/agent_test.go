package cli

import (
	"strings"
	"testing"

	"github.com/qunhq/qun/internal/pool"
)

func TestAgentAndUpRejectBadFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		wantErr string
	}{
		"agent without state dir": {[]string{"agent", "--name", "n0"}, "--state-dir is required"},
		"agent unknown plugin": {[]string{"agent", "--state-dir", "x", "--name", "n0", "--address", "127.0.0.1", "--devices", "amd"},
			`--devices: device plugin "amd"`},
		"agent bad fake spec": {[]string{"agent", "--state-dir", "x", "--name", "n0", "--address", "127.0.0.1", "--devices", "fake:910B:0"},
			"--devices: device plugin fake"},
		"agent bad server":  {[]string{"agent", "--state-dir", "x", "--server", "ftp://h:1"}, "--server"},
		"agent stray arg":   {[]string{"agent", "extra"}, "accepts 0 arg"},
		"up no nodes":       {[]string{"up", "--nodes", "0"}, "--nodes 0: want 1..256"},
		"up too many chips": {[]string{"up", "--chips", "5000"}, "--chips 5000"},
		"up bad listen":     {[]string{"up", "--listen", "7070"}, `--listen "7070": want HOST:PORT`},
		"up unknown kind":   {[]string{"up", "--kind", "B200", "--data-dir", "unused"}, `--kind "B200"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			code, _, stderr := run(t, tc.args...)
			if code != ExitBadInput {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, ExitBadInput, stderr)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantErr)
			}
		})
	}
}

func TestUpPoolLoads(t *testing.T) {
	for _, tc := range []struct {
		nodes, spares, chips int
		kind                 string
	}{{4, 0, 8, "910B"}, {1, 0, 1, "H100"}, {256, 0, 1024, "910C"}, {3, 1, 1, "910B"}, {2, 256, 8, "H100"}} {
		topo, err := pool.Load("up", []byte(upPool(tc.nodes, tc.spares, tc.chips, tc.kind)), pool.DefaultCatalog())
		if err != nil {
			t.Fatalf("%d+%d×%d %s: %v", tc.nodes, tc.spares, tc.chips, tc.kind, err)
		}
		if got := len(topo.Hosts()); got != tc.nodes+tc.spares {
			t.Errorf("%d+%d×%d %s: %d hosts", tc.nodes, tc.spares, tc.chips, tc.kind, got)
		}
		if got := topo.NumChips(); got != (tc.nodes+tc.spares)*tc.chips {
			t.Errorf("%d+%d×%d %s: %d chips", tc.nodes, tc.spares, tc.chips, tc.kind, got)
		}
		for _, name := range upNodeNames(tc.nodes, tc.spares) {
			if _, ok := topo.HostByName(name); !ok {
				t.Errorf("%d+%d×%d %s: no host %s (a name qun up gives an agent)", tc.nodes, tc.spares, tc.chips, tc.kind, name)
			}
		}
	}
}
