// Package dnsapp is the cluster DNS as a process: its flags, the `dns`
// command (in svcnet and in the DNS-only svcnet-dns binary) and the start-up
// shared with `svcnet server`. It links only the DNS, client-go's REST
// client and the daemon plumbing.
package dnsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/svcnet/svcnet/internal/app/daemon"
	"github.com/svcnet/svcnet/internal/dns"
)

// Options are the DNS flags of `svcnet server` and `svcnet dns`.
type Options struct {
	Addr          string
	ClusterDomain string
	TTL           uint32
	Pods          string
	Ordered       bool
	Upstream      string
	MetricsAddr   string
	LogQueries    bool
}

// AddFlags adds the DNS flags to a command.
func AddFlags(cmd *cobra.Command, o *Options) {
	f := cmd.Flags()
	f.StringVar(&o.Addr, "dns-addr", "127.0.0.1:1053", "UDP and TCP address of the cluster DNS; empty runs none")
	f.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS zone")
	f.Uint32Var(&o.TTL, "ttl", 5, "TTL of cluster records, seconds (0-3600)")
	f.StringVar(&o.Pods, "pods", "insecure", "a-b-c-d.<ns>.pod.<zone> records: insecure, verified or disabled")
	f.BoolVar(&o.Ordered, "ordered", false, "keep headless and SRV answers in order instead of shuffling them per query")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "127.0.0.1:9153", "address of /metrics, /health and /ready; empty serves none")
	f.BoolVar(&o.LogQueries, "log-queries", false, "log every DNS query")
	f.StringVar(&o.Upstream, "upstream", "", "servers for names outside the cluster zone (host[:port],...); empty: /etc/resolv.conf's; none: answer REFUSED")
}

// Start builds the DNS server on the API of cfg and starts it in g,
// returning once its sockets are bound. Its metrics, /health and /ready go
// to ms (nil: none).
func Start(g *daemon.Group, o Options, cfg *rest.Config, ms *daemon.MetricsServer, log *slog.Logger) (*dns.Server, error) {
	src, err := dns.NewAPISource(cfg)
	if err != nil {
		return nil, err
	}
	dcfg := dns.Config{Addr: o.Addr, ClusterDomain: o.ClusterDomain, TTL: o.TTL, Pods: dns.PodsMode(o.Pods), Ordered: o.Ordered,
		Upstreams: upstreams(o.Upstream, o.Addr), LogQueries: o.LogQueries}
	if ms != nil {
		dcfg.Metrics = ms.Reg
	}
	srv, err := dns.New(dcfg, src, log)
	if err != nil {
		return nil, err
	}
	if ms != nil {
		ms.Mux.Handle("/health", srv.HealthHandler())
		ms.Mux.Handle("/ready", srv.ReadyHandler())
	}
	g.Go(srv.Run)
	select {
	case <-srv.Listening():
	case <-g.Ctx.Done():
		return nil, g.Wait()
	}
	return srv, nil
}

// Command is `dns`: the cluster DNS alone against any Kubernetes API.
func Command(use string, stdout, stderr io.Writer) *cobra.Command {
	o := Options{}
	var kubeconfig, level, contentType string
	cmd := &cobra.Command{
		Use:   use,
		Short: "Run the cluster DNS alone against any Kubernetes API (svcnet's or a real cluster's)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return Run(cmd.Context(), kubeconfig, level, contentType, o, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the API (required)")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&contentType, "api-content-type", "protobuf", "encoding of API requests: protobuf or json")
	AddFlags(cmd, &o)
	return cmd
}

// Run serves cluster DNS from the API the kubeconfig names until ctx ends.
func Run(ctx context.Context, kubeconfig, level, contentType string, o Options, stdout, stderr io.Writer) error {
	log, err := daemon.NewLogger(level, stderr)
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
	g := daemon.NewGroup(ctx)
	defer g.Cancel()
	ms, metricsAddr, err := daemon.StartMetrics(g, o.MetricsAddr, log)
	if err != nil {
		return err
	}
	srv, err := Start(g, o, cfg, ms, log)
	if err != nil {
		return err
	}
	select {
	case <-srv.Ready():
		if os.Getenv("GOGC") == "" {
			// From now on nearly all of the heap is the long-lived index, and
			// the query path allocates nothing: collecting at 50% growth
			// instead of 100% keeps it a third smaller for little CPU. (The
			// first sync, mostly garbage, ran at the default.) GOGC overrides.
			debug.SetGCPercent(50)
		}
		fmt.Fprintf(stdout, "dns: %s (zone %s), synced with %s\n", srv.Addr(), o.ClusterDomain, cfg.Host)
		if metricsAddr != "" {
			fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", metricsAddr)
		}
	case <-g.Ctx.Done():
	}
	return g.Wait()
}
