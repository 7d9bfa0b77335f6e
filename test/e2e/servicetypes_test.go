package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestServiceTypesCarryTraffic: with the process runtime, the server's node
// (127.0.0.1) and an agent's (127.0.0.2, serving its own nodePorts only),
// the seed's pods answer through a NodePort on both nodes' addresses, a
// LoadBalancer's EXTERNAL-IP (given within 5s, freed on delete) and an
// externalIP; with externalTrafficPolicy Local a node's nodePort keeps to
// its own pods.
func TestServiceTypesCarryTraffic(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("port 80 on the load-balancer and external addresses needs root; CI runs as root")
	}
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--node-name", "node-1", "--log-level", "debug")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", p.output())
		}
	})
	startAgent(t, p, "node-2", "--runtime", "process", "--data-dir", t.TempDir(), "--internal-ip", "127.0.0.2", "--proxy", "node")
	p.awaitKubectl(t, 30*time.Second, "True", "get", "node", "node-2", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	p.mustKubectl(t, "apply", "-f", seedDir(t))
	p.mustKubectl(t, "scale", "deployment", "api-deployment", "--replicas=6")
	p.awaitKubectl(t, 90*time.Second, "6", "get", "deployment", "api-deployment", "-o", "jsonpath={.status.readyReplicas}")
	nodeOf := map[string]string{}
	for _, line := range strings.Split(p.mustKubectl(t, "get", "pods", "-l", "app=api", "-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}`), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			nodeOf[f[0]] = f[1]
		}
	}
	perNode := map[string]int{}
	for _, n := range nodeOf {
		perNode[n]++
	}
	if perNode["node-1"] == 0 || perNode["node-2"] == 0 {
		t.Fatalf("pods by node %v: want some on each", perNode)
	}
	answers := func(url string, n int) map[string]int {
		t.Helper()
		hits := map[string]int{}
		for i := 0; i < n; i++ {
			pod, err := get(url)
			if err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			hits[nodeOf[pod]]++
		}
		return hits
	}

	p.mustKubectl(t, "expose", "deployment", "api-deployment", "--name", "np", "--type", "NodePort", "--port", "80", "--target-port", "3000")
	nodePort := p.mustKubectl(t, "get", "svc", "np", "-o", "jsonpath={.spec.ports[0].nodePort}")
	for _, node := range []string{"127.0.0.1", "127.0.0.2"} {
		url := "http://" + node + ":" + nodePort + "/"
		eventually(t, 10*time.Second, "the nodePort on "+node, func() string {
			if _, err := get(url); err != nil {
				return err.Error()
			}
			return ""
		})
		if hits := answers(url, 20); hits["node-1"]+hits["node-2"] != 20 {
			t.Fatalf("%s: %v", url, hits)
		}
	}

	start := time.Now()
	p.mustKubectl(t, "expose", "deployment", "api-deployment", "--name", "lb", "--type", "LoadBalancer", "--port", "80", "--target-port", "3000")
	var lbIP string
	eventually(t, 5*time.Second, "an EXTERNAL-IP", func() string {
		lbIP = p.mustKubectl(t, "get", "svc", "lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
		if lbIP == "" {
			return "pending"
		}
		return ""
	})
	t.Logf("LoadBalancer address %s after %s", lbIP, time.Since(start).Round(time.Millisecond))
	expect(t, p.mustKubectl(t, "get", "svc", "lb"), `lb\s+LoadBalancer\s+127\.96\.\S+\s+`+strings.ReplaceAll(lbIP, ".", `\.`)+`\s+80:3\d{4}/TCP`)
	eventually(t, 10*time.Second, "the load balancer answers", func() string {
		if _, err := get("http://" + lbIP + "/"); err != nil {
			return err.Error()
		}
		return ""
	})
	expect(t, p.mustKubectl(t, "describe", "svc", "lb"), `LoadBalancer Ingress:\s+`+strings.ReplaceAll(lbIP, ".", `\.`), `EnsuredLoadBalancer`)

	p.mustKubectl(t, "expose", "deployment", "api-deployment", "--name", "ext", "--port", "80", "--target-port", "3000", "--external-ip", "127.99.0.1")
	eventually(t, 10*time.Second, "the externalIP answers", func() string {
		if _, err := get("http://127.99.0.1/"); err != nil {
			return err.Error()
		}
		return ""
	})

	// externalTrafficPolicy Local: node-2's nodePort reaches node-2's pods only.
	p.mustKubectl(t, "patch", "svc", "np", "-p", `{"spec":{"externalTrafficPolicy":"Local"}}`)
	url := "http://127.0.0.2:" + nodePort + "/"
	eventually(t, 10*time.Second, "node-2's nodePort keeps to node-2", func() string {
		if hits := answers(url, 20); hits["node-2"] != 20 {
			return fmt.Sprint(hits)
		}
		return ""
	})

	// trafficDistribution PreferSameNode: the slices carry node hints, and
	// each proxy keeps to its node's endpoints: node-1's (serving the
	// ClusterIPs) for the ClusterIP, node-2's for its nodePort.
	p.mustKubectl(t, "expose", "deployment", "api-deployment", "--name", "near", "--type", "NodePort", "--port", "80", "--target-port", "3000",
		"--overrides", `{"spec":{"trafficDistribution":"PreferSameNode"}}`)
	eventually(t, 10*time.Second, "node hints in near's slices", func() string {
		hints := p.mustKubectl(t, "get", "endpointslices", "-l", "kubernetes.io/service-name=near", "-o", "jsonpath={.items[*].endpoints[*].hints.forNodes[*].name}")
		if strings.Count(hints, "node-1") != perNode["node-1"] || strings.Count(hints, "node-2") != perNode["node-2"] {
			return "hints: " + hints
		}
		return ""
	})
	nearIP := p.mustKubectl(t, "get", "svc", "near", "-o", "jsonpath={.spec.clusterIP}")
	nearPort := p.mustKubectl(t, "get", "svc", "near", "-o", "jsonpath={.spec.ports[0].nodePort}")
	for url, node := range map[string]string{"http://" + nearIP + "/": "node-1", "http://127.0.0.2:" + nearPort + "/": "node-2"} {
		eventually(t, 10*time.Second, url+" keeps to "+node, func() string {
			if hits := answers(url, 20); hits[node] != 20 {
				return fmt.Sprint(hits)
			}
			return ""
		})
	}

	// internalTrafficPolicy Local: the ClusterIP (node-1's proxy serves it)
	// reaches node-1's pods only.
	p.mustKubectl(t, "expose", "deployment", "api-deployment", "--name", "local", "--port", "80", "--target-port", "3000",
		"--overrides", `{"spec":{"internalTrafficPolicy":"Local"}}`)
	localIP := p.mustKubectl(t, "get", "svc", "local", "-o", "jsonpath={.spec.clusterIP}")
	eventually(t, 10*time.Second, "internalTrafficPolicy Local keeps to node-1", func() string {
		if hits := answers("http://"+localIP+"/", 20); hits["node-1"] != 20 {
			return fmt.Sprint(hits)
		}
		return ""
	})

	// Deleting the LoadBalancer frees its address: the next one gets it.
	p.mustKubectl(t, "delete", "svc", "lb")
	p.mustKubectl(t, "expose", "deployment", "api-deployment", "--name", "lb2", "--type", "LoadBalancer", "--port", "8080", "--target-port", "3000")
	p.awaitKubectl(t, 10*time.Second, lbIP, "get", "svc", "lb2", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")

	// externalTrafficPolicy Local on a LoadBalancer: a healthCheckNodePort
	// where each node's proxy reports its own endpoints, as kube-proxy does.
	p.mustKubectl(t, "patch", "svc", "lb2", "-p", `{"spec":{"externalTrafficPolicy":"Local"}}`)
	hc := p.mustKubectl(t, "get", "svc", "lb2", "-o", "jsonpath={.spec.healthCheckNodePort}")
	if hc == "" || hc == "0" {
		t.Fatalf("no healthCheckNodePort allocated")
	}
	for node, name := range map[string]string{"127.0.0.1": "node-1", "127.0.0.2": "node-2"} {
		want := fmt.Sprintf(`"localEndpoints":%d`, perNode[name])
		eventually(t, 10*time.Second, name+"'s health check", func() string {
			resp, err := http.Get("http://" + node + ":" + hc + "/")
			if err != nil {
				return err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
				return fmt.Sprintf("%d %s, want %s", resp.StatusCode, b, want)
			}
			return ""
		})
	}
}
