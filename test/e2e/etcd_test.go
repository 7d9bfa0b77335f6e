package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/pki"
	"github.com/svcnet/svcnet/internal/testutil"
)

// TestEmbeddedEtcdIsLocked: the embedded etcd takes only clients with a
// certificate of its own CA (the API server's): etcdctl without one is
// refused, plain HTTP too; it advertises the URL it listens on; its data
// and keys are its owner's alone.
func TestEmbeddedEtcdIsLocked(t *testing.T) {
	etcdctl := testutil.Tool(t, "etcdctl", "etcd-client")
	p := startSvcnet(t, t.TempDir(), freePort(t))
	var url string
	testutil.Eventually(t, 10*time.Second, "the embedded etcd's URL in the log", func() error {
		m := regexp.MustCompile(`embedded etcd ready.*url=(https://127\.0\.0\.1:\d+)`).FindStringSubmatch(p.output())
		if m == nil {
			return os.ErrNotExist
		}
		url = m[1]
		return nil
	})
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, etcdctl, append([]string{"--dial-timeout=2s", "--command-timeout=4s"}, args...)...)
		cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	pki := filepath.Join(p.dataDir, "pki")
	creds := []string{"--cacert", filepath.Join(pki, "etcd", "ca.crt"), "--cert", filepath.Join(pki, "apiserver-etcd-client.crt"), "--key", filepath.Join(pki, "apiserver-etcd-client.key")}
	for name, args := range map[string][]string{
		"no credentials":                     {"--endpoints", url, "get", "/registry", "--prefix", "--keys-only"},
		"no credentials, any server cert":    {"--endpoints", url, "--insecure-skip-tls-verify", "get", "/registry", "--prefix", "--keys-only"},
		"plain HTTP":                         {"--endpoints", strings.Replace(url, "https", "http", 1), "get", "/registry", "--prefix", "--keys-only"},
		"a put without credentials":          {"--endpoints", url, "--insecure-skip-tls-verify", "put", "/registry/x", "y"},
		"the cluster CA's admin certificate": {"--endpoints", url, "--insecure-skip-tls-verify", "--cert", filepath.Join(pki, "admin.crt"), "--key", filepath.Join(pki, "admin.key"), "get", "/registry", "--prefix", "--keys-only"},
	} {
		if out, err := run(args...); err == nil || strings.Contains(out, "/registry/") {
			t.Errorf("%s: etcdctl was let in:\n%s", name, out)
		}
	}
	out, err := run(append(creds, "--endpoints", url, "get", "/registry/namespaces/default", "--keys-only")...)
	if err != nil || !strings.Contains(out, "/registry/namespaces/default") {
		t.Fatalf("with the API server's credentials: %v\n%s", err, out)
	}
	out, err = run(append(creds, "--endpoints", url, "member", "list")...)
	if err != nil || !strings.Contains(out, url) {
		t.Fatalf("member list does not advertise %s: %v\n%s", url, err, out)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(p.dataDir, "etcd"): 0o700, pki: 0o700, filepath.Join(pki, "etcd"): 0o700,
		filepath.Join(pki, "etcd", "ca.key"): 0o600, filepath.Join(pki, "apiserver-etcd-client.key"): 0o600, filepath.Join(pki, "ca.key"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}

// TestExternalEtcdOverTLS: --etcd-cafile, --etcd-certfile and
// --etcd-keyfile reach an etcd that requires client certificates.
func TestExternalEtcdOverTLS(t *testing.T) {
	etcdBin := testutil.Tool(t, "etcd", "etcd-server")
	dir := t.TempDir()
	creds, err := pki.LoadOrCreateEtcd(dir, time.Now()) // a CA, a loopback serving certificate, a client certificate
	if err != nil {
		t.Fatal(err)
	}
	client, peer := freePort(t), freePort(t)
	etcd := exec.Command(etcdBin, "--data-dir", t.TempDir(), "--name", "tls",
		"--listen-client-urls", "https://"+client, "--advertise-client-urls", "https://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer, "--initial-cluster", "tls=http://"+peer,
		"--cert-file", creds.CertFile, "--key-file", creds.KeyFile, "--trusted-ca-file", creds.CAFile, "--client-cert-auth", "--log-level", "error")
	if err := etcd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = etcd.Process.Kill(); _ = etcd.Wait() })
	p := startSvcnet(t, t.TempDir(), freePort(t), "--etcd-servers", "https://"+client,
		"--etcd-cafile", creds.CAFile, "--etcd-certfile", creds.ClientCertFile, "--etcd-keyfile", creds.ClientKeyFile)
	if out := p.mustKubectl(t, "get", "namespaces"); !strings.Contains(out, "kube-system") {
		t.Fatalf("namespaces:\n%s", out)
	}
}
