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

func TestSimPackingBound(t *testing.T) {
	args := []string{"sim", "--trace", "../sim/trace/testdata/pods.csv", "--nodes", "../sim/trace/testdata/nodes.csv",
		"--experiment", "fgd", "-o", "json", "-q"}
	for _, bound := range []bool{false, true} {
		a := args
		if bound {
			a = append(append([]string(nil), args...), "--packing-bound")
		}
		code, stdout, stderr := run(t, a...)
		if code != ExitOK {
			t.Fatalf("bound %v: exit %d, stderr:\n%s", bound, code, stderr)
		}
		var r struct {
			Summary []struct {
				Chips *float64 `json:"share_chips_at_first_failure"`
				Bound *float64 `json:"share_chips_bound"`
			} `json:"summary"`
			FGD []struct {
				Chips *int     `json:"share_chips_at_first_failure"`
				Gap   *float64 `json:"share_bound_gap_gpus"`
			} `json:"fgd_runs"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
		}
		if len(r.Summary) != 1 || len(r.FGD) != 1 {
			t.Fatalf("bound %v: report %s", bound, stdout)
		}
		has := r.Summary[0].Chips != nil && r.Summary[0].Bound != nil && r.FGD[0].Chips != nil && r.FGD[0].Gap != nil
		if has != bound || strings.Contains(stdout, "share_") != bound {
			t.Errorf("--packing-bound %v: packing figures present = %v\n%s", bound, has, stdout)
		}
	}
}

// TestSimProfiles: a replay runs the server's default profile unless told
// otherwise, --profile runs a profile file, and a bad profile file is bad
// input (exit 2).
func TestSimProfiles(t *testing.T) {
	base := []string{"sim", "--trace", "../sim/trace/testdata/jobs.jsonl", "--nodes", "../sim/trace/testdata/nodes.csv", "-o", "json", "-q"}
	for _, tc := range []struct {
		extra  []string
		policy string
	}{
		{nil, "default"},
		{[]string{"--profile", "testdata/fifo-profile.yaml"}, "profile:fifo-profile.yaml"},
	} {
		code, stdout, stderr := run(t, append(base, tc.extra...)...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d, stderr:\n%s", tc.extra, code, stderr)
		}
		var r struct {
			Replay []struct {
				Policy  string `json:"policy"`
				Started int    `json:"started"`
			} `json:"replay_runs"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Replay) != 1 || r.Replay[0].Policy != tc.policy || r.Replay[0].Started != 3 {
			t.Errorf("%v: runs %+v; want one run of %s starting 3 jobs", tc.extra, r.Replay, tc.policy)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nplace: {name: nosuch}\n"), 0o644)
	if code, _, stderr := run(t, append(base, "--profile", bad)...); code != ExitBadInput || !strings.Contains(stderr, "nosuch") {
		t.Errorf("bad profile: exit %d, stderr %q; want exit 2 naming the plugin", code, stderr)
	}
	if code, _, _ := run(t, append(base, "--profile", bad, "--policy", "qun")...); code != ExitBadInput {
		t.Errorf("--profile with --policy: exit %d, want 2", code)
	}
}
