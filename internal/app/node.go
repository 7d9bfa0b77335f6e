package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/svcnet/svcnet/internal/app/daemon"
	"github.com/svcnet/svcnet/internal/echo"
	"github.com/svcnet/svcnet/internal/hello"
	"github.com/svcnet/svcnet/internal/nodeagent"
	"github.com/svcnet/svcnet/internal/nodeagent/process"
	"github.com/svcnet/svcnet/internal/poddns"
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
	// Proxy is "auto" (on with the process runtime), "on", "node" (only
	// this node's nodePorts: another proxy on the machine serves its shared
	// addresses) or "off".
	Proxy string
	// LeaseDurationSeconds of the node's heartbeat Lease, renewed every
	// quarter of it (kubelet's --node-lease-duration-seconds).
	LeaseDurationSeconds int
	// NodePortAddresses are where nodePorts listen (kube-proxy's
	// --nodeport-addresses, as addresses); "" is the node's InternalIP.
	NodePortAddresses string
}

// DefaultNodeOptions: simulated pods, the proxy only with real ones.
func DefaultNodeOptions() NodeOptions {
	return NodeOptions{Runtime: "sim", RestartBackoff: 10 * time.Second, Proxy: "auto", LeaseDurationSeconds: 40}
}

func addNodeFlags(cmd *cobra.Command, o *NodeOptions) {
	f := cmd.Flags()
	f.StringVar(&o.Runtime, "runtime", o.Runtime, "how pods run: sim (nothing runs; pods are Ready at once) or process (each container is a local process on its pod IP)")
	f.StringVar(&o.ImageMap, "image-map", o.ImageMap, "YAML file mapping image names to commands for the process runtime (an image not listed runs `svcnet hello`)")
	f.DurationVar(&o.RestartBackoff, "restart-backoff", o.RestartBackoff, "first crash-loop back-off of the process runtime (then doubling, up to 5m)")
	f.StringVar(&o.Proxy, "proxy", o.Proxy, "Service proxy: auto (on with --runtime process), on, node (only this node's nodePorts on --internal-ip, for a node sharing a machine with another proxy) or off")
	f.StringVar(&o.NodePortAddresses, "nodeport-addresses", o.NodePortAddresses, "comma-separated addresses the proxy serves nodePorts on (default: the node's internal IP)")
	f.IntVar(&o.LeaseDurationSeconds, "node-lease-duration-seconds", o.LeaseDurationSeconds, "the node's heartbeat Lease duration; it is renewed every quarter of it")
}

// Validate checks the node options.
func (o NodeOptions) Validate() error {
	var errs []error
	if o.Runtime != "sim" && o.Runtime != "process" {
		errs = append(errs, fmt.Errorf("--runtime must be sim or process, not %q", o.Runtime))
	}
	if o.Proxy != "auto" && o.Proxy != "on" && o.Proxy != "off" && o.Proxy != "node" {
		errs = append(errs, fmt.Errorf("--proxy must be auto, on, node or off, not %q", o.Proxy))
	}
	if _, err := nodePortAddresses(o.NodePortAddresses, "127.0.0.1"); err != nil {
		errs = append(errs, err)
	}
	if o.LeaseDurationSeconds < 4 {
		errs = append(errs, fmt.Errorf("--node-lease-duration-seconds %d: want 4 or more", o.LeaseDurationSeconds))
	}
	if o.RestartBackoff <= 0 {
		errs = append(errs, fmt.Errorf("--restart-backoff %s: must be positive", o.RestartBackoff))
	}
	return errors.Join(errs...)
}

func (o NodeOptions) proxyOn() bool {
	return o.Proxy == "on" || o.Proxy == "node" || (o.Proxy == "auto" && o.Runtime == "process")
}

// node is a built node: its agent, its runtime, its log server and its
// proxy, none of them started.
type node struct {
	agent   *nodeagent.Agent
	runtime *process.Runtime // nil for sim
	logs    *process.LogServer
	proxy   *proxy.Proxy
	// built is agent for the runtime's goroutines, once it exists.
	built atomic.Pointer[nodeagent.Agent]
}

