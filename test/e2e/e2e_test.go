// Package e2e builds the svcnet binary, runs it as a user would and drives
// it with the real kubectl found on PATH (and the versioned kubectl binaries
// installed beside it).
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/testutil"
)

var binary string

func TestMain(m *testing.M) { os.Exit(testutil.RunWithBinary(m, &binary)) }

func freePort(t *testing.T) string { return testutil.FreeAddr(t) }

// proc is a running svcnet server process.
type proc struct {
	t             *testing.T
	cmd           *exec.Cmd
	dataDir       string
	addr          string
	kubeconfig    string
	dnsAddr       string
	metricsURL    string
	ingressURL    string
	ingressTLSURL string
	mu            sync.Mutex
	out           strings.Builder
	exited        chan error
}

func startSvcnet(t *testing.T, dataDir, addr string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"server", "--data-dir", dataDir, "--api-addr", addr, "--dns-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--ingress-addr", "127.0.0.1:0", "--ingress-tls-addr", "127.0.0.1:0"}, extra...)
	p := &proc{t: t, dataDir: dataDir, addr: addr, exited: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
	stdout, _ := p.cmd.StdoutPipe()
	p.cmd.Stderr = &lockedWriter{p: p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if k, ok := strings.CutPrefix(line, "kubeconfig: "); ok {
				ready <- k
			}
			if u, ok := strings.CutPrefix(line, "metrics: "); ok {
				p.mu.Lock()
				p.metricsURL = strings.TrimSuffix(u, "/metrics")
				p.mu.Unlock()
			}
			if u, ok := strings.CutPrefix(line, "ingress: "); ok {
				p.mu.Lock()
				p.ingressURL = u
				p.mu.Unlock()
			}
			if u, ok := strings.CutPrefix(line, "ingress-tls: "); ok {
				p.mu.Lock()
				p.ingressTLSURL = u
				p.mu.Unlock()
			}
			if d, ok := strings.CutPrefix(line, "dns: "); ok {
				p.mu.Lock()
				p.dnsAddr = strings.Fields(d)[0]
				p.mu.Unlock()
				ready <- ""
			}
		}
	}()
	go func() { p.exited <- p.cmd.Wait() }()
	select {
	case p.kubeconfig = <-ready:
		<-ready // the dns line follows
	case err := <-p.exited:
		t.Fatalf("svcnet exited before serving: %v\n%s", err, p.output())
	case <-time.After(60 * time.Second):
		p.kill()
		t.Fatalf("svcnet did not serve within 60s\n%s", p.output())
	}
	t.Cleanup(p.kill)
	return p
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Fatalf("svcnet did not exit cleanly on SIGTERM: %v\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		p.kill()
		p.t.Fatal("svcnet did not exit within 30s of SIGTERM")
	}
}

func (p *proc) kill() {
	if p.cmd.Process != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
		}
	}
}

// kubectl runs a kubectl binary with the server's kubeconfig and a private
// cache directory.
func (p *proc) kubectl(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+p.kubeconfig, "HOME="+home, "KUBECACHEDIR="+filepath.Join(home, "cache"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *proc) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.kubectl(t, kubectlPath(t), args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func kubectlPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal("kubectl is not on PATH; the e2e tests need the real kubectl")
	}
	return p
}

// versionedKubectl finds kubectl.1.NN beside the real kubectl binary.
func versionedKubectl(t *testing.T, minor string) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(kubectlPath(t))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(filepath.Dir(real), "kubectl.1."+minor)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed beside kubectl: %v", p, err)
	}
	return p
}

// seedDir holds the mission's three manifests, unchanged.
func seedDir(t *testing.T) string {
	t.Helper()
	const d = "../../testdata/seed"
	if _, err := os.Stat(filepath.Join(d, "normal-service.yaml")); err != nil {
		t.Fatalf("seed manifests: %v", err)
	}
	return d
}

func expect(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Fatalf("output does not match %q:\n%s", p, out)
		}
	}
}

