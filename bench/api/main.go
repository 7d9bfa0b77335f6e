// Command api benchmarks the svcnet API server: it starts the built binary
// on an embedded etcd, creates Services through the API with a protobuf and a
// JSON client, lists them, and reads the server's RSS. In the same run it
// measures the ceiling: the same number of transactional creates written
// straight to the same etcd, with the same concurrency. It prints a table and
// writes bench/results/api.json.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcnet/svcnet/bench/measure"
	"github.com/svcnet/svcnet/internal/pki"
	"github.com/svcnet/svcnet/internal/storage"
	etcdstore "github.com/svcnet/svcnet/internal/storage/etcd"
)

type result struct {
	Name       string  `json:"name"`
	Count      int     `json:"count"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	OfCeiling  float64 `json:"fraction_of_ceiling,omitempty"`
	RSSAfterMB float64 `json:"server_rss_after_mb,omitempty"`
}

func main() {
	n := flag.Int("n", 10000, "services per client")
	conc := flag.Int("c", 32, "concurrent requests")
	out := flag.String("out", "bench/results/api.json", "JSON result file")
	peer := flag.String("peer", ".cache/k8s/v1.37.2/kube-apiserver", "kube-apiserver to run side by side (built by test/k8s/build.sh); empty runs none")
	self := flag.Bool("self", true, "run the svcnet-only cases (creates against the etcd ceiling, JSON and protobuf)")
	var sz sizes
	flag.IntVar(&sz.services, "side-services", 15000, "side by side: Services")
	flag.IntVar(&sz.slices, "side-slices", 5000, "side by side: EndpointSlices")
	flag.IntVar(&sz.pods, "side-pods", 10000, "side by side: Pods (100 nodes)")
	flag.IntVar(&sz.watchers, "side-watchers", 100, "side by side: pod watchers by node")
	flag.IntVar(&sz.watchedPods, "side-watched-pods", 2000, "side by side: pods created for the watchers")
	flag.Parse()
	sz.conc = *conc
	if err := run(*n, *conc, *out, *peer, *self, sz); err != nil {
		fmt.Fprintln(os.Stderr, "bench/api:", err)
		os.Exit(1)
	}
}

func run(n, conc int, out, peer string, self bool, sz sizes) error {
	tmp, err := os.MkdirTemp("", "svcnet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := measure.Build(tmp, "./cmd/svcnet"); err != nil {
		return err
	}
	bin := filepath.Join(tmp, "svcnet")
	report := map[string]any{"date": time.Now().UTC().Format(time.RFC3339)}
	if self {
		if err := runSelf(tmp, bin, n, conc, report); err != nil {
			return err
		}
	}
	if peer != "" {
		if _, err := os.Stat(peer); err != nil {
			return fmt.Errorf("no %s: build it with `bash test/k8s/build.sh`, or pass -peer ''", peer)
		}
		abs, _ := filepath.Abs(peer)
		side, err := sideBySide(tmp, bin, abs, sz)
		if err != nil {
			return err
		}
		report["side_by_side"] = side
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(report, "", "  ")
	return os.WriteFile(out, b, 0o644)
}

// runSelf: svcnet alone, creates against the etcd ceiling and a full list,
// with protobuf and JSON clients.
func runSelf(tmp, bin string, n, conc int, report map[string]any) error {
	// The API alone: no controllers (each Service would bring an
	// EndpointSlice and an Endpoints write), no node, no DNS.
	srv := exec.Command(bin, "server", "--data-dir", filepath.Join(tmp, "data"), "--api-addr", "127.0.0.1:0",
		"--controllers=false", "--node-name", "", "--dns-addr", "", "--metrics-addr", "")
	stdout, _ := srv.StdoutPipe()
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	kubeconfig, etcdURL := make(chan string, 1), make(chan string, 1)
	go scan(stdout, regexp.MustCompile(`^kubeconfig: (.*)$`), kubeconfig)
	go scan(stderr, regexp.MustCompile(`embedded etcd ready.*url=(\S+)`), etcdURL)
	var kc, eu string
	for kc == "" || eu == "" {
		select {
		case kc = <-kubeconfig:
		case eu = <-etcdURL:
		case <-time.After(60 * time.Second):
			return fmt.Errorf("server did not start")
		}
	}
	rss := func() float64 { return measure.RSSMB(srv.Process.Pid) }
	startRSS := rss()

	pkiDir := filepath.Join(tmp, "data", "pki")
	etcdTLS, err := pki.ClientTLS(filepath.Join(pkiDir, "etcd", "ca.crt"), filepath.Join(pkiDir, "apiserver-etcd-client.crt"), filepath.Join(pkiDir, "apiserver-etcd-client.key"))
	if err != nil {
		return err
	}
	ceiling, err := etcdCeiling(eu, etcdTLS, n, conc)
	if err != nil {
		return err
	}
	var results []result
	results = append(results, ceiling)
	for _, enc := range []string{"protobuf", "json"} {
		cfg, err := clientcmd.BuildConfigFromFlags("", kc)
		if err != nil {
			return err
		}
		cfg.QPS, cfg.Burst = 1e6, 1e6
		if enc == "json" {
			cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
		}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		ns := "bench-" + enc
		if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		r, err := timed("create services ("+enc+")", n, conc, func(i int) error {
			_, err := c.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i), Labels: map[string]string{"app": "bench"}},
				Spec: corev1.ServiceSpec{Selector: map[string]string{"app": fmt.Sprintf("a%d", i)},
					Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "metrics", Port: 9090}}},
			}, metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		r.OfCeiling = r.PerSecond / ceiling.PerSecond
		r.RSSAfterMB = rss()
		results = append(results, r)
		start := time.Now()
		l, err := c.CoreV1().Services("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		d := time.Since(start)
		results = append(results, result{Name: fmt.Sprintf("list all services (%s)", enc), Count: len(l.Items), Seconds: d.Seconds(),
			PerSecond: float64(len(l.Items)) / d.Seconds(), RSSAfterMB: rss()})
	}
	fmt.Printf("svcnet API benchmark, %d services per client, %d concurrent, %s\n", n, conc, time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("server RSS at start %.1f MB\n\n", startRSS)
	fmt.Printf("%-34s %7s %8s %10s %8s %8s %9s %9s\n", "case", "count", "seconds", "per sec", "p50 ms", "p99 ms", "ceiling", "RSS MB")
	for _, r := range results {
		ceil := ""
		if r.OfCeiling > 0 {
			ceil = fmt.Sprintf("%.0f%%", 100*r.OfCeiling)
		}
		rss := ""
		if r.RSSAfterMB > 0 {
			rss = fmt.Sprintf("%.1f", r.RSSAfterMB)
		}
		fmt.Printf("%-34s %7d %8.2f %10.0f %8.2f %8.2f %9s %9s\n", r.Name, r.Count, r.Seconds, r.PerSecond, r.P50ms, r.P99ms, ceil, rss)
	}
	report["services_per_client"], report["concurrency"], report["server_rss_start_mb"], report["results"] = n, conc, startRSS, results
	return nil
}

func scan(r io.Reader, re *regexp.Regexp, found chan<- string) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil && !sent {
			found <- m[1]
			sent = true
		}
	}
}

// etcdCeiling writes n Service-sized values with transactional creates
// straight to etcd: the most the API could do on this storage.
func etcdCeiling(url string, tlsCfg *tls.Config, n, conc int) (result, error) {
	store, err := etcdstore.New(etcdstore.Config{Endpoints: []string{url}, TLS: tlsCfg}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return result{}, err
	}
	defer store.Close()
	value := []byte(strings.Repeat("x", 600))
	return timed("etcd txn create (ceiling)", n, conc, func(i int) error {
		_, err := store.Create(context.Background(), fmt.Sprintf("/bench/ceiling/%d", i), value, storage.WriteOptions{Take: []string{fmt.Sprintf("/bench/claims/%d", i)}})
		return err
	})
}

func timed(name string, n, conc int, f func(i int) error) (result, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := f(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	if err, ok := firstErr.Load().(error); ok {
		return result{}, fmt.Errorf("%s: %w", name, err)
	}
	return result{Name: name, Count: n, Seconds: d.Seconds(), PerSecond: float64(n) / d.Seconds(),
		P50ms: measure.PercentileMs(lat, 0.5), P99ms: measure.PercentileMs(lat, 0.99)}, nil
}
