package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
)

func newService(name string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: port, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

func testNamespace(t *testing.T, c kubernetes.Interface) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	got, err := c.CoreV1().Namespaces().Create(ctxT(t), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Name
}

func TestCRUDBothEncodings(t *testing.T) {
	s := sharedServer(t)
	for _, enc := range []struct {
		name string
		json bool
	}{{"protobuf", false}, {"json", true}} {
		t.Run(enc.name, func(t *testing.T) {
			c := s.client(enc.json)
			ctx := ctxT(t)
			ns := testNamespace(t, c)
			svc, err := c.CoreV1().Services(ns).Create(ctx, newService("web", 80), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if svc.UID == "" || svc.ResourceVersion == "" || svc.CreationTimestamp.IsZero() || svc.Generation != 1 {
				t.Fatalf("server did not stamp metadata: %+v", svc.ObjectMeta)
			}
			if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.SessionAffinity != corev1.ServiceAffinityNone ||
				svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP || svc.Spec.IPFamilies[0] != corev1.IPv4Protocol ||
				*svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
				t.Fatalf("defaults missing: %+v", svc.Spec)
			}
			if !strings.HasPrefix(svc.Spec.ClusterIP, "10.") || len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
				t.Fatalf("no ClusterIP allocated: %q %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
			}
			got, err := c.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil || got.Spec.ClusterIP != svc.Spec.ClusterIP {
				t.Fatalf("get: %v %v", err, got)
			}
			// Update bumps generation on spec change, keeps it on label change.
			got.Spec.Ports[0].Port = 81
			upd, err := c.CoreV1().Services(ns).Update(ctx, got, metav1.UpdateOptions{})
			if err != nil || upd.Generation != 2 || upd.Spec.Ports[0].Port != 81 {
				t.Fatalf("update: %v gen=%d", err, upd.Generation)
			}
			upd.Labels["x"] = "y"
			upd2, err := c.CoreV1().Services(ns).Update(ctx, upd, metav1.UpdateOptions{})
			if err != nil || upd2.Generation != 2 {
				t.Fatalf("label update: %v gen=%d", err, upd2.Generation)
			}
			// A stale update is a Conflict.
			_, err = c.CoreV1().Services(ns).Update(ctx, upd, metav1.UpdateOptions{})
			if !apierrors.IsConflict(err) {
				t.Fatalf("stale update: want Conflict, got %v", err)
			}
			// Create again is AlreadyExists.
			_, err = c.CoreV1().Services(ns).Create(ctx, newService("web", 80), metav1.CreateOptions{})
			if !apierrors.IsAlreadyExists(err) {
				t.Fatalf("want AlreadyExists, got %v", err)
			}
			list, err := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
			if err != nil || len(list.Items) != 1 || list.ResourceVersion == "" {
				t.Fatalf("list: %v %d", err, len(list.Items))
			}
			if err := c.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			_, err = c.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Fatalf("want NotFound, got %v", err)
			}
		})
	}
}

