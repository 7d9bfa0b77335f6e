// Command dns benchmarks svcnet's DNS on the issue-5 fixture: half the
// Services ClusterIP with two named ports, half headless with one
// EndpointSlice of 10 ready endpoints, over 100 namespaces; a query mix of
// 40% ClusterIP A, 20% headless A, 10% SRV _http._tcp, 30% NXDOMAIN
// (search-path style misses). For each size it loads the fixture through the
// API (svcnet server on an embedded etcd), starts `svcnet dns` alone, and
// measures: time to first answer, RSS after sync and after load, max QPS with
// dnsperf (sharing both cores, and with svcnet dns pinned to one core),
// per-query latency at a steady rate, and EndpointSlice-change ▶ new answer
// latency. In the same run it measures the machine's ceiling: a minimal
// responder (same DNS library and socket strategy) answering a fixed packet,
// under the same dnsperf load. It prints a table and writes
// bench/results/dns.json. It installs dnsperf if it is missing.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcnet/svcnet/bench/measure"
	svcdns "github.com/svcnet/svcnet/internal/dns"
	"github.com/svcnet/svcnet/internal/testutil"
)

func main() {
	responder := flag.String("responder", "", "internal: run the ceiling responder on this address")
	sizes := flag.String("sizes", "1000,10000", "fixture sizes (services)")
	secs := flag.Int("seconds", 10, "seconds per dnsperf run")
	rate := flag.Int("rate", 10000, "steady query rate for the latency run")
	out := flag.String("out", "bench/results/dns.json", "JSON result file")
	loadOnly := flag.Int("load", 0, "only load this many Services of the fixture into the cluster of -kubeconfig, then exit")
	flag.IntVar(&endpointsPer, "endpoints", 10, "ready endpoints of each headless Service's slice (with -load)")
	kubeconfig := flag.String("kubeconfig", "", "cluster for -load")
	flag.Parse()
	if *responder != "" {
		runResponder(*responder)
		return
	}
	if *loadOnly > 0 {
		if err := loadInto(*kubeconfig, *loadOnly); err != nil {
			fmt.Fprintln(os.Stderr, "bench/dns:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*sizes, *secs, *rate, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dns:", err)
		os.Exit(1)
	}
}

// runResponder answers every query with one fixed A record, through the
// same UDP loop as svcnet's DNS (dns.ServeUDP), doing the least a
// responder can: echo the question, append a record.
func runResponder(addr string) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	answer := []byte{0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 96, 0, 1}
	_ = svcdns.ServeUDP(context.Background(), pc.(*net.UDPConn), 2*runtime.GOMAXPROCS(0), func(w *svcdns.UDPWorker, q []byte, _ netip.AddrPort) []byte {
		off := 12
		for off < len(q) && q[off] != 0 {
			off += 1 + int(q[off])
		}
		if len(q) < 12 || off+5 > len(q) {
			return nil
		}
		out := append(w.Out[:0], q[:off+5]...)
		out[2] |= 0x84                                // QR, AA
		out[6], out[7], out[10], out[11] = 0, 1, 0, 0 // one answer, no OPT
		return append(out, answer...)
	})
}

