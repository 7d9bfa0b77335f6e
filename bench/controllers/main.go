// Command controllers benchmarks the control plane side by side: svcnet,
// then kube-apiserver with kube-controller-manager and kube-scheduler
// (their clients at -peer-qps), each on an etcd of its own, with the same
// simulated nodes (one `svcnet agent --nodes` process). On each it creates
// -services Deployments of -pods-per-service pods each with a Service
// selecting them, waits until every Service's EndpointSlices list all its
// pods as ready, then flips pod readiness (through a readiness gate) at
// -churn-rate per second for -churn-seconds and measures, per flip, the time
// from the pod status write to the EndpointSlice change seen by a watch.
// The ceiling, measured in the same run, is the same status write followed
// by reading it back through a watch on the pod itself: what the API and the
// watch cost before any controller is involved. It prints a table and writes
// bench/results/controllers.json.
//
// -replicas runs that many svcnet servers on one etcd (-etcd-members > 1: a
// cluster of that many etcd 3.7 processes built from ./bench/etcd), the
// simulated nodes split among them, one agent process per server; the
// benchmark's own client talks to the first.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/bench/measure"
)

const gate = "bench.svcnet.dev/ready"

func main() {
	services := flag.Int("services", 1000, "services (one deployment each)")
	perSvc := flag.Int("pods-per-service", 10, "pods per service")
	nodes := flag.Int("nodes", 100, "simulated nodes (one `svcnet agent --nodes` process)")
	churnSecs := flag.Int("churn-seconds", 30, "how long to flip readiness")
	rate := flag.Int("churn-rate", 20, "readiness flips per second")
	gated := flag.Int("gated-pods", 100, "pods that carry the readiness gate the churn flips")
	peer := flag.String("peer", ".cache/k8s/v1.37.2/kube-apiserver", "kube-apiserver (kube-controller-manager and kube-scheduler beside it) to run side by side; empty runs none")
	qps := flag.Int("peer-qps", 1000, "the peer controller manager's and scheduler's client QPS")
	out := flag.String("out", "bench/results/controllers.json", "JSON result file")
	replicas := flag.Int("replicas", 1, "svcnet servers sharing the etcd (and the simulated nodes)")
	members := flag.Int("etcd-members", 1, "etcd members under svcnet: 1 is a `svcnet server` hosting its embedded etcd, more a cluster of ./bench/etcd processes")
	serverEnv := flag.String("server-env", "", "environment for svcnet server alone, e.g. GOMEMLIMIT=1800MiB")
	flag.StringVar(&serverArgs, "server-args", "", "more flags for svcnet server, e.g. \"--metrics-addr 127.0.0.1:9153 --profiling\" to profile it")
	flag.Parse()
	measure.ServerEnv = strings.Fields(*serverEnv)
	w := workloadSize{services: *services, perSvc: *perSvc, nodes: *nodes, churnSecs: *churnSecs, rate: *rate, gated: *gated,
		replicas: max(*replicas, 1), members: max(*members, 1)}
	if err := run(w, *peer, *qps, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench/controllers:", err)
		os.Exit(1)
	}
}

type workloadSize struct {
	services, perSvc, nodes, churnSecs, rate, gated int
	// replicas and members: svcnet's servers and etcd members.
	replicas, members int
}

// plane is a control plane under test: the processes whose memory counts
// (API, controllers, scheduler; not etcd, not the simulated nodes).
type plane struct {
	name       string
	kubeconfig string
	// agentKubeconfigs: one agent process each, the nodes split evenly
	// (one: the plane's own kubeconfig).
	agentKubeconfigs []string
	procs            []*measure.Proc
	stops            []func()
}

func (p *plane) stop() {
	for i := len(p.stops) - 1; i >= 0; i-- {
		p.stops[i]()
	}
}

func (p *plane) rss() float64 {
	total := 0.0
	for _, q := range p.procs {
		total += q.RSSMB()
	}
	return total
}

const clusterCIDR = "10.128.0.0/9"

// serverArgs are more flags for svcnet server (-server-args).
var serverArgs string

