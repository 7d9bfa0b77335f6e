// Command proxy benchmarks svcnet's Service proxy, ingress and Gateway:
// svcnet server with --runtime process runs the seed Deployment (five
// `svcnet hello` pods) and normal-service, plus a NodePort, a
// LoadBalancer, an Ingress and a Gateway API Gateway (HTTPRoute) for the
// same pods; HTTP clients then call the ClusterIP, the nodePort, the
// load-balancer address, the ingress and the Gateway and, for the ceiling
// in the same run, one pod's IP directly, each with a new connection per
// request (what the proxy adds per connection) and over kept-alive
// connections (what it adds per byte). Last it measures, for each way in,
// how long an EndpointSlice change takes to steer new connections. It
// prints a table and writes bench/results/proxy.json (needs root: port 80
// on ClusterIPs and load-balancer addresses).
package main

import (
	"context"
	"encoding/json"
	"flag"
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
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/svcnet/svcnet/bench/measure"
)

type run struct {
	RPS float64            `json:"requests_per_second"`
	Ms  map[string]float64 `json:"latency_ms"`
	Err int64              `json:"errors"`
}

type result struct {
	Date          string                        `json:"date"`
	Clients       int                           `json:"clients"`
	Seconds       int                           `json:"seconds"`
	Runs          map[string]run                `json:"runs"`
	PropagationMs map[string]map[string]float64 `json:"endpoint_change_to_traffic_ms"`
}

func main() {
	secs := flag.Int("seconds", 5, "seconds per load run")
	clients := flag.Int("clients", 16, "concurrent clients")
	out := flag.String("out", "bench/results/proxy.json", "JSON result file")
	flag.Parse()
	if err := benchmark(*secs, *clients, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench/proxy:", err)
		os.Exit(1)
	}
}

func benchmark(secs, clients int, out string) error {
	tmp, err := os.MkdirTemp("", "svcnet-bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := measure.Build(tmp, "./cmd/svcnet"); err != nil {
		return err
	}
	ingressAddr := measure.FreePort()
	srv, err := measure.StartServer(filepath.Join(tmp, "svcnet"), "--runtime", "process", "--data-dir", filepath.Join(tmp, "data"),
		"--api-addr", measure.FreePort(), "--dns-addr", "", "--metrics-addr", "", "--ingress-addr", ingressAddr, "--ingress-tls-addr", "", "--log-level", "error")
	if err != nil {
		return err
	}
	defer srv.Stop()
	kubeconfig := srv.Kubeconfig
	c, err := measure.Client(kubeconfig, 100)
	if err != nil {
		return err
	}
	kubectl := exec.Command("kubectl", "apply", "-f", "testdata/seed/")
	kubectl.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if b, err := kubectl.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply: %v\n%s", err, b)
	}
	ctx := context.Background()
	var clusterIP string
	var podIPs []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the seed never became ready")
		}
		svc, err := c.CoreV1().Services("default").Get(ctx, "normal-service", metav1.GetOptions{})
		pods, err2 := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		if err != nil || err2 != nil {
			continue
		}
		podIPs = nil
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					podIPs = append(podIPs, p.Status.PodIP)
				}
			}
		}
		clusterIP = svc.Spec.ClusterIP
		if len(podIPs) == 5 && get(http.DefaultClient, "http://"+clusterIP+"/") == nil {
			break
		}
	}
	ways, err := waysIn(c, "api", 80, "", ingressAddr)
	if err != nil {
		return err
	}
	gateway, err := gatewayTo(kubeconfig, "normal-service")
	if err != nil {
		return err
	}
	res := result{Date: time.Now().UTC().Format(time.RFC3339), Clients: clients, Seconds: secs, Runs: map[string]run{}}
	targets := []struct{ name, url string }{
		{"one pod directly (ceiling)", "http://" + podIPs[0] + ":3000/"},
		{"through the ClusterIP", "http://" + clusterIP + "/"},
		{"through a NodePort", ways.nodePort},
		{"through the LoadBalancer", ways.lb},
		{"through the Ingress", ways.ingress},
		{"through a Gateway (HTTPRoute)", gateway},
	}
	for _, keep := range []bool{false, true} {
		for _, tgt := range targets {
			mode := "new connection per request"
			if keep {
				mode = "kept-alive connections"
			}
			r := load(tgt.url, clients, secs, keep)
			res.Runs[mode+", "+tgt.name] = r
			fmt.Printf("%-68s %9.0f req/s  p50 %.3f  p99 %.3f ms  errors %d\n", mode+", "+tgt.name, r.RPS, r.Ms["p50"], r.Ms["p99"], r.Err)
		}
	}
	res.PropagationMs, err = propagation(c, podIPs, ingressAddr)
	if err != nil {
		return err
	}
	for _, way := range []string{"ClusterIP", "NodePort", "LoadBalancer", "Ingress"} {
		m := res.PropagationMs[way]
		fmt.Printf("%-68s p50 %.1f  p99 %.1f ms (%v changes)\n", "EndpointSlice written ▶ new connections reach the new endpoint, "+way,
			m["p50"], m["p99"], m["count"])
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	return os.WriteFile(out, b, 0o644)
}

