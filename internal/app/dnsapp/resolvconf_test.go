package dnsapp

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUpstreams(t *testing.T) {
	if got := upstreams("none", ""); got != nil {
		t.Fatalf("none: %v", got)
	}
	if got := upstreams("10.0.0.2, 192.0.2.1:5353,fd00::1", ""); len(got) != 3 || got[0] != "10.0.0.2:53" || got[1] != "192.0.2.1:5353" || got[2] != "[fd00::1]:53" {
		t.Fatalf("list: %v", got)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	_ = os.WriteFile(p, []byte("# comment\nsearch x\nnameserver 127.0.0.1\nnameserver 9.9.9.9\n"), 0o644)
	if got := nameservers(p); len(got) != 2 || got[1] != "9.9.9.9" {
		t.Fatalf("nameservers: %v", got)
	}
}
