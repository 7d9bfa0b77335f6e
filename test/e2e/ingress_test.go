package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
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
	// A TLS certificate for alpha.example, as a kubernetes.io/tls Secret.
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t, "alpha.example")
	_ = os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600)
	_ = os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600)
	p.mustKubectl(t, "create", "secret", "tls", "alpha-tls", "--cert", filepath.Join(dir, "tls.crt"), "--key", filepath.Join(dir, "tls.key"))
	expect(t, p.mustKubectl(t, "get", "secret", "alpha-tls"), `alpha-tls\s+kubernetes\.io/tls\s+2\s+`)
	manifest := filepath.Join(dir, "ing.yaml")
	_ = os.WriteFile(manifest, []byte(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  tls: [{hosts: [alpha.example], secretName: alpha-tls}]
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
	expect(t, p.mustKubectl(t, "get", "ingress"), `(?m)^web\s+svcnet\s+alpha\.example,beta\.example,both\.example\s+127\.0\.0\.1\s+80, 443\s+`)

	// HTTPS: the Secret's certificate for alpha.example (SNI), the default
	// one for a name no Ingress has a certificate for.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	tlsAddr := strings.TrimPrefix(p.ingressTLSURL, "https://")
	eventually(t, 10*time.Second, "https://alpha.example through the ingress", func() string {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "alpha.example"}}}
		req, _ := http.NewRequest("GET", "https://"+tlsAddr+"/", nil)
		req.Host = "alpha.example"
		resp, err := c.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "hello from pod alpha-") {
			return string(b)
		}
		return ""
	})
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true, ServerName: "beta.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "svcnet ingress default certificate" {
		t.Fatalf("beta.example (no certificate of its own) got %q", cn)
	}
}

// selfSigned makes a certificate and key for host.
func selfSigned(t *testing.T, host string) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
