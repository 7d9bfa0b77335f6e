package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/testutil"
)

// eventually is testutil.Eventually for checks that say what is still
// wrong as a string ("" when nothing is).
func eventually(t *testing.T, limit time.Duration, what string, f func() string) {
	t.Helper()
	testutil.Eventually(t, limit, what, func() error {
		if last := f(); last != "" {
			return errors.New(last)
		}
		return nil
	})
}

// awaitKubectl polls `kubectl args...` until it prints want.
func (p *proc) awaitKubectl(t *testing.T, limit time.Duration, want string, args ...string) {
	t.Helper()
	eventually(t, limit, "kubectl "+strings.Join(args, " ")+" ▶ "+want, func() string {
		if out, _ := p.kubectl(t, kubectlPath(t), args...); out != want {
			return out
		}
		return ""
	})
}

var greeting = regexp.MustCompile(`hello from pod (\S+) \(([0-9.]+):(\d+)\)`)

// get fetches a URL on a fresh connection and returns the greeting's pod.
func get(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	m := greeting.FindStringSubmatch(string(b))
	if m == nil {
		return "", fmt.Errorf("not a greeting: %q", b)
	}
	return m[1], nil
}

// podPIDs maps each pod of a label selector to its container's process.
func podPIDs(t *testing.T, p *proc, selector string) map[string]int {
	t.Helper()
	out := p.mustKubectl(t, "get", "pods", "-l", selector, "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].containerID}{"\n"}{end}`)
	pids := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 {
			if pid, err := strconv.Atoi(strings.TrimPrefix(f[1], "process://")); err == nil {
				pids[f[0]] = pid
			}
		}
	}
	return pids
}

// anyPod picks one pod and its process.
func anyPod(pids map[string]int) (string, int) {
	for pod, pid := range pids {
		return pod, pid
	}
	return "", 0
}

