package integration

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

func seedDeployment(replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api-deployment", Labels: map[string]string{"app": "api"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "eddiehale/hellonodeapi",
					Ports: []corev1.ContainerPort{{ContainerPort: 3000}}}}},
			},
		},
	}
}

func seedService(name string, headless bool) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"},
			Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(3000)}}}}
	if headless {
		s.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return s
}

// readyAddresses lists the ready endpoint addresses of a Service's slices.
func readyAddresses(t *testing.T, c kubernetes.Interface, ns, svc string) []string {
	t.Helper()
	slices, err := c.DiscoveryV1().EndpointSlices(ns).List(ctxT(t), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				out = append(out, e.Addresses...)
			}
		}
	}
	sort.Strings(out)
	return out
}

func podIPs(t *testing.T, c kubernetes.Interface, ns, selector string) []string {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(ctxT(t), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			out = append(out, p.Status.PodIP)
		}
	}
	sort.Strings(out)
	return out
}

func TestSeedBecomesReadyPodsAndEndpointSlices(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true, nodeName: "node-1"})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	start := time.Now()
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, seedDeployment(5), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []*corev1.Service{seedService("normal-service", false), seedService("headless-service", true)} {
		if _, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Within 5 s: five Running pods with distinct IPs in 10.244.0.0/16,
	// the deployment 5/5, the ReplicaSet 5 5 5, and both services' slices
	// listing the five pod IPs as ready.
	eventually(t, 5*time.Second, func() error {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "api-deployment", metav1.GetOptions{})
		if err != nil || d.Status.ReadyReplicas != 5 || d.Status.AvailableReplicas != 5 || d.Status.UpdatedReplicas != 5 {
			return fmt.Errorf("deployment not 5/5 yet: %+v", d.Status)
		}
		ips := podIPs(t, c, ns, "app=api")
		if len(ips) != 5 {
			return fmt.Errorf("%d pod IPs", len(ips))
		}
		for _, svc := range []string{"normal-service", "headless-service"} {
			if got := readyAddresses(t, c, ns, svc); strings.Join(got, ",") != strings.Join(ips, ",") {
				return fmt.Errorf("%s ready endpoints %v, pods %v", svc, got, ips)
			}
		}
		return nil
	})
	t.Logf("seed ready in %s", time.Since(start))
	ips := podIPs(t, c, ns, "app=api")
	seen := map[string]bool{}
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	for _, ip := range ips {
		if seen[ip] || !cluster.Contains(netip.MustParseAddr(ip)) {
			t.Fatalf("pod IPs %v: duplicate or outside 10.244.0.0/16", ips)
		}
		seen[ip] = true
	}
	pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName != "node-1" || !strings.HasPrefix(p.Name, "api-deployment-") || len(p.OwnerReferences) != 1 {
			t.Fatalf("pod %s: phase %s node %q owners %v", p.Name, p.Status.Phase, p.Spec.NodeName, p.OwnerReferences)
		}
	}
	rsList, _ := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if len(rsList.Items) != 1 || rsList.Items[0].Status.ReadyReplicas != 5 || rsList.Items[0].Annotations["deployment.kubernetes.io/revision"] != "1" {
		t.Fatalf("replicasets: %+v", rsList.Items)
	}
	// Endpoints (v1) too.
	ep, err := c.CoreV1().Endpoints(ns).Get(ctx, "normal-service", metav1.GetOptions{})
	if err != nil || len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 5 || ep.Subsets[0].Ports[0].Port != 3000 {
		t.Fatalf("endpoints: %v %+v", err, ep)
	}

	// Scale to 2 and to 8: slices follow within a second.
	for _, n := range []int32{2, 8} {
		if _, err := c.AppsV1().Deployments(ns).Patch(ctx, "api-deployment", types.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Second, func() error {
			if got := readyAddresses(t, c, ns, "headless-service"); len(got) != int(n) {
				return fmt.Errorf("%d ready endpoints, want %d", len(got), n)
			}
			return nil
		})
	}

	// A pod that is not ready leaves the ready endpoints, and comes back.
	gated := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gated", Labels: map[string]string{"app": "api"}},
		Spec: corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/ready"}},
			Containers: []corev1.Container{{Name: "c", Image: "img", Ports: []corev1.ContainerPort{{ContainerPort: 3000}}}}}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, gated, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var gatedIP string
	eventually(t, 5*time.Second, func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "gated", metav1.GetOptions{})
		if err != nil || p.Status.PodIP == "" {
			return fmt.Errorf("gated pod has no IP yet")
		}
		gatedIP = p.Status.PodIP
		return nil
	})
	setGate := func(status corev1.ConditionStatus) {
		t.Helper()
		patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"example.com/ready","status":%q}]}}`, status)
		if _, err := c.CoreV1().Pods(ns).Patch(ctx, "gated", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
			t.Fatal(err)
		}
	}
	hasReady := func(want bool) func() error {
		return func() error {
			got := false
			for _, a := range readyAddresses(t, c, ns, "normal-service") {
				got = got || a == gatedIP
			}
			if got != want {
				return fmt.Errorf("gated pod ready in slices: %v, want %v", got, want)
			}
			return nil
		}
	}
	eventually(t, 2*time.Second, hasReady(false))
	setGate(corev1.ConditionTrue)
	eventually(t, 2*time.Second, hasReady(true))
	setGate(corev1.ConditionFalse)
	eventually(t, 2*time.Second, hasReady(false))
	if err := c.CoreV1().Pods(ns).Delete(ctx, "gated", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// A template change rolls out.
	d, _ := c.AppsV1().Deployments(ns).Get(ctx, "api-deployment", metav1.GetOptions{})
	d.Spec.Template.Spec.Containers[0].Image = "eddiehale/hellonodeapi:v2"
	if _, err := c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		d, _ := c.AppsV1().Deployments(ns).Get(ctx, "api-deployment", metav1.GetOptions{})
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != 8 || d.Status.Replicas != 8 || d.Status.AvailableReplicas != 8 {
			return fmt.Errorf("rollout: %+v", d.Status)
		}
		if d.Annotations["deployment.kubernetes.io/revision"] != "2" {
			return fmt.Errorf("revision %q", d.Annotations["deployment.kubernetes.io/revision"])
		}
		return nil
	})
	pods, _ = c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != "eddiehale/hellonodeapi:v2" {
			t.Fatalf("old pod %s survived the rollout", p.Name)
		}
	}
	events, _ := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=api-deployment,reason=ScalingReplicaSet"})
	if len(events.Items) == 0 {
		t.Fatal("no ScalingReplicaSet events")
	}

	// Deleting the deployment removes its ReplicaSets, pods and endpoints.
	if err := c.AppsV1().Deployments(ns).Delete(ctx, "api-deployment", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		rs, _ := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if n := len(rs.Items) + len(pods.Items) + len(readyAddresses(t, c, ns, "normal-service")); n != 0 {
			return fmt.Errorf("%d replicasets, %d pods left", len(rs.Items), len(pods.Items))
		}
		return nil
	})

	// Deleting the namespace empties it, then it goes.
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, seedDeployment(2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace still there: %v", err)
		}
		return nil
	})
	for _, list := range []func() int{
		func() int { l, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); return len(l.Items) },
		func() int { l, _ := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); return len(l.Items) },
		func() int {
			l, _ := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
			return len(l.Items)
		},
	} {
		if n := list(); n != 0 {
			t.Fatalf("%d objects left in the deleted namespace", n)
		}
	}
}

func TestStatefulSetOrderAndHostnames(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true, nodeName: "node-1"})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: corev1.ServiceSpec{ClusterIP: "None",
		Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "web", Port: 80}}}}
	if _, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.StatefulSetSpec{
		Replicas: &three, ServiceName: "nginx", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 80}}}}}}}}
	if _, err := c.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		slices, _ := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=nginx"})
		hosts := map[string]bool{}
		for _, sl := range slices.Items {
			for _, e := range sl.Endpoints {
				if e.Hostname != nil && e.Conditions.Ready != nil && *e.Conditions.Ready {
					hosts[*e.Hostname] = true
				}
			}
		}
		if !hosts["web-0"] || !hosts["web-1"] || !hosts["web-2"] {
			return fmt.Errorf("slice hostnames %v", hosts)
		}
		return nil
	})
	pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for i, p := range pods.Items {
		if p.Name != fmt.Sprintf("web-%d", i) || p.Spec.Hostname != p.Name || p.Spec.Subdomain != "nginx" {
			t.Fatalf("pod %d: %s hostname %q subdomain %q", i, p.Name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		// OrderedReady: each pod was created after the one before it was ready.
		if i > 0 {
			prev := pods.Items[i-1]
			var readyAt metav1.Time
			for _, cnd := range prev.Status.Conditions {
				if cnd.Type == corev1.PodReady {
					readyAt = cnd.LastTransitionTime
				}
			}
			if p.CreationTimestamp.Before(&readyAt) {
				t.Fatalf("%s created at %v before %s was ready at %v", p.Name, p.CreationTimestamp, prev.Name, readyAt)
			}
		}
	}
}

func TestSelectorlessServiceEndpointsAreMirrored(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true, nodeName: "node-1"})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "external-db"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}}
	if _, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external-db"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}, {IP: "192.0.2.11"}},
		Ports:     []corev1.EndpointPort{{Name: "pg", Port: 5432}}}}}
	if _, err := c.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if got := readyAddresses(t, c, ns, "external-db"); strings.Join(got, ",") != "192.0.2.10,192.0.2.11" {
			return fmt.Errorf("mirrored ready addresses %v", got)
		}
		return nil
	})
	// A hand-written slice of a selectorless Service is left alone.
	ready := true
	port := int32(5432)
	own := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "hand-made", Labels: map[string]string{discoveryv1.LabelServiceName: "external-db"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.99"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports: []discoveryv1.EndpointPort{{Port: &port}}}
	if _, err := c.DiscoveryV1().EndpointSlices(ns).Create(ctx, own, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ep.Subsets[0].Addresses = ep.Subsets[0].Addresses[:1]
	cur, _ := c.CoreV1().Endpoints(ns).Get(ctx, "external-db", metav1.GetOptions{})
	cur.Subsets = ep.Subsets
	if _, err := c.CoreV1().Endpoints(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if got := readyAddresses(t, c, ns, "external-db"); strings.Join(got, ",") != "192.0.2.10,192.0.2.99" {
			return fmt.Errorf("addresses %v", got)
		}
		return nil
	})
}

func TestCascadeForegroundAndOrphan(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true, nodeName: "node-1"})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	waitPods := func(n int) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if len(pods.Items) != n {
				return fmt.Errorf("%d pods, want %d", len(pods.Items), n)
			}
			return nil
		})
	}
	// Orphan: the ReplicaSet and pods stay, without the owner reference.
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, seedDeployment(2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(2)
	orphan := metav1.DeletePropagationOrphan
	if err := c.AppsV1().Deployments(ns).Delete(ctx, "api-deployment", metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if _, err := c.AppsV1().Deployments(ns).Get(ctx, "api-deployment", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("deployment still there: %v", err)
		}
		rs, _ := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if len(rs.Items) != 1 || len(rs.Items[0].OwnerReferences) != 0 {
			return fmt.Errorf("replicasets %d, owners %v", len(rs.Items), rs.Items)
		}
		return nil
	})
	waitPods(2)
	rs, _ := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	// Foreground: the owner waits (with its finalizer) until its dependents are gone.
	fg := metav1.DeletePropagationForeground
	if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Items[0].Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.AppsV1().ReplicaSets(ns).Get(ctx, rs.Items[0].Name, metav1.GetOptions{}); err == nil &&
		(r.DeletionTimestamp == nil || len(r.Finalizers) == 0 || r.Finalizers[0] != metav1.FinalizerDeleteDependents) {
		t.Fatalf("foreground owner not marked: %+v", r.ObjectMeta)
	}
	waitPods(0)
	eventually(t, 10*time.Second, func() error {
		if _, err := c.AppsV1().ReplicaSets(ns).Get(ctx, rs.Items[0].Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("replicaset still there: %v", err)
		}
		return nil
	})
}

// TestShutdownReleasesTheControllersLease: a server that stops cleanly
// releases the controllers' Lease before its API goes (the controllers stop
// first, the API and etcd after them), so the next leader takes over at
// once instead of after the lease duration.
func TestShutdownReleasesTheControllersLease(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, serverOpts{dataDir: dir, controllers: true, nodeName: "node-1"})
	ctx := ctxT(t)
	leases := s.client(false).CoordinationV1().Leases("kube-system")
	var holder string
	eventually(t, 30*time.Second, func() error {
		l, err := leases.Get(ctx, "svcnet-controller-manager", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return errors.New("no holder yet")
		}
		holder = *l.Spec.HolderIdentity
		return nil
	})
	s.stop()
	// The same data, no controllers: the Lease as the first server left it.
	s2 := startServer(t, serverOpts{dataDir: dir})
	l, err := s2.client(false).CoordinationV1().Leases("kube-system").Get(ctx, "svcnet-controller-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
		t.Fatalf("the Lease is still held by %q (was %q): not released on shutdown", *l.Spec.HolderIdentity, holder)
	}
}