type sizeResult struct {
	Services       int                `json:"services"`
	Endpoints      int                `json:"endpoints"`
	LoadSeconds    float64            `json:"load_seconds"`
	FirstAnswerSec float64            `json:"time_to_first_answer_seconds"`
	RSSSyncMB      float64            `json:"rss_after_sync_mb"`
	RSSLoadMB      float64            `json:"rss_after_load_mb"`
	QPSShared      float64            `json:"max_qps_shared"`
	QPSPinned      float64            `json:"max_qps_pinned"`
	CeilingShared  float64            `json:"ceiling_qps_shared"`
	CeilingPinned  float64            `json:"ceiling_qps_pinned"`
	LatencyMs      map[string]float64 `json:"latency_ms_at_rate"`
	// CeilingLatencyMs is the minimal responder's at the same rate.
	CeilingLatencyMs map[string]float64 `json:"ceiling_latency_ms_at_rate"`
	PropagationMs    map[string]float64 `json:"propagation_ms_in_server"`
	// PropagationAloneMs is the same for svcnet-dns.
	PropagationAloneMs map[string]float64 `json:"propagation_ms_alone"`
	// Headless100QPS and Headless1000TCPQPS: one name answering 100 A
	// records (UDP) and 1,000 (TCP), all queries for it.
	Headless100QPS     float64 `json:"headless_100_udp_qps"`
	Headless1000TCPQPS float64 `json:"headless_1000_tcp_qps"`
	RSSRelistPeakMB    float64 `json:"rss_relist_peak_mb"`
	RelistPeakRatio    float64 `json:"relist_peak_ratio"`
	Relisted           bool    `json:"relisted"`
	LostAtRate         int64   `json:"lost_at_rate"`
}

func run(sizesFlag string, secs, rate int, out string) error {
	for bin, pkg := range map[string]string{"dnsperf": "dnsperf", "etcd": "etcd-server"} {
		if _, err := exec.LookPath(bin); err != nil {
			fmt.Println("installing", pkg)
			if b, err := exec.Command("sh", "-c", "apt-get update -qq && apt-get install -y -qq "+pkg).CombinedOutput(); err != nil {
				return fmt.Errorf("install %s: %v\n%s", pkg, err, b)
			}
		}
	}
	tmp, err := os.MkdirTemp("", "svcnet-bench-dns-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, dnsBin := filepath.Join(tmp, "svcnet"), filepath.Join(tmp, "svcnet-dns")
	if err := measure.Build(tmp, "./cmd/svcnet", "./cmd/svcnet-dns"); err != nil {
		return err
	}
	self, _ := os.Executable()
	var results []sizeResult
	for _, f := range strings.Split(sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		r, err := runSize(bin, dnsBin, self, tmp, n, secs, rate)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	fmt.Printf("\nsvcnet DNS benchmark, %s, 2 vCPU\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("%-46s", "services")
	for _, r := range results {
		fmt.Printf(" %14d", r.Services)
	}
	fmt.Println()
	row := func(name string, f func(r sizeResult) string) {
		fmt.Printf("%-46s", name)
		for _, r := range results {
			fmt.Printf(" %14s", f(r))
		}
		fmt.Println()
	}
	row("max QPS, sharing both cores with dnsperf", func(r sizeResult) string { return fmt.Sprintf("%.0f", r.QPSShared) })
	row("  of the ceiling (minimal responder)", func(r sizeResult) string {
		return fmt.Sprintf("%.0f%% of %.0f", 100*r.QPSShared/r.CeilingShared, r.CeilingShared)
	})
	row("max QPS, svcnet-dns pinned to one core", func(r sizeResult) string { return fmt.Sprintf("%.0f", r.QPSPinned) })
	row("  of the ceiling", func(r sizeResult) string {
		return fmt.Sprintf("%.0f%% of %.0f", 100*r.QPSPinned/r.CeilingPinned, r.CeilingPinned)
	})
	for _, q := range []string{"p50", "p90", "p99", "p99.9"} {
		q := q
		row(fmt.Sprintf("latency %s at %d QPS (ms)", q, rate), func(r sizeResult) string { return fmt.Sprintf("%.3f", r.LatencyMs[q]) })
	}
	row("  ceiling p50 / p99 at that rate (ms)", func(r sizeResult) string {
		return fmt.Sprintf("%.3f / %.3f", r.CeilingLatencyMs["p50"], r.CeilingLatencyMs["p99"])
	})
	row("  unanswered at that rate", func(r sizeResult) string { return strconv.FormatInt(r.LostAtRate, 10) })
	row("headless 100 endpoints, UDP: QPS", func(r sizeResult) string { return fmt.Sprintf("%.0f", r.Headless100QPS) })
	row("headless 1,000 endpoints, TCP: QPS", func(r sizeResult) string { return fmt.Sprintf("%.0f", r.Headless1000TCPQPS) })
	row("RSS after sync / after load (MB)", func(r sizeResult) string { return fmt.Sprintf("%.0f / %.0f", r.RSSSyncMB, r.RSSLoadMB) })
	row("RSS peak in a forced relist (MB, × steady)", func(r sizeResult) string {
		if !r.Relisted {
			return "no relist"
		}
		return fmt.Sprintf("%.0f, %.2f×", r.RSSRelistPeakMB, r.RelistPeakRatio)
	})
	row("time to first answer (s)", func(r sizeResult) string { return fmt.Sprintf("%.2f", r.FirstAnswerSec) })
	row("slice change ▶ answer p50/p99/max ms, server", func(r sizeResult) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f", r.PropagationMs["p50"], r.PropagationMs["p99"], r.PropagationMs["max"])
	})
	row("  the same, svcnet-dns (20 changes/s churn)", func(r sizeResult) string {
		return fmt.Sprintf("%.1f / %.1f / %.1f", r.PropagationAloneMs["p50"], r.PropagationAloneMs["p99"], r.PropagationAloneMs["max"])
	})
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "results": results}, "", "  ")
	return os.WriteFile(out, b, 0o644)
}

