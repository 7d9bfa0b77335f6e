// Package nodeproxy serves the API's pods/log, pods/attach and pods/exec
// subresources from the node a pod runs on, as kube-apiserver reaches its
// kubelets: a node's server (the process runtime's, on the Node's
// InternalIP at the port it publishes as its kubelet endpoint) speaks
// HTTPS with a certificate of the cluster CA and answers only the API
// server's kubelet-client certificate. A log comes straight from this
// server's own process runtime when the pod runs there.
package nodeproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcnet/svcnet/internal/kube"
	"github.com/svcnet/svcnet/internal/nodeagent/process"
)

// Writer receives log bytes; Flush pushes them to the client. (An alias
// of an unnamed interface, as apiserver.LogWriter is, so that Source is an
// apiserver.LogSource without importing the API server.)
type Writer = interface {
	io.Writer
	Flush()
}

// Source finds and streams container logs. Build it with everything it
// needs before the API serves; it holds no state of its own.
type Source struct {
	// Local is the process runtime of this server's node; nil when it has
	// none (no node, or simulated pods).
	Local *process.Runtime
	// Client reads Pods and Nodes to find a remote pod's node.
	Client kubernetes.Interface
	// TLS reaches the nodes' servers: the cluster CA (their serving
	// certificates) and the API server's kubelet-client certificate (the
	// one caller they take).
	TLS *tls.Config

	once      sync.Once
	transport *http.Transport
}

// tr is the transport to the nodes, made once.
func (s *Source) tr() *http.Transport {
	s.once.Do(func() {
		s.transport = http.DefaultTransport.(*http.Transport).Clone()
		s.transport.TLSClientConfig = s.TLS
		s.transport.ForceAttemptHTTP2 = false // streams upgrade HTTP/1.1 connections
	})
	return s.transport
}

// Logs writes the log of container o.Container of pod ns/pod to w.
func (s *Source) Logs(ctx context.Context, ns, pod string, o *corev1.PodLogOptions, w Writer) error {
	if s.Local != nil {
		err := s.Local.Logs(ctx, ns, pod, o, w)
		if !errors.Is(err, process.ErrNoPod) {
			return err
		}
	}
	u, err := s.nodeURL(ctx, ns, pod, o)
	var none *noServerError
	if errors.As(err, &none) {
		return nil // a simulated pod ran nothing: its log is empty
	}
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: s.tr()}).Do(req)
	if err != nil {
		return fmt.Errorf("node log server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("node log server: %s", strings.TrimSpace(string(b)))
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil // the client went away
			}
			w.Flush()
		}
		if err != nil {
			return nil
		}
	}
}

// nodeURL is where the node running pod ns/pod serves its container's log.
func (s *Source) nodeURL(ctx context.Context, ns, pod string, o *corev1.PodLogOptions) (string, error) {
	base, err := s.nodeBase(ctx, ns, pod)
	if err != nil {
		return "", err
	}
	q, err := kube.EncodeQuery(o)
	if err != nil {
		return "", err
	}
	base.Path, base.RawQuery = "/containerLogs/"+ns+"/"+pod+"/"+o.Container, q.Encode()
	return base.String(), nil
}

// nodeBase is the address of the server of the node pod ns/pod is bound to.
func (s *Source) nodeBase(ctx context.Context, ns, pod string) (*url.URL, error) {
	p, err := s.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if p.Spec.NodeName == "" {
		return nil, fmt.Errorf("pod %s is not scheduled yet", pod)
	}
	node, err := s.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	addr := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			addr = a.Address
		}
	}
	if port == 0 || addr == "" {
		return nil, &noServerError{node: node.Name}
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(addr, strconv.Itoa(int(port)))}, nil
}

// Stream proxies an attach or exec request (subresource) for container
// ctr of pod ns/pod to its node, upgraded connection and all: the node
// speaks the remote-command protocol with the client. The client's
// credentials stay here; the node sees the API server's certificate.
func (s *Source) Stream(w http.ResponseWriter, r *http.Request, ns, pod, subresource, ctr string) error {
	base, err := s.nodeBase(r.Context(), ns, pod)
	var none *noServerError
	if errors.As(err, &none) {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s runs on node %s, which runs no processes for it (simulated pods, or an agent without a serving certificate)", pod, none.node))
	}
	if err != nil {
		return err
	}
	target := *base
	target.Path, target.RawQuery = "/"+subresource+"/"+ns+"/"+pod+"/"+ctr, r.URL.RawQuery
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = &target
			pr.Out.Host = target.Host
			pr.Out.Header.Del("Authorization")
		},
		Transport: s.tr(),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "node: "+err.Error(), http.StatusBadGateway)
		},
	}
	proxy.ServeHTTP(w, r)
	return nil
}

// noServerError: the pod's node has no server (its pods are simulated, or
// its agent has no serving certificate).
type noServerError struct{ node string }

func (e *noServerError) Error() string {
	return "node " + e.node + " serves no containers' logs or streams (its pods are simulated, or its agent has no serving certificate)"
}
