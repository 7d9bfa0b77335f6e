package pki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Etcd is the embedded etcd's credentials, kubeadm's layout: a CA of its
// own (so no certificate the cluster CA signs — a node's, a user's — opens
// etcd), a serving certificate for loopback, and the one client
// certificate, the API server's.
type Etcd struct {
	// CAFile, CertFile and KeyFile are the etcd server's (absolute paths).
	CAFile, CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are the API server's, for etcd.
	ClientCertFile, ClientKeyFile string
}

// Paths of the etcd credentials inside the data dir.
const (
	etcdCACert     = "pki/etcd/ca.crt"
	etcdCAKey      = "pki/etcd/ca.key"
	etcdServerCert = "pki/etcd/server.crt"
	etcdServerKey  = "pki/etcd/server.key"
	etcdClientCert = "pki/apiserver-etcd-client.crt"
	etcdClientKey  = "pki/apiserver-etcd-client.key"
)

// LoadOrCreateEtcd reads the etcd credentials in dir, creating what is
// missing.
func LoadOrCreateEtcd(dir string, now time.Time) (*Etcd, error) {
	if err := os.MkdirAll(filepath.Join(dir, "pki", "etcd"), 0o700); err != nil {
		return nil, err
	}
	ca, caKey, err := loadOrCreateCA(dir, etcdCACert, etcdCAKey, "svcnet-etcd-ca", now)
	if err != nil {
		return nil, err
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if _, _, err := loadOrIssue(dir, etcdServerCert, etcdServerKey, ca, caKey, now, func(*x509.Certificate) bool { return true }, func() *x509.Certificate {
		// Server and client use: the member's peer listener serves and dials with it.
		return &x509.Certificate{Subject: pkix.Name{CommonName: "svcnet-etcd"}, DNSNames: []string{"localhost"}, IPAddresses: loopback,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	}); err != nil {
		return nil, err
	}
	if _, _, err := loadOrIssue(dir, etcdClientCert, etcdClientKey, ca, caKey, now, func(*x509.Certificate) bool { return true }, func() *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "svcnet-apiserver-etcd-client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	}); err != nil {
		return nil, err
	}
	abs := func(p string) string { a, _ := filepath.Abs(filepath.Join(dir, p)); return a }
	return &Etcd{CAFile: abs(etcdCACert), CertFile: abs(etcdServerCert), KeyFile: abs(etcdServerKey),
		ClientCertFile: abs(etcdClientCert), ClientKeyFile: abs(etcdClientKey)}, nil
}

// ClientTLS is the TLS configuration of a client of an etcd whose CA is in
// caFile, with the client certificate in certFile and keyFile (any may be
// empty: no CA check beyond the system's, no client certificate).
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &os.PathError{Op: "parse CA", Path: caFile, Err: os.ErrInvalid}
		}
	}
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
