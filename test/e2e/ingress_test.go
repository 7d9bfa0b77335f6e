package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIngressRoutesHostsAndPaths: the built-in ingress (IngressClass
// svcnet, the default) routes two hosts and two paths to two Services'
// pods, fills the Ingress's address, and answers 404 for what matches
// nothing.
func TestIngressRoutesHostsAndPaths(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--proxy", "off")
	expect(t, p.mustKubectl(t, "get", "ingressclass"), `(?m)^svcnet\s+svcnet\.io/ingress-controller\s+<none>`)
	for _, name := range []string{"alpha", "beta"} {
		p.mustKubectl(t, "create", "deployment", name, "--image", "example/"+name, "--port", "3000", "--replicas", "2")
		p.mustKubectl(t, "expose", "deployment", name, "--port", "80", "--target-port", "3000")
	}
	p.awaitKubectl(t, 60*time.Second, "2", "get", "deployment", "alpha", "-o", "jsonpath={.status.readyReplicas}")
	p.awaitKubectl(t, 60*time.Second, "2", "get", "deployment", "beta", "-o", "jsonpath={.status.readyReplicas}")
	manifest := filepath.Join(t.TempDir(), "ing.yaml")
	_ = os.WriteFile(manifest, []byte(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - host: alpha.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}]}
  - host: beta.example
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}]}
  - host: both.example
    http:
      paths:
      - {path: /a, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
      - {path: /b, pathType: Exact, backend: {service: {name: beta, port: {number: 80}}}}
`), 0o644)
	p.mustKubectl(t, "apply", "-f", manifest)
	p.awaitKubectl(t, 10*time.Second, "svcnet", "get", "ingress", "web", "-o", "jsonpath={.spec.ingressClassName}")
	p.awaitKubectl(t, 10*time.Second, "127.0.0.1", "get", "ingress", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
	ask := func(host, path string) (int, string) {
		req, _ := http.NewRequest("GET", p.ingressURL+path, nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		host, path, want string
		code             int
	}{
		{"alpha.example", "/", "hello from pod alpha-", 200},
		{"beta.example", "/x", "hello from pod beta-", 200},
		{"both.example", "/a/deeper", "hello from pod alpha-", 200},
		{"both.example", "/b", "hello from pod beta-", 200},
		{"both.example", "/b/not-exact", "default backend - 404", 404},
		{"nobody.example", "/", "default backend - 404", 404},
	} {
		eventually(t, 10*time.Second, tc.host+tc.path, func() string {
			if code, body := ask(tc.host, tc.path); code != tc.code || !strings.Contains(body, tc.want) {
				return fmt.Sprintf("%d %q", code, body)
			}
			return ""
		})
	}
	expect(t, p.mustKubectl(t, "get", "ingress"), `(?m)^web\s+svcnet\s+alpha\.example,beta\.example,both\.example\s+127\.0\.0\.1\s+80\s+`)
}
