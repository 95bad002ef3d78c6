package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildOnceAndRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	a := Build(t, "github.com/qunhq/qun/internal/testbin/testdata/hello", "hello")
	if filepath.Dir(a) != Dir() {
		t.Errorf("built into %s, want %s", filepath.Dir(a), Dir())
	}
	st, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if b := Build(t, "github.com/qunhq/qun/internal/testbin/testdata/hello", "hello"); b != a {
		t.Errorf("second Build = %s, want %s", b, a)
	}
	// A second `go build` of an up-to-date binary (another package of the
	// run asking) keeps the file: the same inode, not a relink.
	path, err := build("github.com/qunhq/qun/internal/testbin/testdata/hello", "hello")
	if err != nil {
		t.Fatal(err)
	}
	st2, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(st, st2) {
		t.Errorf("the up-to-date binary was replaced")
	}
	out, err := exec.Command(a).Output()
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Errorf("running it: %q, %v", out, err)
	}
}

func TestBuildFailureFails(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	if _, err := build("github.com/qunhq/qun/internal/testbin/testdata/nosuch", "nosuch"); err == nil || !strings.Contains(err.Error(), "go build") {
		t.Errorf("err = %v, want a go build failure", err)
	}
}