// startAgent runs the simulated nodes of a plane.
func (p *plane) startAgent(bin string, nodes int) error {
	kcs := p.agentKubeconfigs
	if len(kcs) == 0 {
		kcs = []string{p.kubeconfig}
	}
	for i, kc := range kcs {
		n := nodes / len(kcs)
		if i < nodes%len(kcs) {
			n++
		}
		name := "sim"
		if len(kcs) > 1 {
			name = fmt.Sprintf("sim%d", i)
		}
		cmd := exec.Command(bin, "agent", "--kubeconfig", kc, "--node-name", name, "--nodes", fmt.Sprint(n), "--log-level", "error")
		if err := cmd.Start(); err != nil {
			return err
		}
		a := &measure.Proc{Cmd: cmd}
		p.stops = append(p.stops, a.Stop)
	}
	return nil
}

// etcdUnder is the etcd a plane's API servers share.
type etcdUnder interface {
	EtcdFlags() []string
	Stop()
}

func startSvcnet(bin, dir string, w workloadSize) (*plane, error) {
	p := &plane{name: "svcnet"}
	if w.replicas > 1 || w.members > 1 {
		servers := "servers"
		if w.replicas == 1 {
			servers = "server"
		}
		p.name = fmt.Sprintf("svcnet, %d %s, %d etcd", w.replicas, servers, w.members)
	}
	var e etcdUnder
	var err error
	if w.members > 1 {
		e, err = measure.StartEtcdCluster(filepath.Join(filepath.Dir(bin), "etcd"), filepath.Join(dir, "etcd"), w.members)
	} else {
		e, err = measure.StartEtcdHost(bin, filepath.Join(dir, "etcd"))
	}
	if err != nil {
		return nil, err
	}
	p.stops = append(p.stops, e.Stop)
	for i := range w.replicas {
		data := filepath.Join(dir, fmt.Sprintf("api-%d", i))
		if i > 0 {
			// The same cluster: the first server's CA, serving certificate
			// and admin token.
			if err := os.MkdirAll(data, 0o700); err != nil {
				p.stop()
				return nil, err
			}
			if b, err := exec.Command("cp", "-r", filepath.Join(dir, "api-0", "pki"), data+"/").CombinedOutput(); err != nil {
				p.stop()
				return nil, fmt.Errorf("copy credentials: %v: %s", err, b)
			}
		}
		s, err := measure.StartServer(bin, append([]string{"--data-dir", data, "--api-addr", "127.0.0.1:0", "--node-name", "",
			"--cluster-cidr", clusterCIDR, "--log-level", "error", "--dns-addr", "", "--metrics-addr", "", "--ingress-addr", "", "--ingress-tls-addr", ""}, append(e.EtcdFlags(), strings.Fields(serverArgs)...)...)...)
		if err != nil {
			p.stop()
			return nil, err
		}
		proc := &measure.Proc{Cmd: s.Cmd}
		p.procs = append(p.procs, proc)
		p.stops = append(p.stops, proc.Stop)
		p.agentKubeconfigs = append(p.agentKubeconfigs, s.Kubeconfig)
	}
	p.kubeconfig = p.agentKubeconfigs[0]
	return p, nil
}

func startKube(bin, peerBin, dir string, qps int) (*plane, error) {
	p := &plane{name: "kube-apiserver+KCM+scheduler"}
	e, err := measure.StartEtcdHost(bin, filepath.Join(dir, "etcd"))
	if err != nil {
		return nil, err
	}
	p.stops = append(p.stops, e.Stop)
	k, err := measure.StartKubeAPIServer(peerBin, filepath.Join(dir, "api"), e)
	if err != nil {
		p.stop()
		return nil, err
	}
	p.procs, p.kubeconfig = []*measure.Proc{&k.Proc}, k.Kubeconfig
	p.stops = append(p.stops, k.Stop)
	ctl, err := measure.StartKubeControllers(peerBin, filepath.Join(dir, "api"), k, clusterCIDR, qps)
	if err != nil {
		p.stop()
		return nil, err
	}
	for _, c := range ctl {
		p.procs = append(p.procs, c)
		p.stops = append(p.stops, c.Stop)
	}
	return p, nil
}

// result is one plane's run.
type result struct {
	Plane       string  `json:"plane"`
	NodesReadyS float64 `json:"nodes_ready_seconds"`
	CreateS     float64 `json:"create_seconds"`
	AllReadyS   float64 `json:"all_ready_seconds"`
	RSSReadyMB  float64 `json:"rss_ready_mb"`
	RSSChurnMB  float64 `json:"rss_after_churn_mb"`
	// RSSLargestMB: the largest of the plane's processes when all are ready.
	RSSLargestMB    float64            `json:"rss_largest_process_mb"`
	PropagationMs   map[string]float64 `json:"propagation_ms"`
	StatusWriteMs   map[string]float64 `json:"status_write_ms"`
	CeilingMs       map[string]float64 `json:"ceiling_ms"`
	PeakLiveObjects int                `json:"pods"`
}

