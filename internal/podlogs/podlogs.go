// Package podlogs serves the API's pods/log subresource: a container's log
// comes from the process runtime of this server's own node when it runs
// the pod there, and otherwise from the log server of the node the pod is
// bound to (a `svcnet agent`), which the Node publishes as its kubelet
// endpoint and which answers holders of the cluster's bearer token.
package podlogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
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
	// Token is the bearer token node log servers accept.
	Token string
	// HTTP reaches the nodes' log servers (nil: http.DefaultClient).
	HTTP *http.Client
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
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	hc := s.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
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
	p, err := s.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if p.Spec.NodeName == "" {
		return "", fmt.Errorf("pod %s is not scheduled yet", pod)
	}
	node, err := s.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	addr := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			addr = a.Address
		}
	}
	if port == 0 || addr == "" {
		return "", fmt.Errorf("node %s serves no container logs (its pods are simulated, or its agent has no token)", node.Name)
	}
	q, err := kube.EncodeQuery(o)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(addr, strconv.Itoa(int(port))),
		Path: "/containerLogs/" + ns + "/" + pod + "/" + o.Container, RawQuery: q.Encode()}
	return u.String(), nil
}
