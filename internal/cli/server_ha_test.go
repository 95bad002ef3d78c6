package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerHAFlagsBadInput: a bad HA flag is exit 2, naming the flag and
// the value, before anything is opened.
func TestServerHAFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	poolFile := filepath.Join(dir, "pool.yaml")
	if err := os.WriteFile(poolFile, []byte(upPool(1, 0, 1, "910B")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--etcd", "http://a:1"}, "--etcd: HA members do not share their CA, tokens and node certificates yet; run them with --insecure-plaintext"},
		{[]string{"--etcd", "127.0.0.1:2379", "--insecure-plaintext"}, `--etcd "127.0.0.1:2379": entry 1`},
		{[]string{"--etcd", "http://a:1,,http://b:2", "--insecure-plaintext"}, "entry 2"},
		{[]string{"--etcd", "http://a:1", "--lease-ttl", "1500ms", "--insecure-plaintext"}, "--lease-ttl 1.5s"},
		{[]string{"--etcd", "http://a:1", "--etcd-prefix", "qun/", "--insecure-plaintext"}, `--etcd-prefix "qun/"`},
		{[]string{"--etcd", "http://a:1", "--advertise", "nope", "--insecure-plaintext"}, `--advertise "nope"`},
	} {
		args := append([]string{"server", "--pool", poolFile, "--data-dir", filepath.Join(dir, "d"), "--listen", "127.0.0.1:0"}, c.args...)
		code, _, stderr := run(t, args...)
		if code != ExitBadInput || !strings.Contains(stderr, c.want) {
			t.Errorf("qun %s: exit %d, %q; want %d and %q", strings.Join(c.args, " "), code, stderr, ExitBadInput, c.want)
		}
	}
}

func FuzzParseEtcdURLs(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:2379", "http://a:1,https://b:2", ",", "a:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseEtcdURLs(s)
		if err != nil {
			return
		}
		if len(got) != strings.Count(s, ",")+1 {
			t.Errorf("parseEtcdURLs(%q) = %d URLs for %d entries", s, len(got), strings.Count(s, ",")+1)
		}
	})
}
