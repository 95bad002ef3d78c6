package cli

import (
	"io"
	"strings"
	"testing"
)

// TestProgressBar: qun sim and qun bench draw a bar on stderr when it is a
// terminal and none when it is not; stdout is the same either way.
func TestProgressBar(t *testing.T) {
	cases := map[string][]string{
		"sim": {"sim", "--trace", "../sim/trace/testdata/pods.csv", "--nodes", "../sim/trace/testdata/nodes.csv",
			"--experiment", "fgd", "--policy", "fgd", "--seed", "1"},
		"bench place": {"bench", "place", "--pool", "../../examples/pools/ascend910-cluster.yaml", "--occupancy", "0.3",
			"--fills", "1", "--jobs", "3", "-o", "json"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			defer func(f func(io.Writer) bool) { stderrIsTerminal = f }(stderrIsTerminal)
			var stdouts [2]string
			for i, tty := range []bool{false, true} {
				stderrIsTerminal = func(io.Writer) bool { return tty }
				code, stdout, stderr := run(t, args...)
				if code != 0 {
					t.Fatalf("tty=%v: exit %d: %s", tty, code, stderr)
				}
				stdouts[i] = stdout
				bar := strings.Contains(stderr, "\r\x1b[K") && strings.Contains(stderr, "%")
				if bar != tty {
					t.Errorf("tty=%v: bar drawn %v; stderr %q", tty, bar, stderr)
				}
				if tty && !strings.HasSuffix(stderr, "\r\x1b[K") {
					t.Errorf("the bar is not cleared at the end: %q", stderr[max(0, len(stderr)-80):])
				}
			}
			if name != "bench place" && stdouts[0] != stdouts[1] { // bench place reports decision times
				t.Errorf("stdout differs with a terminal:\n%s\n---\n%s", stdouts[0], stdouts[1])
			}
		})
	}
}
