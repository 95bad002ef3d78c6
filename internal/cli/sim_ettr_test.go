package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A small run of the ETTR experiment on the example Atlas pool: the JSON
// carries the fields the docs promise, and the directory gets the report
// and its plot.
func TestSimETTR(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := run(t, "sim", "--experiment", "ettr", "--pool", "../../examples/pools/atlas950-2superpod.yaml",
		"--job-chips", "16384", "--days", "2", "--seed", "3", "--recovery", "qun,baseline", "--out", dir, "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var r struct {
		ETTR      *float64            `json:"ettr"`
		Faults    *float64            `json:"faults"`
		Loss      *float64            `json:"mean_loss_per_fault_s"`
		Breakdown map[string]float64  `json:"loss_breakdown_s"`
		Summary   []map[string]any    `json:"summary"`
		Costs     map[string]struct{} `json:"costs"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if r.ETTR == nil || *r.ETTR <= 0 || *r.ETTR >= 1 || r.Faults == nil || *r.Faults < 1 || r.Loss == nil || len(r.Summary) != 2 {
		t.Fatalf("report %s", stdout)
	}
	for _, k := range []string{"detect", "stop", "replace", "restart", "rework"} {
		if _, ok := r.Breakdown[k]; !ok {
			t.Errorf("loss_breakdown_s has no %s", k)
		}
	}
	for _, f := range []string{"report.json", "report.md", "progress.svg", "ettr.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
}

func TestSimETTRBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.faults")
	if err := os.WriteFile(bad, []byte("# ok\ngpu rate=1 scope=chip effect=unhealthy\nhbm rate=-3 scope=chip effect=unhealthy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pool := "../../examples/pools/h100-roce-16k.yaml"
	cases := map[string]struct {
		args []string
		want string
	}{
		"negative rate":   {[]string{"--faults", bad}, "bad.faults:3: rate \"-3\""},
		"missing file":    {[]string{"--faults", filepath.Join(dir, "none")}, "no such file"},
		"too many spares": {[]string{"--spares", "33"}, "--spares 33: pool h100-roce-16k has 2080 hosts and the job takes 2048, so at most 32 can be spares"},
		"bad interval":    {[]string{"--checkpoint-interval", "soon"}, "--checkpoint-interval \"soon\""},
		"bad recovery":    {[]string{"--recovery", "pray"}, "--recovery \"pray\""},
		"bad cost":        {[]string{"--cost", "restart=fast"}, "--cost \"restart=fast\""},
		"bad job size":    {[]string{"--job-chips", "20000"}, "--job-chips 20000"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"sim", "--experiment", "ettr", "--pool", pool, "--job-chips", "16384", "--days", "1"}, c.args...)
			code, _, stderr := run(t, args...)
			if code != ExitBadInput || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q: want exit %d and %q", code, stderr, ExitBadInput, c.want)
			}
		})
	}
}
