// Package pki creates and loads the cluster's credentials in the data
// directory: a CA, the API serving certificate, an admin client certificate,
// the admin bearer token, and a kubeconfig that uses them.
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Bundle is the loaded credentials.
type Bundle struct {
	CA         *x509.Certificate
	CAPEM      []byte
	Serving    tls.Certificate
	AdminToken string
	// AdminCertPEM and AdminKeyPEM are a client certificate for system:masters.
	AdminCertPEM, AdminKeyPEM []byte
	// KubeletClient is the API server's client certificate for the nodes'
	// servers (logs, attach, exec); they take no other.
	KubeletClient tls.Certificate
	// ServiceAccountKey signs ServiceAccount tokens (pki/sa.key).
	ServiceAccountKey *ecdsa.PrivateKey

	caKey *ecdsa.PrivateKey
}

// KubeletClientName is the common name of the API server's certificate
// for the nodes' servers.
const KubeletClientName = "svcnet-apiserver-kubelet-client"

// Paths inside the data dir.
const (
	caCertFile   = "pki/ca.crt"
	caKeyFile    = "pki/ca.key"
	servingCert  = "pki/apiserver.crt"
	servingKey   = "pki/apiserver.key"
	adminCert    = "pki/admin.crt"
	adminKey     = "pki/admin.key"
	kubeletCert  = "pki/apiserver-kubelet-client.crt"
	kubeletKey   = "pki/apiserver-kubelet-client.key"
	tokenFile    = "pki/admin.token"
	saKeyFile    = "pki/sa.key"
	kubeconfigFn = "kubeconfig"
)

// LoadOrCreate reads the credentials in dir, creating what is missing. The
// serving certificate is reissued when it lacks one of hosts.
func LoadOrCreate(dir string, hosts []string, now time.Time) (*Bundle, error) {
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o700); err != nil {
		return nil, err
	}
	caCert, caKey, err := loadOrCreateCA(dir, caCertFile, caKeyFile, "svcnet-ca", now)
	if err != nil {
		return nil, err
	}
	b := &Bundle{CA: caCert, CAPEM: pemCert(caCert.Raw), caKey: caKey}
	certPEM, keyPEM, err := loadOrIssue(dir, servingCert, servingKey, caCert, caKey, now, func(c *x509.Certificate) bool {
		return coversHosts(c, hosts)
	}, func() *x509.Certificate {
		t := &x509.Certificate{Subject: pkix.Name{CommonName: "svcnet-apiserver"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				t.IPAddresses = append(t.IPAddresses, ip)
			} else {
				t.DNSNames = append(t.DNSNames, h)
			}
		}
		return t
	})
	if err != nil {
		return nil, err
	}
	if b.Serving, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, err
	}
	b.AdminCertPEM, b.AdminKeyPEM, err = loadOrIssue(dir, adminCert, adminKey, caCert, caKey, now, func(*x509.Certificate) bool { return true },
		func() *x509.Certificate {
			return &x509.Certificate{Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		})
	if err != nil {
		return nil, err
	}
	kcPEM, kkPEM, err := loadOrIssue(dir, kubeletCert, kubeletKey, caCert, caKey, now, func(*x509.Certificate) bool { return true },
		func() *x509.Certificate {
			return &x509.Certificate{Subject: pkix.Name{CommonName: KubeletClientName}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		})
	if err != nil {
		return nil, err
	}
	if b.KubeletClient, err = tls.X509KeyPair(kcPEM, kkPEM); err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(dir, tokenFile))
	if errors.Is(err, os.ErrNotExist) {
		buf := make([]byte, 32)
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		tok = []byte(hex.EncodeToString(buf))
		if err := os.WriteFile(filepath.Join(dir, tokenFile), tok, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	b.AdminToken = string(bytes.TrimSpace(tok))
	if b.ServiceAccountKey, err = loadOrCreateKey(filepath.Join(dir, saKeyFile)); err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	return b, nil
}

// loadOrCreateKey reads an EC private key (PEM), making one if missing.
func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	if b, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", path)
		}
		return x509.ParseECPrivateKey(block.Bytes)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	kp, err := pemKey(key)
	if err != nil {
		return nil, err
	}
	return key, os.WriteFile(path, kp, 0o600)
}

func coversHosts(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, func(x net.IP) bool { return x.Equal(ip) }) {
				return false
			}
		} else if !slices.Contains(c.DNSNames, h) {
			return false
		}
	}
	return true
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func loadOrCreateCA(dir, caCertFile, caKeyFile, name string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err1 := os.ReadFile(filepath.Join(dir, caCertFile))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err1 == nil && err2 == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("load CA: %w", err)
		}
		c, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, nil, err
		}
		k, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, nil, errors.New("CA key is not ECDSA")
		}
		return c, k, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kp, err := pemKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, caKeyFile), kp, 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, caCertFile), pemCert(der), 0o644); err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func loadOrIssue(dir, certFile, keyFile string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time,
	ok func(*x509.Certificate) bool, tmpl func() *x509.Certificate) ([]byte, []byte, error) {
	certPEM, err1 := os.ReadFile(filepath.Join(dir, certFile))
	keyPEM, err2 := os.ReadFile(filepath.Join(dir, keyFile))
	if err1 == nil && err2 == nil {
		if pair, err := tls.X509KeyPair(certPEM, keyPEM); err == nil {
			if c, err := x509.ParseCertificate(pair.Certificate[0]); err == nil && ok(c) && now.Before(c.NotAfter) && c.CheckSignatureFrom(ca) == nil {
				return certPEM, keyPEM, nil
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	t := tmpl()
	t.SerialNumber = serial()
	t.NotBefore, t.NotAfter = now.Add(-time.Hour), now.AddDate(5, 0, 0)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, t, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	kp, err := pemKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pemCert(der)
	if err := os.WriteFile(filepath.Join(dir, keyFile), kp, 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, certFile), certPEM, 0o644); err != nil {
		return nil, nil, err
	}
	return certPEM, kp, nil
}

// WriteKubeconfig writes <dir>/kubeconfig for the admin token and returns its path.
func (b *Bundle) WriteKubeconfig(dir, server string) (string, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["svcnet"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: b.CAPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: b.AdminToken}
	cfg.Contexts["svcnet"] = &clientcmdapi.Context{Cluster: "svcnet", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "svcnet"
	path, err := filepath.Abs(filepath.Join(dir, kubeconfigFn))
	if err != nil {
		return "", err
	}
	return path, clientcmd.WriteToFile(*cfg, path)
}

// CAPool is a pool holding the CA.
func (b *Bundle) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(b.CA)
	return p
}