// gatewayTo applies the Gateway API's standard channel (the module's copy)
// and a Gateway of class svcnet whose HTTPRoute sends everything to
// service:80, and returns the Gateway's URL once it answers.
func gatewayTo(kubeconfig, service string) (string, error) {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		return "", fmt.Errorf("go list gateway-api: %w", err)
	}
	kubectl := func(stdin string, args ...string) ([]byte, error) {
		cmd := exec.Command("kubectl", args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		cmd.Stdin = strings.NewReader(stdin)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return b, fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return b, nil
	}
	if _, err := kubectl("", "apply", "-f", filepath.Join(strings.TrimSpace(string(dir)), "config", "crd", "standard")); err != nil {
		return "", err
	}
	manifest := `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: svcnet}
spec: {controllerName: svcnet.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench}
spec:
  gatewayClassName: svcnet
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench}
spec:
  parentRefs: [{name: bench}]
  rules: [{backendRefs: [{name: ` + service + `, port: 80}]}]
`
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := kubectl(manifest, "apply", "-f", "-") // the CRDs may still be being established
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return "", err
		}
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		addr, err := kubectl("", "get", "gateway", "bench", "-o", "jsonpath={.status.addresses[0].value}")
		if err != nil || len(addr) == 0 {
			continue
		}
		url := "http://" + string(addr) + "/"
		if get(http.DefaultClient, url) == nil {
			return url, nil
		}
	}
	return "", fmt.Errorf("the Gateway never answered")
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// load runs clients goroutines requesting url for secs seconds and times
// every request.
func load(url string, clients, secs int, keepAlive bool) run {
	var mu sync.Mutex
	var lat []time.Duration
	var errs int64
	var wg sync.WaitGroup
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}}
			var local []time.Duration
			var e int64
			for time.Now().Before(end) {
				t := time.Now()
				if err := get(c, url); err != nil {
					e++
					continue
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += e
			mu.Unlock()
		}()
	}
	wg.Wait()
	return run{RPS: float64(len(lat)) / float64(secs), Err: errs,
		Ms: map[string]float64{"p50": measure.PercentileMs(lat, .5), "p90": measure.PercentileMs(lat, .9), "p99": measure.PercentileMs(lat, .99)}}
}

var podName = regexp.MustCompile(`\(([0-9.]+):`)

// ways are the URLs of one Service's ports from outside: its nodePort on
// the node's address, its load-balancer address, and the ingress.
type ways struct{ clusterIP, nodePort, lb, ingress string }

// waysIn makes a LoadBalancer Service named name (selector app=api, or
// none when selector is ""), on port, and an Ingress routing host ("": any)
// to it, and waits for its addresses.
func waysIn(c kubernetes.Interface, name string, port int32, host, ingressAddr string) (ways, error) {
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
		Ports: []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(3000)}}}}
	if name == "api" {
		svc.Spec.Selector = map[string]string{"app": "api"}
	}
	if _, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return ways{}, err
	}
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: host,
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix,
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: port}}}}}}}}}}}
	if _, err := c.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		return ways{}, err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got, err := c.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil || len(got.Status.LoadBalancer.Ingress) == 0 {
			continue
		}
		p := strconv.Itoa(int(port))
		return ways{clusterIP: "http://" + got.Spec.ClusterIP + ":" + p + "/",
			nodePort: "http://127.0.0.1:" + strconv.Itoa(int(got.Spec.Ports[0].NodePort)) + "/",
			lb:       "http://" + got.Status.LoadBalancer.Ingress[0].IP + ":" + p + "/", ingress: "http://" + ingressAddr + "/"}, nil
	}
	return ways{}, fmt.Errorf("service %s got no load-balancer address", name)
}

// propagation points a selectorless Service's slice at one pod, then the
// next, and times, for each way in (ClusterIP, nodePort, load balancer,
// ingress), from each write to the first new connection sent to the new
// pod.
func propagation(c kubernetes.Interface, podIPs []string, ingressAddr string) (map[string]map[string]float64, error) {
	ctx := context.Background()
	w, err := waysIn(c, "moving", 8080, "moving.bench", ingressAddr)
	if err != nil {
		return nil, err
	}
	name, port := "http", int32(3000)
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "moving-1", Labels: map[string]string{discoveryv1.LabelServiceName: "moving"}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}}}
	set := func(ip string) {
		slice.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{ip}}}
	}
	set(podIPs[0])
	if slice, err = c.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	answeredBy := func(url string) string {
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = "moving.bench" // the ingress routes by it; the others ignore it
		resp, err := client.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if m := podName.FindStringSubmatch(string(b)); m != nil {
			return m[1]
		}
		return ""
	}
	urls := map[string]string{"ClusterIP": w.clusterIP, "NodePort": w.nodePort, "LoadBalancer": w.lb, "Ingress": w.ingress}
	lat := map[string][]time.Duration{}
	for k := 1; k <= 40; k++ {
		target := podIPs[k%len(podIPs)]
		set(target)
		if slice, err = c.DiscoveryV1().EndpointSlices("default").Update(ctx, slice, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
		written := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for way, url := range urls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(written) < 10*time.Second {
					if answeredBy(url) == target {
						mu.Lock()
						lat[way] = append(lat[way], time.Since(written))
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	out := map[string]map[string]float64{}
	for way := range urls {
		if len(lat[way]) == 0 {
			return nil, fmt.Errorf("%s never followed a change", way)
		}
		out[way] = map[string]float64{"p50": measure.PercentileMs(lat[way], .5), "p99": measure.PercentileMs(lat[way], .99), "count": float64(len(lat[way]))}
	}
	return out, nil
}
