package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
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
func startNode(g *daemon.Group, client kubernetes.Interface, cfg nodeagent.Config, o NodeOptions, dataDir string, reg prometheus.Registerer, log *slog.Logger) (*nodeParts, error) {
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

// podLogs serves pods/log from the process runtime of this process's node.
type podLogs struct {
	rt atomic.Pointer[process.Runtime]
}

func (l *podLogs) Logs(ctx context.Context, ns, pod, container string, o apiserver.LogOptions, w apiserver.LogWriter) error {
	rt := l.rt.Load()
	if rt == nil {
		return errors.New("this node runs simulated pods (--runtime sim): they write no logs")
	}
	err := rt.Logs(ctx, ns, pod, container, process.LogOptions(o), w)
	if errors.Is(err, process.ErrNoPod) {
		return fmt.Errorf("%w on this server's node (pods of other nodes serve logs through their agent)", err)
	}
	return err
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
