package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSimReplayJSONL(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := run(t, "sim", "--trace", "../sim/trace/testdata/jobs.jsonl", "--nodes", "../sim/trace/testdata/nodes.csv",
		"--policy", "fgd,qun", "--seed", "1-2", "--out", dir, "-o", "json", "-q")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var r struct {
		Experiment string `json:"experiment"`
		Summary    []struct {
			Policy string `json:"policy"`
			Runs   int    `json:"runs"`
		} `json:"summary"`
		Replay []struct {
			Started int `json:"started"`
		} `json:"replay_runs"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if r.Experiment != "replay" || len(r.Summary) != 2 || r.Summary[1].Runs != 2 || len(r.Replay) != 4 || r.Replay[0].Started != 3 {
		t.Errorf("report %+v", r)
	}
	for _, f := range []string{"report.json", "report.md", "util.svg", "wait_cdf.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
}

func TestSimBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte("{\"name\":\"a\",\"submit\":0}\n{\"name\":\"b\",\"submit\":-1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		args []string
		want string
	}{
		"bad trace line": {[]string{"sim", "--trace", bad, "--nodes", "../sim/trace/testdata/nodes.csv"}, "qun: bad.jsonl:2:13: submit: -1 is out of range"},
		"unknown policy": {[]string{"sim", "--policy", "nope"}, `qun: unknown policy "nope"`},
		"bad experiment": {[]string{"sim", "--experiment", "x"}, `qun: experiment "x" (allowed: fgd, replay)`},
		"bad seed":       {[]string{"sim", "--seed", "x"}, `qun: --seed "x": "x" is not a number`},
		"openb no nodes": {[]string{"sim", "--trace", "../sim/trace/testdata/pods.csv", "--experiment", "fgd"}, "openb_node_list_gpu_node.csv is missing"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, c.args...)
			if code != ExitBadInput || stdout != "" || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, stdout, stderr, c.want)
			}
		})
	}
}