func TestClusterIPAllocation(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	want := newService("fixed", 80)
	want.Spec.ClusterIP = "10.96.0.77"
	got, err := c.CoreV1().Services(ns).Create(ctx, want, metav1.CreateOptions{})
	if err != nil || got.Spec.ClusterIP != "10.96.0.77" {
		t.Fatalf("requested IP not honoured: %v %v", err, got)
	}
	dup := newService("dup", 80)
	dup.Spec.ClusterIP = "10.96.0.77"
	_, err = c.CoreV1().Services(ns).Create(ctx, dup, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided IP is already allocated") {
		t.Fatalf("taken IP: want Invalid, got %v", err)
	}
	if st := err.(apierrors.APIStatus).Status(); st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != "spec.clusterIPs" {
		t.Fatalf("want a field cause on spec.clusterIPs (as kube-apiserver reports it), got %+v", st.Details)
	}
	out := newService("out", 80)
	out.Spec.ClusterIP = "192.168.1.1"
	if _, err = c.CoreV1().Services(ns).Create(ctx, out, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("out-of-range IP: want Invalid, got %v", err)
	}
	headless := newService("headless", 80)
	headless.Spec.ClusterIP = "None"
	h, err := c.CoreV1().Services(ns).Create(ctx, headless, metav1.CreateOptions{})
	if err != nil || h.Spec.ClusterIP != "None" || len(h.Spec.ClusterIPs) != 1 || h.Spec.ClusterIPs[0] != "None" {
		t.Fatalf("headless: %v %v", err, h)
	}
	// Freed on delete: the same IP can be taken again.
	if err := c.CoreV1().Services(ns).Delete(ctx, "fixed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.CoreV1().Services(ns).Create(ctx, dup, metav1.CreateOptions{}); err != nil || got.Spec.ClusterIP != "10.96.0.77" {
		t.Fatalf("freed IP not reusable: %v", err)
	}
	// clusterIP is immutable.
	cur, _ := c.CoreV1().Services(ns).Get(ctx, "dup", metav1.GetOptions{})
	cur.Spec.ClusterIP, cur.Spec.ClusterIPs = "10.96.0.78", []string{"10.96.0.78"}
	if _, err := c.CoreV1().Services(ns).Update(ctx, cur, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("clusterIP change: want Invalid, got %v", err)
	}
	// ExternalName gets no ClusterIP; NodePort gets a node port.
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	if e, err := c.CoreV1().Services(ns).Create(ctx, ext, metav1.CreateOptions{}); err != nil || e.Spec.ClusterIP != "" {
		t.Fatalf("externalName: %v %+v", err, e)
	}
	np := newService("np", 80)
	np.Spec.Type = corev1.ServiceTypeNodePort
	if n, err := c.CoreV1().Services(ns).Create(ctx, np, metav1.CreateOptions{}); err != nil || n.Spec.Ports[0].NodePort < 30000 || n.Spec.Ports[0].NodePort > 32767 {
		t.Fatalf("nodePort: %v %+v", err, n)
	}
}

func TestServiceValidationCauses(t *testing.T) {
	s := sharedServer(t)
	c := s.client(true)
	ctx := ctxT(t)
	cases := []struct {
		name  string
		edit  func(*corev1.Service)
		field string
	}{
		{"port out of range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 }, "spec.ports[0].port"},
		{"bad protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "XTP" }, "spec.ports[0].protocol"},
		{"bad type", func(s *corev1.Service) { s.Spec.Type = "Weird" }, "spec.type"},
		{"unnamed second port", func(s *corev1.Service) { s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 90}) }, "spec.ports[0].name"},
		{"bad name", func(s *corev1.Service) { s.Name = "Bad_Name" }, "metadata.name"},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"a b": "c"} }, "spec.selector"},
		{"externalName missing", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName; s.Spec.Ports = nil }, "spec.externalName"},
		{"bad affinity", func(s *corev1.Service) { s.Spec.SessionAffinity = "Sticky" }, "spec.sessionAffinity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := newService("valid", 80)
			tc.edit(svc)
			_, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want Invalid, got %v", err)
			}
			st := err.(apierrors.APIStatus).Status()
			found := false
			for _, cause := range st.Details.Causes {
				found = found || cause.Field == tc.field
			}
			if !found || st.Details.Kind != "Service" {
				t.Fatalf("want a cause on %s for kind Service, got %+v", tc.field, st.Details)
			}
		})
	}
	if _, err := c.CoreV1().Services("default").Get(ctx, "valid", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("an invalid create wrote something: %v", err)
	}
}