func TestSeedFlowWithKubectl(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t))
	dir := seedDir(t)
	out := p.mustKubectl(t, "apply", "-f", dir)
	expect(t, out, `deployment.apps/api-deployment created`, `service/headless-service created`, `service/normal-service created`)
	out = p.mustKubectl(t, "get", "svc")
	expect(t, out, `(?m)^normal-service\s+ClusterIP\s+10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+\s+<none>\s+80/TCP`, `(?m)^headless-service\s+ClusterIP\s+None\s+<none>\s+80/TCP`,
		`(?m)^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s`)
	out = p.mustKubectl(t, "apply", "-f", dir)
	expect(t, out, `deployment.apps/api-deployment unchanged`, `service/normal-service unchanged`)
	out = p.mustKubectl(t, "apply", "--server-side", "-f", dir)
	expect(t, out, `service/normal-service serverside-applied`)
	out = p.mustKubectl(t, "apply", "--dry-run=server", "-f", dir)
	expect(t, out, `\(server dry run\)`)
	// Within 5 s of apply, `kubectl get all` has the shape Kubernetes gives.
	testutil.Eventually(t, 5*time.Second, "kubectl get all: 5/5 and five Running pods", func() error {
		out = p.mustKubectl(t, "get", "all")
		if regexp.MustCompile(`deployment.apps/api-deployment\s+5/5\s+5\s+5`).MatchString(out) &&
			len(regexp.MustCompile(`(?m)^pod/api-deployment-[a-z0-9]+-[a-z0-9]{5}\s+1/1\s+Running\s+0\s`).FindAllString(out, -1)) == 5 {
			return nil
		}
		return fmt.Errorf("kubectl get all:\n%s", out)
	})
	expect(t, out, `replicaset.apps/api-deployment-[a-z0-9]+\s+5\s+5\s+5`, `service/normal-service\s+ClusterIP\s+10\.`, `service/headless-service\s+ClusterIP\s+None`)
	wide := p.mustKubectl(t, "get", "pods", "-o", "wide", "--no-headers")
	ips := regexp.MustCompile(`\b10\.244\.\d+\.\d+\b`).FindAllString(wide, -1)
	distinct := map[string]bool{}
	for _, ip := range ips {
		distinct[ip] = true
	}
	if len(distinct) != 5 {
		t.Fatalf("want five distinct pod IPs in 10.244.0.0/16:\n%s", wide)
	}
	out = p.mustKubectl(t, "get", "endpointslices", "-l", "kubernetes.io/service-name=headless-service", "-o", "yaml")
	for ip := range distinct {
		expect(t, out, `- `+regexp.QuoteMeta(ip)+`\n`)
	}
	if n := strings.Count(out, "ready: true"); n != 5 {
		t.Fatalf("want 5 ready endpoints, got %d:\n%s", n, out)
	}
	out = p.mustKubectl(t, "describe", "svc", "normal-service")
	expect(t, out, `Endpoints:\s+10\.244\.\d+\.\d+:3000,`)
	out = p.mustKubectl(t, "explain", "service.spec.clusterIP")
	expect(t, out, `FIELD:\s+clusterIP\s+<string>`, `(?s)DESCRIPTION:.*IP address of the service`)
	out = p.mustKubectl(t, "describe", "svc", "normal-service")
	expect(t, out, `Selector:\s+app=api`, `Type:\s+ClusterIP`, `TargetPort:\s+3000/TCP`, `Session Affinity:\s+None`)
	out = p.mustKubectl(t, "describe", "deployment", "api-deployment")
	expect(t, out, `Replicas:\s+5 desired`, `StrategyType:\s+RollingUpdate`, `Port:\s+3000/TCP`)
	out = p.mustKubectl(t, "scale", "deployment", "api-deployment", "--replicas=2")
	expect(t, out, `deployment.apps/api-deployment scaled`)
	out = p.mustKubectl(t, "rollout", "status", "deployment", "api-deployment", "--timeout=20s")
	expect(t, out, `deployment "api-deployment" successfully rolled out`)
	// The three removed pods are Terminating a moment (as a kubelet takes
	// its moment to remove them), then gone.
	eventually(t, 10*time.Second, "two pods after scaling to 2", func() string {
		out := p.mustKubectl(t, "get", "pods", "-A", "--show-labels", "--no-headers")
		if n := strings.Count(out, "app=api,pod-template-hash="); n != 2 {
			return out
		}
		return ""
	})
	p.mustKubectl(t, "set", "image", "deployment/api-deployment", "api=eddiehale/hellonodeapi:v2")
	out = p.mustKubectl(t, "rollout", "status", "deployment", "api-deployment", "--timeout=20s")
	expect(t, out, `successfully rolled out`)
	out = p.mustKubectl(t, "rollout", "history", "deployment", "api-deployment")
	expect(t, out, `(?m)^1\s`, `(?m)^2\s`)
	out = p.mustKubectl(t, "get", "ns")
	expect(t, out, `(?m)^default\s+Active`, `(?m)^kube-system\s+Active`, `(?m)^kube-public\s+Active`)
	out = p.mustKubectl(t, "get", "--raw", "/healthz")
	if out != "ok" {
		t.Fatalf("healthz: %q", out)
	}
	out = p.mustKubectl(t, "delete", "-f", dir)
	expect(t, out, `deployment.apps "api-deployment" deleted`, `service "normal-service" deleted`, `service "headless-service" deleted`)
	out = p.mustKubectl(t, "get", "svc")
	if strings.Contains(out, "normal-service") {
		t.Fatalf("delete left the service:\n%s", out)
	}
	testutil.Eventually(t, 10*time.Second, "the replicaset and pods to go", func() error {
		out, _ = p.kubectl(t, kubectlPath(t), "get", "rs,pods", "--no-headers")
		if strings.Contains(out, "No resources found") {
			return nil
		}
		return fmt.Errorf("deleting the deployment left:\n%s", out)
	})
}

