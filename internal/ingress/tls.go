package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// secretRef names a Secret in a namespace.
type secretRef struct{ namespace, name string }

// tlsHosts maps each TLS host of the Ingresses (a "*." wildcard of one
// label allowed) to its Secret; the oldest Ingress wins a host.
func tlsHosts(ings []*networkingv1.Ingress) map[string]secretRef {
	out := map[string]secretRef{}
	for _, ing := range ings { // build sorted them oldest first
		for _, t := range ing.Spec.TLS {
			if t.SecretName == "" {
				continue
			}
			for _, h := range t.Hosts {
				if _, taken := out[strings.ToLower(h)]; !taken {
					out[strings.ToLower(h)] = secretRef{ing.Namespace, t.SecretName}
				}
			}
		}
	}
	return out
}

// certCache holds the TLS hosts' Secrets as parsed certificates, by the
// Secret's resourceVersion, and a self-signed default.
type certCache struct {
	mu       sync.Mutex
	hosts    map[string]secretRef
	parsed   map[secretRef]parsedCert
	fallback *tls.Certificate
}

type parsedCert struct {
	rv   string
	cert *tls.Certificate
}

func newCertCache() *certCache {
	return &certCache{hosts: map[string]secretRef{}, parsed: map[secretRef]parsedCert{}}
}

func (c *certCache) setHosts(h map[string]secretRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hosts = h
}

// lookup finds the Secret for a server name: exact, then wildcard.
func (c *certCache) lookup(name string) (secretRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = strings.ToLower(name)
	if ref, ok := c.hosts[name]; ok {
		return ref, true
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		ref, ok := c.hosts["*"+name[i:]]
		return ref, ok
	}
	return secretRef{}, false
}

// certificate answers a TLS hello: the certificate of the Secret for the
// name asked for, else the default one (as ingress controllers serve a
// "fake" certificate).
func (s *Server) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if ref, ok := s.certs.lookup(hello.ServerName); ok && s.secrets != nil {
		if sec, err := s.secrets.Secrets(ref.namespace).Get(ref.name); err == nil && sec.Type == corev1.SecretTypeTLS {
			s.certs.mu.Lock()
			p, cached := s.certs.parsed[ref]
			s.certs.mu.Unlock()
			if cached && p.rv == sec.ResourceVersion {
				return p.cert, nil
			}
			if pair, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]); err == nil {
				s.certs.mu.Lock()
				s.certs.parsed[ref] = parsedCert{rv: sec.ResourceVersion, cert: &pair}
				s.certs.mu.Unlock()
				return &pair, nil
			}
			s.log.Warn("ingress: the TLS Secret holds no usable key pair", "secret", ref.namespace+"/"+ref.name)
		}
	}
	return s.certs.defaultCert()
}

// defaultCert is a self-signed certificate made once.
func (c *certCache) defaultCert() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fallback != nil {
		return c.fallback, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "svcnet ingress default certificate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"ingress.local"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	c.fallback = &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return c.fallback, nil
}
