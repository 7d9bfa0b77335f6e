package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/testutil"
)

// TestDrainHonoursTheBudget: `kubectl drain` evicts a node's pods through
// the eviction subresource, one at a time as a PodDisruptionBudget allows
// (429 and kubectl's retry in between), and stops at a budget that allows
// nothing; cordon, uncordon and `kubectl get pdb` as in Kubernetes.
func TestDrainHonoursTheBudget(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--node-name", "node-1")
	startAgent(t, p, "node-2")
	testutil.Eventually(t, 20*time.Second, "node-2 Ready", func() error {
		out, _ := p.kubectl(t, kubectlPath(t), "get", "nodes")
		if !regexp.MustCompile(`node-2\s+Ready`).MatchString(out) {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	p.mustKubectl(t, "create", "deployment", "web", "--image=nginx", "--replicas=4")
	p.mustKubectl(t, "rollout", "status", "deployment", "web", "--timeout=30s")
	// Simulated pods ran nothing: an empty log, and a clear 400 for exec.
	pod := "pod/" + p.mustKubectl(t, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}")
	if out, err := p.kubectl(t, kubectlPath(t), "logs", pod); err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("logs of a simulated pod: %v %q", err, out)
	}
	if out, err := p.kubectl(t, kubectlPath(t), "exec", pod, "--", "true"); err == nil || !strings.Contains(out, "runs no processes") {
		t.Fatalf("exec into a simulated pod: %v %q", err, out)
	}
	// The API's own metrics, as kube-apiserver serves them.
	expect(t, p.mustKubectl(t, "get", "--raw", "/metrics"), `(?m)^go_goroutines \d+`)
	p.mustKubectl(t, "create", "pdb", "web", "--selector=app=web", "--min-available=3")
	testutil.Eventually(t, 10*time.Second, "the budget's status", func() error {
		out := p.mustKubectl(t, "get", "pdb", "web", "--no-headers")
		if f := strings.Fields(out); len(f) < 4 || f[1] != "3" || f[2] != "N/A" || f[3] != "1" {
			return fmt.Errorf("pdb: %s", out)
		}
		return nil
	})
	onNode2 := func() int {
		out := p.mustKubectl(t, "get", "pods", "-o", "wide", "--no-headers")
		return strings.Count(out, " node-2 ")
	}
	if n := onNode2(); n != 2 {
		t.Fatalf("%d pods on node-2, want 2 of 4", n)
	}

	out, err := p.kubectl(t, kubectlPath(t), "drain", "node-2", "--timeout=60s")
	if err != nil {
		t.Fatalf("drain: %v\n%s", err, out)
	}
	for _, want := range []string{"node/node-2 cordoned", "evicted", "node/node-2 drained"} {
		if !strings.Contains(out, want) {
			t.Errorf("drain output lacks %q:\n%s", want, out)
		}
	}
	if n := onNode2(); n != 0 {
		t.Fatalf("%d pods left on node-2 after drain", n)
	}
	p.mustKubectl(t, "rollout", "status", "deployment", "web", "--timeout=30s")
	if nodes := p.mustKubectl(t, "get", "nodes"); !regexp.MustCompile(`node-2\s+Ready,SchedulingDisabled`).MatchString(nodes) {
		t.Fatalf("node-2 not cordoned:\n%s", nodes)
	}

	// A budget that allows no disruption: drain waits, then gives up.
	p.mustKubectl(t, "uncordon", "node-2")
	p.mustKubectl(t, "scale", "deployment", "web", "--replicas=6")
	p.mustKubectl(t, "rollout", "status", "deployment", "web", "--timeout=30s")
	testutil.Eventually(t, 20*time.Second, "pods back on node-2", func() error {
		if n := onNode2(); n == 0 {
			return fmt.Errorf("no pod on node-2 yet")
		}
		return nil
	})
	p.mustKubectl(t, "patch", "pdb", "web", "--type=merge", "-p", `{"spec":{"minAvailable":6}}`)
	testutil.Eventually(t, 10*time.Second, "no disruption allowed", func() error {
		if f := strings.Fields(p.mustKubectl(t, "get", "pdb", "web", "--no-headers")); len(f) < 4 || f[3] != "0" {
			return fmt.Errorf("pdb: %v", f)
		}
		return nil
	})
	before := onNode2()
	out, err = p.kubectl(t, kubectlPath(t), "drain", "node-2", "--timeout=8s")
	if err == nil || !strings.Contains(out, "Cannot evict pod as it would violate the pod's disruption budget") {
		t.Fatalf("drain against a full budget: %v\n%s", err, out)
	}
	if n := onNode2(); n != before {
		t.Fatalf("%d pods on node-2 after a refused drain, want %d", n, before)
	}
}
