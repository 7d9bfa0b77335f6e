// Command controllers benchmarks the controllers and the simulated nodes: it
// starts svcnet (one built-in node) and two `svcnet agent` nodes, creates
// -services Deployments of -pods-per-service pods each with a Service
// selecting them, waits until every Service's EndpointSlices list all its
// pods as ready, then flips pod readiness (through a readiness gate) at
// -churn-rate per second for -churn-seconds and measures, per flip, the time
// from the pod status write to the EndpointSlice change seen by a watch.
// The ceiling, measured in the same run, is the same status write followed
// by reading it back through a watch on the pod itself: what the API and the
// watch cost before any controller is involved. It prints a table and writes
// bench/results/controllers.json.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/svcnet/svcnet/bench/measure"
)

const gate = "bench.svcnet.dev/ready"

func main() {
	services := flag.Int("services", 1000, "services (one deployment each)")
	perSvc := flag.Int("pods-per-service", 10, "pods per service")
	churnSecs := flag.Int("churn-seconds", 60, "how long to flip readiness")
	rate := flag.Int("churn-rate", 20, "readiness flips per second")
	gated := flag.Int("gated-pods", 100, "pods that carry the readiness gate the churn flips")
	out := flag.String("out", "bench/results/controllers.json", "JSON result file")
	flag.Parse()
	if err := run(*services, *perSvc, *churnSecs, *rate, *gated, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench/controllers:", err)
		os.Exit(1)
	}
}

type proc struct{ cmd *exec.Cmd }

func start(bin string, args ...string) (*proc, *bufio.Scanner, error) {
	cmd := exec.Command(bin, args...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return &proc{cmd}, bufio.NewScanner(stdout), nil
}

func (p *proc) stop() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() }