// TestProcessRuntimeSeedFlow is issue 6's flow with the unchanged seed
// manifests: real processes on loopback pod IPs, the ClusterIP proxy, DNS.
func TestProcessRuntimeSeedFlow(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--restart-backoff", "1s")
	p.mustKubectl(t, "apply", "-f", seedDir(t))
	p.awaitKubectl(t, 60*time.Second, "5", "get", "deployment", "api-deployment", "-o", "jsonpath={.status.readyReplicas}")
	clusterIP := p.mustKubectl(t, "get", "svc", "normal-service", "-o", "jsonpath={.spec.clusterIP}")
	if !strings.HasPrefix(clusterIP, "127.96.") {
		t.Fatalf("process mode ClusterIP %q is not in 127.96.0.0/16", clusterIP)
	}
	wide := p.mustKubectl(t, "get", "pods", "-o", "wide")
	expect(t, wide, `(?m)^api-deployment-\S+\s+1/1\s+Running\s+0\s+\S+\s+127\.244\.0\.\d+`)

	t.Run("ClusterIP reaches all five pods", func(t *testing.T) {
		hits := map[string]int{}
		for i := 0; i < 200; i++ {
			pod, err := get("http://" + clusterIP + "/")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			hits[pod]++
		}
		if len(hits) != 5 {
			t.Fatalf("200 requests reached %d pods: %v", len(hits), hits)
		}
		for pod, n := range hits {
			if n < 20 {
				t.Fatalf("%s got %d of 200 (< 10%%): %v", pod, n, hits)
			}
		}
	})

	t.Run("proxy metrics", func(t *testing.T) {
		resp, err := http.Get(p.metricsURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		expect(t, string(body), `svcnet_proxy_connections_total\{service="default/normal-service",type="ClusterIP"\} (\d{3,})`,
			`svcnet_proxy_bytes_total\{direction="out",service="default/normal-service",type="ClusterIP"\} [1-9]`,
			`svcnet_proxy_programming_duration_seconds_count [1-9]`, `svcnet_proxy_listeners [1-9]`)
	})

	t.Run("each headless record reaches its own pod", func(t *testing.T) {
		ips := dig(t, p.dnsAddr, "headless-service.default.svc.cluster.local")
		if len(ips) != 5 {
			t.Fatalf("headless A records: %v", ips)
		}
		for _, ip := range ips {
			owner := p.mustKubectl(t, "get", "pods", "--field-selector", "status.podIP="+ip, "-o", "jsonpath={.items[0].metadata.name}")
			pod, err := get("http://" + ip + ":3000/")
			if err != nil || pod != owner {
				t.Fatalf("%s:3000 answered %q (%v), want %s", ip, pod, err, owner)
			}
		}
	})

	// runPod runs a busybox pod to completion and returns its log.
	runPod := func(t *testing.T, ns, name, script string) string {
		t.Helper()
		p.mustKubectl(t, "run", "-n", ns, name, "--image=busybox:1.28.3", "--restart=Never", "--", "sh", "-c", script)
		p.awaitKubectl(t, 60*time.Second, "Succeeded", "get", "pod", "-n", ns, name, "-o", "jsonpath={.status.phase}")
		return p.mustKubectl(t, "logs", "-n", ns, name)
	}

	t.Run("pods find Services by name through kube-dns", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Fatal("kube-dns's port 53 on its ClusterIP and the pods' own namespaces need root; CI runs as root")
		}
		if ip := p.mustKubectl(t, "get", "svc", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"); ip != "127.96.0.10" {
			t.Fatalf("kube-dns ClusterIP %q, want the tenth address 127.96.0.10", ip)
		}
		if names := dig(t, "127.96.0.10:53", "-x", "127.96.0.10"); len(names) != 1 || names[0] != "kube-dns.kube-system.svc.cluster.local." {
			t.Fatalf("PTR of kube-dns: %v", names)
		}
		podIPs := strings.Fields(p.mustKubectl(t, "get", "pods", "-l", "app=api", "-o", "jsonpath={.items[*].status.podIP}"))
		out := runPod(t, "default", "lookup", "cat /etc/resolv.conf; hostname; nslookup normal-service; nslookup headless-service; wget -qO- http://normal-service/")
		// busybox:1.28.3's nslookup, as the seed shows it.
		kubeDNS := `Server:    127\.96\.0\.10\nAddress 1: 127\.96\.0\.10 kube-dns\.kube-system\.svc\.cluster\.local\n\n`
		expect(t, out, `(?m)^nameserver 127\.96\.0\.10$`, `(?m)^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b`,
			`(?m)^options ndots:5$`, `(?m)^lookup$`,
			kubeDNS+`Name:      normal-service\nAddress 1: `+regexp.QuoteMeta(clusterIP)+` normal-service\.default\.svc\.cluster\.local\n`,
			kubeDNS+`Name:      headless-service\n(Address \d: 127\.244\.\d+\.\d+ 127-244-\d+-\d+\.headless-service\.default\.svc\.cluster\.local\n){5}`,
			`hello from pod api-deployment-`)
		for _, ip := range podIPs {
			expect(t, out, `Address \d: `+regexp.QuoteMeta(ip)+` `+strings.ReplaceAll(regexp.QuoteMeta(ip), `\.`, "-")+`\.headless-service\.default\.svc\.cluster\.local\n`)
		}
		if n := len(podIPs); n != 5 {
			t.Fatalf("%d pods, want 5", n)
		}
		// From another namespace, by <service>.<namespace>: the search path
		// and ndots, as the C library follows them.
		p.mustKubectl(t, "create", "namespace", "other")
		out = runPod(t, "other", "lookup", "nslookup normal-service.default; wget -qO- http://normal-service.default/")
		expect(t, out, kubeDNS+`Name:      normal-service\.default\nAddress 1: `+regexp.QuoteMeta(clusterIP)+` normal-service\.default\.svc\.cluster\.local\n`,
			`hello from pod api-deployment-`)
	})

	t.Run("the seed's own test: kubectl run -it busybox, nslookup, exit", func(t *testing.T) {
		if _, err := exec.LookPath("script"); err != nil {
			t.Fatal("script (util-linux) gives kubectl its terminal; it is not installed")
		}
		// kubectl -t wants a terminal: script runs it on one, fed by a pipe.
		cmd := exec.Command("script", "-qfec", "kubectl run -it --image busybox:1.28.3 test --restart=Never --rm /bin/sh", "/dev/null")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+p.kubeconfig, "HOME="+t.TempDir())
		keys, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var screen testutil.Buffer
		cmd.Stdout, cmd.Stderr = &screen, &screen
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill() }()
		see := func(what string, re *regexp.Regexp) {
			t.Helper()
			eventually(t, 60*time.Second, what, func() string {
				if re.MatchString(screen.String()) {
					return ""
				}
				return "screen so far: " + screen.String()
			})
		}
		// The shell may have printed its prompt before kubectl attached;
		// kubectl says so, and Enter brings a new one, as in any cluster.
		see("kubectl attached", regexp.MustCompile(`If you don't see a command prompt, try pressing enter\.`))
		_, _ = io.WriteString(keys, "\n")
		see("a shell prompt in the pod", regexp.MustCompile(`(?m)^/ # `))
		_, _ = io.WriteString(keys, "nslookup normal-service\n")
		// The terminal ends lines with \r\n.
		kubeDNS := `Server:    127\.96\.0\.10\r?\nAddress 1: 127\.96\.0\.10 kube-dns\.kube-system\.svc\.cluster\.local\r?\n\r?\n`
		see("normal-service through kube-dns", regexp.MustCompile(kubeDNS+`Name:      normal-service\r?\nAddress 1: `+regexp.QuoteMeta(clusterIP)+` normal-service\.default\.svc\.cluster\.local`))
		_, _ = io.WriteString(keys, "nslookup headless-service\n")
		see("five headless addresses, each with its name", regexp.MustCompile(kubeDNS+`Name:      headless-service\r?\n(?:Address \d: 127\.244\.\d+\.\d+ 127-244-\d+-\d+\.headless-service\.default\.svc\.cluster\.local\r?\n){5}`))
		_, _ = io.WriteString(keys, "echo bye\n")
		see("the shell to answer", regexp.MustCompile(`(?m)^bye`))
		_, _ = io.WriteString(keys, "exit\n")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("kubectl run -it: %v\n%s", err, screen.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("kubectl run -it did not end after exit:\n%s", screen.String())
		}
		expect(t, screen.String(), `pod "test" deleted`)
		if out, err := p.kubectl(t, kubectlPath(t), "get", "pod", "test"); err == nil || !strings.Contains(out, "NotFound") {
			t.Fatalf("--rm left the pod: %v\n%s", err, out)
		}
		// kubectl exec -i: stdin in, the exit code out.
		pod := p.mustKubectl(t, "get", "pods", "-l", "app=api", "-o", "jsonpath={.items[0].metadata.name}")
		// Over WebSocket (kubectl 1.33) and SPDY (kubectl 1.27).
		for _, kubectl := range []string{kubectlPath(t), versionedKubectl(t, "27")} {
			ex := exec.Command(kubectl, "exec", "-i", pod, "--", "sh", "-c", "read x; echo got $x; exit 3")
			ex.Env = append(os.Environ(), "KUBECONFIG="+p.kubeconfig, "HOME="+t.TempDir())
			ex.Stdin = strings.NewReader("hello\n")
			out, err := ex.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(out), "got hello") {
				t.Fatalf("%s exec -i: %v\n%s", filepath.Base(kubectl), err, out)
			}
		}
	})

	t.Run("kubectl logs", func(t *testing.T) {
		out := p.mustKubectl(t, "logs", "deploy/api-deployment")
		expect(t, out, `hello: pod api-deployment-\S+ serving http://127\.244\.0\.\d+:3000`)
		pod := p.mustKubectl(t, "get", "pods", "-l", "app=api", "-o", "jsonpath={.items[0].metadata.name}")
		expect(t, p.mustKubectl(t, "logs", pod, "-c", "api"), `hello: pod `+pod+` serving`)
		if out, err := p.kubectl(t, kubectlPath(t), "logs", pod, "-c", "nope"); err == nil || !strings.Contains(out, "nope") {
			t.Fatalf("logs of a container the pod does not have: %v\n%s", err, out)
		}
		tail := p.mustKubectl(t, "logs", pod, "--tail=1", "--timestamps")
		if n := strings.Count(strings.TrimSpace(tail), "\n"); n != 0 || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT`).MatchString(tail) {
			t.Fatalf("--tail=1 --timestamps:\n%s", tail)
		}
	})

	t.Run("a killed process restarts and leaves the endpoints while down", func(t *testing.T) {
		pod, pid := anyPod(podPIDs(t, p, "app=api"))
		podIP := p.mustKubectl(t, "get", "pod", pod, "-o", "jsonpath={.status.podIP}")
		// The first restart is at once; the second waits out the back-off
		// (1s here), unready, out of the endpoints and DNS.
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.awaitKubectl(t, 20*time.Second, "1 true", "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}")
		pid = podPIDs(t, p, "app=api")[pod]
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "pod out of DNS while down", func() string {
			if ips := dig(t, p.dnsAddr, "headless-service.default.svc.cluster.local"); strings.Contains(strings.Join(ips, " "), podIP) {
				return fmt.Sprint(ips)
			}
			return ""
		})
		out := p.mustKubectl(t, "get", "pod", pod)
		expect(t, out, `CrashLoopBackOff|Running`)
		eventually(t, 30*time.Second, "back with 2 restarts", func() string {
			out, _ := p.kubectl(t, kubectlPath(t), "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}")
			if out != "2 true" {
				return out
			}
			if ips := dig(t, p.dnsAddr, "headless-service.default.svc.cluster.local"); !strings.Contains(strings.Join(ips, " "), podIP) {
				return "not in DNS yet"
			}
			return ""
		})
		prev := p.mustKubectl(t, "logs", pod, "--previous")
		expect(t, prev, `hello: pod `+pod+` serving`)
	})

	t.Run("a failing readiness probe takes a pod out without a restart", func(t *testing.T) {
		dir := t.TempDir()
		manifest := filepath.Join(dir, "probe.yaml")
		flag := filepath.Join(dir, "unready")
		yaml := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: probed}
spec:
  replicas: 1
  selector: {matchLabels: {app: probed}}
  template:
    metadata: {labels: {app: probed}}
    spec:
      containers:
      - name: web
        image: example/web
        ports: [{containerPort: 8080}]
        readinessProbe:
          exec: {command: ["sh", "-c", "test ! -e %s"]}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: probed}
spec:
  clusterIP: None
  selector: {app: probed}
  ports: [{port: 8080}]
`, flag)
		if err := os.WriteFile(manifest, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		p.mustKubectl(t, "apply", "-f", manifest)
		inDNS := func(want bool) func() string {
			return func() string {
				if got := len(dig(t, p.dnsAddr, "probed.default.svc.cluster.local")) == 1; got != want {
					return fmt.Sprintf("in DNS: %v", got)
				}
				return ""
			}
		}
		eventually(t, 30*time.Second, "probed pod ready", inDNS(true))
		if err := os.WriteFile(flag, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "probed pod unready", inDNS(false))
		if err := os.Remove(flag); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "probed pod ready again", inDNS(true))
		restarts := p.mustKubectl(t, "get", "pods", "-l", "app=probed", "-o", "jsonpath={.items[0].status.containerStatuses[0].restartCount}")
		if restarts != "0" {
			t.Fatalf("readiness failures restarted the container: %s", restarts)
		}
	})

	t.Run("kubectl delete pod sends SIGTERM and a replacement comes up", func(t *testing.T) {
		pod, pid := anyPod(podPIDs(t, p, "app=api"))
		p.mustKubectl(t, "delete", "pod", pod)
		if err := syscall.Kill(pid, 0); err == nil {
			t.Fatalf("process %d of deleted pod %s still runs", pid, pod)
		}
		p.awaitKubectl(t, 30*time.Second, "5", "get", "deployment", "api-deployment", "-o", "jsonpath={.status.readyReplicas}")
	})

	t.Run("scaling under a steady stream loses no request", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if _, err := get("http://" + clusterIP + "/"); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					} else {
						ok.Add(1)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
		replicas := []string{"get", "deployment", "api-deployment", "-o", "jsonpath={.status.readyReplicas}/{.status.replicas}"}
		p.mustKubectl(t, "scale", "deployment/api-deployment", "--replicas=10")
		p.awaitKubectl(t, 60*time.Second, "10/10", replicas...)
		p.mustKubectl(t, "scale", "deployment/api-deployment", "--replicas=2")
		p.awaitKubectl(t, 60*time.Second, "2/2", replicas...)
		time.Sleep(time.Second)
		cancel()
		wg.Wait()
		t.Logf("%d requests answered, %d failed (%v)", ok.Load(), failed.Load(), firstErr.Load())
		// Only a request in flight to a pod as it is stopped may fail: at
		// most one per stopped pod (8 here).
		if ok.Load() < 100 || failed.Load() > 8 {
			t.Fatalf("%d answered, %d failed: %v", ok.Load(), failed.Load(), firstErr.Load())
		}
	})

	t.Run("a StatefulSet pod by name", func(t *testing.T) {
		dir := t.TempDir()
		manifest := filepath.Join(dir, "web.yaml")
		_ = os.WriteFile(manifest, []byte(`apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: web, port: 8081}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{containerPort: 8081, name: web}]
        readinessProbe:
          httpGet: {path: /, port: web}
          periodSeconds: 1
`), 0o644)
		p.mustKubectl(t, "apply", "-f", manifest)
		var ip string
		eventually(t, 60*time.Second, "web-0 in DNS", func() string {
			ips := dig(t, p.dnsAddr, "web-0.nginx.default.svc.cluster.local")
			if len(ips) != 1 {
				return fmt.Sprint(ips)
			}
			ip = ips[0]
			return ""
		})
		if pod, err := get("http://" + ip + ":8081/"); err != nil || pod != "web-0" {
			t.Fatalf("web-0 at %s answered %q, %v", ip, pod, err)
		}
		// From a pod, by <pod>.<service> through kube-dns.
		p.awaitKubectl(t, 60*time.Second, "2", "get", "sts", "web", "-o", "jsonpath={.status.readyReplicas}")
		expect(t, runPod(t, "default", "sts-client", "wget -qO- http://web-1.nginx:8081/"), `hello from pod web-1 `)
	})
}

