package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcnet/svcnet/internal/app/daemon"
	"github.com/svcnet/svcnet/internal/kube"
	"github.com/svcnet/svcnet/internal/nodeagent"
	"github.com/svcnet/svcnet/internal/nodeagent/process"
	"github.com/svcnet/svcnet/internal/pki"
)

// AgentOptions are the flags of `svcnet agent`. DefaultAgentOptions holds
// every default; Validate checks them.
type AgentOptions struct {
	Kubeconfig string
	Server     string
	// TokenFile holds a bearer token (SVCNET_TOKEN in the environment is
	// the other way): credentials never go on the command line, where every
	// local user reads them.
	TokenFile string
	CAFile    string
	// TLSCertFile, TLSKeyFile and ClientCAFile are the node server's
	// credentials (kubelet's flags); empty takes serving.crt, serving.key
	// and ca.crt beside --kubeconfig when `svcnet token create node` wrote
	// them there.
	TLSCertFile, TLSKeyFile, ClientCAFile string
	NodeName                              string
	Zone                                  string
	// ClusterDomain is the zone pods' search paths are built from.
	ClusterDomain string
	InternalIP    string
	SimReadyAfter time.Duration
	LogLevel      string
	// DataDir keeps the process runtime's container logs.
	DataDir     string
	MetricsAddr string
	// Profiling serves /debug/pprof on MetricsAddr.
	Profiling bool
	Node      NodeOptions
	// Nodes > 1 simulates that many nodes in this process, named
	// <node-name>-0 … (as kwok does): simulated pods only, no proxy.
	Nodes int
}

// DefaultAgentOptions are the defaults of `svcnet agent`.
func DefaultAgentOptions() AgentOptions {
	return AgentOptions{InternalIP: "127.0.0.1", LogLevel: "info", ClusterDomain: "cluster.local", DataDir: "./svcnet-agent-data", Node: DefaultNodeOptions(), Nodes: 1}
}

// Validate checks every option, reporting all problems at once.
func (o AgentOptions) Validate() error {
	errs := []error{o.Node.Validate(), validLogLevel(o.LogLevel)}
	if o.NodeName == "" {
		errs = append(errs, errors.New("--node-name is required"))
	}
	if o.Kubeconfig == "" && (o.Server == "" || o.CAFile == "" || o.TokenFile == "" && os.Getenv(TokenEnv) == "") {
		errs = append(errs, errors.New("give --kubeconfig (e.g. from `svcnet token create node NAME`), or --server and --ca-file with --token-file or "+TokenEnv))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file go together"))
	}
	if _, err := netip.ParseAddr(o.InternalIP); err != nil {
		errs = append(errs, fmt.Errorf("--internal-ip: %w", err))
	}
	if o.Nodes < 1 {
		errs = append(errs, fmt.Errorf("--nodes %d: at least 1", o.Nodes))
	}
	if o.Nodes > 1 && (o.Node.Runtime != "sim" || o.Node.proxyOn()) {
		errs = append(errs, errors.New("--nodes above 1 simulates its nodes: --runtime sim without --proxy"))
	}
	return errors.Join(errs...)
}

func agentCommand(stdout, stderr io.Writer) *cobra.Command {
	o := DefaultAgentOptions()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent (and its ClusterIP proxy) that joins a svcnet (or Kubernetes) API as one more node",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return RunAgent(cmd.Context(), o, stdout, stderr) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the API: the node's own, from `svcnet token create node NAME` (instead of --server, --ca-file and a token)")
	f.StringVar(&o.Server, "server", o.Server, "API URL, e.g. https://127.0.0.1:6443")
	f.StringVar(&o.TokenFile, "token-file", o.TokenFile, "file holding a bearer token ("+TokenEnv+" in the environment does too)")
	f.StringVar(&o.CAFile, "ca-file", o.CAFile, "CA certificate of the API (the server's <data-dir>/pki/ca.crt)")
	f.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "serving certificate of the node's server (logs, attach, exec); default: serving.crt beside --kubeconfig")
	f.StringVar(&o.TLSKeyFile, "tls-private-key-file", o.TLSKeyFile, "its key; default: serving.key beside --kubeconfig")
	f.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "CA of the API server's client certificate, the one caller the node's server takes; default: ca.crt beside --kubeconfig")
	f.StringVar(&o.NodeName, "node-name", o.NodeName, "name of the node (required)")
	f.StringVar(&o.Zone, "zone", o.Zone, "topology.kubernetes.io/zone label of the node")
	f.StringVar(&o.InternalIP, "internal-ip", o.InternalIP, "the node's address")
	f.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "the cluster's DNS zone, for pods' search paths")
	f.DurationVar(&o.SimReadyAfter, "sim-ready-after", o.SimReadyAfter, "how long simulated pods take to become ready")
	f.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	f.StringVar(&o.DataDir, "data-dir", o.DataDir, "directory for the process runtime's container logs")
	f.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "address of /metrics (proxy metrics); empty serves none")
	f.BoolVar(&o.Profiling, "profiling", o.Profiling, "serve /debug/pprof on --metrics-addr")
	f.IntVar(&o.Nodes, "nodes", o.Nodes, "simulate this many nodes, named <node-name>-0, <node-name>-1, … (sim runtime; credentials that may act for every one of them)")
	addNodeFlags(cmd, &o.Node)
	return cmd
}

