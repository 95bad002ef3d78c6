// Package testbin builds the programs that tests run as real processes (the
// qun binary, the example workload) once per `go test` run instead of once
// per test or per package.
//
// Build runs `go build -o DIR/NAME PKG` into a directory shared by every
// test binary that one `go test` command starts (they have the same parent
// process), under a file lock. The first package to ask links the binary;
// the others find it up to date (go build's own staleness check, so a binary
// is never stale) and pay only that check. Inside one process the answer is
// remembered. Directories of `go test` runs that have ended are removed by
// the next run that builds.
//
// It is imported only by tests, and only on Linux (flock).
package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]result{} // by output name
	swept bool
)

type result struct {
	pkg, path string
	err       error
}

// Build builds the package pkg (an import path such as
// "github.com/qunhq/qun/cmd/qun") as an executable called name and returns
// its path. It fails the test if the build fails; every test asking for the
// same name gets the same binary, and asking for one name with two packages
// is a test bug.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	r, ok := built[name]
	if !ok {
		r = result{pkg: pkg}
		r.path, r.err = build(pkg, name)
		built[name] = r
	}
	if r.pkg != pkg {
		t.Fatalf("testbin: %s is built from %s, not %s", name, r.pkg, pkg)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path
}

// Dir returns the directory holding the binaries of this `go test` run.
func Dir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("qun-testbin-%d-%d", os.Getuid(), os.Getppid()))
}

func build(pkg, name string) (string, error) {
	if !swept {
		swept = true
		sweep()
	}
	dir := Dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("testbin: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("testbin: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testbin: go build -o %s %s: %v\n%s", out, pkg, err, b)
	}
	return out, nil
}

// sweep removes the directories of earlier runs whose `go test` process has
// exited.
func sweep() {
	prefix := fmt.Sprintf("qun-testbin-%d-", os.Getuid())
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), prefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) || err != nil || pid == os.Getppid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}
