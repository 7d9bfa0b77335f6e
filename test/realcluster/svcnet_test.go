//go:build realcluster

package realcluster

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcnet/svcnet/internal/testutil"
)

func dig(t *testing.T, addr string, args ...string) []string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dig", append([]string{"@" + host, "-p", port, "+short", "+tries=1", "+time=3"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", args, err, out)
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

// TestSvcnetPartsInARealCluster: against kube-apiserver,
// kube-controller-manager and kube-scheduler v1.37.2 with RBAC, deploy/'s
// manifests apply; `svcnet dns` with only its ServiceAccount's token (the
// deploy/ ClusterRole's rights, no admin) answers the seed's names, PTRs
// and SRV and follows a scale within a second; `svcnet agent` joins as a
// node with a node's credentials on its first try, takes the pod CIDR the
// controller-manager assigns, and runs the pods the real scheduler binds to
// it, whose five IPs the DNS then answers.
func TestSvcnetPartsInARealCluster(t *testing.T) {
	c := startCluster(t)
	repo, _ := filepath.Abs(filepath.Join("..", ".."))
	c.mustKubectl("apply", "-f", filepath.Join(repo, "deploy")) // as the README says
	// And once more, as on a cluster that has them already.
	c.mustKubectl("apply", "-f", filepath.Join(repo, "deploy"))
	expectOut(t, c.mustKubectl("-n", "kube-system", "get", "svc", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"), "10.96.0.10")

	// The DNS as its ServiceAccount: the least ClusterRole, nothing more.
	token := strings.TrimSpace(c.mustKubectl("-n", "kube-system", "create", "token", "svcnet-dns"))
	dnsKubeconfig := c.kubeconfig("svcnet-dns", "", "", token)
	if out, _ := exec.Command("kubectl", "--kubeconfig", dnsKubeconfig, "get", "pods", "-A").CombinedOutput(); !strings.Contains(string(out), "forbidden") {
		t.Fatalf("the DNS's account may list pods:\n%s", out)
	}
	dnsAddr := startDNS(t, dnsKubeconfig)

	// The agent joins as a node.
	started := time.Now()
	c.startAgent("node-a", "--proxy", "off")
	testutil.Eventually(t, 60*time.Second, "node-a Ready with a pod CIDR", func() error {
		out, err := c.kubectl("get", "node", "node-a", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.spec.podCIDR}`)
		if err != nil || !strings.HasPrefix(out, "True 10.244.") {
			return errorf("node-a: %s %v", out, err)
		}
		return nil
	})
	t.Logf("node-a Ready %v after the agent started", time.Since(started).Round(time.Millisecond))

	c.mustKubectl("apply", "-f", filepath.Join(repo, "testdata", "seed"))
	named := filepath.Join(t.TempDir(), "named.yaml")
	if err := os.WriteFile(named, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: named}\nspec:\n  selector: {app: api}\n  ports: [{name: http, port: 80, targetPort: 3000}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.mustKubectl("apply", "-f", named)
	c.mustKubectl("rollout", "status", "deployment", "api-deployment", "--timeout=90s")
	podIPs := strings.Fields(c.mustKubectl("get", "pods", "-l", "app=api", "-o", "jsonpath={.items[*].status.podIP}"))
	if len(podIPs) != 5 {
		t.Fatalf("pod IPs %v", podIPs)
	}
	for _, ip := range podIPs {
		if !strings.HasPrefix(ip, "10.244.") {
			t.Fatalf("pod IP %s is not of node-a's CIDR", ip)
		}
	}
	clusterIP := c.mustKubectl("get", "svc", "normal-service", "-o", "jsonpath={.spec.clusterIP}")
	testutil.Eventually(t, 20*time.Second, "the seed's names", func() error {
		if got := dig(t, dnsAddr, "normal-service.default.svc.cluster.local", "A"); strings.Join(got, ",") != clusterIP {
			return errorf("normal-service: %v, want %s", got, clusterIP)
		}
		if got := dig(t, dnsAddr, "headless-service.default.svc.cluster.local", "A"); len(got) != 5 {
			return errorf("headless-service: %v, want five pod IPs", got)
		}
		return nil
	})
	sort.Strings(podIPs)
	if got := dig(t, dnsAddr, "headless-service.default.svc.cluster.local", "A"); strings.Join(got, ",") != strings.Join(podIPs, ",") {
		t.Fatalf("headless answers %v, pods are %v", got, podIPs)
	}
	if got := dig(t, dnsAddr, "-x", clusterIP); strings.Join(got, ",") != "normal-service.default.svc.cluster.local." {
		t.Fatalf("PTR of the ClusterIP: %v", got)
	}
	// A pod's IP names it under each Service whose endpoint it is, as
	// CoreDNS answers. kube-controller-manager writes each Service's slices
	// on its own (it retries one whose informer lags), so the three names
	// may come a moment apart.
	ptr := strings.ReplaceAll(podIPs[0], ".", "-")
	testutil.Eventually(t, 20*time.Second, "a pod's names", func() error {
		if got := dig(t, dnsAddr, "-x", podIPs[0]); strings.Join(got, ",") != ptr+".headless-service.default.svc.cluster.local.,"+
			ptr+".named.default.svc.cluster.local.,"+ptr+".normal-service.default.svc.cluster.local." {
			return errorf("PTR of a pod: %v", got)
		}
		return nil
	})
	if got := dig(t, dnsAddr, "_http._tcp.named.default.svc.cluster.local", "SRV"); len(got) != 1 || !strings.HasSuffix(got[0], " 80 named.default.svc.cluster.local.") {
		t.Fatalf("SRV: %v", got)
	}
	if got := dig(t, dnsAddr, "kube-dns.kube-system.svc.cluster.local", "A"); strings.Join(got, ",") != "10.96.0.10" {
		t.Fatalf("kube-dns: %v", got)
	}

	// A scale: from the moment the EndpointSlice says three (polled every
	// 10 ms), the DNS says three within a second.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cs := c.client()
	c.mustKubectl("scale", "deployment", "api-deployment", "--replicas=3")
	var sliceSays time.Time
	for sliceSays.IsZero() && ctx.Err() == nil {
		list, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=headless-service"})
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, s := range list.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		if ready == 3 {
			sliceSays = time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sliceSays.IsZero() {
		t.Fatal("the slices never said three")
	}
	for {
		if got := dig(t, dnsAddr, "headless-service.default.svc.cluster.local", "A"); len(got) == 3 {
			break
		}
		if time.Since(sliceSays) > time.Second {
			t.Fatalf("DNS did not follow the scale within 1s of the slice")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("DNS followed the scale %v after the EndpointSlice", time.Since(sliceSays).Round(time.Millisecond))
}

func expectOut(t *testing.T, got, want string) {
	t.Helper()
	if strings.TrimSpace(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