// restConfig is the agent's client configuration.
func (o AgentOptions) restConfig() (*rest.Config, error) {
	if o.Kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		return cfg, nil
	}
	cfg := &rest.Config{Host: o.Server, BearerTokenFile: o.TokenFile, TLSClientConfig: rest.TLSClientConfig{CAFile: o.CAFile}}
	if o.TokenFile == "" {
		cfg.BearerToken = os.Getenv(TokenEnv)
	}
	return cfg, nil
}

// TokenEnv is the environment variable an agent's bearer token may come in.
const TokenEnv = "SVCNET_TOKEN"

// serverTLS is the node server's credentials: the flags, or the files
// `svcnet token create node` wrote beside the kubeconfig; nil when there
// are none (the node then serves no logs, attach or exec).
func (o AgentOptions) serverTLS() (*process.ServerTLS, error) {
	cert, key, ca := o.TLSCertFile, o.TLSKeyFile, o.ClientCAFile
	if o.Kubeconfig != "" {
		dir := filepath.Dir(o.Kubeconfig)
		beside := func(flag *string, name string) {
			if *flag == "" {
				if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
					*flag = filepath.Join(dir, name)
				}
			}
		}
		if cert == "" && key == "" {
			beside(&cert, pki.NodeServingCert)
			beside(&key, pki.NodeServingKey)
		}
		beside(&ca, pki.NodeCA)
	}
	if ca == "" && o.CAFile != "" {
		ca = o.CAFile // the cluster CA signs the API server's client certificate too
	}
	if cert == "" || key == "" || ca == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("node serving certificate: %w", err)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--client-ca-file %s: no certificate", ca)
	}
	return &process.ServerTLS{Cert: pair, ClientCA: pool, Caller: pki.KubeletClientName}, nil
}

// startSimulatedNodes starts o.Nodes simulated nodes that share one
// Services informer; each has its own client (rate limits, as separate
// kubelets have) over one connection pool.
func startSimulatedNodes(g *daemon.Group, cfg *rest.Config, base nodeagent.Config, o AgentOptions, log *slog.Logger) error {
	shared, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(shared, 0, informers.WithTransform(kube.StripManagedFields))
	services := factory.Core().V1().Services()
	services.Informer() // registered before Start
	g.Go(func(ctx context.Context) error {
		factory.Start(ctx.Done())
		<-ctx.Done()
		factory.Shutdown()
		return nil
	})
	for i := range o.Nodes {
		ncfg := base
		ncfg.NodeName = fmt.Sprintf("%s-%d", o.NodeName, i)
		ncfg.Services = services
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		n, err := buildNode(c, ncfg, o.Node, o.DataDir, nil, nil, log.With("node", ncfg.NodeName))
		if err != nil {
			return err
		}
		n.start(g)
	}
	return nil
}

// RunAgent runs one node until ctx ends.
func RunAgent(ctx context.Context, o AgentOptions, stdout, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log, err := daemon.NewLogger(o.LogLevel, stderr)
	if err != nil {
		return err
	}
	daemon.RouteKlog(log)
	cfg, err := o.restConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst, cfg.UserAgent = 500, 1000, "svcnet-agent/"+o.NodeName
	kube.Protobuf(cfg)
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	if o.Zone != "" {
		labels["topology.kubernetes.io/zone"] = o.Zone
	}
	var metrics *daemon.MetricsServer
	if o.MetricsAddr != "" {
		metrics = daemon.NewMetricsServer(o.MetricsAddr, o.Profiling, log)
	}
	ncfg := nodeagent.Config{NodeName: o.NodeName, Labels: labels, InternalIP: o.InternalIP, ReadyAfter: o.SimReadyAfter, ClusterDomain: o.ClusterDomain,
		LeaseDuration: time.Duration(o.Node.LeaseDurationSeconds) * time.Second}
	serverTLS, err := o.serverTLS()
	if err != nil {
		return err
	}
	g := daemon.NewGroup(ctx)
	defer g.Cancel()
	if o.Nodes > 1 {
		if err := startSimulatedNodes(g, cfg, ncfg, o, log); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "svcnet agent: %d simulated nodes %s-0 … %s-%d joining %s\n", o.Nodes, o.NodeName, o.NodeName, o.Nodes-1, cfg.Host)
		return g.Wait()
	}
	n, err := buildNode(client, ncfg, o.Node, o.DataDir, serverTLS, metrics.Registerer(), log)
	if err != nil {
		return err
	}
	metricsAddr := ""
	if metrics != nil {
		if metricsAddr, err = daemon.Start(g, metrics); err != nil {
			return err
		}
	}
	n.start(g)
	fmt.Fprintf(stdout, "svcnet agent: node %s (%s runtime) joining %s\n", o.NodeName, o.Node.Runtime, cfg.Host)
	if metricsAddr != "" {
		fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", metricsAddr)
	}
	return g.Wait()
}
