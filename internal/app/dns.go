package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/svcnet/svcnet/internal/dns"
)

// DNSOptions are the DNS flags of `svcnet server` and `svcnet dns`.
type DNSOptions struct {
	Addr          string
	ClusterDomain string
	TTL           uint32
	Pods          string
	Ordered       bool
	Upstream      string
	MetricsAddr   string
	LogQueries    bool
}

func addDNSFlags(cmd *cobra.Command, o *DNSOptions) {
	f := cmd.Flags()
	f.StringVar(&o.Addr, "dns-addr", "127.0.0.1:1053", "UDP and TCP address of the cluster DNS; empty runs none")
	f.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS zone")
	f.Uint32Var(&o.TTL, "ttl", 5, "TTL of cluster records, seconds (0-3600)")
	f.StringVar(&o.Pods, "pods", "insecure", "a-b-c-d.<ns>.pod.<zone> records: insecure or disabled")
	f.BoolVar(&o.Ordered, "ordered", false, "keep headless and SRV answers in order instead of shuffling them per query")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "127.0.0.1:9153", "address of /metrics, /health and /ready; empty serves none")
	f.BoolVar(&o.LogQueries, "log-queries", false, "log every DNS query")
	f.StringVar(&o.Upstream, "upstream", "", "servers for names outside the cluster zone (host[:port],...); empty: /etc/resolv.conf's; none: answer REFUSED")
}

func newDNS(o DNSOptions, client kubernetes.Interface, log *slog.Logger, metrics *metricsServer) (*dns.Server, error) {
	cfg := dns.Config{Addr: o.Addr, ClusterDomain: o.ClusterDomain, TTL: o.TTL, Pods: dns.PodsMode(o.Pods), Ordered: o.Ordered,
		Upstreams: upstreams(o.Upstream, o.Addr), LogQueries: o.LogQueries}
	if metrics != nil {
		cfg.Metrics = metrics.reg
	}
	srv, err := dns.New(cfg, client, log)
	if err != nil {
		return nil, err
	}
	if metrics != nil {
		metrics.mux.Handle("/health", srv.HealthHandler())
		metrics.mux.Handle("/ready", srv.ReadyHandler())
	}
	return srv, nil
}

// startDNS builds the DNS server (and its metrics server) and starts them.
func startDNS(g *group, o DNSOptions, client kubernetes.Interface, log *slog.Logger) (*dns.Server, string, error) {
	var metrics *metricsServer
	if o.MetricsAddr != "" {
		metrics = newMetricsServer(o.MetricsAddr, log)
	}
	srv, err := newDNS(o, client, log, metrics)
	if err != nil {
		return nil, "", err
	}
	metricsAddr := ""
	if metrics != nil {
		g.Go(metrics.Run)
		select {
		case metricsAddr = <-metrics.bound:
		case <-g.ctx.Done():
			return nil, "", g.Wait()
		}
	}
	g.Go(srv.Run)
	select {
	case <-srv.Listening():
	case <-g.ctx.Done():
		return nil, "", g.Wait()
	}
	return srv, metricsAddr, nil
}

func dnsCommand(stdout, stderr io.Writer) *cobra.Command {
	o := DNSOptions{}
	var kubeconfig, level, contentType string
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Run the cluster DNS alone against any Kubernetes API (svcnet's or a real cluster's)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return RunDNS(cmd.Context(), kubeconfig, level, contentType, o, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the API (required)")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&contentType, "api-content-type", "protobuf", "encoding of API requests: protobuf or json")
	addDNSFlags(cmd, &o)
	return cmd
}

// RunDNS serves cluster DNS from the API the kubeconfig names until ctx ends.
func RunDNS(ctx context.Context, kubeconfig, level, contentType string, o DNSOptions, stdout, stderr io.Writer) error {
	log, err := newLogger(level, stderr)
	if err != nil {
		return err
	}
	klog.SetSlogLogger(log)
	if kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.UserAgent = "svcnet-dns"
	switch contentType {
	case "json":
		cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
	case "protobuf", "":
	default:
		return fmt.Errorf("--api-content-type must be protobuf or json, not %q", contentType)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	g := newGroup(ctx)
	defer g.cancel()
	srv, metricsAddr, err := startDNS(g, o, client, log)
	if err != nil {
		return err
	}
	select {
	case <-srv.Ready():
		fmt.Fprintf(stdout, "dns: %s (zone %s), synced with %s\n", srv.Addr(), o.ClusterDomain, cfg.Host)
		if metricsAddr != "" {
			fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", metricsAddr)
		}
	case <-g.ctx.Done():
	}
	return g.Wait()
}