// TestAgentRunsProcessPods: a second process (svcnet agent) hosts a node
// of its own with the process runtime and the proxy; the API server reads
// its pods' logs from it.
func TestAgentRunsProcessPods(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--node-name", "")
	startAgent(t, p, "node-b", "--runtime", "process", "--data-dir", t.TempDir())
	dir := t.TempDir()
	manifest := filepath.Join(dir, "pinned.yaml")
	_ = os.WriteFile(manifest, []byte(`apiVersion: v1
kind: Pod
metadata: {name: on-b, labels: {app: on-b}}
spec:
  nodeName: node-b
  containers:
  - {name: web, image: example/web, ports: [{containerPort: 8082}]}
---
apiVersion: v1
kind: Service
metadata: {name: on-b}
spec:
  selector: {app: on-b}
  ports: [{port: 8082}]
`), 0o644)
	p.awaitKubectl(t, 30*time.Second, "True", "get", "node", "node-b", "-o", "jsonpath={.status.conditions[0].status}")
	p.mustKubectl(t, "apply", "-f", manifest)
	p.awaitKubectl(t, 30*time.Second, "true", "get", "pod", "on-b", "-o", "jsonpath={.status.containerStatuses[0].ready}")
	clusterIP := p.mustKubectl(t, "get", "svc", "on-b", "-o", "jsonpath={.spec.clusterIP}")
	eventually(t, 10*time.Second, "the agent's proxy forwards", func() string {
		pod, err := get("http://" + clusterIP + ":8082/")
		if err != nil || pod != "on-b" {
			return fmt.Sprintf("%q %v", pod, err)
		}
		return ""
	})
	expect(t, p.mustKubectl(t, "logs", "on-b"), `hello: pod on-b serving http://127\.244\.\d+\.\d+:8082`, `GET /`)
	expect(t, p.mustKubectl(t, "logs", "on-b", "--tail=1"), `GET /`)
	// exec reaches the agent's node through the API too: the pod's own
	// hostname and resolver from its own process.
	expect(t, p.mustKubectl(t, "exec", "on-b", "--", "sh", "-c", "echo $POD_NAME on $(hostname)"), `^on-b on on-b\n$`)
}

