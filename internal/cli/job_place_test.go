package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJobPlace(t *testing.T) {
	code, stdout, stderr := run(t, "job", "place", "--pool", "../../examples/pools/mixed-sovereign.yaml", "--occupancy", "0.5", "--seed", "3",
		"../../examples/jobs/either-910b-or-h20.yaml")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Placed on 910B", "Modelled step communication", "Rank mapping:", "H20", "finishes-later: finishes in", "Candidates"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = run(t, "job", "place", "--pool", "../../examples/pools/cloudmatrix384.yaml", "-o", "json", "../../examples/jobs/llama-70b-910c.yaml")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Decision struct {
			Placed bool `json:"placed"`
			Kinds  []struct {
				WaitSeconds float64 `json:"wait_s"`
			} `json:"kinds"`
		} `json:"decision"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if res.Decision.Placed || len(res.Decision.Kinds) != 1 || res.Decision.Kinds[0].WaitSeconds != -1 {
		t.Errorf("512 chips placed on a 384-chip pool, or the unknown wait is not -1: %s", stdout)
	}
}

func TestJobPlaceBadInput(t *testing.T) {
	for name, args := range map[string][]string{
		"no pool":   {"job", "place", "../../examples/jobs/quick.yaml"},
		"occupancy": {"job", "place", "--pool", "../../examples/pools/cloudmatrix384.yaml", "--occupancy", "1.5", "../../examples/jobs/quick.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, _ := run(t, args...); code != ExitBadInput {
				t.Errorf("exit %d, want %d", code, ExitBadInput)
			}
		})
	}
}

func TestBenchPlaceJSON(t *testing.T) {
	code, stdout, stderr := run(t, "bench", "place", "--pool", "../../examples/pools/cloudmatrix384.yaml", "--occupancy", "0.3,0.9",
		"--fills", "1", "--jobs", "5", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for _, r := range rows {
		for _, k := range []string{"pool", "occupancy", "within_1_10_share", "median_speedup_vs_firstfit"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %v lacks %s", r, k)
			}
		}
	}
}
