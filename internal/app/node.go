package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/svcnet/svcnet/internal/apiserver"
	"github.com/svcnet/svcnet/internal/app/daemon"
	"github.com/svcnet/svcnet/internal/hello"
	"github.com/svcnet/svcnet/internal/nodeagent"
	"github.com/svcnet/svcnet/internal/nodeagent/process"
	"github.com/svcnet/svcnet/internal/proxy"
)

// NodeOptions choose how a node runs its pods (server and agent alike).
type NodeOptions struct {
	// Runtime is "sim" or "process".
	Runtime string
	// ImageMap is a YAML file of image → command for the process runtime.
	ImageMap string
	// RestartBackoff is the first crash-loop delay (Kubernetes: 10s).
	RestartBackoff time.Duration
	// Proxy is "auto" (on with the process runtime), "on" or "off".
	Proxy string
}

// Process-mode address defaults: inside 127.0.0.0/8 (all of it is the
// loopback device on Linux, so no root is needed), clear of 127.0.0.0/16
// and of systemd-resolved's 127.0.0.53.
const (
	processServiceCIDR = "127.96.0.0/16"
	processClusterCIDR = "127.244.0.0/16"
)

func addNodeFlags(cmd *cobra.Command, o *NodeOptions) {
	f := cmd.Flags()
	f.StringVar(&o.Runtime, "runtime", "sim", "how pods run: sim (nothing runs; pods are Ready at once) or process (each container is a local process on its pod IP)")
	f.StringVar(&o.ImageMap, "image-map", "", "YAML file mapping image names to commands for the process runtime (an image not listed runs `svcnet hello`)")
	f.DurationVar(&o.RestartBackoff, "restart-backoff", 10*time.Second, "first crash-loop back-off of the process runtime (then doubling, up to 5m)")
	f.StringVar(&o.Proxy, "proxy", "auto", "ClusterIP proxy: auto (on with --runtime process), on or off")
}

func (o NodeOptions) check() error {
	if o.Runtime != "sim" && o.Runtime != "process" {
		return fmt.Errorf("--runtime must be sim or process, not %q", o.Runtime)
	}
	if o.Proxy != "auto" && o.Proxy != "on" && o.Proxy != "off" {
		return fmt.Errorf("--proxy must be auto, on or off, not %q", o.Proxy)
	}
	return nil
}

func (o NodeOptions) proxyOn() bool {
	return o.Proxy == "on" || (o.Proxy == "auto" && o.Runtime == "process")
}

// nodeParts are a node's running pieces.
type nodeParts struct {
	agent   *nodeagent.Agent
	runtime *process.Runtime // nil for sim
}

// startNode runs a node agent with its runtime, and the proxy when on.
// logToken, when set, is the bearer token the API server presents to read
// this node's container logs (process runtime): they are served on the
// node's InternalIP at the port the Node publishes.
func startNode(g *daemon.Group, client kubernetes.Interface, cfg nodeagent.Config, o NodeOptions, dataDir, logToken string, reg prometheus.Registerer, log *slog.Logger) (*nodeParts, error) {
	parts := &nodeParts{}
	if o.Runtime == "process" {
		images, err := readImageMap(o.ImageMap)
		if err != nil {
			return nil, err
		}
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("process runtime: %w", err)
		}
		var agent atomic.Pointer[nodeagent.Agent]
		rt, err := process.New(process.Config{
			Dir: filepath.Join(dataDir, "pods", cfg.NodeName), Hello: []string{self, "hello"}, Images: images,
			BackoffBase: o.RestartBackoff, Log: log.With("node", cfg.NodeName),
			Notify: func(ns, name string) {
				if a := agent.Load(); a != nil {
					a.Enqueue(ns, name)
				}
			},
			Env: func(ns string) []corev1.EnvVar {
				if a := agent.Load(); a != nil {
					return a.ServiceEnv(ns)
				}
				return nil
			},
		})
		if err != nil {
			return nil, err
		}
		cfg.Runtime, cfg.RuntimeName = rt, "process"
		if logToken != "" {
			ip := cfg.InternalIP
			if ip == "" {
				ip = "127.0.0.1"
			}
			ls, err := rt.ListenLogs(net.JoinHostPort(ip, "0"), logToken)
			if err != nil {
				return nil, fmt.Errorf("container log server: %w", err)
			}
			cfg.LogPort = ls.Port()
			g.Go(ls.Run)
		} else {
			log.Warn("no bearer token: this node's container logs are not served to the API (kubectl logs)")
		}
		a, err := nodeagent.New(cfg, client, log, time.Now)
		if err != nil {
			return nil, err
		}
		agent.Store(a)
		parts.agent, parts.runtime = a, rt
		g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			rt.Close()
			return nil
		})
	} else {
		a, err := nodeagent.New(cfg, client, log, time.Now)
		if err != nil {
			return nil, err
		}
		parts.agent = a
	}
	g.Go(parts.agent.Run)
	if o.proxyOn() {
		p := proxy.New(proxy.Config{Metrics: reg}, client, log)
		g.Go(p.Run)
	}
	return parts, nil
}

