// Package app turns command-line flags into component configs, builds the
// components and starts them in order. Nothing imports it but main.
package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/svcnet/svcnet/internal/apiserver"
	"github.com/svcnet/svcnet/internal/app/daemon"
	"github.com/svcnet/svcnet/internal/app/dnsapp"
	"github.com/svcnet/svcnet/internal/controller/gc"
	"github.com/svcnet/svcnet/internal/controller/manager"
	"github.com/svcnet/svcnet/internal/etcdserver"
	"github.com/svcnet/svcnet/internal/hostnet"
	"github.com/svcnet/svcnet/internal/ipalloc"
	"github.com/svcnet/svcnet/internal/nodeagent"
	"github.com/svcnet/svcnet/internal/pki"
	"github.com/svcnet/svcnet/internal/registry"
	"github.com/svcnet/svcnet/internal/storage"
	etcdstore "github.com/svcnet/svcnet/internal/storage/etcd"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// gcResources are every served resource, for the garbage collector.
func gcResources(reg *registry.Registry) []gc.Resource {
	var out []gc.Resource
	for _, r := range reg.Resources() {
		out = append(out, gc.Resource{GVR: r.GVR, Kind: r.Kind})
	}
	return out
}

// namespacedResources are what a namespace deletion empties.
func namespacedResources(reg *registry.Registry) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, r := range reg.Resources() {
		if r.Namespaced {
			out = append(out, r.GVR)
		}
	}
	return out
}

// Run executes the svcnet command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "svcnet",
		Short:         "Kubernetes Service networking in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serverCommand(ctx, stdout, stderr), agentCommand(stdout, stderr), dnsapp.Command("dns", stdout, stderr), helloCommand(stdout))
	return root.ExecuteContext(ctx)
}

// ServerOptions are the flags of `svcnet server`.
type ServerOptions struct {
	DataDir       string
	APIAddr       string
	EtcdServers   string
	ServiceCIDR   string
	NodePortRange string
	LogLevel      string
	ClusterCIDR   string
	// NodeCIDRMaskSize is the IPv4 prefix length of each node's pod CIDR.
	NodeCIDRMaskSize int
	// Controllers runs the controller manager (under leader election).
	Controllers bool
	// NodeName names the built-in simulated node; "" runs none.
	NodeName             string
	SimReadyAfter        time.Duration
	MaxEndpointsPerSlice int32
	// LeaseDuration of the controllers' leader election (0: 15s).
	LeaseDuration time.Duration
	// DNS serves cluster DNS; DNS.Addr "" runs none.
	DNS dnsapp.Options
	// Node is how the built-in node runs pods.
	Node NodeOptions
	// LocalRanges makes the service and cluster CIDRs local addresses of
	// this host (root), for the process runtime with ordinary ranges.
	LocalRanges bool
}

func serverCommand(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	o := ServerOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API server (on embedded etcd or an etcd cluster)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Node.Runtime == "process" && !o.LocalRanges {
				if !cmd.Flags().Changed("service-cidr") {
					o.ServiceCIDR = processServiceCIDR
				}
				if !cmd.Flags().Changed("cluster-cidr") {
					o.ClusterCIDR = processClusterCIDR
				}
			}
			return RunServer(cmd.Context(), o, stdout, stderr, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "./svcnet-data", "directory for etcd data, credentials and the kubeconfig")
	f.StringVar(&o.APIAddr, "api-addr", "127.0.0.1:6443", "address the HTTPS API listens on")
	f.StringVar(&o.EtcdServers, "etcd-servers", "", "comma-separated etcd client URLs; empty runs an embedded etcd in the data dir")
	f.StringVar(&o.ServiceCIDR, "service-cidr", "10.96.0.0/12", "ClusterIP range; an IPv4,IPv6 pair makes the cluster dual-stack (--runtime process: "+processServiceCIDR+")")
	f.StringVar(&o.NodePortRange, "service-node-port-range", "30000-32767", "NodePort range")
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "pod range; each node gets a /24 (a /64 of an IPv6 range); an IPv4,IPv6 pair is dual-stack (--runtime process: "+processClusterCIDR+")")
	f.IntVar(&o.NodeCIDRMaskSize, "node-cidr-mask-size", 24, "prefix length of each node's IPv4 pod CIDR (a /24 holds 253 pods)")
	f.BoolVar(&o.Controllers, "controllers", true, "run the controllers and scheduler (one leader per cluster)")
	host, _ := os.Hostname()
	f.StringVar(&o.NodeName, "node-name", host, "name of the built-in node; empty runs no node")
	f.DurationVar(&o.SimReadyAfter, "sim-ready-after", 0, "how long simulated pods take to become ready")
	f.Int32Var(&o.MaxEndpointsPerSlice, "max-endpoints-per-slice", 100, "endpoints per EndpointSlice")
	dnsapp.AddFlags(cmd, &o.DNS)
	addNodeFlags(cmd, &o.Node)
	f.BoolVar(&o.LocalRanges, "local-ranges", false, "make --service-cidr and --cluster-cidr local to this host (needs root): with --runtime process the usual 10.96.0.0/12 and 10.244.0.0/16 then work instead of ranges inside 127.0.0.0/8")
	return cmd
}

