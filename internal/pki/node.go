package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Node names, as Kubernetes names a kubelet.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

// issue signs a new key's certificate from template t with the CA.
func (b *Bundle) issue(t *x509.Certificate, now time.Time) (certPEM, keyPEM []byte, err error) {
	if b.caKey == nil {
		return nil, nil, errors.New("pki: no CA key to sign with")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	t.SerialNumber = serial()
	t.NotBefore, t.NotAfter = now.Add(-time.Hour), now.AddDate(1, 0, 0)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, t, b.CA, &key.PublicKey, b.caKey)
	if err != nil {
		return nil, nil, err
	}
	kp, err := pemKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemCert(der), kp, nil
}

// NodeServing issues a serving certificate for a node's server (logs,
// attach, exec) valid for hosts (names and addresses).
func (b *Bundle) NodeServing(node string, hosts []string, now time.Time) (tls.Certificate, error) {
	t := &x509.Certificate{Subject: pkix.Name{CommonName: node}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else {
			t.DNSNames = append(t.DNSNames, h)
		}
	}
	c, k, err := b.issue(t, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(c, k)
}

// Node credential file names inside a node's directory.
const (
	NodeKubeconfig  = "kubeconfig"
	NodeServingCert = "serving.crt"
	NodeServingKey  = "serving.key"
	NodeCA          = "ca.crt"
)

// WriteNodeCredentials writes, into dir (0700), what one node's agent
// needs and nothing more: a kubeconfig for server with a client
// certificate for system:node:NAME in system:nodes (what the API lets a
// kubelet do), a serving certificate for its server valid for hosts, and
// the cluster CA (to trust the API, and to know the API server's client
// certificate when it calls). It returns the kubeconfig's path.
func (b *Bundle) WriteNodeCredentials(dir, node, server string, hosts []string, now time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	clientCert, clientKey, err := b.issue(&x509.Certificate{Subject: pkix.Name{CommonName: NodeUserPrefix + node, Organization: []string{NodesGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, now)
	if err != nil {
		return "", err
	}
	serving, err := b.NodeServing(node, hosts, now)
	if err != nil {
		return "", err
	}
	servingKey, err := pemKey(serving.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		return "", err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{NodeServingCert, pemCert(serving.Certificate[0]), 0o644},
		{NodeServingKey, servingKey, 0o600},
		{NodeCA, b.CAPEM, 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return "", err
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["svcnet"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: b.CAPEM}
	user := NodeUserPrefix + node
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: clientCert, ClientKeyData: clientKey}
	cfg.Contexts["svcnet"] = &clientcmdapi.Context{Cluster: "svcnet", AuthInfo: user}
	cfg.CurrentContext = "svcnet"
	path, err := filepath.Abs(filepath.Join(dir, NodeKubeconfig))
	if err != nil {
		return "", err
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("node kubeconfig: %w", err)
	}
	return path, os.Chmod(path, 0o600)
}

// WriteUserKubeconfig writes a kubeconfig for server at path (0600) with a
// client certificate for user in groups (its organizations), as
// `kubeadm kubeconfig user` makes one; what the user may do is RBAC's.
func (b *Bundle) WriteUserKubeconfig(path, user string, groups []string, server string, now time.Time) error {
	cert, key, err := b.issue(&x509.Certificate{Subject: pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["svcnet"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: b.CAPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["svcnet"] = &clientcmdapi.Context{Cluster: "svcnet", AuthInfo: user}
	cfg.CurrentContext = "svcnet"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("user kubeconfig: %w", err)
	}
	return os.Chmod(path, 0o600)
}
