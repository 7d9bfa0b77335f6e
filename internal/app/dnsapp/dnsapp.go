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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcnet/svcnet/internal/app/daemon"
	"github.com/svcnet/svcnet/internal/dns"
)

// Options are the DNS flags of `svcnet server` and `svcnet dns`.
// DefaultOptions holds their defaults; Validate checks them.
type Options struct {
	Addr          string
	ClusterDomain string
	TTL           uint32
	Pods          string
	Ordered       bool
	Upstream      string
	LogQueries    bool
	LameDuck      time.Duration
}

// DefaultOptions are the DNS defaults.
func DefaultOptions() Options {
	return Options{Addr: "127.0.0.1:1053", ClusterDomain: "cluster.local", TTL: 5, Pods: string(dns.PodsInsecure)}
}

// Validate checks the options dns.New would refuse, before anything starts.
func (o Options) Validate() error {
	if o.Addr == "" {
		return nil // no DNS
	}
	cfg := o.config(nil)
	return cfg.Validate()
}

// config is the dns.Config of the options (metrics registered on reg).
func (o Options) config(reg prometheus.Registerer) dns.Config {
	return dns.Config{Addr: o.Addr, ClusterDomain: o.ClusterDomain, TTL: o.TTL, Pods: dns.PodsMode(o.Pods), Ordered: o.Ordered,
		Upstreams: upstreams(o.Upstream, o.Addr), LogQueries: o.LogQueries, Metrics: reg, LameDuck: o.LameDuck}
}

// AddFlags adds the DNS flags to a command, with o's values as defaults.
func AddFlags(cmd *cobra.Command, o *Options) {
	f := cmd.Flags()
	f.StringVar(&o.Addr, "dns-addr", o.Addr, "UDP and TCP address of the cluster DNS; empty runs none")
	f.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "the cluster's DNS zone")
	f.Uint32Var(&o.TTL, "ttl", o.TTL, "TTL of cluster records, seconds (0-3600)")
	f.StringVar(&o.Pods, "pods", o.Pods, "a-b-c-d.<ns>.pod.<zone> records: insecure, verified or disabled")
	f.BoolVar(&o.Ordered, "ordered", o.Ordered, "keep headless and SRV answers in order instead of shuffling them per query")
	f.BoolVar(&o.LogQueries, "log-queries", o.LogQueries, "log every DNS query")
	f.StringVar(&o.Upstream, "upstream", o.Upstream, "servers for names outside the cluster zone (host[:port],...); empty: /etc/resolv.conf's; none: answer REFUSED")
	f.DurationVar(&o.LameDuck, "lameduck", o.LameDuck, "on SIGTERM, keep answering this long with /ready failing, so the endpoint leaves first (CoreDNS's lameduck)")
}

// Start builds the DNS server on the API of cfg and starts it in g,
// returning once its sockets are bound. Its metrics, /health and /ready go
// to ms (nil: none).
func Start(g *daemon.Group, o Options, cfg *rest.Config, ms *daemon.MetricsServer, log *slog.Logger) (*dns.Server, error) {
	src, err := dns.NewAPISource(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := dns.New(o.config(ms.Registerer()), src, log)
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

// RunOptions are the flags of the `dns` command: the DNS's, and how it
// reaches the API and serves its metrics.
type RunOptions struct {
	DNS         Options
	Kubeconfig  string
	LogLevel    string
	ContentType string
	MetricsAddr string
	// Profiling serves /debug/pprof on MetricsAddr.
	Profiling bool
}

// DefaultRunOptions are the defaults of the `dns` command (metrics on
// 9153 and a 5s lame duck, as CoreDNS's default Corefile has them).
func DefaultRunOptions() RunOptions {
	o := RunOptions{DNS: DefaultOptions(), LogLevel: "info", ContentType: "protobuf", MetricsAddr: "127.0.0.1:9153"}
	o.DNS.LameDuck = 5 * time.Second
	return o
}

// inCluster reports whether the process runs in a pod of a cluster (the
// kubelet's KUBERNETES_SERVICE_HOST and the ServiceAccount token).
func inCluster() bool {
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" || os.Getenv("KUBERNETES_SERVICE_PORT") == "" {
		return false
	}
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token")
	return err == nil
}

// Validate checks every option, reporting all problems at once.
func (o RunOptions) Validate() error {
	errs := []error{o.DNS.Validate()}
	if o.Kubeconfig == "" && !inCluster() {
		errs = append(errs, errors.New("--kubeconfig is required outside a cluster (in a pod, the ServiceAccount's in-cluster configuration is used)"))
	}
	if o.DNS.LameDuck < 0 {
		errs = append(errs, errors.New("--lameduck must not be negative"))
	}
	if o.ContentType != "protobuf" && o.ContentType != "json" {
		errs = append(errs, fmt.Errorf("--api-content-type must be protobuf or json, not %q", o.ContentType))
	}
	if o.DNS.Addr == "" {
		errs = append(errs, errors.New("--dns-addr is required"))
	}
	return errors.Join(errs...)
}

// Command is `dns`: the cluster DNS alone against any Kubernetes API.
func Command(use string, stdout, stderr io.Writer) *cobra.Command {
	o := DefaultRunOptions()
	cmd := &cobra.Command{
		Use:   use,
		Short: "Run the cluster DNS alone against any Kubernetes API (svcnet's or a real cluster's)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return Run(cmd.Context(), o, stdout, stderr) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the API (in a pod: empty uses the ServiceAccount's in-cluster configuration)")
	f.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	f.StringVar(&o.ContentType, "api-content-type", o.ContentType, "encoding of API requests: protobuf or json")
	f.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "address of /metrics, /health and /ready; empty serves none")
	f.BoolVar(&o.Profiling, "profiling", o.Profiling, "serve /debug/pprof on --metrics-addr")
	AddFlags(cmd, &o.DNS)
	return cmd
}

// Run serves cluster DNS from the API the kubeconfig names (or, in a pod,
// the cluster's) until ctx ends, then for the lame-duck period.
func Run(ctx context.Context, o RunOptions, stdout, stderr io.Writer) error {
	log, err := daemon.NewLogger(o.LogLevel, stderr)
	if err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	daemon.RouteKlog(log)
	var cfg *rest.Config
	if o.Kubeconfig == "" {
		if cfg, err = rest.InClusterConfig(); err != nil {
			return fmt.Errorf("in-cluster configuration: %w", err)
		}
	} else if cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.UserAgent = "svcnet-dns"
	if o.ContentType == "json" {
		cfg.ContentType, cfg.AcceptContentTypes = "application/json", "application/json"
	}
	g := daemon.NewGroup(ctx)
	defer g.Cancel()
	var ms *daemon.MetricsServer
	metricsAddr := ""
	if o.MetricsAddr != "" {
		ms = daemon.NewMetricsServer(o.MetricsAddr, o.Profiling, log)
		if metricsAddr, err = daemon.Start(g, ms); err != nil {
			return err
		}
	}
	srv, err := Start(g, o.DNS, cfg, ms, log)
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
		fmt.Fprintf(stdout, "dns: %s (zone %s), synced with %s\n", srv.Addr(), o.DNS.ClusterDomain, cfg.Host)
		if metricsAddr != "" {
			fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", metricsAddr)
		}
	case <-g.Ctx.Done():
	}
	return g.Wait()
}
