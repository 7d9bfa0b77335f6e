package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            x-kubernetes-validations:
            - {rule: "self.replicas <= self.maxReplicas", message: "replicas must not exceed maxReplicas"}
            properties:
              size: {type: string, enum: [small, medium, large], default: medium, description: How big.}
              replicas: {type: integer, minimum: 0, default: 1}
              maxReplicas: {type: integer, default: 10}
          status:
            type: object
            properties:
              replicas: {type: integer}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// TestCustomResourceDefinitionWithKubectl: a definition with a structural
// schema, a CEL rule, defaults, status and scale subresources, two versions
// and printer columns, driven by the real kubectl: create, reject invalid
// objects with their field causes, prune, default, columns, explain,
// scale, watch, delete the definition and its objects.
func TestCustomResourceDefinitionWithKubectl(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t))
	dir := t.TempDir()
	write := func(name, body string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	expect(t, p.mustKubectl(t, "apply", "-f", write("crd.yaml", widgetCRD)), `customresourcedefinition.apiextensions.k8s.io/widgets.example.com created`)
	p.awaitKubectl(t, 5*time.Second, "True", "get", "crd", "widgets.example.com", "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
	expect(t, p.mustKubectl(t, "api-resources", "--api-group", "example.com"), `(?m)^widgets\s+wd\s+example.com/v1\s+true\s+Widget`)

	// Unknown fields: refused under kubectl's default strict validation,
	// pruned when validation is off; defaults filled in.
	w1 := write("w1.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {replicas: 3, colour: red}\n")
	out, err := p.kubectl(t, kubectlPath(t), "apply", "-f", w1)
	if err == nil || !strings.Contains(out, `unknown field "spec.colour"`) {
		t.Fatalf("strict apply of an unknown field: %v\n%s", err, out)
	}
	p.mustKubectl(t, "apply", "--validate=false", "-f", w1)
	expect(t, p.mustKubectl(t, "get", "widget", "w1", "-o", "jsonpath={.spec}"), `^\{"maxReplicas":10,"replicas":3,"size":"medium"\}$`)
	expect(t, p.mustKubectl(t, "get", "wd"), `(?m)^NAME\s+SIZE\s+REPLICAS$`, `(?m)^w1\s+medium\s+3$`)

	// Invalid objects: the schema's and the rule's field causes.
	for _, tc := range []struct{ spec, want string }{
		{"{size: huge}", `spec.size: Unsupported value: "huge": supported values: "small", "medium", "large"`},
		{"{replicas: 20, maxReplicas: 5}", `spec: Invalid value: .*replicas must not exceed maxReplicas`},
		{"{replicas: -1}", `spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0`},
	} {
		out, err := p.kubectl(t, kubectlPath(t), "apply", "-f", write("bad.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad}\nspec: "+tc.spec+"\n"))
		if err == nil {
			t.Fatalf("%s accepted", tc.spec)
		}
		expect(t, out, `The Widget "bad" is invalid`, tc.want)
	}

	// explain reads the definition's schema.
	expect(t, p.mustKubectl(t, "explain", "widget.spec"), `KIND:\s+Widget`, `What the widget should be\.`, `size\s+<string>`, `How big\.`)

	// A watch sees the scale, the status write and the delete.
	watch := exec.Command(kubectlPath(t), "get", "widgets", "--watch", "--output-watch-events", "-o", "custom-columns=EVENT:type,NAME:object.metadata.name,REPLICAS:object.spec.replicas,STATUS:object.status.replicas")
	watch.Env = append(os.Environ(), "KUBECONFIG="+p.kubeconfig, "HOME="+t.TempDir())
	var buf lockedBuffer
	watch.Stdout, watch.Stderr = &buf, &buf
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = watch.Process.Kill(); _ = watch.Wait() }()
	eventually(t, 10*time.Second, "watch started", func() string {
		if !strings.Contains(buf.String(), "ADDED") {
			return "no ADDED yet: " + buf.String()
		}
		return ""
	})
	expect(t, p.mustKubectl(t, "scale", "widget", "w1", "--replicas", "5"), `widget.example.com/w1 scaled`)
	p.mustKubectl(t, "patch", "widget", "w1", "--subresource", "status", "--type", "merge", "-p", `{"status":{"replicas":5}}`)
	expect(t, p.mustKubectl(t, "get", "--raw", "/apis/example.com/v1/namespaces/default/widgets/w1/scale"), `"spec":\{"replicas":5\}`, `"status":\{"replicas":5\}`)
	// The other served version shows the same object.
	expect(t, p.mustKubectl(t, "get", "widgets.v1beta1.example.com", "w1", "-o", "jsonpath={.apiVersion} {.spec.replicas}"), `^example.com/v1beta1 5$`)
	p.mustKubectl(t, "delete", "widget", "w1")
	eventually(t, 10*time.Second, "watch saw the changes", func() string {
		out := buf.String()
		if strings.Contains(out, "MODIFIED   w1     5          <none>") && strings.Contains(out, "MODIFIED   w1     5          5") && strings.Contains(out, "DELETED") {
			return ""
		}
		return out
	})

	// Deleting the definition deletes its objects; it is then gone.
	p.mustKubectl(t, "apply", "--validate=false", "-f", write("w2.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {}\n"))
	p.mustKubectl(t, "delete", "crd", "widgets.example.com", "--timeout", "30s")
	out, _ = p.kubectl(t, kubectlPath(t), "get", "--raw", "/apis/example.com/v1/namespaces/default/widgets")
	expect(t, out, `NotFound|the server could not find the requested resource`)
	out, _ = p.kubectl(t, kubectlPath(t), "get", "crd")
	expect(t, out, `No resources found`)
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  chan struct{}
	buf strings.Builder
}

