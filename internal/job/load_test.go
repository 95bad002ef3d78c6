package job_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/golden"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/strictyaml"
)

// TestInvalidGolden loads every file under testdata/invalid and compares the
// error text with NAME.golden. Run `go test ./internal/job -rewrite` to
// regenerate the golden files after a deliberate change, and review the diff.
func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 14 {
		t.Fatalf("found %d invalid specs; want at least 14", len(files))
	}
	cat := pool.DefaultCatalog()
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := job.Load(name, data, cat)
			if spec != nil {
				t.Errorf("Load returned a spec along with the error: %+v", spec)
			}
			if !errors.Is(err, strictyaml.ErrInvalid) {
				t.Fatalf("Load error = %v; want one wrapping strictyaml.ErrInvalid", err)
			}
			var probs strictyaml.Problems
			if !errors.As(err, &probs) {
				t.Fatalf("Load error is %T; want strictyaml.Problems", err)
			}
			if diff := cmp.Diff(probs.Sorted(), probs); diff != "" {
				t.Errorf("problems are not sorted (-sorted +got):\n%s", diff)
			}
			for _, p := range probs {
				if p.File != name {
					t.Errorf("problem %q names file %q; want %q", p, p.File, name)
				}
			}
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}

// TestExamples loads every spec under examples/jobs; all must be valid, and
// stay valid when written back out and loaded again.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/jobs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"allreduce.yaml", "either-910b-or-h20.yaml", "inference-quarter.yaml",
		"llama-70b-910c.yaml", "moe-671b.yaml", "quick.yaml"}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for _, w := range want {
		if !contains(names, w) {
			t.Errorf("examples/jobs/%s is missing", w)
		}
	}
	cat := pool.DefaultCatalog()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := job.Load(filepath.Base(f), data, cat)
			if err != nil {
				t.Fatalf("example is invalid:\n%v", err)
			}
			if probs := spec.Validate(cat, nil); probs != nil {
				t.Errorf("normalized spec fails Validate without positions:\n%v", probs)
			}
			again, err := job.Load(filepath.Base(f), marshalYAML(t, spec), cat)
			if err != nil {
				t.Fatalf("re-loading the marshalled spec: %v", err)
			}
			if diff := cmp.Diff(spec, again); diff != "" {
				t.Errorf("YAML round trip changed the spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuickStaysShort(t *testing.T) {
	data, err := os.ReadFile("../../examples/jobs/quick.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(string(data)), "\n") + 1; n > 6 {
		t.Errorf("quick.yaml has %d lines; the one-line intent must stay at most 6", n)
	}
	spec, err := job.Load("quick.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &job.Spec{
		APIVersion: job.APIVersion, Kind: job.Kind, Name: "quick", Queue: "default",
		Chips: 8, Ranks: 8, ChipsPerRank: job.Whole,
		Parallelism: job.Parallelism{Tensor: 1, Pipeline: 1, Data: 8, Expert: 1},
		Duration:    job.Duration(3600e9),
		Command:     []string{"python", "train.py"},
	}
	if diff := cmp.Diff(want, spec); diff != "" {
		t.Errorf("quick.yaml (-want +got):\n%s", diff)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestLoadValid covers spellings that must all be accepted, comparing the
// normalized result.
func TestLoadValid(t *testing.T) {
	head := "apiVersion: qun/v1\nkind: Job\nname: v\ncommand: [x]\n"
	type shape struct {
		Chips, Ranks int
		PerRank      job.Milli
		Plan         job.Parallelism
		Duration     job.Duration
	}
	p := func(t, pp, d, e int) job.Parallelism {
		return job.Parallelism{Tensor: t, Pipeline: pp, Data: d, Expert: e}
	}
	tests := map[string]struct {
		doc  string
		want shape
	}{
		"string fraction":      {head + "ranks: 8\nchipsPerRank: \"0.125\"\n", shape{1, 8, 125, p(1, 1, 8, 1), 0}},
		"chips and fraction":   {head + "chips: 2\nchipsPerRank: 0.5\n", shape{2, 4, 500, p(1, 1, 4, 1), 0}},
		"anchors and aliases":  {head + "chips: &n 16\nparallelism: {tensor: *n}\n", shape{16, 16, 1000, p(16, 1, 1, 1), 0}},
		"null duration":        {head + "duration: ~\nchips: 2\n", shape{2, 2, 1000, p(1, 1, 2, 1), 0}},
		"zero duration":        {head + "duration: 0\n", shape{1, 1, 1000, p(1, 1, 1, 1), 0}},
		"integral float ranks": {head + "ranks: 4.0\n", shape{4, 4, 1000, p(1, 1, 4, 1), 0}},
		"JSON document": {`{"apiVersion": "qun/v1", "kind": "Job", "name": "j", "command": ["x"],
			"chips": 8, "ranks": 2, "duration": "90m", "parallelism": {"tensor": 4}}`, shape{8, 2, 4000, p(4, 1, 2, 1), job.Duration(90 * time.Minute)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := job.Load("v.yaml", []byte(tc.doc), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := shape{s.Chips, s.Ranks, s.ChipsPerRank, s.Parallelism, s.Duration}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