func run(w workloadSize, peer string, qps int, out string) error {
	tmp, err := os.MkdirTemp("", "svcnet-bench-ctl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "svcnet")
	pkgs := []string{"./cmd/svcnet"}
	if w.members > 1 {
		pkgs = append(pkgs, "./bench/etcd")
	}
	if err := measure.Build(tmp, pkgs...); err != nil {
		return err
	}
	var results []result
	for _, name := range []string{"svcnet", "kube"} {
		if name == "kube" && peer == "" {
			continue
		}
		var p *plane
		if name == "svcnet" {
			p, err = startSvcnet(bin, filepath.Join(tmp, "plane-"+name), w)
		} else {
			abs, _ := filepath.Abs(peer)
			if _, serr := os.Stat(abs); serr != nil {
				return fmt.Errorf("no %s: build it with `bash test/k8s/build.sh`, or pass -peer ''", peer)
			}
			p, err = startKube(bin, abs, filepath.Join(tmp, "plane-"+name), qps)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench/controllers: %s …\n", p.name)
		r, err := measurePlane(p, bin, w)
		p.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		results = append(results, r)
	}
	report(results, w)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339), "services": w.services, "pods": w.services * w.perSvc, "nodes": w.nodes,
		"churn_rate": w.rate, "churn_seconds": w.churnSecs, "peer_qps": qps, "svcnet_servers": w.replicas, "etcd_members": w.members, "results": results,
	}, "", "  ")
	return os.WriteFile(out, b, 0o644)
}

func report(results []result, w workloadSize) {
	fmt.Printf("svcnet controllers benchmark, %s\n", time.Now().UTC().Format(time.RFC3339))
	agents := fmt.Sprintf("one `svcnet agent --nodes %d`", w.nodes)
	if w.replicas > 1 {
		agents = fmt.Sprintf("%d `svcnet agent` processes, one per server", w.replicas)
	}
	fmt.Printf("%d services x %d pods = %d pods on %d simulated nodes (%s)\n\n", w.services, w.perSvc, w.services*w.perSvc, w.nodes, agents)
	row := func(name string, f func(r result) string) {
		fmt.Printf("%-52s", name)
		for _, r := range results {
			fmt.Printf(" %28s", f(r))
		}
		fmt.Println()
	}
	row("", func(r result) string { return r.Plane })
	row("nodes registered and Ready (s)", func(r result) string { return fmt.Sprintf("%.1f", r.NodesReadyS) })
	row("objects created through the API (s)", func(r result) string { return fmt.Sprintf("%.1f", r.CreateS) })
	row("until every slice lists all its pods ready (s)", func(r result) string { return fmt.Sprintf("%.1f", r.AllReadyS) })
	row("control plane RSS when all ready (MB)", func(r result) string { return fmt.Sprintf("%.0f", r.RSSReadyMB) })
	row("control plane RSS after churn (MB)", func(r result) string { return fmt.Sprintf("%.0f", r.RSSChurnMB) })
	row("  its largest process when all ready (MB)", func(r result) string { return fmt.Sprintf("%.0f", r.RSSLargestMB) })
	row("pod Ready changed ▶ EndpointSlice, p50/p99 ms", func(r result) string {
		return fmt.Sprintf("%.1f / %.1f", r.PropagationMs["p50"], r.PropagationMs["p99"])
	})
	row("  (the status write itself) p50/p99 ms", func(r result) string {
		return fmt.Sprintf("%.1f / %.1f", r.StatusWriteMs["p50"], r.StatusWriteMs["p99"])
	})
	row("ceiling: write ▶ seen by a watch, p50/p99 ms", func(r result) string {
		return fmt.Sprintf("%.1f / %.1f", r.CeilingMs["p50"], r.CeilingMs["p99"])
	})
	if len(results) == 2 {
		s, k := results[0], results[1]
		fmt.Printf("\nsvcnet: every endpoint ready %.1f× sooner, %.2f× the memory\n", k.AllReadyS/s.AllReadyS, s.RSSReadyMB/k.RSSReadyMB)
	}
}

