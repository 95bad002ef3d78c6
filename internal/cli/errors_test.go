package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// closedAddr returns the URL of a local port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	return addr
}

// TestSubmitInvalidFileIsLocal submits every invalid job file to a server
// that cannot be reached: the file is checked before any request, so the
// answer is the local validation error (exit 2, the same text as `qun job
// validate`), never a network one.
func TestSubmitInvalidFileIsLocal(t *testing.T) {
	dir := "../job/testdata/invalid"
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no invalid job files")
	}
	addr := closedAddr(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir)
			code, stdout, stderr := run(t, "job", "submit", "--server", addr, filepath.Base(f))
			if code != ExitBadInput || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, ExitBadInput)
			}
			wantErr := "qun: " + strings.ReplaceAll(strings.TrimSuffix(string(want), "\n"), "\n", "\nqun: ") + "\n"
			if diff := cmp.Diff(wantErr, stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestErrorsSayWhatFailed runs commands that fail in different places and
// checks the exit code and that stderr names the real failure.
func TestErrorsSayWhatFailed(t *testing.T) {
	notQun := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>hello</html>"))
	}))
	defer notQun.Close()
	down := closedAddr(t)
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "missing.yaml")
	dataDir := filepath.Join(tmp, "data")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		want   string // stderr starts with this
		reject string // and does not contain this
	}{
		{"submit a missing file", []string{"job", "submit", "--server", down, missing},
			ExitBadInput, "qun: job file: open " + missing + ": no such file or directory\n", "server"},
		{"server down", []string{"job", "list", "--server", down},
			ExitFailure, "qun: cannot reach the server at " + down + ": dial tcp", "bad input"},
		{"submit to a server that is down", []string{"job", "submit", "--server", down, "../../examples/jobs/quick.yaml"},
			ExitFailure, "qun: cannot reach the server at " + down + ": dial tcp", "bad input"},
		{"answer that is not Qun's", []string{"job", "list", "--server", notQun.URL},
			ExitFailure, "qun: GET /v1/jobs: decoding the answer: ", "cannot reach"},
		{"sim trace missing", []string{"sim", "-q", "--trace", filepath.Join(tmp, "pods.csv")},
			ExitBadInput, "qun: read pod list: open " + filepath.Join(tmp, "pods.csv") + ": no such file or directory\n", "bad input"},
		{"server port out of range", []string{"server", "--pool", "../server/testdata/pool.yaml", "--data-dir", dataDir, "--listen", "127.0.0.1:99999"},
			ExitBadInput, `qun: --listen "127.0.0.1:99999": port "99999" is not a number from 0 to 65535` + "\n", "state"},
		{"server listen without port", []string{"server", "--pool", "../server/testdata/pool.yaml", "--data-dir", dataDir, "--listen", "localhost"},
			ExitBadInput, `qun: --listen "localhost": want HOST:PORT`, "state"},
		{"up port out of range", []string{"up", "--data-dir", dataDir, "--listen", "127.0.0.1:70000"},
			ExitBadInput, `qun: --listen "127.0.0.1:70000": port "70000"`, "cannot listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.HasPrefix(stderr, tc.want) || strings.Contains(stderr, tc.reject) {
				t.Errorf("qun %s: exit %d, stderr %q; want exit %d, stderr starting %q without %q",
					strings.Join(tc.args, " "), code, stderr, tc.code, tc.want, tc.reject)
			}
		})
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("a rejected command created %s (stat: %v)", dataDir, err)
	}
}