func start(cmd *exec.Cmd, re *regexp.Regexp) (string, error) {
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	sc := bufio.NewScanner(stdout)
	found := make(chan string, 1)
	go func() {
		sent := false
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[len(m)-1]
				sent = true
			}
		}
	}()
	select {
	case s := <-found:
		return s, nil
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("%s did not start", cmd.Path)
	}
}

func runSize(bin, dnsBin, self, tmp string, n, secs, rate int) (sizeResult, error) {
	r := sizeResult{Services: n, Endpoints: n / 2 * 10}
	etcdURL, stopEtcd, err := startEtcd(filepath.Join(tmp, fmt.Sprintf("etcd-%d", n)))
	if err != nil {
		return r, err
	}
	defer stopEtcd()
	apiAddr, serverDNS := measure.FreePort(), measure.FreePort()
	serverArgs := []string{"--data-dir", filepath.Join(tmp, fmt.Sprintf("data-%d", n)), "--etcd-servers", etcdURL,
		"--api-addr", apiAddr, "--dns-addr", serverDNS, "--upstream", "none", "--metrics-addr", "", "--node-name", "", "--controllers=false", "--log-level", "error"}
	srv, err := measure.StartServer(bin, serverArgs...)
	if err != nil {
		return r, err
	}
	defer func() { srv.Stop() }() // the server restarted below, too
	kubeconfig := srv.Kubeconfig
	c, err := measure.Client(kubeconfig, 1e5)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	names, err := load(c, n)
	if err != nil {
		return r, err
	}
	r.LoadSeconds = time.Since(t0).Seconds()
	fmt.Printf("%d services loaded in %.1fs\n", n, r.LoadSeconds)

	// The DNS alone: the svcnet-dns binary.
	addr := measure.FreePort()
	dnsStart := time.Now()
	var dnsLog testutil.Buffer
	dns := exec.Command(dnsBin, "--kubeconfig", kubeconfig, "--dns-addr", addr, "--metrics-addr", "", "--upstream", "none", "--log-level", "info")
	dns.Stderr = &dnsLog
	if err := dns.Start(); err != nil {
		return r, err
	}
	defer func() { _ = dns.Process.Kill(); _ = dns.Wait() }()
	cl := &mdns.Client{Timeout: 200 * time.Millisecond}
	if err := awaitAnswer(cl, addr, names.clusterIP[len(names.clusterIP)-1], 60*time.Second); err != nil {
		return r, err
	}
	r.FirstAnswerSec = time.Since(dnsStart).Seconds()
	time.Sleep(time.Second)
	r.RSSSyncMB = measure.RSSMB(dns.Process.Pid)

	queries := filepath.Join(tmp, fmt.Sprintf("queries-%d.txt", n))
	if err := writeQueries(queries, names); err != nil {
		return r, err
	}
	host, port, _ := net.SplitHostPort(addr)
	r.QPSShared, err = dnsperf(host, port, queries, secs, "")
	if err != nil {
		return r, err
	}
	_ = exec.Command("taskset", "-a", "-cp", "0", strconv.Itoa(dns.Process.Pid)).Run()
	r.QPSPinned, err = dnsperf(host, port, queries, secs, "1")
	_ = exec.Command("taskset", "-a", "-cp", "0,1", strconv.Itoa(dns.Process.Pid)).Run()
	if err != nil {
		return r, err
	}
	r.LatencyMs, r.LostAtRate = steady(addr, names, rate, secs)
	r.RSSLoadMB = measure.RSSMB(dns.Process.Pid)
	if r.PropagationMs, err = propagation(c, cl, serverDNS, names); err != nil {
		return r, err
	}
	if r.PropagationAloneMs, err = propagation(c, cl, addr, names); err != nil {
		return r, err
	}

	// Big headless answers: 100 endpoints over UDP, 1,000 over TCP.
	if r.Headless100QPS, r.Headless1000TCPQPS, err = bigHeadless(c, tmp, host, port, secs); err != nil {
		return r, err
	}

	// A forced relist: the API restarts after etcd compacted past what the
	// DNS has seen, so every watch ends in 410 and lists again.
	steadyRSS := measure.RSSMB(dns.Process.Pid)
	peak := measure.NewPeak(dns.Process.Pid)
	srv.Stop()
	if err := compactEtcd(etcdURL); err != nil {
		return r, err
	}
	if srv, err = measure.StartServer(bin, serverArgs...); err != nil {
		return r, err
	}
	fresh := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "after-relist"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := c.CoreV1().Services("ns-0").Create(context.Background(), fresh, metav1.CreateOptions{}); err != nil {
		return r, err
	}
	if err := awaitAnswer(cl, addr, "after-relist.ns-0.svc.cluster.local.", 60*time.Second); err != nil {
		return r, err
	}
	time.Sleep(2 * time.Second)
	r.RSSRelistPeakMB = peak.Stop()
	r.RelistPeakRatio = r.RSSRelistPeakMB / steadyRSS
	r.Relisted = strings.Contains(dnsLog.String(), "dns relisted")

	// The ceiling: the minimal responder under the same load.
	raddr := measure.FreePort()
	resp := exec.Command(self, "-responder", raddr)
	if _, err := start(resp, regexp.MustCompile(`^(ready)$`)); err != nil {
		return r, err
	}
	defer func() { _ = resp.Process.Kill(); _ = resp.Wait() }()
	rhost, rport, _ := net.SplitHostPort(raddr)
	if r.CeilingShared, err = dnsperf(rhost, rport, queries, secs, ""); err != nil {
		return r, err
	}
	_ = exec.Command("taskset", "-a", "-cp", "0", strconv.Itoa(resp.Process.Pid)).Run()
	r.CeilingPinned, err = dnsperf(rhost, rport, queries, secs, "1")
	_ = exec.Command("taskset", "-a", "-cp", "0,1", strconv.Itoa(resp.Process.Pid)).Run()
	r.CeilingLatencyMs, _ = steady(raddr, names, rate, secs)
	return r, err
}

