package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/testutil"
)

// dig runs the real dig against a DNS address and returns +short lines.
func dig(t *testing.T, addr string, args ...string) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("dig"); err != nil {
		t.Fatal("dig is not installed (apt-get install bind9-dnsutils); .ci/run installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	all := append([]string{"@" + host, "-p", port, "+short", "+tries=1", "+time=5"}, args...)
	out, err := exec.CommandContext(ctx, "dig", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", all, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, ";") {
			lines = append(lines, l)
		}
	}
	sort.Strings(lines)
	return lines
}

// digFull returns dig's whole output.
func digFull(t *testing.T, addr string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("dig", append([]string{"@" + host, "-p", port, "+tries=1", "+time=5"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	return string(out)
}

func TestDNSSeedFlowWithDig(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t))
	p.mustKubectl(t, "apply", "-f", seedDir(t))
	p.mustKubectl(t, "rollout", "status", "deployment", "api-deployment", "--timeout=20s")
	clusterIP := p.mustKubectl(t, "get", "svc", "normal-service", "-o", "jsonpath={.spec.clusterIP}")
	podIPs := strings.Fields(p.mustKubectl(t, "get", "pods", "-l", "app=api", "-o", "jsonpath={.items[*].status.podIP}"))
	sort.Strings(podIPs)
	// Exactly one A for normal-service: its ClusterIP.
	if got := dig(t, p.dnsAddr, "normal-service.default.svc.cluster.local"); strings.Join(got, ",") != clusterIP {
		t.Fatalf("normal-service: %v, want %s", got, clusterIP)
	}
	// Exactly the five pod IPs for headless-service (eventually: the slices may trail rollout status).
	testutil.Eventually(t, 5*time.Second, "five headless answers", func() error {
		got := dig(t, p.dnsAddr, "headless-service.default.svc.cluster.local")
		if strings.Join(got, ",") == strings.Join(podIPs, ",") {
			return nil
		}
		return fmt.Errorf("headless-service: %v, want %v", got, podIPs)
	})
	// Over TCP too.
	if got := dig(t, p.dnsAddr, "+tcp", "headless-service.default.svc.cluster.local"); len(got) != 5 {
		t.Fatalf("over TCP: %v", got)
	}
	// Each pod IP reverses to a name in the zone.
	for _, ip := range podIPs {
		names := dig(t, p.dnsAddr, "-x", ip)
		if len(names) == 0 || !strings.HasSuffix(names[0], ".default.svc.cluster.local.") {
			t.Fatalf("PTR of %s: %v", ip, names)
		}
	}
	// The ClusterIP reverses to the service.
	if got := dig(t, p.dnsAddr, "-x", clusterIP); strings.Join(got, ",") != "normal-service.default.svc.cluster.local." {
		t.Fatalf("PTR of the ClusterIP: %v", got)
	}
	// Scaling changes the headless answer on the next query after the slice changes.
	p.mustKubectl(t, "scale", "deployment", "api-deployment", "--replicas=2")
	testutil.Eventually(t, 10*time.Second, "the headless slices to shrink to two", func() error {
		out := p.mustKubectl(t, "get", "endpointslices", "-l", "kubernetes.io/service-name=headless-service", "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}")
		if len(strings.Fields(out)) == 2 {
			want := strings.Fields(out)
			sort.Strings(want)
			if got := dig(t, p.dnsAddr, "headless-service.default.svc.cluster.local"); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("after scaling: DNS %v, slices %v", got, want)
			}
			return nil
		}
		return fmt.Errorf("slices did not shrink: %s", out)
	})
	// Negative answers carry the SOA; names are matched without case.
	out := digFull(t, p.dnsAddr, "nope.default.svc.cluster.local")
	if !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, "SOA\tns.dns.cluster.local. hostmaster.cluster.local.") {
		t.Fatalf("NXDOMAIN:\n%s", out)
	}
	if got := dig(t, p.dnsAddr, "NORMAL-Service.Default.svc.cluster.local"); strings.Join(got, ",") != clusterIP {
		t.Fatalf("case-insensitive: %v", got)
	}
	if got := dig(t, p.dnsAddr, "_http._tcp.kubernetes.default.svc.cluster.local", "SRV"); len(got) != 0 {
		t.Fatalf("no port named http on kubernetes: %v", got)
	}
	if got := dig(t, p.dnsAddr, "_https._tcp.kubernetes.default.svc.cluster.local", "SRV"); strings.Join(got, ",") != "0 100 443 kubernetes.default.svc.cluster.local." {
		t.Fatalf("SRV: %v", got)
	}
	if got := dig(t, p.dnsAddr, "dns-version.cluster.local", "TXT"); strings.Join(got, ",") != `"1.1.0"` {
		t.Fatalf("dns-version: %v", got)
	}
	// The programming latency (slice trigger time ▶ DNS has it) was measured.
	p.mu.Lock()
	base := p.metricsURL
	p.mu.Unlock()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`svcnet_dns_programming_duration_seconds_count (\d+)`).FindStringSubmatch(string(body))
	if m == nil || m[1] == "0" {
		t.Fatalf("no programming latency observed:\n%.3000s", body)
	}
	if !strings.Contains(string(body), "svcnet_dns_api_reachable 1") || !strings.Contains(string(body), "svcnet_dns_synced 1") {
		t.Fatal("sync and API gauges")
	}
}

