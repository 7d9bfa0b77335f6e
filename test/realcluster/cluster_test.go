//go:build realcluster

// Package realcluster runs svcnet's parts against the real Kubernetes
// control plane — kube-apiserver, kube-controller-manager and
// kube-scheduler v1.37.2, built by test/k8s/build.sh into .cache/k8s —
// with RBAC and the Node authorizer on, as a cluster operator would run
// them. `make test-k8s` builds the binaries (once) and runs this tier.
package realcluster

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/svcnet/svcnet/internal/pki"
	"github.com/svcnet/svcnet/internal/testutil"
)

// binary is svcnet, built once for the tier.
var binary string

func TestMain(m *testing.M) { os.Exit(testutil.RunWithBinary(m, &binary)) }

// k8sBin is where test/k8s/build.sh puts the control plane.
func k8sBin(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", ".cache", "k8s", "v1.37.2", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not built: run `bash test/k8s/build.sh` (make test-k8s does)", p)
	}
	return p
}

// ca signs the cluster's certificates.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "realcluster-ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes name.crt and name.key into dir: a certificate for cn in
// orgs, a server's for hosts when given.
func (c *ca) issue(t *testing.T, dir, name, cn string, orgs []string, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: orgs}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	write(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return certFile, keyFile
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string { return testutil.FreeAddr(t) }

// cluster is a running control plane.
type cluster struct {
	t          *testing.T
	dir        string
	ca         *ca
	server     string // https://127.0.0.1:port
	admin      string // admin kubeconfig
	adminToken string
}

// kubeconfig writes a kubeconfig for the API with a client certificate or
// a bearer token.
func (c *cluster) kubeconfig(name, certFile, keyFile, token string) string {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["k8s"] = &clientcmdapi.Cluster{Server: c.server, CertificateAuthorityData: c.ca.pem}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: certFile, ClientKey: keyFile, Token: token}
	cfg.Contexts["k8s"] = &clientcmdapi.Context{Cluster: "k8s", AuthInfo: name}
	cfg.CurrentContext = "k8s"
	path := filepath.Join(c.dir, name+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		c.t.Fatal(err)
	}
	return path
}