// loadInto loads the fixture into an existing cluster (to try svcnet, or
// any cluster DNS, at scale).
func loadInto(kubeconfig string, n int) error {
	if kubeconfig == "" {
		return fmt.Errorf("-load needs -kubeconfig")
	}
	c, err := measure.Client(kubeconfig, 1e5)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := load(c, n); err != nil {
		return err
	}
	fmt.Printf("%d Services (%d headless with %d endpoints each) in 100 namespaces loaded in %.1fs\n", n, n/2, endpointsPer, time.Since(t0).Seconds())
	return nil
}

type fixtureNames struct {
	clusterIP, headless, srv, miss []string
	headlessSvc                    []struct{ ns, name string }
}

func load(c kubernetes.Interface, n int) (fixtureNames, error) {
	var names fixtureNames
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ns-%d", i)}}, metav1.CreateOptions{}); err != nil {
			return names, err
		}
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		ns, name := fmt.Sprintf("ns-%d", i%100), fmt.Sprintf("svc-%d", i)
		fqdn := name + "." + ns + ".svc.cluster.local."
		headless := i%2 == 1
		mu.Lock()
		if headless {
			names.headless = append(names.headless, fqdn)
			names.headlessSvc = append(names.headlessSvc, struct{ ns, name string }{ns, name})
		} else {
			names.clusterIP = append(names.clusterIP, fqdn)
		}
		names.srv = append(names.srv, "_http._tcp."+fqdn)
		names.miss = append(names.miss, fqdn+ns+".svc.cluster.local.")
		mu.Unlock()
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
				Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "metrics", Port: 9090}}}}
			if headless {
				svc.Spec.ClusterIP = "None"
			}
			_, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
			if err == nil && headless {
				_, err = c.DiscoveryV1().EndpointSlices(ns).Create(ctx, endpointSlice(name, i, 0), metav1.CreateOptions{})
			}
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	return names, firstErr
}