func TestDNSSelectorlessLargeAndExternalName(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t))
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Service\nmetadata:\n  name: big\nspec:\n  clusterIP: None\n  ports:\n  - name: http\n    port: 80\n---\n")
	b.WriteString("apiVersion: v1\nkind: Service\nmetadata:\n  name: ext\nspec:\n  type: ExternalName\n  externalName: example.com\n---\n")
	b.WriteString("apiVersion: v1\nkind: Service\nmetadata:\n  name: mixed\nspec:\n  clusterIP: None\n  ipFamilyPolicy: SingleStack\n---\n")
	b.WriteString("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: mixed-v6\n  labels:\n    kubernetes.io/service-name: mixed\naddressType: IPv6\nendpoints:\n- addresses: [\"fd00::a\"]\n  hostname: six\n- addresses: [\"fd00::b\"]\n  conditions: {ready: false}\n---\n")
	b.WriteString("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: mixed-v4\n  labels:\n    kubernetes.io/service-name: mixed\naddressType: IPv4\nendpoints:\n- addresses: [\"192.0.2.4\"]\n  hostname: four\n- addresses: [\"192.0.2.5\"]\n  conditions: {ready: false}\n")
	for s := 0; s < 2; s++ {
		fmt.Fprintf(&b, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-%d\n  labels:\n    kubernetes.io/service-name: big\naddressType: IPv4\nports:\n- name: http\n  port: 8080\nendpoints:\n", s)
		for i := 0; i < 1000; i++ {
			n := s*1000 + i
			fmt.Fprintf(&b, "- addresses: [\"10.250.%d.%d\"]\n", n/250, n%250+1)
		}
	}
	path := filepath.Join(dir, "objs.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustKubectl(t, "apply", "-f", path)
	testutil.Eventually(t, 10*time.Second, "the 2,000-endpoint answer whole over TCP", func() error {
		if got := dig(t, p.dnsAddr, "+tcp", "big.default.svc.cluster.local"); len(got) == 2000 {
			return nil
		}
		return errors.New("the 2,000-endpoint answer never came whole over TCP")
	})
	udp := digFull(t, p.dnsAddr, "+ignore", "+bufsize=1232", "big.default.svc.cluster.local")
	if !strings.Contains(udp, " tc ") && !strings.Contains(udp, " tc;") {
		t.Fatalf("UDP answer not truncated:\n%s", udp[:min(len(udp), 600)])
	}
	if got := dig(t, p.dnsAddr, "ext.default.svc.cluster.local", "CNAME"); strings.Join(got, ",") != "example.com." {
		t.Fatalf("ExternalName: %v", got)
	}
	if got := dig(t, p.dnsAddr, "mixed.default.svc.cluster.local", "A"); strings.Join(got, ",") != "192.0.2.4" {
		t.Fatalf("mixed A (ready only): %v", got)
	}
	if got := dig(t, p.dnsAddr, "mixed.default.svc.cluster.local", "AAAA"); strings.Join(got, ",") != "fd00::a" {
		t.Fatalf("mixed AAAA: %v", got)
	}
	if got := dig(t, p.dnsAddr, "six.mixed.default.svc.cluster.local", "AAAA"); strings.Join(got, ",") != "fd00::a" {
		t.Fatalf("hostname AAAA: %v", got)
	}
	if got := dig(t, p.dnsAddr, "-x", "fd00::a"); strings.Join(got, ",") != "six.mixed.default.svc.cluster.local." {
		t.Fatalf("IPv6 PTR: %v", got)
	}
	// The DNS alone, against the same API, answers the same, in both API encodings.
	for _, enc := range []string{"protobuf", "json"} {
		alone := startDNSAlone(t, p, enc)
		for _, q := range [][]string{{"mixed.default.svc.cluster.local", "A"}, {"ext.default.svc.cluster.local", "CNAME"}, {"kubernetes.default.svc.cluster.local", "A"},
			{"six.mixed.default.svc.cluster.local", "AAAA"}, {"_https._tcp.kubernetes.default.svc.cluster.local", "SRV"}} {
			if a, b := dig(t, alone, q...), dig(t, p.dnsAddr, q...); strings.Join(a, ",") != strings.Join(b, ",") || len(a) == 0 {
				t.Fatalf("%s %v: svcnet dns says %v, the server's DNS %v", enc, q, a, b)
			}
		}
		if got := dig(t, alone, "+tcp", "big.default.svc.cluster.local"); len(got) != 2000 {
			t.Fatalf("%s: svcnet dns TCP answer has %d records", enc, len(got))
		}
	}
	// Metrics and readiness.
	p.mu.Lock()
	base := p.metricsURL
	p.mu.Unlock()
	if base == "" {
		t.Fatal("the server printed no metrics address")
	}
	for path, want := range map[string]string{"/ready": "OK", "/health": "OK",
		"/metrics": `svcnet_dns_requests_total{proto="tcp",rcode="NOERROR",type="A"}`} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d, want %q in\n%.2000s", path, resp.StatusCode, want, body)
		}
	}
}