// run starts a process that ends with the test; its output is logged if
// the test fails.
func run(t *testing.T, name string, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var mu sync.Mutex
	var out strings.Builder
	w := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(b) })
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			mu.Lock()
			s := out.String()
			mu.Unlock()
			t.Logf("%s output (last 6000 bytes):\n%s", name, s[max(0, len(s)-6000):])
		}
	})
	return cmd
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// startCluster runs etcd, kube-apiserver (RBAC and the Node authorizer,
// ServiceAccount keys, no endpoint reconciler), kube-controller-manager
// (pod CIDRs from 10.244.0.0/16) and kube-scheduler on loopback.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t, dir: dir, ca: newCA(t), adminToken: "admin-token-for-tests"}
	write(t, filepath.Join(dir, "ca.crt"), c.ca.pem)
	etcdClient := "http://" + freePort(t)
	run(t, "etcd", "etcd", "--data-dir", filepath.Join(dir, "etcd"), "--listen-client-urls", etcdClient, "--advertise-client-urls", etcdClient,
		"--listen-peer-urls", "http://"+freePort(t), "--log-level", "warn")
	apiAddr := freePort(t)
	_, port, _ := net.SplitHostPort(apiAddr)
	c.server = "https://" + apiAddr
	servingCrt, servingKey := c.ca.issue(t, dir, "apiserver", "kube-apiserver", nil, "127.0.0.1", "10.96.0.1", "localhost", "kubernetes.default.svc")
	kubeletCrt, kubeletKey := c.ca.issue(t, dir, "apiserver-kubelet-client", pki.KubeletClientName, nil)
	saKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	saDER, _ := x509.MarshalECPrivateKey(saKey)
	saPub, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	write(t, filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}))
	write(t, filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}))
	write(t, filepath.Join(dir, "tokens.csv"), []byte(c.adminToken+",admin,admin,system:masters\n"))
	run(t, "kube-apiserver", k8sBin(t, "kube-apiserver"),
		"--etcd-servers", etcdClient, "--bind-address", "127.0.0.1", "--secure-port", port, "--advertise-address", "127.0.0.1",
		"--tls-cert-file", servingCrt, "--tls-private-key-file", servingKey, "--client-ca-file", filepath.Join(dir, "ca.crt"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"), "--authorization-mode", "Node,RBAC",
		"--service-account-key-file", filepath.Join(dir, "sa.pub"), "--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local", "--service-cluster-ip-range", "10.96.0.0/12",
		"--endpoint-reconciler-type", "none", "--enable-admission-plugins", "NodeRestriction",
		"--kubelet-client-certificate", kubeletCrt, "--kubelet-client-key", kubeletKey, "--kubelet-certificate-authority", filepath.Join(dir, "ca.crt"),
		"--allow-privileged")
	c.admin = c.kubeconfig("admin", "", "", c.adminToken)
	testutil.Eventually(t, 90*time.Second, "kube-apiserver ready", func() error {
		out, err := exec.Command("kubectl", "--kubeconfig", c.admin, "get", "--raw", "/readyz").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	kcmCrt, kcmKey := c.ca.issue(t, dir, "kcm", "system:kube-controller-manager", nil)
	run(t, "kube-controller-manager", k8sBin(t, "kube-controller-manager"),
		"--kubeconfig", c.kubeconfig("kcm", kcmCrt, kcmKey, ""), "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0",
		"--service-account-private-key-file", filepath.Join(dir, "sa.key"), "--root-ca-file", filepath.Join(dir, "ca.crt"),
		"--use-service-account-credentials", "--allocate-node-cidrs", "--cluster-cidr", "10.244.0.0/16", "--service-cluster-ip-range", "10.96.0.0/12")
	schedCrt, schedKey := c.ca.issue(t, dir, "scheduler", "system:kube-scheduler", nil)
	run(t, "kube-scheduler", k8sBin(t, "kube-scheduler"),
		"--kubeconfig", c.kubeconfig("scheduler", schedCrt, schedKey, ""), "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0")
	return c
}

// kubectl runs the real kubectl as the admin.
func (c *cluster) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.admin}, args...)...).CombinedOutput()
	return string(out), err
}

func (c *cluster) mustKubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *cluster) client() kubernetes.Interface {
	c.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.admin)
	if err != nil {
		c.t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return cs
}

// startAgent joins `svcnet agent` as node name with a node's credentials
// (system:node:<name> in system:nodes, which the Node authorizer and
// NodeRestriction govern) and a serving certificate for its server.
func (c *cluster) startAgent(name string, extra ...string) {
	c.t.Helper()
	dir := filepath.Join(c.dir, "node-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	crt, key := c.ca.issue(c.t, dir, "client", "system:node:"+name, []string{"system:nodes"})
	c.ca.issue(c.t, dir, "serving", name, nil, "127.0.0.1", name)
	write(c.t, filepath.Join(dir, "ca.crt"), c.ca.pem)
	kc := c.kubeconfig("node-"+name, crt, key, "")
	final := filepath.Join(dir, "kubeconfig")
	if err := os.Rename(kc, final); err != nil {
		c.t.Fatal(err)
	}
	run(c.t, "svcnet agent "+name, binary, append([]string{"agent", "--kubeconfig", final, "--node-name", name, "--data-dir", filepath.Join(dir, "data")}, extra...)...)
}

// startDNS runs `svcnet dns` with a kubeconfig and returns its address.
func startDNS(t *testing.T, kubeconfig string, extra ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"dns", "--kubeconfig", kubeconfig, "--dns-addr", "127.0.0.1:0", "--metrics-addr", "", "--lameduck", "0s"}, extra...)...)
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("svcnet dns stderr:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "dns: "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return strings.Fields(d)[0]
		}
	}
	t.Fatalf("svcnet dns did not start:\n%s", stderr.String())
	return ""
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