// measurePlane runs the workload on a plane: nodes, then Services and
// Deployments until every endpoint is ready, then readiness churn.
func measurePlane(p *plane, bin string, size workloadSize) (result, error) {
	r := result{Plane: p.name, PeakLiveObjects: size.services * size.perSvc}
	services, perSvc, churnSecs, rate, gated := size.services, size.perSvc, size.churnSecs, size.rate, size.gated
	c, err := measure.Client(p.kubeconfig, 5000)
	if err != nil {
		return r, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	if err := p.startAgent(bin, size.nodes); err != nil {
		return r, err
	}
	for deadline := time.Now().Add(5 * time.Minute); ; {
		nodes, _ := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		ready := 0
		if nodes != nil {
			for _, n := range nodes.Items {
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
		}
		if ready == size.nodes {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%d of %d nodes ready", ready, size.nodes)
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.NodesReadyS = time.Since(t0).Seconds()
	ns := "bench"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return r, err
	}
	// Phase 1: services and deployments; wait until every slice is complete
	// (counted by an informer: polling lists of 10,000 pods would load both
	// planes more than the work measured).
	ready := newReadyCounter(ctx, c, ns)
	t0 = time.Now()
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
				tmpl.Labels = map[string]string{"svc": name, "gated": "yes"}
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
		return r, firstErr
	}
	createdIn := time.Since(t0)
	// Open the gates of the gated pods once they exist.
	openGates := func() (int, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "gated=yes"})
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
	for deadline := time.Now().Add(30 * time.Minute); ; {
		if _, err := openGates(); err != nil {
			return r, err
		}
		if ready.count() == wantReady {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("only %d of %d endpoints ready", ready.count(), wantReady)
		}
		select {
		case <-ready.changed():
		case <-time.After(500 * time.Millisecond):
		}
	}
	allReady := time.Since(t0)
	rssSteady := p.rss()
	for _, q := range p.procs {
		r.RSSLargestMB = max(r.RSSLargestMB, q.RSSMB())
	}

	// Phase 2: churn.
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return r, err
	}
	var gatedPods []corev1.Pod
	for _, p := range pods.Items {
		if len(p.Spec.ReadinessGates) > 0 {
			gatedPods = append(gatedPods, p)
		}
	}
	w, err := c.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	if err != nil {
		return r, err
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
	rssChurn := p.rss()

	// Ceiling: a status write seen back through a watch on the pod itself.
	var ceil []time.Duration
	probe := gatedPods[0]
	for i := 0; i < 200; i++ {
		pw, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", probe.Name).String(), ResourceVersion: "0"})
		if err != nil {
			return r, err
		}
		<-pw.ResultChan() // the synthetic ADDED
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"bench":"%d"}}}`, i)
		s := time.Now()
		if _, err := c.CoreV1().Pods(ns).Patch(ctx, probe.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return r, err
		}
		<-pw.ResultChan()
		ceil = append(ceil, time.Since(s))
		pw.Stop()
	}

	r.CreateS, r.AllReadyS, r.RSSReadyMB, r.RSSChurnMB = createdIn.Seconds(), allReady.Seconds(), rssSteady, rssChurn
	pct := func(d []time.Duration) map[string]float64 {
		return map[string]float64{"count": float64(len(d)), "p50": measure.PercentileMs(d, .5), "p99": measure.PercentileMs(d, .99), "max": measure.PercentileMs(d, 1)}
	}
	r.PropagationMs, r.StatusWriteMs, r.CeilingMs = pct(lat), pct(writeLat), pct(ceil)
	return r, nil
}

// readyCounter counts the ready endpoints of a namespace's EndpointSlices
// through an informer.
type readyCounter struct {
	mu      sync.Mutex
	bySlice map[string]int
	total   int
	ch      chan struct{}
}

func newReadyCounter(ctx context.Context, c kubernetes.Interface, ns string) *readyCounter {
	rc := &readyCounter{bySlice: map[string]int{}, ch: make(chan struct{})}
	f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := f.Discovery().V1().EndpointSlices().Informer()
	set := func(obj any, gone bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		n := 0
		if !gone {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					n++
				}
			}
		}
		rc.mu.Lock()
		rc.total += n - rc.bySlice[s.Name]
		rc.bySlice[s.Name] = n
		close(rc.ch)
		rc.ch = make(chan struct{})
		rc.mu.Unlock()
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { set(o, false) },
		UpdateFunc: func(_, o any) { set(o, false) },
		DeleteFunc: func(o any) { set(o, true) },
	})
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
	return rc
}

func (rc *readyCounter) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.total
}

func (rc *readyCounter) changed() <-chan struct{} {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.ch
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
