// Package golden compares test output with golden files and rewrites them on
// request: `go test ./PKG -rewrite` regenerates every golden file the
// package's tests check, and the diff is then reviewed like any change.
//
// It is imported only by tests. Importing it registers the -rewrite flag, so
// a test binary must not define its own flag of that name.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Rewrite is the -rewrite flag.
var Rewrite = flag.Bool("rewrite", false, "rewrite golden files from the current output")

// Check compares got with the file at path, or writes got there when
// -rewrite is set. A missing file is a failure that says how to create it.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Rewrite {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -rewrite to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); rerun with -rewrite if the change is intended:\n%s", path, diff)
	}
}
