package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestInvalidInputExitCode runs every invalid pool and job file through the
// CLI: exit code 2, and stderr is the package's golden message.
func TestInvalidInputExitCode(t *testing.T) {
	sets := map[string][]string{
		"../pool/testdata/invalid": {"pool", "show"},
		"../job/testdata/invalid":  {"job", "validate"},
	}
	total := 0
	for dir, verb := range sets {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		total += len(files)
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
				if err != nil {
					t.Fatal(err)
				}
				t.Chdir(dir)
				code, stdout, stderr := run(t, append(verb, filepath.Base(f))...)
				if code != ExitBadInput {
					t.Errorf("exit code = %d, want %d; stderr:\n%s", code, ExitBadInput, stderr)
				}
				if stdout != "" {
					t.Errorf("stdout not empty: %q", stdout)
				}
				wantErr := "qun: " + strings.ReplaceAll(strings.TrimSuffix(string(want), "\n"), "\n", "\nqun: ") + "\n"
				if diff := cmp.Diff(wantErr, stderr); diff != "" {
					t.Errorf("stderr (-want +got):\n%s", diff)
				}
			})
		}
	}
	if total < 20 {
		t.Errorf("only %d invalid files; want at least 20", total)
	}
}

func TestPoolShowJSON(t *testing.T) {
	code, stdout, stderr := run(t, "pool", "show", "../../examples/pools/cloudmatrix384.yaml", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Chips       int            `json:"chips"`
		ChipsByKind map[string]int `json:"chips_by_kind"`
		Levels      []struct {
			Level       string         `json:"level"`
			Domains     int            `json:"domains"`
			ChipsByKind map[string]int `json:"chips_by_kind"`
		} `json:"levels"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.Chips != 384 || got.ChipsByKind["910C"] != 384 {
		t.Errorf("chips = %d, by kind %v; want 384 x 910C", got.Chips, got.ChipsByKind)
	}
}

func TestJobValidateExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/jobs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example jobs")
	}
	for _, f := range files {
		if code, _, stderr := run(t, "job", "validate", f); code != 0 {
			t.Errorf("%s: exit %d: %s", f, code, stderr)
		}
	}
}

func TestJobValidateAgainstPool(t *testing.T) {
	tests := map[string]struct {
		job, pool string
		code      int
		msg       string
	}{
		"512 x 910C on 384":         {"llama-70b-910c.yaml", "cloudmatrix384.yaml", 2, "chips: needs 512 chips; the pool has 384 of accepted kinds"},
		"8-chip ranks on dgx":       {"allreduce.yaml", "dgx-h100-superpod.yaml", 0, "valid"},
		"910B or H20 on a 910 pool": {"either-910b-or-h20.yaml", "ascend910-cluster.yaml", 2, "accept: the pool has no chip kind the job accepts (accepts kinds 910B, H20; the pool has 910"},
		"910B or H20 on mixed":      {"either-910b-or-h20.yaml", "mixed-sovereign.yaml", 0, "valid"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, "job", "validate", "../../examples/jobs/"+tc.job, "--pool", "../../examples/pools/"+tc.pool)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.msg) {
				t.Errorf("exit %d, output %q; want exit %d containing %q", code, stdout+stderr, tc.code, tc.msg)
			}
		})
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"pool", "show"}, {"pool", "show", "x.yaml", "-o", "xml"}, {"pool", "show", "/nonexistent.yaml"}, {"job", "validate", "--bogus", "x"}} {
		if code, _, _ := run(t, args...); code != ExitBadInput {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