func TestWatchStreamsStayOpen(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath(t), "get", "svc", "-w")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+p.kubeconfig, "HOME="+t.TempDir())
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(pattern string) {
		t.Helper()
		re := regexp.MustCompile(pattern)
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl get -w ended before %q", pattern)
				}
				if re.MatchString(l) {
					return
				}
			case <-deadline:
				t.Fatalf("no line matching %q", pattern)
			}
		}
	}
	waitLine(`^kubernetes\s+ClusterIP`)
	p.mustKubectl(t, "create", "service", "clusterip", "watched", "--tcp=8080:80")
	waitLine(`^watched\s+ClusterIP\s+10\.`)
	p.mustKubectl(t, "delete", "service", "watched")
	waitLine(`^watched\s+ClusterIP`)
}

func TestRestartKeepsObjectsAndCredentials(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	p := startSvcnet(t, dir, addr)
	p.mustKubectl(t, "apply", "-f", filepath.Join(seedDir(t), "normal-service.yaml"))
	ip := p.mustKubectl(t, "get", "svc", "normal-service", "-o", "jsonpath={.spec.clusterIP}")
	token, _ := os.ReadFile(filepath.Join(dir, "pki", "admin.token"))
	ca, _ := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	p.stop()
	p2 := startSvcnet(t, dir, addr)
	if got := p2.mustKubectl(t, "get", "svc", "normal-service", "-o", "jsonpath={.spec.clusterIP}"); got != ip {
		t.Fatalf("ClusterIP changed across restart: %s -> %s", ip, got)
	}
	token2, _ := os.ReadFile(filepath.Join(dir, "pki", "admin.token"))
	ca2, _ := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if string(token) != string(token2) || string(ca) != string(ca2) {
		t.Fatal("token or CA changed across restart")
	}
	p2.stop()
}

func TestVersionedKubectl(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t))
	dir := seedDir(t)
	for _, minor := range []string{"27", "33"} {
		t.Run("1."+minor, func(t *testing.T) {
			k := versionedKubectl(t, minor)
			out, err := p.kubectl(t, k, "apply", "-f", dir)
			if err != nil {
				t.Fatalf("apply: %v\n%s", err, out)
			}
			expect(t, out, `service/normal-service (created|unchanged|configured)`)
			out, err = p.kubectl(t, k, "explain", "deployment.spec.replicas")
			if err != nil {
				t.Fatalf("explain: %v\n%s", err, out)
			}
			expect(t, out, `replicas`)
			out, err = p.kubectl(t, k, "get", "all")
			if err != nil {
				t.Fatalf("get all: %v\n%s", err, out)
			}
			expect(t, out, `service/headless-service\s+ClusterIP\s+None`)
			out, err = p.kubectl(t, k, "describe", "svc", "headless-service")
			if err != nil {
				t.Fatalf("describe: %v\n%s", err, out)
			}
			expect(t, out, `IP:\s+None`)
		})
	}
}

func TestBadManifestsGetClearErrors(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t))
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bad := write("badport.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: badport\nspec:\n  ports:\n  - port: 70000\n")
	out, err := p.kubectl(t, kubectlPath(t), "apply", "-f", bad)
	if err == nil {
		t.Fatal("invalid port accepted")
	}
	expect(t, out, `The Service "badport" is invalid`, `spec.ports\[0\].port: Invalid value: 70000: must be between 1 and 65535, inclusive`)
	unknown := write("unknown.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: typo\nspec:\n  selectr:\n    app: x\n  ports:\n  - port: 80\n")
	out, err = p.kubectl(t, kubectlPath(t), "apply", "-f", unknown)
	if err == nil {
		t.Fatal("unknown field accepted under strict validation")
	}
	expect(t, out, `strict decoding error: unknown field "spec.selectr"`)
	out, _ = p.kubectl(t, kubectlPath(t), "get", "svc", "nope")
	expect(t, out, `Error from server \(NotFound\): services "nope" not found`)
}

