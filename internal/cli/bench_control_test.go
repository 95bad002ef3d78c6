package cli

import (
	"strings"
	"testing"
)

func TestBenchControlRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "0"}, "--nodes 0"},
		{[]string{"--nodes", "8", "--silent", "8"}, "--silent 8"},
		{[]string{"--gang", "1024"}, `--gang "1024"`},
		{[]string{"--gang", "2048x8", "--nodes", "1024"}, "2048 ranks need 2048 nodes"},
		{[]string{"--heartbeat", "5s", "--node-timeout", "4s"}, "the timeout longer"},
		{[]string{"--transport", "udp"}, `--transport "udp"`},
		{[]string{"--source-addrs", "0"}, "--source-addrs 0"},
	} {
		code, _, stderr := run(t, append([]string{"bench", "control"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("bench control %v: exit %d, stderr %q; want 2 naming %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestBenchAPIRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--submissions", "0"}, "--submissions"},
		{[]string{"--compare-auth", "-1"}, "--compare-auth -1"},
		{[]string{"--side-by-side", "-1s"}, "--side-by-side -1s"},
		{[]string{"--processes"}, "--processes needs --compare-auth"},
	} {
		code, _, stderr := run(t, append([]string{"bench", "api"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("bench api %v: exit %d, stderr %q; want 2 naming %q", tc.args, code, stderr, tc.want)
		}
	}
}