// endpointsPer is how many endpoints each headless Service's slice has.
var endpointsPer = 10

func endpointSlice(svc string, i, gen int) *discoveryv1.EndpointSlice {
	ready := true
	name, port := "http", int32(8080)
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc + "-bench", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}}}
	for e := 0; e < endpointsPer; e++ {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 128+gen%64, (i/25)%256, (i%25)*10+e+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return s
}

// writeQueries writes the mix for dnsperf: 40 ClusterIP A, 20 headless A,
// 10 SRV, 30 misses per 100.
func writeQueries(path string, n fixtureNames) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		switch k := i % 100; {
		case k < 40:
			fmt.Fprintf(w, "%s A\n", n.clusterIP[rnd.IntN(len(n.clusterIP))])
		case k < 60:
			fmt.Fprintf(w, "%s A\n", n.headless[rnd.IntN(len(n.headless))])
		case k < 70:
			fmt.Fprintf(w, "%s SRV\n", n.srv[rnd.IntN(len(n.srv))])
		default:
			fmt.Fprintf(w, "%s A\n", n.miss[rnd.IntN(len(n.miss))])
		}
	}
	return w.Flush()
}

var qpsRe = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)

// bigHeadless creates headless Services of 100 and 1,000 ready endpoints and
// measures the QPS of asking for each alone (the second over TCP).
func bigHeadless(c kubernetes.Interface, tmp, host, port string, secs int) (float64, float64, error) {
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "big"}}, metav1.CreateOptions{}); err != nil {
		return 0, 0, err
	}
	var qps []float64
	for _, n := range []int{100, 1000} {
		name := fmt.Sprintf("h%d", n)
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{ClusterIP: "None", Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if _, err := c.CoreV1().Services("big").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return 0, 0, err
		}
		ready, pname, pnum := true, "http", int32(8080)
		sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &pnum}}}
		for e := 0; e < n; e++ {
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.250.%d.%d", e/250, e%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
		}
		if _, err := c.DiscoveryV1().EndpointSlices("big").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
			return 0, 0, err
		}
		fqdn := name + ".big.svc.cluster.local."
		cl := &mdns.Client{Net: "tcp", Timeout: time.Second}
		if err := awaitCount(cl, net.JoinHostPort(host, port), fqdn, n); err != nil {
			return 0, 0, err
		}
		file := filepath.Join(tmp, name+".txt")
		if err := os.WriteFile(file, []byte(fqdn+" A\n"), 0o644); err != nil {
			return 0, 0, err
		}
		var extra []string
		if n == 1000 {
			extra = []string{"-m", "tcp"}
		}
		q, err := dnsperf(host, port, file, secs, "", extra...)
		if err != nil {
			return 0, 0, err
		}
		qps = append(qps, q)
	}
	return qps[0], qps[1], nil
}

