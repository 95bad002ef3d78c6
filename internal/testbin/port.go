package testbin

import (
	"net"
	"testing"
)

// FreePort returns a TCP port on host that was free a moment ago: the
// kernel's choice for a listener on port 0, closed again. Another process
// may take it before the caller does, which tests accept.
func FreePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
