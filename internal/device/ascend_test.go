package device

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeNPUSMI writes an executable npu-smi script with the given body and
// returns its path.
func fakeNPUSMI(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
	path := filepath.Join(t.TempDir(), "npu-smi")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func testdataPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAscendDiscover(t *testing.T) {
	script := `if [ "$1 $2" = "info -m" ]; then cat '` + testdataPath(t, "npu-smi-info-m-a3.txt") + `'; exit 0; fi
if [ "$1" = "info" ]; then cat '` + testdataPath(t, "npu-smi-info-a3.txt") + `'; exit 0; fi
echo "usage" >&2; exit 2
`
	var logs bytes.Buffer
	d := NewAscend(WithNPUSMIPath(fakeNPUSMI(t, script)), logTo(&logs))
	got, err := d.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseNPUSMI(readTestdata(t, "npu-smi-info-a3.txt"), readTestdata(t, "npu-smi-info-m-a3.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}
	if logs.Len() != 0 {
		t.Errorf("unexpected log: %s", logs.String())
	}
}

func TestAscendMapFailsFallsBack(t *testing.T) {
	script := `if [ "$1 $2" = "info -m" ]; then echo "unknown option -m" >&2; exit 1; fi
cat '` + testdataPath(t, "npu-smi-info-800t-a2.txt") + `'
`
	var logs bytes.Buffer
	got, err := NewAscend(WithNPUSMIPath(fakeNPUSMI(t, script)), logTo(&logs)).Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 || got[7].Index != 7 {
		t.Errorf("got %+v", got)
	}
	if !strings.Contains(logs.String(), "table order") || !strings.Contains(logs.String(), "unknown option -m") {
		t.Errorf("want a warning naming the -m failure, got %q", logs.String())
	}
}

func TestAscendToolAbsent(t *testing.T) {
	var logs bytes.Buffer
	d := NewAscend(WithNPUSMIPath(filepath.Join(t.TempDir(), "npu-smi")), logTo(&logs))
	got, err := d.Discover(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("Discover = %v, %v; want no devices, no error", got, err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "npu-smi not available") || !strings.Contains(lines[0], "no Ascend devices") {
		t.Errorf("want one 'npu-smi not available ...; no Ascend devices' line, got %q", logs.String())
	}
}

func TestAscendToolFails(t *testing.T) {
	path := fakeNPUSMI(t, "echo 'dcmi model initialized failed, because the device is used. ret is -8020'; exit 1\n")
	_, err := NewAscend(WithNPUSMIPath(path)).Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "npu-smi info") || !strings.Contains(err.Error(), "ret is -8020") {
		t.Errorf("Discover error = %v, want one quoting npu-smi's message", err)
	}
}

func TestAscendToolHangs(t *testing.T) {
	path := fakeNPUSMI(t, "exec sleep 30\n")
	start := time.Now()
	_, err := NewAscend(WithNPUSMIPath(path), WithTimeout(200*time.Millisecond)).Discover(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Errorf("Discover error = %v, want a timeout", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Discover took %v despite a 200ms timeout", el)
	}
}