// awaitCount polls (over cl) until name has n answers.
func awaitCount(cl *mdns.Client, addr, name string, n int) error {
	q := new(mdns.Msg)
	q.SetQuestion(name, mdns.TypeA)
	q.SetEdns0(4096, false)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, _, err := cl.Exchange(q, addr); err == nil && len(resp.Answer) == n {
			return nil
		}
	}
	return fmt.Errorf("%s never had %d answers", name, n)
}

// dnsperf runs dnsperf with EDNS (on cpu when not "") and returns queries
// per second.
func dnsperf(host, port, file string, secs int, cpu string, extra ...string) (float64, error) {
	args := append([]string{"-e", "-s", host, "-p", port, "-d", file, "-l", strconv.Itoa(secs), "-c", "20", "-q", "1000", "-T", "2", "-O", "suppress=timeout,unexpected"}, extra...)
	name := "dnsperf"
	if cpu != "" {
		args = append([]string{"-c", cpu, "dnsperf"}, args...)
		name = "taskset"
	}
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("dnsperf: %v\n%s", err, b)
	}
	m := qpsRe.FindStringSubmatch(string(b))
	if m == nil {
		return 0, fmt.Errorf("dnsperf printed no QPS:\n%s", b)
	}
	return strconv.ParseFloat(m[1], 64)
}

// steady sends the mix at a fixed rate from 8 sockets and times every query.
func steady(addr string, n fixtureNames, rate, secs int) (map[string]float64, int64) {
	const workers = 8
	var lat []time.Duration
	var mu sync.Mutex
	var lost atomic.Int64
	var wg sync.WaitGroup
	perWorker := rate / workers
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn, err := net.Dial("udp", addr)
			if err != nil {
				return
			}
			defer conn.Close()
			rnd := rand.New(rand.NewPCG(uint64(w), 9))
			sent := map[uint16]time.Time{}
			var smu sync.Mutex
			done := make(chan struct{})
			var local []time.Duration
			go func() {
				buf := make([]byte, 4096)
				for {
					_ = conn.SetReadDeadline(time.Now().Add(time.Second))
					k, err := conn.Read(buf)
					if err != nil {
						select {
						case <-done:
							return
						default:
							continue
						}
					}
					if k < 2 {
						continue
					}
					id := uint16(buf[0])<<8 | uint16(buf[1])
					smu.Lock()
					if t, ok := sent[id]; ok {
						local = append(local, time.Since(t))
						delete(sent, id)
					}
					smu.Unlock()
				}
			}()
			interval := time.Second / time.Duration(perWorker)
			next := time.Now()
			end := time.Now().Add(time.Duration(secs) * time.Second)
			var id uint16
			for time.Now().Before(end) {
				var q string
				var t uint16 = mdns.TypeA
				switch k := rnd.IntN(100); {
				case k < 40:
					q = n.clusterIP[rnd.IntN(len(n.clusterIP))]
				case k < 60:
					q = n.headless[rnd.IntN(len(n.headless))]
				case k < 70:
					q, t = n.srv[rnd.IntN(len(n.srv))], mdns.TypeSRV
				default:
					q = n.miss[rnd.IntN(len(n.miss))]
				}
				id++
				m := new(mdns.Msg)
				m.SetQuestion(q, t)
				m.Id = id
				m.SetEdns0(1232, false)
				b, _ := m.Pack()
				smu.Lock()
				sent[id] = time.Now()
				smu.Unlock()
				_, _ = conn.Write(b)
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
			}
			time.Sleep(500 * time.Millisecond)
			close(done)
			smu.Lock()
			lost.Add(int64(len(sent)))
			smu.Unlock()
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	q := func(p float64) float64 { return measure.PercentileMs(lat, p) }
	return map[string]float64{"p50": q(.5), "p90": q(.9), "p99": q(.99), "p99.9": q(.999)}, lost.Load()
}