// Started reports what a running server listens on (for tests).
type Started struct {
	APIAddr    string
	Kubeconfig string
	// EtcdURLs are the etcd client URLs the server uses.
	EtcdURLs []string
	// DNSAddr is where DNS listens ("" when off).
	DNSAddr string
}

// RunServer runs svcnet server until ctx ends. started, when not nil, is
// called once the API serves.
func RunServer(ctx context.Context, o ServerOptions, stdout, stderr io.Writer, started func(Started)) error {
	log, err := daemon.NewLogger(o.LogLevel, stderr)
	if err != nil {
		return err
	}
	klog.SetSlogLogger(log)
	if o.Node.Runtime == "" {
		o.Node = NodeOptions{Runtime: "sim", Proxy: "auto"}
	}
	if err := o.Node.check(); err != nil {
		return err
	}
	cidrs, err := ipalloc.ParseCIDRs(o.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("--service-cidr: %w", err)
	}
	apiHost, apiPortStr, err := net.SplitHostPort(o.APIAddr)
	if err != nil {
		return fmt.Errorf("--api-addr: %w", err)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	g := daemon.NewGroup(ctx)
	defer g.Cancel()

	endpoints := splitList(o.EtcdServers)
	if len(endpoints) == 0 {
		etcd, err := etcdserver.New(etcdserver.Config{Dir: o.DataDir + "/etcd"}, log)
		if err != nil {
			return err
		}
		g.Go(etcd.Run)
		select {
		case <-etcd.Ready():
		case <-g.Ctx.Done():
			return g.Wait()
		}
		endpoints = []string{etcd.ClientURL()}
	}
	store, err := etcdstore.New(etcdstore.Config{Endpoints: endpoints}, log)
	if err != nil {
		return err
	}
	defer store.Close()
	pctx, cancel := context.WithTimeout(g.Ctx, 30*time.Second)
	err = store.Ping(pctx)
	cancel()
	if err != nil {
		g.Cancel()
		_ = g.Wait()
		return fmt.Errorf("etcd at %s does not answer: %w", strings.Join(endpoints, ","), err)
	}
	g.Go(func(ctx context.Context) error { store.RunCompactor(ctx, 5*time.Minute); return nil })

	claims := storage.KeyLister{Store: store}
	ips, err := ipalloc.New(cidrs, claims, uint64(time.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("--service-cidr: %w", err)
	}
	ports, err := ipalloc.NewPortRange(o.NodePortRange, claims, uint64(time.Now().UnixNano()))
	if err != nil {
		return fmt.Errorf("--service-node-port-range: %w", err)
	}
	nodes := &registry.NodeStrategy{}
	local := append([]netip.Prefix(nil), cidrs...)
	if o.ClusterCIDR != "" {
		podCIDRs, err := ipalloc.ParseCIDRs(o.ClusterCIDR)
		if err != nil {
			return fmt.Errorf("--cluster-cidr: %w", err)
		}
		local = append(local, podCIDRs...)
		for _, c := range podCIDRs {
			bits := o.NodeCIDRMaskSize
			if bits == 0 {
				bits = 24
			}
			if c.Addr().Is6() {
				bits = 64
			}
			sub, err := ipalloc.NewSubnets(c, bits, claims, uint64(time.Now().UnixNano()))
			if err != nil {
				return fmt.Errorf("--cluster-cidr: %w", err)
			}
			nodes.Subnets = append(nodes.Subnets, sub)
		}
	}
	if o.LocalRanges {
		claim, err := hostnet.ClaimRanges(local)
		if err != nil {
			return fmt.Errorf("--local-ranges: %w", err)
		}
		defer func() { _ = claim.Release() }()
		log.Info("cluster ranges are local", "device", claim.Device(), "ranges", fmt.Sprint(local))
	}
	reg := registry.New(store, log, time.Now, registry.Resources(registry.Config{Services: &registry.ServiceStrategy{IPs: ips, Ports: ports}, Nodes: nodes}))

	primary, _ := ips.Range(ips.Families()[0])
	firstIP := primary.At(1)
	hosts := []string{"127.0.0.1", "::1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", firstIP.String()}
	if apiHost != "" && apiHost != "0.0.0.0" && apiHost != "::" {
		hosts = append(hosts, apiHost)
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	creds, err := pki.LoadOrCreate(o.DataDir, hosts, time.Now())
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	logs := &podLogs{token: creds.AdminToken}
	api, err := apiserver.New(apiserver.Config{
		Addr:      o.APIAddr,
		Logs:      logs,
		TLSCert:   creds.Serving,
		ClientCAs: creds.CAPool(),
		Tokens:    []apiserver.TokenUser{{Token: creds.AdminToken, User: apiserver.User{Name: "admin", Groups: []string{"system:masters", "system:authenticated"}}}},
	}, reg, log)
	if err != nil {
		return err
	}
	g.Go(api.Run)
	select {
	case <-api.Ready():
	case <-g.Ctx.Done():
		return g.Wait()
	}
	_, apiPortStr, _ = net.SplitHostPort(api.Addr())
	port, _ := strconv.Atoi(apiPortStr)
	apiIP, err := netip.ParseAddr(apiHost)
	if err != nil || apiIP.IsUnspecified() {
		apiIP = netip.MustParseAddr("127.0.0.1")
	}
	bctx, cancel := context.WithTimeout(g.Ctx, 30*time.Second)
	err = reg.Bootstrap(bctx, apiIP, int32(port), firstIP)
	cancel()
	if err != nil {
		g.Cancel()
		_ = g.Wait()
		return err
	}
	server := "https://" + api.Addr()
	kubeconfig, err := creds.WriteKubeconfig(o.DataDir, server)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg := &rest.Config{Host: server, BearerToken: creds.AdminToken, QPS: 1000, Burst: 2000,
		TLSClientConfig: rest.TLSClientConfig{CAData: creds.CAPEM}, UserAgent: "svcnet-server"}
	if logs.client, err = kubernetes.NewForConfig(restCfg); err != nil {
		return err
	}
	if o.Controllers {
		id, _ := os.Hostname()
		mgr, err := manager.New(manager.Config{
			Rest: restCfg, Identity: id + "_" + string(uuid.NewUUID()), MaxEndpointsPerSlice: o.MaxEndpointsPerSlice,
			Resources: gcResources(reg), Namespaced: namespacedResources(reg), LeaseDuration: o.LeaseDuration,
			RenewDeadline: o.LeaseDuration * 2 / 3, RetryPeriod: o.LeaseDuration / 8,
		}, log)
		if err != nil {
			return err
		}
		g.Go(mgr.Run)
	}
	ms, metricsAddr, err := daemon.StartMetrics(g, o.DNS.MetricsAddr, log)
	if err != nil {
		return err
	}
	var metricsReg prometheus.Registerer
	if ms != nil {
		metricsReg = ms.Reg
	}
	if o.NodeName != "" {
		client, err := kubernetes.NewForConfig(restCfg)
		if err != nil {
			return err
		}
		parts, err := startNode(g, client, nodeagent.Config{NodeName: o.NodeName, ReadyAfter: o.SimReadyAfter}, o.Node, o.DataDir, creds.AdminToken, metricsReg, log)
		if err != nil {
			return err
		}
		logs.rt.Store(parts.runtime)
	}
	dnsAddr := ""
	if o.DNS.Addr != "" {
		srv, err := dnsapp.Start(g, o.DNS, restCfg, ms, log)
		if err != nil {
			return err
		}
		dnsAddr = srv.Addr()
	}
	fmt.Fprintf(stdout, "svcnet API serving at %s\nkubeconfig: %s\n  export KUBECONFIG=%s\n", server, kubeconfig, kubeconfig)
	if dnsAddr != "" {
		fmt.Fprintf(stdout, "dns: %s (zone %s)\n", dnsAddr, o.DNS.ClusterDomain)
	}
	if metricsAddr != "" {
		fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", metricsAddr)
	}
	if started != nil {
		started(Started{APIAddr: api.Addr(), Kubeconfig: kubeconfig, EtcdURLs: endpoints, DNSAddr: dnsAddr})
	}
	return g.Wait()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
