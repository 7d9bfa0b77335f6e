package hostnet

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
)

// TestClaimInANetworkNamespace runs itself again in a network namespace of
// its own (unshare -n), so the host's routes are never touched: there a
// claimed range can be bound and connected to, and no longer once released.
func TestClaimInANetworkNamespace(t *testing.T) {
	if os.Getenv("HOSTNET_IN_NETNS") == "1" {
		inNamespace(t)
		return
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root (CI runs as root)")
		}
		t.Skip("needs root for a network namespace")
	}
	cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run", "^TestClaimInANetworkNamespace$", "-test.v")
	cmd.Env = append(os.Environ(), "HOSTNET_IN_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
}

func inNamespace(t *testing.T) {
	if err := ip("link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	addr := "10.96.7.7:8080"
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatal("the address was local before the claim")
	}
	c, err := ClaimRanges([]netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("10.244.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ranges on %s", c.Device())
	for _, a := range []string{addr, "10.244.3.9:80"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s after the claim: %v", a, err)
		}
		conn, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatalf("connect %s: %v", a, err)
		}
		conn.Close()
		ln.Close()
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatal("the address is still local after Release")
	}
}
