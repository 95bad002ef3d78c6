package progress

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestBarOnTerminal(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, true)
	for i := 0; i <= 1000; i++ {
		r.Update("fgd seed 42", i, 1000)
	}
	r.Println("fgd seed 42: done")
	r.Done()
	out := b.String()
	if n := strings.Count(out, "\r\x1b[K"); n != 101+2+1 { // 0..100%, the line and its redraw, the clear
		t.Errorf("%d redraws, want 104 (one per whole percentage):\n%q", n, out)
	}
	for _, want := range []string{
		"\r\x1b[Kfgd seed 42 [------------------------------]   0% 0/1000",
		"\r\x1b[Kfgd seed 42 [###############---------------]  50% 500/1000",
		"\r\x1b[Kfgd seed 42 [##############################] 100% 1000/1000",
		"\r\x1b[Kfgd seed 42: done\n\r\x1b[Kfgd seed 42 [##############################] 100% 1000/1000\r\x1b[K",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestNothingWithoutTerminal(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, false)
	for i := range 100 {
		r.Update("bench", i, 100)
	}
	r.Println("bench: stage 2")
	r.Done()
	if diff := cmp.Diff("bench: stage 2\n", b.String()); diff != "" {
		t.Errorf("without a terminal (-want +got):\n%s", diff)
	}
}

func TestNilAndOddTotals(t *testing.T) {
	var r *Reporter
	r.Update("x", 1, 2) // a nil reporter is silent
	r.Println("x")
	r.Done()
	var b bytes.Buffer
	r = New(&b, true)
	r.Update("x", 5, 0) // no total: nothing to draw
	r.Update("x", 7, 5) // clamped
	if !strings.HasSuffix(b.String(), "100% 5/5") || strings.Count(b.String(), "\r") != 1 {
		t.Errorf("odd totals drew %q", b.String())
	}
}

// openPTY opens a pseudo-terminal pair: the controlling side and the
// terminal side.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

func TestIsTerminal(t *testing.T) {
	_, tty := openPTY(t)
	if !IsTerminal(tty) {
		t.Error("a pseudo-terminal is not a terminal")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, w := range map[string]any{"pipe": pw, "file": f, "buffer": &bytes.Buffer{}} {
		if IsTerminal(w.(interface{ Write([]byte) (int, error) })) {
			t.Errorf("a %s is a terminal", name)
		}
	}
}
