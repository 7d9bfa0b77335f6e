package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/svcnet/svcnet/internal/app/daemon"
	"github.com/svcnet/svcnet/internal/nodeagent"
)

// AgentOptions are the flags of `svcnet agent`.
type AgentOptions struct {
	Kubeconfig    string
	Server        string
	Token         string
	CAFile        string
	NodeName      string
	Zone          string
	InternalIP    string
	SimReadyAfter time.Duration
	LogLevel      string
	// DataDir keeps the process runtime's container logs.
	DataDir     string
	MetricsAddr string
	Node        NodeOptions
}

func agentCommand(stdout, stderr io.Writer) *cobra.Command {
	o := AgentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent (and its ClusterIP proxy) that joins a svcnet (or Kubernetes) API as one more node",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return RunAgent(cmd.Context(), o, stdout, stderr) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig of the API (instead of --server, --token, --ca-file)")
	f.StringVar(&o.Server, "server", "", "API URL, e.g. https://127.0.0.1:6443")
	f.StringVar(&o.Token, "token", "", "bearer token (the server's <data-dir>/pki/admin.token)")
	f.StringVar(&o.CAFile, "ca-file", "", "CA certificate of the API (the server's <data-dir>/pki/ca.crt)")
	f.StringVar(&o.NodeName, "node-name", "", "name of the node (required)")
	f.StringVar(&o.Zone, "zone", "", "topology.kubernetes.io/zone label of the node")
	f.StringVar(&o.InternalIP, "internal-ip", "127.0.0.1", "the node's address")
	f.DurationVar(&o.SimReadyAfter, "sim-ready-after", 0, "how long simulated pods take to become ready")
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.DataDir, "data-dir", "./svcnet-agent-data", "directory for the process runtime's container logs")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "", "address of /metrics (proxy metrics); empty serves none")
	addNodeFlags(cmd, &o.Node)
	return cmd
}

// RunAgent runs one node until ctx ends.
func RunAgent(ctx context.Context, o AgentOptions, stdout, stderr io.Writer) error {
	log, err := daemon.NewLogger(o.LogLevel, stderr)
	if err != nil {
		return err
	}
	klog.SetSlogLogger(log)
	if o.NodeName == "" {
		return errors.New("--node-name is required")
	}
	var cfg *rest.Config
	switch {
	case o.Kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	case o.Server != "" && o.Token != "" && o.CAFile != "":
		cfg = &rest.Config{Host: o.Server, BearerToken: o.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: o.CAFile}}
	default:
		return errors.New("give --kubeconfig, or --server with --token and --ca-file")
	}
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst, cfg.UserAgent = 500, 1000, "svcnet-agent/"+o.NodeName
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	if o.Zone != "" {
		labels["topology.kubernetes.io/zone"] = o.Zone
	}
	if o.Node.Runtime == "" {
		o.Node = NodeOptions{Runtime: "sim", Proxy: "auto"}
	}
	if err := o.Node.check(); err != nil {
		return err
	}
	g := daemon.NewGroup(ctx)
	defer g.Cancel()
	ms, metricsAddr, err := daemon.StartMetrics(g, o.MetricsAddr, log)
	if err != nil {
		return err
	}
	var reg prometheus.Registerer
	if ms != nil {
		reg = ms.Reg
	}
	ncfg := nodeagent.Config{NodeName: o.NodeName, Labels: labels, InternalIP: o.InternalIP, ReadyAfter: o.SimReadyAfter}
	if _, err := startNode(g, client, ncfg, o.Node, o.DataDir, cfg.BearerToken, reg, log); err != nil {
		g.Cancel()
		_ = g.Wait()
		return err
	}
	fmt.Fprintf(stdout, "svcnet agent: node %s (%s runtime) joining %s\n", o.NodeName, o.Node.Runtime, cfg.Host)
	if metricsAddr != "" {
		fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", metricsAddr)
	}
	return g.Wait()
}