func run(services, perSvc, churnSecs, rate, gated int, out string) error {
	tmp, err := os.MkdirTemp("", "svcnet-bench-ctl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "svcnet")
	if b, err := exec.Command("go", "build", "-o", bin, "./cmd/svcnet").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, b)
	}
	data := filepath.Join(tmp, "data")
	srv, sc, err := start(bin, "server", "--data-dir", data, "--api-addr", "127.0.0.1:0", "--node-name", "node-1", "--node-cidr-mask-size", "20", "--log-level", "error")
	if err != nil {
		return err
	}
	defer srv.stop()
	var kubeconfig string
	re := regexp.MustCompile(`^kubeconfig: (.*)$`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			kubeconfig = m[1]
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if kubeconfig == "" {
		return fmt.Errorf("server did not start")
	}
	for _, n := range []string{"node-2", "node-3"} {
		a, _, err := start(bin, "agent", "--kubeconfig", kubeconfig, "--node-name", n, "--log-level", "error")
		if err != nil {
			return err
		}
		defer a.stop()
	}
	c, err := measure.Client(kubeconfig, 5000)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ns := "bench"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		nodes, _ := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if len(nodes.Items) == 3 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("3 nodes did not register")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Phase 1: services and deployments; wait until every slice is complete.
	t0 := time.Now()
	gatedSvcs := (gated + perSvc - 1) / perSvc
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for i := 0; i < services; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("svc-%d", i)
			labels := map[string]string{"svc": name}
			n := int32(perSvc)
			tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "bench", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
			if i < gatedSvcs {
				tmpl.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
			}
			_, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{})
			if err == nil {
				_, err = c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
			}
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	createdIn := time.Since(t0)
	// Open the gates of the gated pods once they exist.
	openGates := func() (int, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		n := 0
		for _, p := range pods.Items {
			if len(p.Spec.ReadinessGates) == 0 || p.Status.PodIP == "" || gateTrue(&p) {
				continue
			}
			if err := setGate(ctx, c, ns, p.Name, true); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	wantReady := services * perSvc
	var ready int
	for deadline := time.Now().Add(30 * time.Minute); ; {
		if _, err := openGates(); err != nil {
			return err
		}
		slices, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready = 0
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		if ready == wantReady {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d endpoints ready", ready, wantReady)
		}
		time.Sleep(500 * time.Millisecond)
	}
	allReady := time.Since(t0)
	rssSteady := measure.RSSMB(srv.cmd.Process.Pid)

	// Phase 2: churn.
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var gatedPods []corev1.Pod
	for _, p := range pods.Items {
		if len(p.Spec.ReadinessGates) > 0 {
			gatedPods = append(gatedPods, p)
		}
	}
	w, err := c.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	if err != nil {
		return err
	}
	type want struct {
		ready bool
		ch    chan time.Time
	}
	var wmu sync.Mutex
	waiting := map[string]*want{}
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			now := time.Now()
			s := ev.Object.(*discoveryv1.EndpointSlice)
			wmu.Lock()
			for _, e := range s.Endpoints {
				r := e.Conditions.Ready != nil && *e.Conditions.Ready
				for _, a := range e.Addresses {
					if x, ok := waiting[a]; ok && x.ready == r {
						x.ch <- now
						delete(waiting, a)
					}
				}
			}
			wmu.Unlock()
		}
	}()
	state := map[string]bool{}
	for _, p := range gatedPods {
		state[p.Name] = true
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var lat, writeLat []time.Duration
	var lmu sync.Mutex
	var cw sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	end := time.Now().Add(time.Duration(churnSecs) * time.Second)
	busy := map[string]bool{}
	for time.Now().Before(end) {
		<-tick.C
		p := gatedPods[rnd.IntN(len(gatedPods))]
		lmu.Lock()
		if busy[p.Name] {
			lmu.Unlock()
			continue
		}
		busy[p.Name] = true
		lmu.Unlock()
		next := !state[p.Name]
		state[p.Name] = next
		x := &want{ready: next, ch: make(chan time.Time, 1)}
		wmu.Lock()
		waiting[p.Status.PodIP] = x
		wmu.Unlock()
		cw.Add(1)
		go func(p corev1.Pod) {
			defer cw.Done()
			s := time.Now()
			if err := setGate(ctx, c, ns, p.Name, next); err != nil {
				fmt.Fprintln(os.Stderr, "flip:", err)
				return
			}
			written := time.Now()
			select {
			case seen := <-x.ch:
				lmu.Lock()
				lat = append(lat, seen.Sub(written))
				writeLat = append(writeLat, written.Sub(s))
				delete(busy, p.Name)
				lmu.Unlock()
			case <-time.After(30 * time.Second):
				fmt.Fprintln(os.Stderr, "flip not seen in 30s:", p.Name)
			}
		}(p)
	}
	tick.Stop()
	cw.Wait()
	w.Stop()
	rssChurn := measure.RSSMB(srv.cmd.Process.Pid)

	// Ceiling: a status write seen back through a watch on the pod itself.
	var ceil []time.Duration
	probe := gatedPods[0]
	for i := 0; i < 200; i++ {
		pw, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", probe.Name).String(), ResourceVersion: "0"})
		if err != nil {
			return err
		}
		<-pw.ResultChan() // the synthetic ADDED
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"bench":"%d"}}}`, i)
		s := time.Now()
		if _, err := c.CoreV1().Pods(ns).Patch(ctx, probe.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
		<-pw.ResultChan()
		ceil = append(ceil, time.Since(s))
		pw.Stop()
	}

	fmt.Printf("svcnet controllers benchmark, %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("%d services x %d pods = %d pods on 3 simulated nodes\n\n", services, perSvc, services*perSvc)
	fmt.Printf("%-52s %10s\n", "objects created through the API (s)", fmt.Sprintf("%.1f", createdIn.Seconds()))
	fmt.Printf("%-52s %10s\n", "until every slice lists all its pods ready (s)", fmt.Sprintf("%.1f", allReady.Seconds()))
	fmt.Printf("%-52s %10.1f\n", "server RSS when all ready (MB)", rssSteady)
	fmt.Printf("%-52s %10.1f\n", "server RSS after churn (MB)", rssChurn)
	fmt.Printf("\n%-52s %7s %8s %8s %8s\n", "latency (ms)", "count", "p50", "p99", "max")
	fmt.Printf("%-52s %7d %8.2f %8.2f %8.2f\n", "pod Ready changed ▶ EndpointSlice updated", len(lat), measure.PercentileMs(lat, .5), measure.PercentileMs(lat, .99), measure.PercentileMs(lat, 1))
	fmt.Printf("%-52s %7d %8.2f %8.2f %8.2f\n", "  (the status write itself)", len(writeLat), measure.PercentileMs(writeLat, .5), measure.PercentileMs(writeLat, .99), measure.PercentileMs(writeLat, 1))
	fmt.Printf("%-52s %7d %8.2f %8.2f %8.2f\n", "ceiling: write ▶ seen by a watch, no controller", len(ceil), measure.PercentileMs(ceil, .5), measure.PercentileMs(ceil, .99), measure.PercentileMs(ceil, 1))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339), "services": services, "pods": services * perSvc, "nodes": 3,
		"create_seconds": createdIn.Seconds(), "all_ready_seconds": allReady.Seconds(),
		"rss_ready_mb": rssSteady, "rss_after_churn_mb": rssChurn, "churn_rate": rate, "churn_seconds": churnSecs,
		"propagation_ms": map[string]float64{"count": float64(len(lat)), "p50": measure.PercentileMs(lat, .5), "p99": measure.PercentileMs(lat, .99), "max": measure.PercentileMs(lat, 1)},
		"ceiling_ms":     map[string]float64{"p50": measure.PercentileMs(ceil, .5), "p99": measure.PercentileMs(ceil, .99)},
	}, "", "  ")
	return os.WriteFile(out, b, 0o644)
}

func gateTrue(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == gate {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func setGate(ctx context.Context, c kubernetes.Interface, ns, name string, ready bool) error {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":%q,"status":%q}]}}`, gate, st)
	_, err := c.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	return err
}