func (b *lockedBuffer) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.String()
}

// gatewayCRDs is the Gateway API module's standard channel, as released.
func gatewayCRDs(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("go list gateway-api: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
}

// TestGatewayAPIRoutesTraffic: the standard channel CRDs apply unchanged;
// a Gateway of class svcnet gets an address from the load-balancer pool;
// two HTTPRoutes (a path match split 90/10 over two Services, a header
// match) carry curl's requests to the pods; statuses as the Gateway API
// specifies.
func TestGatewayAPIRoutesTraffic(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--lb-range", "127.98.1.0/24")
	// The whole channel applies unchanged, its admission policy too, and
	// the policy acts: an experimental CRD may not replace a standard one.
	expect(t, p.mustKubectl(t, "apply", "-f", gatewayCRDs(t)), `customresourcedefinition.apiextensions.k8s.io/gateways.gateway.networking.k8s.io created`,
		`customresourcedefinition.apiextensions.k8s.io/httproutes.gateway.networking.k8s.io created`,
		`validatingadmissionpolicy.admissionregistration.k8s.io/safe-upgrades.gateway.networking.k8s.io created`,
		`validatingadmissionpolicybinding.admissionregistration.k8s.io/safe-upgrades.gateway.networking.k8s.io created`)
	std, err := os.ReadFile(filepath.Join(gatewayCRDs(t), "gateway.networking.k8s.io_httproutes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	experimental := filepath.Join(t.TempDir(), "experimental.yaml")
	_ = os.WriteFile(experimental, []byte(strings.Replace(string(std), "gateway.networking.k8s.io/channel: standard", "gateway.networking.k8s.io/channel: experimental", 1)), 0o644)
	out, err := p.kubectl(t, kubectlPath(t), "apply", "-f", experimental)
	if err == nil {
		t.Fatalf("an experimental CRD replaced the standard one:\n%s", out)
	}
	expect(t, out, `ValidatingAdmissionPolicy 'safe-upgrades.gateway.networking.k8s.io' with binding 'safe-upgrades.gateway.networking.k8s.io' denied request: Installing experimental CRDs on top of standard channel CRDs is prohibited`)
	for _, name := range []string{"stable", "canary"} {
		p.mustKubectl(t, "create", "deployment", name, "--image", "example/"+name, "--port", "3000")
		p.mustKubectl(t, "expose", "deployment", name, "--port", "80", "--target-port", "3000")
	}
	dir := t.TempDir()
	manifest := filepath.Join(dir, "gateway.yaml")
	_ = os.WriteFile(manifest, []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: svcnet}
spec: {controllerName: svcnet.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: svcnet
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split}
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /app}}]
    backendRefs: [{name: stable, port: 80, weight: 90}, {name: canary, port: 80, weight: 10}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: testers}
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /app}, headers: [{name: x-tester, value: "yes"}]}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: x-routed-by, value: svcnet}]}}]
    backendRefs: [{name: canary, port: 80}]
  - matches: [{path: {type: Exact, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /app}, statusCode: 301}}]
