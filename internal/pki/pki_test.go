package pki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a, err := LoadOrCreate(dir, []string{"127.0.0.1", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(dir, []string{"127.0.0.1", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !a.CA.Equal(b.CA) || a.AdminToken != b.AdminToken || len(a.AdminToken) != 64 {
		t.Fatal("second load did not reuse the CA and token")
	}
	if string(a.Serving.Certificate[0]) != string(b.Serving.Certificate[0]) {
		t.Fatal("serving certificate reissued without need")
	}
	// A new host reissues the serving certificate under the same CA.
	c, err := LoadOrCreate(dir, []string{"127.0.0.1", "localhost", "10.0.0.9"}, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(c.Serving.Certificate[0])
	if err := leaf.VerifyHostname("10.0.0.9"); err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.CAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatal(err)
	}
	path, err := c.WriteKubeconfig(dir, "https://127.0.0.1:6443")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil || cfg.BearerToken != c.AdminToken || cfg.Host != "https://127.0.0.1:6443" || len(cfg.CAData) == 0 {
		t.Fatalf("kubeconfig: %v %+v", err, cfg)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "pki", "ca.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key mode %v", fi.Mode().Perm())
	}
}