// TestLocalRangesInANetworkNamespace: with root, --local-ranges makes the
// ordinary 10.96.0.0/12 and 10.244.0.0/16 local, and the seed runs on them.
// The test runs itself again in a network namespace of its own (unshare
// -n), so the host's routes are never touched.
func TestLocalRangesInANetworkNamespace(t *testing.T) {
	if os.Getenv("SVCNET_E2E_IN_NETNS") != "1" {
		if os.Geteuid() != 0 {
			if os.Getenv("CI") != "" {
				t.Fatal("this test needs root (CI runs as root)")
			}
			t.Skip("needs root for a network namespace")
		}
		cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run", "^TestLocalRangesInANetworkNamespace$", "-test.v")
		cmd.Env = append(os.Environ(), "SVCNET_E2E_IN_NETNS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestLocalRangesInANetworkNamespace") {
			t.Fatalf("in a network namespace: %v\n%s", err, out)
		}
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--local-ranges")
	p.mustKubectl(t, "apply", "-f", seedDir(t))
	p.awaitKubectl(t, 60*time.Second, "5", "get", "deployment", "api-deployment", "-o", "jsonpath={.status.readyReplicas}")
	clusterIP := p.mustKubectl(t, "get", "svc", "normal-service", "-o", "jsonpath={.spec.clusterIP}")
	if !strings.HasPrefix(clusterIP, "10.") {
		t.Fatalf("ClusterIP %s is not in 10.96.0.0/12", clusterIP)
	}
	if pod, err := get("http://" + clusterIP + "/"); err != nil || !strings.HasPrefix(pod, "api-deployment-") {
		t.Fatalf("through %s: %q, %v", clusterIP, pod, err)
	}
	for _, ip := range dig(t, p.dnsAddr, "headless-service.default.svc.cluster.local") {
		if !strings.HasPrefix(ip, "10.244.") {
			t.Fatalf("pod IP %s is not in 10.244.0.0/16", ip)
		}
		if _, err := get("http://" + ip + ":3000/"); err != nil {
			t.Fatalf("pod %s: %v", ip, err)
		}
	}
}
