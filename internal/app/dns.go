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
}

func addDNSFlags(cmd *cobra.Command, o *DNSOptions) {
	f := cmd.Flags()
	f.StringVar(&o.Addr, "dns-addr", "127.0.0.1:1053", "UDP and TCP address of the cluster DNS; empty runs none")
	f.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS zone")
	f.Uint32Var(&o.TTL, "ttl", 5, "TTL of cluster records, seconds (0-3600)")
	f.StringVar(&o.Pods, "pods", "insecure", "a-b-c-d.<ns>.pod.<zone> records: insecure or disabled")
	f.BoolVar(&o.Ordered, "ordered", false, "keep headless and SRV answers in order instead of shuffling them per query")
	f.StringVar(&o.Upstream, "upstream", "", "servers for names outside the cluster zone (host[:port],...); empty: /etc/resolv.conf's; none: answer REFUSED")
}

func newDNS(o DNSOptions, client kubernetes.Interface, log *slog.Logger) (*dns.Server, error) {
	return dns.New(dns.Config{Addr: o.Addr, ClusterDomain: o.ClusterDomain, TTL: o.TTL, Pods: dns.PodsMode(o.Pods), Ordered: o.Ordered,
		Upstreams: upstreams(o.Upstream, o.Addr)}, client, log)
}

func dnsCommand(stdout, stderr io.Writer) *cobra.Command {
	o := DNSOptions{}
	var kubeconfig, level string
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Run the cluster DNS alone against any Kubernetes API (svcnet's or a real cluster's)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return RunDNS(cmd.Context(), kubeconfig, level, o, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the API (required)")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	addDNSFlags(cmd, &o)
	return cmd
}

// RunDNS serves cluster DNS from the API the kubeconfig names until ctx ends.
func RunDNS(ctx context.Context, kubeconfig, level string, o DNSOptions, stdout, stderr io.Writer) error {
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
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	srv, err := newDNS(o, client, log)
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-srv.Ready():
			fmt.Fprintf(stdout, "dns: %s (zone %s), synced with %s\n", srv.Addr(), o.ClusterDomain, cfg.Host)
		case <-ctx.Done():
		}
	}()
	return srv.Run(ctx)
}
