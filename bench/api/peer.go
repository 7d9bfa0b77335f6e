package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcnet/svcnet/bench/measure"
)

// The side-by-side run: svcnet and kube-apiserver, each on its own etcd
// 3.7 (a `svcnet server` that only hosts its embedded etcd), take the same
// workload from the same protobuf client with the same concurrency.

// apiPeer is a running API server under test.
type apiPeer struct {
	name string
	proc *measure.Proc
	cfg  *rest.Config
}

func startSvcnetPeer(bin, dir string, e *measure.EtcdHost) (*apiPeer, error) {
	s, err := measure.StartServer(bin, append([]string{"--data-dir", dir, "--api-addr", "127.0.0.1:0",
		"--controllers=false", "--node-name", "", "--dns-addr", "", "--metrics-addr", "", "--ingress-addr", "", "--ingress-tls-addr", ""}, e.EtcdFlags()...)...)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return nil, err
	}
	return &apiPeer{name: "svcnet", proc: &measure.Proc{Cmd: s.Cmd}, cfg: cfg}, nil
}

// sizes of the side-by-side workload.
type sizes struct{ services, slices, pods, watchers, watchedPods, conc int }

// measured is one case of the side-by-side run, for one server.
type measured struct {
	Case    string  `json:"case"`
	Count   int     `json:"count"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_second,omitempty"`
	P99ms   float64 `json:"p99_ms,omitempty"`
	RSSMB   float64 `json:"rss_mb,omitempty"`
}

const namespaces = 10

// workload runs the same cases against one server.
func workload(p *apiPeer, sz sizes) ([]measured, error) {
	cfg := rest.CopyConfig(p.cfg)
	cfg.QPS, cfg.Burst = 1e6, 1e6
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	rss := p.proc.RSSMB
	var out []measured
	out = append(out, measured{Case: "RSS at start", RSSMB: rss()})
	for i := range namespaces {
		ns := fmt.Sprintf("bench-%d", i)
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		// kube-apiserver's ServiceAccount admission wants the account the
		// controller manager would have made.
		if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	nsOf := func(i int) string { return fmt.Sprintf("bench-%d", i%namespaces) }
	add := func(name string, n, conc int, f func(i int) error) error {
		r, err := timed(name, n, conc, f)
		if err != nil {
			return err
		}
		out = append(out, measured{Case: name, Count: n, Seconds: r.Seconds, PerSec: r.PerSecond, P99ms: r.P99ms})
		return nil
	}
	if err := add("create Services", sz.services, sz.conc, func(i int) error {
		_, err := c.CoreV1().Services(nsOf(i)).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i), Labels: map[string]string{"app": fmt.Sprintf("a-%d", i%100), "bench": "yes"}},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": fmt.Sprintf("a-%d", i%100)},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}, metav1.CreateOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	if err := add("create EndpointSlices", sz.slices, sz.conc, func(i int) error {
		ready := true
		_, err := c.DiscoveryV1().EndpointSlices(nsOf(i)).Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d-x", i), Labels: map[string]string{discoveryv1.LabelServiceName: fmt.Sprintf("svc-%d", i)}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.244.%d.%d", i/250%250, i%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
		}, metav1.CreateOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	pod := func(i int) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": fmt.Sprintf("a-%d", i%100)}},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%100),
				Containers: []corev1.Container{{Name: "c", Image: "busybox:1.28.3", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
		}
	}
	if err := add("create Pods", sz.pods, sz.conc, func(i int) error {
		_, err := c.CoreV1().Pods(nsOf(i)).Create(ctx, pod(i), metav1.CreateOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	out = append(out, measured{Case: "RSS after the creates", RSSMB: rss()})

	lists := []struct {
		name string
		f    func() (int, error)
	}{
		{"list all Services", func() (int, error) {
			l, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{})
			return lenOf(l, err)
		}},
		{"list all Services, resourceVersion 0", func() (int, error) {
			l, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			return lenOf(l, err)
		}},
		{"list all Services in pages of 500", func() (int, error) {
			n, cont := 0, ""
			for {
				l, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
				if err != nil {
					return 0, err
				}
				n += len(l.Items)
				if cont = l.Continue; cont == "" {
					return n, nil
				}
			}
		}},
		{"list one namespace's Services", func() (int, error) {
			l, err := c.CoreV1().Services("bench-3").List(ctx, metav1.ListOptions{})
			return lenOf(l, err)
		}},
		{"label selector, all namespaces", func() (int, error) {
			l, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{LabelSelector: "app=a-7"})
			return lenOf(l, err)
		}},
		{"pods by spec.nodeName", func() (int, error) {
			l, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-7"})
			if err != nil {
				return 0, err
			}
			return len(l.Items), nil
		}},
		{"a Service's EndpointSlices", func() (int, error) {
			l, err := c.DiscoveryV1().EndpointSlices("bench-7").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=svc-7"})
			if err != nil {
				return 0, err
			}
			return len(l.Items), nil
		}},
	}
	for _, l := range lists {
		var times []time.Duration
		n := 0
		for range 5 {
			start := time.Now()
			got, err := l.f()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.name, err)
			}
			times = append(times, time.Since(start))
			n = got
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		out = append(out, measured{Case: l.name + " (median of 5)", Count: n, Seconds: times[2].Seconds()})
	}
	out = append(out, measured{Case: "RSS after the lists", RSSMB: rss()})

	// Watch fan-out: a watcher per node (as kubelets watch), then pods
	// created for those nodes; the time from each create to its delivery.
	m, err := watchFanOut(ctx, c, sz)
	if err != nil {
		return nil, err
	}
	out = append(out, m, measured{Case: "RSS at the end", RSSMB: rss()})
	return out, nil
}

