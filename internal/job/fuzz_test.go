package job_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/strictyaml"
)

// FuzzLoad checks that Load never panics and returns either a valid,
// normalized spec that survives a YAML round trip, or a non-empty, sorted
// list of problems that all name the file.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../../examples/jobs/*.yaml", "testdata/invalid/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	cat := pool.DefaultCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := job.Load("f.yaml", data, cat)
		if err != nil {
			if spec != nil {
				t.Fatalf("Load returned a spec and an error: %v", err)
			}
			var probs strictyaml.Problems
			if !errors.As(err, &probs) || !errors.Is(err, strictyaml.ErrInvalid) || len(probs) == 0 {
				t.Fatalf("Load error %T %q is not a non-empty strictyaml.Problems", err, err)
			}
			for _, p := range probs {
				if p.File != "f.yaml" || p.Msg == "" {
					t.Fatalf("problem %+v lacks the file or a message", p)
				}
			}
			if diff := cmp.Diff(probs.Sorted(), probs); diff != "" {
				t.Fatalf("problems not sorted (-sorted +got):\n%s", diff)
			}
			return
		}
		if probs := spec.Validate(cat, nil); probs != nil {
			t.Fatalf("Load returned a spec that fails Validate: %v", probs)
		}
		again := *spec
		again.Normalize()
		if diff := cmp.Diff(*spec, again); diff != "" {
			t.Fatalf("Load returned a spec that is not normalized (-got +renormalized):\n%s", diff)
		}
		if spec.TotalChipsMilli() <= 0 || spec.TotalChipsMilli() > job.MaxTotalChips*int64(job.Whole) {
			t.Fatalf("valid spec has total %d thousandths of a chip", spec.TotalChipsMilli())
		}
		back, err := job.Load("f.yaml", marshalYAML(t, spec), cat)
		if err != nil {
			t.Fatalf("re-loading the marshalled spec: %v", err)
		}
		if diff := cmp.Diff(spec, back); diff != "" {
			t.Fatalf("YAML round trip changed the spec (-want +got):\n%s", diff)
		}
	})
}