`), 0o644)
	p.mustKubectl(t, "apply", "-f", manifest)
	p.awaitKubectl(t, 10*time.Second, "True", "get", "gatewayclass", "svcnet", "-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].status}`)
	p.awaitKubectl(t, 20*time.Second, "True", "get", "gateway", "web", "-o", `jsonpath={.status.conditions[?(@.type=="Programmed")].status}`)
	p.awaitKubectl(t, 60*time.Second, "1", "get", "deployment", "stable", "-o", "jsonpath={.status.readyReplicas}")
	p.awaitKubectl(t, 60*time.Second, "1", "get", "deployment", "canary", "-o", "jsonpath={.status.readyReplicas}")
	addr := p.mustKubectl(t, "get", "gateway", "web", "-o", "jsonpath={.status.addresses[0].value}")
	if !strings.HasPrefix(addr, "127.98.1.") {
		t.Fatalf("gateway address %q not from --lb-range", addr)
	}
	expect(t, p.mustKubectl(t, "get", "gateway", "web"), `(?m)^web\s+svcnet\s+127\.98\.1\.\d+\s+True\s+`)
	expect(t, p.mustKubectl(t, "get", "gateway", "web", "-o", "jsonpath={.status.listeners[0].attachedRoutes}"), `^2$`)
	for _, r := range []string{"split", "testers"} {
		p.awaitKubectl(t, 10*time.Second, "True True", "get", "httproute", r, "-o",
			`jsonpath={.status.parents[0].conditions[?(@.type=="Accepted")].status} {.status.parents[0].conditions[?(@.type=="ResolvedRefs")].status}`)
	}

	base := "http://" + addr
	eventually(t, 20*time.Second, "the gateway answers", func() string {
		if pod, err := get(base + "/app"); err != nil || pod == "" {
			return fmt.Sprint(pod, err)
		}
		return ""
	})
	// The split, measured over 1,000 requests.
	counts := map[string]int{}
	for range 1000 {
		pod, err := get(base + "/app/x")
		if err != nil {
			t.Fatal(err)
		}
		counts[strings.SplitN(pod, "-", 2)[0]]++
	}
	t.Logf("1,000 requests: %v", counts)
	if counts["stable"]+counts["canary"] != 1000 || counts["canary"] < 60 || counts["canary"] > 140 {
		t.Fatalf("90/10 split gave %v", counts)
	}
	// The header match sends testers to the canary, with the added header.
	for range 20 {
		req, _ := http.NewRequest("GET", base+"/app", nil)
		req.Header.Set("X-Tester", "yes")
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 200)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if !strings.Contains(string(b[:n]), "hello from pod canary-") {
			t.Fatalf("tester went to %q", b[:n])
		}
	}
	// Redirects, and what no rule matches.
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/old")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "http://"+addr+"/app" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = c.Get(base + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unmatched: %d", resp.StatusCode)
	}
	// A route to a Service that does not exist says so, and answers 500.
	broken := filepath.Join(dir, "broken.yaml")
	_ = os.WriteFile(broken, []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: broken}
spec:
  parentRefs: [{name: web}]
  rules: [{matches: [{path: {type: PathPrefix, value: /broken}}], backendRefs: [{name: missing, port: 80}]}]
`), 0o644)
	p.mustKubectl(t, "apply", "-f", broken)
	p.awaitKubectl(t, 10*time.Second, "False BackendNotFound", "get", "httproute", "broken", "-o",
		`jsonpath={.status.parents[0].conditions[?(@.type=="ResolvedRefs")].status} {.status.parents[0].conditions[?(@.type=="ResolvedRefs")].reason}`)
	eventually(t, 10*time.Second, "the broken route answers 500", func() string {
		resp, err := c.Get(base + "/broken")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			return resp.Status
		}
		return ""
	})
}
