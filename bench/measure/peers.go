package measure

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// The peers a benchmark measures svcnet against: an etcd 3.7 of its own
// for each API server (a `svcnet server` that only hosts its embedded
// etcd), kube-apiserver on it, and the real controller manager and
// scheduler.

// EtcdHost is an embedded etcd 3.7 in a `svcnet server` of its own, with
// the client credentials another API server uses.
type EtcdHost struct {
	Cmd                *exec.Cmd
	URL, CA, Cert, Key string
}

// StartEtcdHost runs `bin server` for its etcd only: no controllers, no
// node, no DNS, no watch cache.
func StartEtcdHost(bin, dir string) (*EtcdHost, error) {
	cmd := exec.Command(bin, "server", "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--controllers=false", "--watch-cache=false",
		"--node-name", "", "--dns-addr", "", "--metrics-addr", "", "--ingress-addr", "", "--ingress-tls-addr", "")
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	url := make(chan string, 1)
	re := regexp.MustCompile(`embedded etcd ready.*url=(\S+)`)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case url <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case u := <-url:
		p := filepath.Join(dir, "pki")
		return &EtcdHost{Cmd: cmd, URL: u, CA: filepath.Join(p, "etcd", "ca.crt"), Cert: filepath.Join(p, "apiserver-etcd-client.crt"),
			Key: filepath.Join(p, "apiserver-etcd-client.key")}, nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("etcd host did not start")
	}
}

// EtcdFlags are svcnet's and kube-apiserver's flags for this etcd.
func (e *EtcdHost) EtcdFlags() []string {
	return []string{"--etcd-servers", e.URL, "--etcd-cafile", e.CA, "--etcd-certfile", e.Cert, "--etcd-keyfile", e.Key}
}

// Stop ends the etcd host.
func (e *EtcdHost) Stop() { _ = e.Cmd.Process.Signal(os.Interrupt); _ = e.Cmd.Wait() }

// Proc is a started peer process.
type Proc struct{ Cmd *exec.Cmd }

// Stop interrupts the process and waits for it.
func (p *Proc) Stop() { _ = p.Cmd.Process.Signal(os.Interrupt); _ = p.Cmd.Wait() }

// RSSMB is the process's resident memory.
func (p *Proc) RSSMB() float64 { return RSSMB(p.Cmd.Process.Pid) }

// KubeAPIServer is a running kube-apiserver.
type KubeAPIServer struct {
	Proc
	Config *rest.Config
	// Kubeconfig is an admin kubeconfig (bearer token, TLS unverified).
	Kubeconfig string
}

const benchToken = "bench-token"

// StartKubeAPIServer runs kube-apiserver on the etcd host's etcd (under
// its own prefix), authenticating a bearer token as system:masters.
func StartKubeAPIServer(bin, dir string, e *EtcdHost, extra ...string) (*KubeAPIServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	addr := FreePort()
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(benchToken + ",admin,1,system:masters\n"),
		"admin.kubeconfig": fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %s}}]
contexts: [{name: bench, context: {cluster: bench, user: admin}}]
current-context: bench
`, addr, benchToken),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	_, port, _ := strings.Cut(addr, ":")
	args := append(e.EtcdFlags(), "--etcd-prefix", "/kube-registry", "--bind-address", "127.0.0.1", "--secure-port", port, "--advertise-address", "127.0.0.1",
		"--cert-dir", filepath.Join(dir, "certs"), "--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC", "--service-account-key-file", filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"), "--service-account-issuer", "https://kubernetes.default.svc",
		"--service-cluster-ip-range", "10.96.0.0/12", "--endpoint-reconciler-type", "none")
	cmd := exec.Command(bin, append(args, extra...)...)
	log, _ := os.Create(filepath.Join(dir, "kube-apiserver.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	cfg := &rest.Config{Host: "https://" + addr, BearerToken: benchToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 2 * time.Second}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest("GET", cfg.Host+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+benchToken)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return &KubeAPIServer{Proc: Proc{cmd}, Config: cfg, Kubeconfig: filepath.Join(dir, "admin.kubeconfig")}, nil
			}
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("kube-apiserver not ready in 90s (see %s)", filepath.Join(dir, "kube-apiserver.log"))
}

// StartKubeControllers runs kube-controller-manager and kube-scheduler
// (beside kube-apiserver's binary) against it with the admin credentials,
// their clients allowed qps requests a second.
func StartKubeControllers(apiserverBin, dir string, k *KubeAPIServer, clusterCIDR string, qps int) ([]*Proc, error) {
	bin := filepath.Dir(apiserverBin)
	sched := filepath.Join(dir, "scheduler.yaml")
	if err := os.WriteFile(sched, fmt.Appendf(nil, `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection: {leaderElect: false}
clientConnection: {kubeconfig: %q, qps: %d, burst: %d}
`, k.Kubeconfig, qps, 2*qps), 0o600); err != nil {
		return nil, err
	}
	var procs []*Proc
	for _, p := range []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{"--kubeconfig", k.Kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", "0",
			"--allocate-node-cidrs", "--cluster-cidr", clusterCIDR, "--node-cidr-mask-size", "24", "--service-cluster-ip-range", "10.96.0.0/12",
			"--kube-api-qps", fmt.Sprint(qps), "--kube-api-burst", fmt.Sprint(2 * qps)}},
		{"kube-scheduler", []string{"--config", sched, "--bind-address", "127.0.0.1", "--secure-port", "0"}},
	} {
		cmd := exec.Command(filepath.Join(bin, p.name), p.args...)
		log, _ := os.Create(filepath.Join(dir, p.name+".log"))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			for _, q := range procs {
				q.Stop()
			}
			return nil, err
		}
		procs = append(procs, &Proc{cmd})
	}
	return procs, nil
}