func TestExternalEtcdTwoServers(t *testing.T) {
	etcdURL := startEtcd(t)
	a := startSvcnet(t, t.TempDir(), freePort(t), "--etcd-servers", etcdURL)
	// The second server shares the first's credentials, as replicas of one cluster do.
	dirB := t.TempDir()
	if err := os.CopyFS(filepath.Join(dirB, "pki"), os.DirFS(filepath.Join(a.dataDir, "pki"))); err != nil {
		t.Fatal(err)
	}
	b := startSvcnet(t, dirB, freePort(t), "--etcd-servers", etcdURL)
	a.mustKubectl(t, "create", "service", "clusterip", "from-a", "--tcp=80")
	out := b.mustKubectl(t, "get", "svc", "from-a", "-o", "jsonpath={.spec.clusterIP}")
	if !strings.HasPrefix(out, "10.") {
		t.Fatalf("server b does not see a's service: %q", out)
	}
	b.mustKubectl(t, "create", "service", "clusterip", "from-b", "--tcp=80")
	out = a.mustKubectl(t, "get", "svc")
	expect(t, out, `from-a`, `from-b`)
}

// startAgent runs `svcnet agent` against a server.
// startAgent runs `svcnet agent` for node with the node's own credentials
// (`svcnet token create node`), as the README does.
func startAgent(t *testing.T, p *proc, node string, extra ...string) {
	t.Helper()
	internalIP := "127.0.0.1"
	for i, a := range extra {
		if a == "--internal-ip" && i+1 < len(extra) {
			internalIP = extra[i+1]
		}
	}
	creds, err := exec.Command(binary, "token", "create", "node", node, "--data-dir", p.dataDir, "--ip", internalIP,
		"--out", filepath.Join(t.TempDir(), node)).CombinedOutput()
	if err != nil {
		t.Fatalf("token create node %s: %v\n%s", node, err, creds)
	}
	cmd := exec.Command(binary, append([]string{"agent", "--kubeconfig", strings.TrimSpace(string(creds)), "--node-name", node}, extra...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent %s output:\n%s", node, out.String())
		}
	})
}

func TestTwoServersTwoAgentsOneEtcd(t *testing.T) {
	etcdURL := startEtcd(t)
	a := startSvcnet(t, t.TempDir(), freePort(t), "--etcd-servers", etcdURL, "--node-name", "")
	dirB := t.TempDir()
	if err := os.CopyFS(filepath.Join(dirB, "pki"), os.DirFS(filepath.Join(a.dataDir, "pki"))); err != nil {
		t.Fatal(err)
	}
	b := startSvcnet(t, dirB, freePort(t), "--etcd-servers", etcdURL, "--node-name", "")
	startAgent(t, a, "node-a")
	startAgent(t, b, "node-b")
	testutil.Eventually(t, 20*time.Second, "node-a and node-b Ready", func() error {
		out, _ := a.kubectl(t, kubectlPath(t), "get", "nodes")
		if regexp.MustCompile(`node-a\s+Ready`).MatchString(out) && regexp.MustCompile(`node-b\s+Ready`).MatchString(out) {
			return nil
		}
		return fmt.Errorf("nodes not ready:\n%s", out)
	})
	a.mustKubectl(t, "apply", "-f", seedDir(t))
	b.mustKubectl(t, "scale", "deployment", "api-deployment", "--replicas=8")
	if out, err := b.kubectl(t, kubectlPath(t), "rollout", "status", "deployment", "api-deployment", "--timeout=30s"); err != nil {
		t.Fatalf("rollout: %v\n%s", err, out)
	}
	out := a.mustKubectl(t, "get", "pods", "-o", "wide", "--no-headers")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	perNode := map[string]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 7 {
			perNode[f[6]]++
		}
	}
	if len(lines) != 8 || perNode["node-a"] != 4 || perNode["node-b"] != 4 {
		t.Fatalf("want 8 pods, 4 per node (one controller acting once); got %v\n%s", perNode, out)
	}
	rs := a.mustKubectl(t, "get", "rs", "--no-headers")
	if n := len(strings.Split(strings.TrimSpace(rs), "\n")); n != 1 {
		t.Fatalf("want one ReplicaSet, got:\n%s", rs)
	}
}

// startEtcd runs a real etcd on loopback ports and returns its client URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	etcdBin := testutil.Tool(t, "etcd", "etcd-server")
	client, peer := freePort(t), freePort(t)
	etcd := exec.Command(etcdBin, "--data-dir", t.TempDir(), "--name", "e2e",
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "e2e=http://"+peer, "--log-level", "error")
	etcd.Stdout, etcd.Stderr = io.Discard, io.Discard
	if err := etcd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = etcd.Process.Kill(); _ = etcd.Wait() })
	return "http://" + client
}