func TestPatchTypes(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "api", Image: "api:1", Ports: []corev1.ContainerPort{{ContainerPort: 3000}}},
					{Name: "side", Image: "side:1"},
				}},
			},
		},
	}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Strategic merge keeps the other container and the ports (merge key: name).
	smp := `{"spec":{"template":{"spec":{"containers":[{"name":"api","image":"api:2"}]}}}}`
	got, err := c.AppsV1().Deployments(ns).Patch(ctx, "api", types.StrategicMergePatchType, []byte(smp), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cs := got.Spec.Template.Spec.Containers
	if len(cs) != 2 || cs[0].Image != "api:2" || len(cs[0].Ports) != 1 || cs[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Fatalf("strategic merge patch: %+v", cs)
	}
	if got.Generation != 2 {
		t.Fatalf("template change must bump generation, got %d", got.Generation)
	}
	// Merge patch.
	got, err = c.AppsV1().Deployments(ns).Patch(ctx, "api", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{})
	if err != nil || *got.Spec.Replicas != 4 {
		t.Fatalf("merge patch: %v", err)
	}
	// JSON patch, with a failing test op.
	got, err = c.AppsV1().Deployments(ns).Patch(ctx, "api", types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/replicas","value":2}]`), metav1.PatchOptions{})
	if err != nil || *got.Spec.Replicas != 2 {
		t.Fatalf("json patch: %v", err)
	}
	_, err = c.AppsV1().Deployments(ns).Patch(ctx, "api", types.JSONPatchType, []byte(`[{"op":"test","path":"/spec/replicas","value":9}]`), metav1.PatchOptions{})
	if err == nil {
		t.Fatal("a failing JSON patch test op must fail")
	}
	// Scale subresource.
	sc, err := c.AppsV1().Deployments(ns).GetScale(ctx, "api", metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=api" {
		t.Fatalf("scale: %v %+v", err, sc)
	}
	sc.Spec.Replicas = 7
	if _, err := c.AppsV1().Deployments(ns).UpdateScale(ctx, "api", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{}); *d.Spec.Replicas != 7 {
		t.Fatalf("scale update not applied: %d", *d.Spec.Replicas)
	}
	// Status is kept out of main-resource writes and written through /status.
	d, _ := c.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	d.Status.Replicas = 3
	d, err = c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
	if err != nil || d.Status.Replicas != 0 {
		t.Fatalf("status must not change through the main resource: %v %d", err, d.Status.Replicas)
	}
	d.Status.Replicas = 3
	d.Spec.Replicas = ptr(int32(1))
	d, err = c.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil || d.Status.Replicas != 3 || *d.Spec.Replicas != 7 {
		t.Fatalf("status update: %v status=%d spec=%d", err, d.Status.Replicas, *d.Spec.Replicas)
	}
}

func ptr[T any](v T) *T { return &v }

func TestServerSideApply(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	cfg := applycorev1.Service("ssa", ns).WithSpec(applycorev1.ServiceSpec().
		WithSelector(map[string]string{"app": "a"}).
		WithPorts(applycorev1.ServicePort().WithName("http").WithPort(80)))
	// Create by apply.
	got, err := c.CoreV1().Services(ns).Apply(ctx, cfg, metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ClusterIP == "" || len(got.ManagedFields) == 0 || got.ManagedFields[0].Manager != "alice" {
		t.Fatalf("apply-create: ip=%q managedFields=%v", got.Spec.ClusterIP, got.ManagedFields)
	}
	// Another manager changing alice's field conflicts...
	bob := applycorev1.Service("ssa", ns).WithSpec(applycorev1.ServiceSpec().
		WithSelector(map[string]string{"app": "b"}))
	_, err = c.CoreV1().Services(ns).Apply(ctx, bob, metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("want an apply conflict, got %v", err)
	}
	// ...unless forced.
	got, err = c.CoreV1().Services(ns).Apply(ctx, bob, metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil || got.Spec.Selector["app"] != "b" {
		t.Fatalf("forced apply: %v", err)
	}
	// Re-applying alice's config without ports removes nothing of bob's, and
	// dropping a field alice alone owned removes it.
	cfg2 := applycorev1.Service("ssa", ns).WithSpec(applycorev1.ServiceSpec().
		WithPorts(applycorev1.ServicePort().WithName("http").WithPort(80), applycorev1.ServicePort().WithName("metrics").WithPort(9090)))
	got, err = c.CoreV1().Services(ns).Apply(ctx, cfg2, metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil || len(got.Spec.Ports) != 2 || got.Spec.Selector["app"] != "b" {
		t.Fatalf("apply update: %v %+v", err, got.Spec)
	}
}

func TestStrictFieldValidation(t *testing.T) {
	s := sharedServer(t)
	body := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"strict"},"spec":{"selectr":{"a":"b"},"ports":[{"port":80}]}}`
	code, resp, hdr := s.raw(t, "POST", "/api/v1/namespaces/default/services?fieldValidation=Strict", "application/json", body)
	if code != 400 || !strings.Contains(resp, `strict decoding error: unknown field \"spec.selectr\"`) || !strings.Contains(resp, `"reason":"BadRequest"`) {
		t.Fatalf("strict: %d %s", code, resp)
	}
	code, resp, hdr = s.raw(t, "POST", "/api/v1/namespaces/default/services?fieldValidation=Warn", "application/json", body)
	if code != 201 || !strings.Contains(hdr.Get("Warning"), `unknown field \"spec.selectr\"`) {
		t.Fatalf("warn: %d %s %v", code, resp, hdr)
	}
}

// raw sends a request with the admin token.
func (s *server) raw(t *testing.T, method, path, ct, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+s.started.APIAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if tok := s.token(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return s.do(t, req, s.httpClient(t, nil))
}

func (s *server) do(t *testing.T, req *http.Request, hc *http.Client) (int, string, http.Header) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (s *server) httpClient(t *testing.T, cert *tls.Certificate) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(s.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

func TestAuthentication(t *testing.T) {
	s := sharedServer(t)
	hc := s.httpClient(t, nil)
	get := func(path, token string, hc *http.Client) (int, string) {
		req, _ := http.NewRequest("GET", "https://"+s.started.APIAddr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		code, body, _ := s.do(t, req, hc)
		return code, body
	}
	if code, body := get("/api/v1/namespaces", "", hc); code != 401 || !strings.Contains(body, `"reason":"Unauthorized"`) {
		t.Fatalf("no credentials: %d %s", code, body)
	}
	if code, _ := get("/api/v1/namespaces", "wrong", hc); code != 401 {
		t.Fatalf("bad token: %d", code)
	}
	for _, p := range []string{"/version", "/healthz", "/livez", "/readyz"} {
		if code, _ := get(p, "", hc); code != 200 {
			t.Fatalf("%s without credentials: %d", p, code)
		}
	}
	if code, _ := get("/api/v1/namespaces", s.token(), hc); code != 200 {
		t.Fatalf("admin token: %d", code)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.dataDir, "pki", "admin.crt"), filepath.Join(s.dataDir, "pki", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/api/v1/namespaces", "", s.httpClient(t, &cert)); code != 200 {
		t.Fatalf("admin client certificate: %d", code)
	}
}

func TestBadInput(t *testing.T) {
	s := sharedServer(t)
	big := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"big","annotations":{"a":"` + strings.Repeat("x", 4<<20) + `"}}}`
	cases := []struct {
		name, method, path, ct, body string
		code                         int
		reason                       string
	}{
		{"malformed json", "POST", "/api/v1/namespaces/default/services", "application/json", `{"apiVersion":`, 400, "BadRequest"},
		{"malformed yaml", "POST", "/api/v1/namespaces/default/services", "application/yaml", "a: [b", 400, "BadRequest"},
		{"garbage protobuf", "POST", "/api/v1/namespaces/default/services", "application/vnd.kubernetes.protobuf", "k8s\x00\x0a\xff\xff", 400, "BadRequest"},
		{"wrong apiVersion", "POST", "/api/v1/namespaces/default/services", "application/json", `{"apiVersion":"apps/v1","kind":"Service","metadata":{"name":"x"}}`, 400, "BadRequest"},
		{"wrong kind", "POST", "/api/v1/namespaces/default/services", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`, 400, "BadRequest"},
		{"unknown resource", "GET", "/api/v1/namespaces/default/widgets", "", "", 404, "NotFound"},
		{"unknown group", "GET", "/apis/example.com/v1/things", "", "", 404, "NotFound"},
		{"body too large", "POST", "/api/v1/namespaces/default/services", "application/json", big, 413, "RequestEntityTooLarge"},
		{"bad label selector", "GET", "/api/v1/pods?labelSelector=a%20b%20c", "", "", 400, "BadRequest"},
		{"unsupported field selector", "GET", "/api/v1/services?fieldSelector=spec.nope%3Dx", "", "", 400, "BadRequest"},
		{"namespace mismatch", "POST", "/api/v1/namespaces/default/services", "application/json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","namespace":"other"},"spec":{"ports":[{"port":1}]}}`, 400, "BadRequest"},
		{"missing namespace", "POST", "/api/v1/namespaces/nope/services", "application/json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{"port":1}]}}`, 404, "NotFound"},
		{"invalid dryRun", "POST", "/api/v1/namespaces/default/services?dryRun=Some", "application/json", `{}`, 400, "BadRequest"},
		{"bad patch type", "PATCH", "/api/v1/namespaces/default/services/kubernetes", "text/plain", `{}`, 415, "UnsupportedMediaType"},
		{"bad propagation", "DELETE", "/api/v1/namespaces/default/services/kubernetes?propagationPolicy=Sideways", "", "", 422, "Invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body, hdr := s.raw(t, tc.method, tc.path, tc.ct, tc.body)
			if code != tc.code {
				t.Fatalf("code %d, want %d: %s", code, tc.code, body)
			}
			var st metav1.Status
			if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || string(st.Reason) != tc.reason {
				t.Fatalf("want a Status with reason %s, got %s (%s)", tc.reason, body, hdr.Get("Content-Type"))
			}
		})
	}
	// Nothing was written and the server still serves.
	c := s.client(true)
	list, err := c.CoreV1().Services("default").List(ctxT(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range list.Items {
		if svc.Name == "x" || svc.Name == "big" {
			t.Fatalf("bad input wrote %s", svc.Name)
		}
	}
}

func TestSelectorsPagingDryRun(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	for i := 0; i < 7; i++ {
		svc := newService(fmt.Sprintf("s%d", i), 80)
		svc.Labels = map[string]string{"tier": []string{"a", "b"}[i%2]}
		if _, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{LabelSelector: "tier=a"})
	if err != nil || len(l.Items) != 4 {
		t.Fatalf("label selector: %v %d", err, len(l.Items))
	}
	l, err = c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=s3"})
	if err != nil || len(l.Items) != 1 || l.Items[0].Name != "s3" {
		t.Fatalf("field selector: %v %d", err, len(l.Items))
	}
	// Paging: 3 + 3 + 1, one snapshot even with a write in between.
	var names []string
	opts := metav1.ListOptions{Limit: 3}
	for page := 0; ; page++ {
		l, err := c.CoreV1().Services(ns).List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range l.Items {
			names = append(names, it.Name)
		}
		if page == 0 {
			if _, err := c.CoreV1().Services(ns).Create(ctx, newService("late", 80), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	if len(names) != 7 {
		t.Fatalf("paging returned %v", names)
	}
	// Paging across namespaces (keys ns/name) returns the whole list.
	full, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count, opts := 0, metav1.ListOptions{Limit: 2}
	for {
		l, err := c.CoreV1().Services("").List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		count += len(l.Items)
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	if count < len(full.Items) {
		t.Fatalf("paging across namespaces returned %d of %d", count, len(full.Items))
	}
	// Dry run writes nothing.
	if _, err := c.CoreV1().Services(ns).Create(ctx, newService("dry", 80), metav1.CreateOptions{DryRun: []string{"All"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services(ns).Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry run wrote: %v", err)
	}
	if err := c.CoreV1().Services(ns).Delete(ctx, "s0", metav1.DeleteOptions{DryRun: []string{"All"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services(ns).Get(ctx, "s0", metav1.GetOptions{}); err != nil {
		t.Fatalf("dry-run delete deleted: %v", err)
	}
	// deletecollection with a selector.
	if code, body, _ := s.raw(t, "DELETE", "/api/v1/namespaces/"+ns+"/services?labelSelector=tier%3Db", "", ""); code != 200 {
		t.Fatalf("deletecollection: %d %s", code, body)
	}
	l, _ = c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if len(l.Items) != 5 {
		t.Fatalf("deletecollection left %d", len(l.Items))
	}
}

func TestFinalizersAndGenerateName(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	svc := newService("", 80)
	svc.GenerateName = "gen-"
	svc.Finalizers = []string{"example.com/hold"}
	got, err := c.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil || !strings.HasPrefix(got.Name, "gen-") || len(got.Name) != len("gen-")+5 {
		t.Fatalf("generateName: %v %q", err, got.Name)
	}
	if err := c.CoreV1().Services(ns).Delete(ctx, got.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	held, err := c.CoreV1().Services(ns).Get(ctx, got.Name, metav1.GetOptions{})
	if err != nil || held.DeletionTimestamp == nil {
		t.Fatalf("finalizer must hold the object with a deletionTimestamp: %v", err)
	}
	held.Finalizers = nil
	if _, err := c.CoreV1().Services(ns).Update(ctx, held, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services(ns).Get(ctx, got.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("removing the last finalizer must delete: %v", err)
	}
	// Preconditions.
	svc2, _ := c.CoreV1().Services(ns).Create(ctx, newService("pre", 80), metav1.CreateOptions{})
	wrong := types.UID("nope")
	err = c.CoreV1().Services(ns).Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrong}})
	if !apierrors.IsConflict(err) {
		t.Fatalf("uid precondition: %v", err)
	}
	if err := c.CoreV1().Services(ns).Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &svc2.UID}}); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoveryAndOpenAPI(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	groups, resources, err := c.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"pods": false, "services": false, "endpoints": false, "namespaces": false, "nodes": false, "events": false,
		"endpointslices": false, "deployments": false, "replicasets": false, "statefulsets": false, "leases": false,
		"deployments/scale": false, "pods/log": false, "statefulsets/scale": false}
	for _, rl := range resources {
		for _, r := range rl.APIResources {
			if _, ok := want[r.Name]; ok {
				want[r.Name] = true
			}
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("discovery lacks %s", name)
		}
	}
	if len(groups) < 4 {
		t.Errorf("groups: %d", len(groups))
	}
	// OpenAPI v3 carries the fieldValidation PATCH parameter kubectl looks for.
	code, body, _ := s.raw(t, "GET", "/openapi/v3", "", "")
	if code != 200 || !strings.Contains(body, "apis/apps/v1") {
		t.Fatalf("openapi v3 root: %d %s", code, body)
	}
	var root struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	_ = json.Unmarshal([]byte(body), &root)
	code, doc, _ := s.raw(t, "GET", root.Paths["api/v1"].ServerRelativeURL, "", "")
	if code != 200 || !strings.Contains(doc, `"name":"fieldValidation"`) || !strings.Contains(doc, `io.k8s.api.core.v1.ServiceSpec`) {
		t.Fatalf("openapi v3 api/v1: %d", code)
	}
	req, _ := http.NewRequest("GET", "https://"+s.started.APIAddr+"/openapi/v2", nil)
	req.Header.Set("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	req.Header.Set("Authorization", "Bearer "+s.token())
	code, v2, hdr := s.do(t, req, s.httpClient(t, nil))
	if code != 200 || !strings.Contains(hdr.Get("Content-Type"), "protobuf") || !bytes.Contains([]byte(v2), []byte("io.k8s.api.apps.v1.Deployment")) {
		t.Fatalf("openapi v2 protobuf: %d %s", code, hdr.Get("Content-Type"))
	}
}

// An update that carries no managedFields (what controllers whose caches
// drop them send) keeps the stored ones, as Kubernetes does.
func TestUpdateWithoutManagedFieldsKeepsThem(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	created, err := c.CoreV1().Services(ns).Create(ctx, newService("kept", 80), metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.ManagedFields) == 0 {
		t.Fatal("create recorded no managedFields")
	}
	stripped := created.DeepCopy()
	stripped.ManagedFields = nil
	stripped.Labels = map[string]string{"touched": "yes"}
	updated, err := c.CoreV1().Services(ns).Update(ctx, stripped, metav1.UpdateOptions{FieldManager: "controller"})
	if err != nil {
		t.Fatal(err)
	}
	managers := map[string]bool{}
	for _, e := range updated.ManagedFields {
		managers[e.Manager] = true
	}
	if !managers["creator"] || !managers["controller"] {
		t.Fatalf("managers after an update without managedFields: %v", managers)
	}
}

// TestStatusCodesKubernetesGives: requests kube-apiserver refuses are
// refused here with its codes, reasons and causes, and write nothing.
func TestStatusCodesKubernetesGives(t *testing.T) {
	s := sharedServer(t)
	svc := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"no-content-type"},"spec":{"ports":[{"port":80}]}}`
	code, body, _ := s.raw(t, "POST", "/api/v1/namespaces/default/services", "", svc)
	if code != 415 || !strings.Contains(body, "unknown format") {
		t.Fatalf("POST without Content-Type: %d %s", code, body)
	}
	if code, _, _ := s.raw(t, "GET", "/api/v1/namespaces/default/services/no-content-type", "", ""); code != 404 {
		t.Fatalf("the refused POST created the Service: %d", code)
	}
	cases := []struct {
		name, query string
		code        int
		want        []string
	}{
		{"a resourceVersion not reached yet", "resourceVersion=99999999", 504, []string{`"reason":"Timeout"`, `"ResourceVersionTooLarge"`, "Too large resource version: 99999999, current: "}},
		{"exactly a resourceVersion not reached yet", "resourceVersion=99999999&resourceVersionMatch=Exact", 504, []string{`"ResourceVersionTooLarge"`}},
		{"an unknown resourceVersionMatch", "resourceVersion=1&resourceVersionMatch=Bogus", 422, []string{`"field":"resourceVersionMatch"`, `Unsupported value: \"Bogus\"`}},
		{"resourceVersionMatch without a resourceVersion", "resourceVersionMatch=NotOlderThan", 422, []string{"forbidden unless resourceVersion is provided"}},
		{"exactly resourceVersion 0", "resourceVersion=0&resourceVersionMatch=Exact", 422, []string{`forbidden for resourceVersion \"0\"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := s.raw(t, "GET", "/api/v1/namespaces/default/services?"+tc.query, "", "")
			if code != tc.code {
				t.Fatalf("%d, want %d: %s", code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("no %s in %s", w, body)
				}
			}
		})
	}
	t.Run("a patch that changes only spec.clusterIP", func(t *testing.T) {
		ctx := ctxT(t)
		c := s.client(false).CoreV1().Services("default")
		created, err := c.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "immutable-ip"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Patch(ctx, "immutable-ip", types.MergePatchType, []byte(`{"spec":{"clusterIP":"10.96.99.99"}}`), metav1.PatchOptions{})
		// kube-apiserver reports it on spec.clusterIPs[0] alone (the
		// real-cluster differential tier compares them).
		if st, ok := err.(apierrors.APIStatus); !apierrors.IsInvalid(err) || !ok || st.Status().Details == nil ||
			len(st.Status().Details.Causes) != 1 || st.Status().Details.Causes[0].Field != "spec.clusterIPs[0]" {
			t.Fatalf("want 422 with one cause on spec.clusterIPs[0], got %v", err)
		}
		after, err := c.Get(ctx, "immutable-ip", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.Spec.ClusterIP != created.Spec.ClusterIP || after.Generation != created.Generation || after.ResourceVersion != created.ResourceVersion {
			t.Fatalf("the refused patch wrote: %s gen %d rv %s, was %s gen %d rv %s", after.Spec.ClusterIP, after.Generation, after.ResourceVersion,
				created.Spec.ClusterIP, created.Generation, created.ResourceVersion)
		}
	})
}