// readImageMap reads image → command (a list, or one string run by sh -c).
func readImageMap(path string) (map[string][]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--image-map: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("--image-map %s: %w", path, err)
	}
	out := map[string][]string{}
	for img, v := range raw {
		switch c := v.(type) {
		case string:
			out[img] = []string{"/bin/sh", "-c", c}
		case []any:
			for _, x := range c {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("--image-map %s: %s: every word must be a string", path, img)
				}
				out[img] = append(out[img], s)
			}
		default:
			return nil, fmt.Errorf("--image-map %s: %s: want a command string or a list of words", path, img)
		}
		if len(out[img]) == 0 {
			return nil, fmt.Errorf("--image-map %s: %s: empty command", path, img)
		}
	}
	return out, nil
}

// podLogs serves pods/log: from the process runtime of this server's own
// node, or from the log server of the node the pod runs on (svcnet agent).
type podLogs struct {
	rt     atomic.Pointer[process.Runtime]
	client kubernetes.Interface
	token  string
}

func (l *podLogs) Logs(ctx context.Context, ns, pod, container string, o apiserver.LogOptions, w apiserver.LogWriter) error {
	if rt := l.rt.Load(); rt != nil {
		err := rt.Logs(ctx, ns, pod, container, process.LogOptions(o), w)
		if !errors.Is(err, process.ErrNoPod) {
			return err
		}
	}
	p, err := l.client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if p.Spec.NodeName == "" {
		return fmt.Errorf("pod %s is not scheduled yet", pod)
	}
	node, err := l.client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	addr := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			addr = a.Address
		}
	}
	if port == 0 || addr == "" {
		return fmt.Errorf("node %s serves no container logs (its pods are simulated, or its agent has no token)", node.Name)
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(addr, strconv.Itoa(int(port))), Path: "/containerLogs/" + ns + "/" + pod + "/" + container,
		RawQuery: process.LogOptions(o).Query().Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("node %s: %w", node.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("node %s: %s", node.Name, strings.TrimSpace(string(b)))
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			w.Flush()
		}
		if err != nil {
			return nil
		}
	}
}

func helloCommand(stdout io.Writer) *cobra.Command {
	var name, ip, ports string
	cmd := &cobra.Command{
		Use:   "hello",
		Short: "Serve a pod's ports with a greeting naming the pod (what an image without a command runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := hello.ParsePorts(ports)
			if err != nil {
				return fmt.Errorf("--ports: %w", err)
			}
			return hello.Run(cmd.Context(), name, ip, ps, stdout)
		},
	}
	cmd.Flags().StringVar(&name, "name", os.Getenv("POD_NAME"), "pod name to answer with")
	cmd.Flags().StringVar(&ip, "ip", os.Getenv("POD_IP"), "address to listen on")
	cmd.Flags().StringVar(&ports, "ports", os.Getenv("SVCNET_HELLO_PORTS"), "ports to serve: 3000/tcp,53/udp (none: 8080)")
	return cmd
}
