package testutil

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// FreeAddr is a loopback address with a port free at the time of asking.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Tool finds a program the test needs: missing, it fails the test in CI
// (whose .ci/run installs the Debian package pkg) and skips it elsewhere.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run installs %s", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s); CI runs this test", name, pkg)
	}
	return path
}