// startDNSAlone runs `svcnet dns --kubeconfig` against a server and returns
// its address once synced.
func startDNSAlone(t *testing.T, p *proc, encoding string) string {
	t.Helper()
	cmd := exec.Command(binary, "dns", "--kubeconfig", p.kubeconfig, "--dns-addr", "127.0.0.1:0", "--metrics-addr", "", "--api-content-type", encoding)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
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
	t.Fatal("svcnet dns did not report its address")
	return ""
}

func TestDNSDualStack(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--service-cidr", "10.96.0.0/12,fd00:10:96::/108",
		"--cluster-cidr", "10.244.0.0/16,fd00:10:244::/56", "--pods", "verified")
	dir := t.TempDir()
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: dual}
spec:
  replicas: 2
  selector: {matchLabels: {app: dual}}
  template:
    metadata: {labels: {app: dual}}
    spec: {containers: [{name: c, image: img, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: dual}
spec:
  ipFamilyPolicy: PreferDualStack
  selector: {app: dual}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: dual-headless}
spec:
  clusterIP: None
  ipFamilyPolicy: RequireDualStack
  selector: {app: dual}
  ports: [{name: http, port: 80}]
`
	path := filepath.Join(dir, "dual.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustKubectl(t, "apply", "-f", path)
	p.mustKubectl(t, "rollout", "status", "deployment", "dual", "--timeout=20s")
	ips := strings.Fields(p.mustKubectl(t, "get", "svc", "dual", "-o", "jsonpath={.spec.clusterIPs[*]}"))
	if len(ips) != 2 || !strings.Contains(ips[1], ":") {
		t.Fatalf("dual-stack ClusterIPs: %v", ips)
	}
	if got := dig(t, p.dnsAddr, "dual.default.svc.cluster.local", "A"); strings.Join(got, ",") != ips[0] {
		t.Fatalf("A: %v want %s", got, ips[0])
	}
	if got := dig(t, p.dnsAddr, "dual.default.svc.cluster.local", "AAAA"); strings.Join(got, ",") != ips[1] {
		t.Fatalf("AAAA: %v want %s", got, ips[1])
	}
	podIPs := strings.Fields(p.mustKubectl(t, "get", "pods", "-l", "app=dual", "-o", "jsonpath={.items[*].status.podIPs[*].ip}"))
	var v4, v6 []string
	for _, ip := range podIPs {
		if strings.Contains(ip, ":") {
			v6 = append(v6, ip)
		} else {
			v4 = append(v4, ip)
		}
	}
	sort.Strings(v4)
	sort.Strings(v6)
	if len(v4) != 2 || len(v6) != 2 {
		t.Fatalf("pods need an IPv4 and an IPv6 address each: %v", podIPs)
	}
	testutil.Eventually(t, 10*time.Second, "headless dual-stack answers", func() error {
		a, aaaa := dig(t, p.dnsAddr, "dual-headless.default.svc.cluster.local", "A"), dig(t, p.dnsAddr, "+tcp", "dual-headless.default.svc.cluster.local", "AAAA")
		if strings.Join(a, ",") == strings.Join(v4, ",") && strings.Join(aaaa, ",") == strings.Join(v6, ",") {
			return nil
		}
		return fmt.Errorf("headless dual-stack: A %v (want %v), AAAA %v (want %v)", a, v4, aaaa, v6)
	})
	// The address is in two Services, so it has two PTRs (S14).
	want := strings.ReplaceAll(v6[0], ":", "-")
	if got := dig(t, p.dnsAddr, "-x", v6[0]); len(got) != 2 || got[0] != want+".dual-headless.default.svc.cluster.local." || got[1] != want+".dual.default.svc.cluster.local." {
		t.Fatalf("IPv6 PTR: %v", got)
	}
	// --pods verified: a pod's address answers, another does not.
	dashed := strings.ReplaceAll(v4[0], ".", "-")
	if got := dig(t, p.dnsAddr, dashed+".default.pod.cluster.local"); strings.Join(got, ",") != v4[0] {
		t.Fatalf("verified pod record: %v", got)
	}
	if out := digFull(t, p.dnsAddr, "10-1-2-3.default.pod.cluster.local"); !strings.Contains(out, "NXDOMAIN") {
		t.Fatalf("verified: a non-pod address answered:\n%s", out)
	}
}

// TestDNSLameDuck: `svcnet dns` told to stop keeps answering for its
// --lameduck period with /ready failing (so a Service's endpoint leaves
// first, as CoreDNS's health plugin does), then exits cleanly.
func TestDNSLameDuck(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t))
	metrics := freePort(t)
	cmd := exec.Command(binary, "dns", "--kubeconfig", p.kubeconfig, "--dns-addr", "127.0.0.1:0", "--metrics-addr", metrics, "--lameduck", "3s")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(out)
	addr := ""
	for addr == "" && sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "dns: "); ok {
			addr = strings.Fields(d)[0]
		}
	}
	go func() {
		for sc.Scan() {
		}
		exited <- cmd.Wait()
	}()
	ready := func() int {
		resp, err := http.Get("http://" + metrics + "/ready")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := dig(t, addr, "kubernetes.default.svc.cluster.local", "A"); len(got) != 1 || ready() != http.StatusOK {
		t.Fatalf("before: %v, /ready %d", got, ready())
	}
	stopped := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	testutil.Eventually(t, time.Second, "/ready failing in the lame-duck period", func() error {
		if code := ready(); code == http.StatusOK {
			return errors.New("/ready still OK")
		}
		return nil
	})
	if got := dig(t, addr, "kubernetes.default.svc.cluster.local", "A"); len(got) != 1 {
		t.Fatalf("not answering in the lame-duck period: %v", got)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
		if d := time.Since(stopped); d < 3*time.Second || d > 10*time.Second {
			t.Fatalf("exited %v after SIGTERM, want the 3s lame duck", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("svcnet dns did not exit after its lame duck")
	}
}

// TestDNSRunsInAPod, process runtime as root: `svcnet dns` run as a pod
// with no --kubeconfig uses its ServiceAccount's in-cluster configuration
// (the token volume, KUBERNETES_SERVICE_HOST through the proxy) with only
// deploy/'s ClusterRole, and answers the cluster's names on the pod's IP.
func TestDNSRunsInAPod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the pod's token at its mountPath needs its own mount namespace (root); CI runs as root")
	}
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process")
	p.mustKubectl(t, "apply", "-f", filepath.Join("..", "..", "deploy", "svcnet-dns.yaml"))
	p.mustKubectl(t, "-n", "kube-system", "scale", "deployment", "svcnet-dns", "--replicas=0")
	pod := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(pod, []byte(`apiVersion: v1
kind: Pod
metadata: {name: dns-in-a-pod, namespace: kube-system}
spec:
  serviceAccountName: svcnet-dns
  containers:
  - name: dns
    image: svcnet-dns:latest
    command: [`+binary+`, dns, --dns-addr, "$(POD_IP):1053", --metrics-addr, "", --lameduck, 0s]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustKubectl(t, "apply", "-f", pod)
	p.awaitKubectl(t, 60*time.Second, "Running", "-n", "kube-system", "get", "pod", "dns-in-a-pod", "-o", "jsonpath={.status.phase}")
	ip := p.mustKubectl(t, "-n", "kube-system", "get", "pod", "dns-in-a-pod", "-o", "jsonpath={.status.podIP}")
	want := p.mustKubectl(t, "get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
	// dig fails the test on a refused port: wait until the DNS says it serves.
	eventually(t, 30*time.Second, "the pod's DNS synced", func() string {
		if out, _ := p.kubectl(t, kubectlPath(t), "-n", "kube-system", "logs", "dns-in-a-pod"); !strings.Contains(out, "dns synced") {
			return out
		}
		return ""
	})
	testutil.Eventually(t, 30*time.Second, "the pod's DNS answering", func() error {
		if got := dig(t, net.JoinHostPort(ip, "1053"), "kubernetes.default.svc.cluster.local", "A"); strings.Join(got, ",") != want {
			out, _ := p.kubectl(t, kubectlPath(t), "-n", "kube-system", "logs", "dns-in-a-pod")
			return fmt.Errorf("answered %v, want %s; its log:\n%s", got, want, out)
		}
		return nil
	})
}