func watchFanOut(ctx context.Context, c kubernetes.Interface, sz sizes) (measured, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	created := map[string]time.Time{}
	var lat []time.Duration
	done := make(chan struct{}, sz.watchedPods)
	for n := range sz.watchers {
		w, err := c.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{FieldSelector: fmt.Sprintf("spec.nodeName=watched-%d", n), ResourceVersion: "0"})
		if err != nil {
			return measured{}, err
		}
		go func() {
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type != watch.Added {
					continue
				}
				p := ev.Object.(*corev1.Pod)
				mu.Lock()
				if t, ok := created[p.Namespace+"/"+p.Name]; ok {
					lat = append(lat, time.Since(t))
					done <- struct{}{}
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	_, err := timed("watched creates", sz.watchedPods, sz.conc, func(i int) error {
		ns, name := fmt.Sprintf("bench-%d", i%namespaces), fmt.Sprintf("watched-pod-%d", i)
		mu.Lock()
		created[ns+"/"+name] = time.Now()
		mu.Unlock()
		_, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{NodeName: fmt.Sprintf("watched-%d", i%sz.watchers), Containers: []corev1.Container{{Name: "c", Image: "busybox:1.28.3"}}},
		}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return measured{}, err
	}
	timeout := time.After(60 * time.Second)
	for range sz.watchedPods {
		select {
		case <-done:
		case <-timeout:
			return measured{}, fmt.Errorf("watch fan-out: not every pod was delivered in 60 s")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return measured{Case: fmt.Sprintf("create ▶ watch delivery, %d node watchers", sz.watchers), Count: len(lat),
		Seconds: time.Since(start).Seconds(), P99ms: measure.PercentileMs(lat, 0.99)}, nil
}

func lenOf(l *corev1.ServiceList, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	return len(l.Items), nil
}

func ptr[T any](v T) *T { return &v }

// sideBySide runs the workload on svcnet and on kube-apiserver and prints
// them with the ratio.
func sideBySide(tmp, bin, peerBin string, sz sizes) (map[string]any, error) {
	results := map[string][]measured{}
	for _, name := range []string{"svcnet", "kube-apiserver"} {
		dir := filepath.Join(tmp, "side-"+name)
		e, err := measure.StartEtcdHost(bin, filepath.Join(dir, "etcd"))
		if err != nil {
			return nil, err
		}
		var p *apiPeer
		if name == "svcnet" {
			p, err = startSvcnetPeer(bin, filepath.Join(dir, "api"), e)
		} else {
			var k *measure.KubeAPIServer
			if k, err = measure.StartKubeAPIServer(peerBin, filepath.Join(dir, "api"), e); err == nil {
				p = &apiPeer{name: name, proc: &k.Proc, cfg: k.Config}
			}
		}
		if err != nil {
			e.Stop()
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "bench/api: side by side, %s …\n", name)
		m, err := workload(p, sz)
		p.proc.Stop()
		e.Stop()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		results[name] = m
	}
	s, k := results["svcnet"], results["kube-apiserver"]
	fmt.Printf("\nside by side: svcnet and kube-apiserver (%s), each on its own embedded etcd 3.7, protobuf, %d in flight\n", filepath.Base(filepath.Dir(peerBin)), sz.conc)
	fmt.Printf("%-48s %7s  %-22s %-22s %s\n", "case", "count", "svcnet", "kube-apiserver", "svcnet is")
	for i := range s {
		fmt.Printf("%-48s %7d  %-22s %-22s %s\n", s[i].Case, s[i].Count, show(s[i]), show(k[i]), ratio(s[i], k[i]))
	}
	return map[string]any{"svcnet": s, "kube-apiserver": k}, nil
}

func show(m measured) string {
	switch {
	case m.RSSMB > 0:
		return fmt.Sprintf("%.0f MB", m.RSSMB)
	case m.PerSec > 0:
		return fmt.Sprintf("%.0f/s p99 %.0f ms", m.PerSec, m.P99ms)
	case m.P99ms > 0:
		return fmt.Sprintf("p99 %.1f ms", m.P99ms)
	}
	return fmt.Sprintf("%.1f ms", 1000*m.Seconds)
}

// ratio says how svcnet compares: faster/slower, or its share of memory.
func ratio(s, k measured) string {
	switch {
	case s.RSSMB > 0 && k.RSSMB > 0:
		return fmt.Sprintf("%.2f× the memory", s.RSSMB/k.RSSMB)
	case s.PerSec > 0 && k.PerSec > 0:
		return fmt.Sprintf("%.1f× the rate", s.PerSec/k.PerSec)
	case s.P99ms > 0 && k.P99ms > 0:
		return speed(k.P99ms / s.P99ms)
	case s.Seconds > 0 && k.Seconds > 0:
		return speed(k.Seconds / s.Seconds)
	}
	return ""
}

func speed(x float64) string {
	if x >= 1 {
		return fmt.Sprintf("%.1f× faster", x)
	}
	return fmt.Sprintf("%.1f× slower", 1/x)
}