// buildNode builds a node agent with its runtime, and the proxy when on.
// logToken, when set, is the bearer token the API server presents to read
// this node's container logs (process runtime): they are served on the
// node's InternalIP at the port the Node publishes.
// buildNode builds a node: its agent, its runtime and, with the process
// runtime, its server (logs, attach, exec for the API server) when
// serverTLS gives it credentials.
func buildNode(client kubernetes.Interface, cfg nodeagent.Config, o NodeOptions, dataDir string, serverTLS *process.ServerTLS, reg prometheus.Registerer, log *slog.Logger) (*node, error) {
	n := &node{}
	if o.Runtime == "process" {
		var err error
		if n.runtime, err = buildProcessRuntime(&cfg, o, dataDir, log, &n.built); err != nil {
			return nil, err
		}
		if serverTLS != nil {
			if n.logs, err = n.runtime.ListenLogs(net.JoinHostPort(cfg.InternalIP, "0"), *serverTLS); err != nil {
				n.runtime.Close()
				return nil, fmt.Errorf("node server: %w", err)
			}
			cfg.LogPort = n.logs.Port()
		} else {
			log.Warn("no serving certificate (--tls-cert-file): this node's container logs, attach and exec are not served to the API")
		}
	}
	a, err := nodeagent.New(cfg, client, log, time.Now)
	if err != nil {
		return nil, err
	}
	n.agent = a
	n.built.Store(a)
	if o.proxyOn() {
		pc := proxy.Config{Metrics: reg, NodeName: cfg.NodeName, NodeOnly: o.Proxy == "node", Zone: cfg.Labels["topology.kubernetes.io/zone"]}
		pc.NodeAddresses, _ = nodePortAddresses(o.NodePortAddresses, cfg.InternalIP) // checked by Validate
		n.proxy = proxy.New(pc, client, log)
	}
	return n, nil
}

// buildProcessRuntime makes the process runtime of cfg's node and points
// cfg at it. agent holds the node's agent once it is built: the runtime
// asks it for syncs and for the Service environment of its pods.
func buildProcessRuntime(cfg *nodeagent.Config, o NodeOptions, dataDir string, log *slog.Logger, agent *atomic.Pointer[nodeagent.Agent]) (*process.Runtime, error) {
	images, err := readImageMap(o.ImageMap)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	busybox, _ := exec.LookPath("busybox")
	rt, err := process.New(process.Config{
		Dir: filepath.Join(dataDir, "pods", cfg.NodeName), Hello: []string{self, "hello"}, Echo: []string{self, "echo"}, Images: images,
		BackoffBase: o.RestartBackoff, Log: log.With("node", cfg.NodeName),
		PodInit: []string{self, podInitCommand}, Busybox: busybox, Nslookup128: self,
		DNS: func() poddns.Cluster {
			if a := agent.Load(); a != nil {
				return a.ClusterDNS()
			}
			return poddns.Cluster{}
		},
		Notify: func(ns, name string) {
			if a := agent.Load(); a != nil {
				a.Enqueue(ns, name)
			}
		},
		Source: func(ns, kind, name string) (map[string]string, bool, error) {
			if a := agent.Load(); a != nil {
				return a.ConfigData(ns, kind, name)
			}
			return nil, false, errors.New("the node is not running yet")
		},
		Claim: func(ns, claim string) (string, error) {
			if a := agent.Load(); a != nil {
				return a.ClaimDir(ns, claim)
			}
			return "", errors.New("the node is not running yet")
		},
		Event: func(p *corev1.Pod, typ, reason, message string) {
			if a := agent.Load(); a != nil {
				a.Event(p, typ, reason, message)
			}
		},
		Token: func(p *corev1.Pod, audiences []string, exp int64) (string, error) {
			if a := agent.Load(); a != nil {
				return a.ServiceAccountToken(p, audiences, exp)
			}
			return "", errors.New("the node is not running yet")
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
	if cfg.InternalIP == "" {
		cfg.InternalIP = "127.0.0.1"
	}
	return rt, nil
}

// start runs the node's parts in g; the runtime's processes end with g.
func (n *node) start(g *daemon.Group) {
	if n.logs != nil {
		g.Go(n.logs.Run)
	}
	if n.runtime != nil {
		g.Go(func(ctx context.Context) error {
			<-ctx.Done()
			n.runtime.Close()
			return nil
		})
	}
	g.Go(n.agent.Run)
	if n.proxy != nil {
		g.Go(n.proxy.Run)
	}
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

func echoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "echo",
		Short: "Answer HTTP requests with a JSON description of them, as the Gateway API conformance suite's echo-basic image does (what that image runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return echo.Run(cmd.Context(), echo.FromEnv(os.Getenv))
		},
	}
}

// podInitCommand is the hidden command a container process starts as when
// it gets namespaces of its own (process.PodInit).
const podInitCommand = "pod-init"

func podInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:                podInitCommand + " --resolv-conf FILE --hosts FILE --hostname NAME -- COMMAND [ARG...]",
		Short:              "Start a container: bind its pod's resolv.conf and hosts, set its hostname, exec its command (used by the process runtime)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			p, err := process.ParsePodInit(args)
			if err != nil {
				return err
			}
			return p.Run()
		},
	}
}

// nodePortAddresses parses --nodeport-addresses, the node's internal IP
// when empty.
func nodePortAddresses(list, internalIP string) ([]netip.Addr, error) {
	if strings.TrimSpace(list) == "" {
		list = internalIP
	}
	var out []netip.Addr
	for _, s := range strings.Split(list, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("--nodeport-addresses: %q is not an address", s)
		}
		out = append(out, a)
	}
	return out, nil
}