// propagation rewrites headless slices one at a time and polls DNS until the
// answer has the new addresses, while other slices change 20 times a second.
func propagation(c kubernetes.Interface, cl *mdns.Client, addr string, n fixtureNames) (map[string]float64, error) {
	var lat []time.Duration
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var churned atomic.Int64
	churnDone := make(chan struct{})
	go func() { // background churn on the other half of the headless Services
		defer close(churnDone)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for k := 0; ; k++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			i := len(n.headlessSvc)/2 + k%(len(n.headlessSvc)-len(n.headlessSvc)/2)
			if rewriteSlice(ctx, c, n.headlessSvc[i].ns, n.headlessSvc[i].name, i, 1000+k) == nil {
				churned.Add(1)
			}
		}
	}()
	for k := 0; k < 200; k++ {
		// One change every 50 ms: the 200 samples span 10 s of the churn
		// (with 50, the p99 was the maximum and jumped between runs).
		time.Sleep(50 * time.Millisecond)
		i := (k * 7919) % (len(n.headlessSvc) / 2)
		h := n.headlessSvc[i]
		gen := int(time.Now().UnixNano()%60) + k
		if err := rewriteSlice(ctx, c, h.ns, h.name, i, gen); err != nil {
			return nil, err
		}
		written := time.Now()
		q := new(mdns.Msg)
		q.SetQuestion(h.name+"."+h.ns+".svc.cluster.local.", mdns.TypeA)
		target := endpointSlice(h.name, i, gen).Endpoints[0].Addresses[0]
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			resp, _, err := cl.Exchange(q, addr)
			if err == nil && strings.Contains(resp.String(), "\t"+target+"\n") {
				lat = append(lat, time.Since(written))
				break
			}
		}
	}
	cancel()
	<-churnDone
	if len(lat) == 0 {
		return nil, fmt.Errorf("no change was ever seen")
	}
	return map[string]float64{"p50": measure.PercentileMs(lat, .5), "p99": measure.PercentileMs(lat, .99), "max": measure.PercentileMs(lat, 1), "count": float64(len(lat)),
		"background_changes": float64(churned.Load())}, nil
}

// rewriteSlice gives a headless Service's slice the addresses of generation gen.
func rewriteSlice(ctx context.Context, c kubernetes.Interface, ns, name string, i, gen int) error {
	cur, err := c.DiscoveryV1().EndpointSlices(ns).Get(ctx, name+"-bench", metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Endpoints = endpointSlice(name, i, gen).Endpoints
	_, err = c.DiscoveryV1().EndpointSlices(ns).Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// awaitAnswer polls DNS until name has an answer.
func awaitAnswer(cl *mdns.Client, addr, name string, limit time.Duration) error {
	q := new(mdns.Msg)
	q.SetQuestion(name, mdns.TypeA)
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if resp, _, err := cl.Exchange(q, addr); err == nil && resp.Rcode == mdns.RcodeSuccess && len(resp.Answer) > 0 {
			return nil
		}
	}
	return fmt.Errorf("%s never answered %s", addr, name)
}

// startEtcd runs a real etcd (Debian's etcd-server) on loopback ports.
func startEtcd(dir string) (string, func(), error) {
	client, peer := measure.FreePort(), measure.FreePort()
	etcd := exec.Command("etcd", "--data-dir", dir, "--name", "bench",
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "bench=http://"+peer, "--log-level", "error", "--quota-backend-bytes", "8589934592")
	if err := etcd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = etcd.Process.Kill(); _ = etcd.Wait() }
	return "http://" + client, stop, nil
}

// compactEtcd writes one key and compacts to that revision, so every older
// watch position is gone.
func compactEtcd(url string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Put(ctx, "/bench/compact", time.Now().String())
	if err != nil {
		return err
	}
	_, err = cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical())
	return err
}
