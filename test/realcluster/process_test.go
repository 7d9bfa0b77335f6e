//go:build realcluster

package realcluster

import (
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/hostnet"
	"github.com/svcnet/svcnet/internal/testutil"
)

// TestAgentProcessPodsInARealCluster, as root in a network namespace of its
// own (the test runs itself again under `unshare -n`): the cluster's
// ranges (10.96.0.0/12, 10.244.0.0/16) are made local there; `svcnet agent
// --runtime process` runs the seed's pods as processes on the pod IPs the
// real control plane gives them, and its proxy — allowed to read
// EndpointSlices by the system:node-proxier role kube-proxy has — carries
// the real Service's ClusterIP traffic to them.
func TestAgentProcessPodsInARealCluster(t *testing.T) {
	if os.Getenv("SVCNET_REALCLUSTER_IN_NETNS") != "1" {
		if os.Geteuid() != 0 {
			t.Fatal("this test needs root for a network namespace (CI runs as root)")
		}
		cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run", "^TestAgentProcessPodsInARealCluster$", "-test.v")
		cmd.Env = append(os.Environ(), "SVCNET_REALCLUSTER_IN_NETNS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestAgentProcessPodsInARealCluster") {
			t.Fatalf("in a network namespace: %v\n%s", err, out)
		}
		t.Logf("%s", lastLines(string(out), 8))
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	claim, err := hostnet.ClaimRanges([]netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("10.244.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = claim.Release() })

	c := startCluster(t)
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	c.mustKubectl("create", "clusterrolebinding", "nodes-proxier", "--clusterrole", "system:node-proxier", "--group", "system:nodes")
	c.startAgent("node-p", "--runtime", "process", "--proxy", "on")
	testutil.Eventually(t, 60*time.Second, "node-p Ready", func() error {
		out, err := c.kubectl("get", "node", "node-p", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil || out != "True" {
			return errorf("node-p: %s %v", out, err)
		}
		return nil
	})
	c.mustKubectl("apply", "-f", filepath.Join(repo, "testdata", "seed"))
	c.mustKubectl("rollout", "status", "deployment", "api-deployment", "--timeout=120s")
	clusterIP := c.mustKubectl("get", "svc", "normal-service", "-o", "jsonpath={.spec.clusterIP}")
	podIPs := strings.Fields(c.mustKubectl("get", "pods", "-l", "app=api", "-o", "jsonpath={.items[*].status.podIP}"))
	if len(podIPs) != 5 {
		t.Fatalf("pod IPs %v", podIPs)
	}
	// Each pod answers on its own IP; the ClusterIP reaches all of them.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(url string) (string, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, ip := range podIPs {
		if body, err := get("http://" + ip + ":3000/"); err != nil || !strings.Contains(body, "hello from pod api-deployment-") {
			t.Fatalf("pod %s: %q %v", ip, body, err)
		}
	}
	seen := map[string]bool{}
	testutil.Eventually(t, 30*time.Second, "the ClusterIP carrying traffic to all five pods", func() error {
		for i := 0; i < 20; i++ {
			body, err := get("http://" + clusterIP + "/")
			if err != nil {
				return err
			}
			if f := strings.Fields(body); len(f) > 3 {
				seen[f[3]] = true
			}
		}
		if len(seen) < 5 {
			return errorf("%d pods answered through %s: %v", len(seen), clusterIP, seen)
		}
		return nil
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
