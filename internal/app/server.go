package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/svcnet/svcnet/internal/admissionpolicy"
	"github.com/svcnet/svcnet/internal/apiserver"
	"github.com/svcnet/svcnet/internal/app/daemon"
	"github.com/svcnet/svcnet/internal/app/dnsapp"
	"github.com/svcnet/svcnet/internal/controller/gc"
	"github.com/svcnet/svcnet/internal/controller/manager"
	"github.com/svcnet/svcnet/internal/controller/nodelifecycle"
	"github.com/svcnet/svcnet/internal/customresource"
	"github.com/svcnet/svcnet/internal/etcdserver"
	"github.com/svcnet/svcnet/internal/gateway"
	"github.com/svcnet/svcnet/internal/hostnet"
	"github.com/svcnet/svcnet/internal/ingress"
	"github.com/svcnet/svcnet/internal/ipalloc"
	"github.com/svcnet/svcnet/internal/kube"
	"github.com/svcnet/svcnet/internal/nodeagent"
	"github.com/svcnet/svcnet/internal/nodeagent/process"
	"github.com/svcnet/svcnet/internal/nodeproxy"
	"github.com/svcnet/svcnet/internal/pki"
	"github.com/svcnet/svcnet/internal/registry"
	"github.com/svcnet/svcnet/internal/satoken"
	"github.com/svcnet/svcnet/internal/storage"
	etcdstore "github.com/svcnet/svcnet/internal/storage/etcd"
)

// ServerOptions are the flags of `svcnet server`. DefaultServerOptions
// holds every default; Validate checks them and resolves the ones that
// depend on others.
type ServerOptions struct {
	DataDir     string
	APIAddr     string
	EtcdServers string
	// EtcdCAFile, EtcdCertFile and EtcdKeyFile reach an external etcd over
	// TLS (kube-apiserver's --etcd-cafile, --etcd-certfile, --etcd-keyfile).
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// ServiceCIDR and ClusterCIDR "" take the runtime's defaults.
	ServiceCIDR   string
	ClusterCIDR   string
	NodePortRange string
	LogLevel      string
	// NodeCIDRMaskSize is the IPv4 prefix length of each node's pod CIDR.
	NodeCIDRMaskSize int
	// Controllers runs the controller manager (under leader election).
	Controllers bool
	// WatchCache answers lists and watches from a cache per resource, fed
	// by one etcd watch each (kube-apiserver's --watch-cache).
	WatchCache bool
	// EventTTL is how long an Event is kept after its last write
	// (kube-apiserver's --event-ttl); 0 keeps Events forever.
	EventTTL time.Duration
	// NodeName names the built-in node; "" runs none.
	NodeName             string
	SimReadyAfter        time.Duration
	MaxEndpointsPerSlice int32
	// LeaseDuration of the controllers' leader election (0: 15s).
	LeaseDuration time.Duration
	// Nodes: how the controllers notice failed nodes.
	Nodes nodelifecycle.Config
	// LBRange is the load-balancer controller's pool (comma-separated
	// CIDRs); "" runs none.
	LBRange string
	// IngressAddr serves the Ingresses of class svcnet; "" serves none.
	// IngressTLSAddr serves them over TLS; "" serves none.
	IngressAddr, IngressTLSAddr string
	// Gateway serves the Gateway API (once its CRDs are applied) for
	// GatewayClasses of controller svcnet.io/gateway-controller.
	Gateway bool
	// MetricsAddr serves the whole process's /metrics (and the DNS's
	// /health and /ready); "" serves none.
	MetricsAddr string
	// DNS serves cluster DNS; DNS.Addr "" runs none.
	DNS dnsapp.Options
	// Node is how the built-in node runs pods.
	Node NodeOptions
	// Limits end every API request (--request-timeout, the in-flight
	// caps; the idle timeout has no flag).
	Limits apiserver.Limits
	// Profiling serves /debug/pprof on the metrics address.
	Profiling bool
	// LocalRanges makes the service and cluster CIDRs local addresses of
	// this host (root), for the process runtime with ordinary ranges.
	LocalRanges bool
}

// Address ranges: Kubernetes' usual ones, and for the process runtime
// ranges inside 127.0.0.0/8 (all of it is the loopback device on Linux, so
// no root is needed), clear of 127.0.0.0/16 and of systemd-resolved's
// 127.0.0.53.
const (
	defaultServiceCIDR = "10.96.0.0/12"
	defaultClusterCIDR = "10.244.0.0/16"
	processServiceCIDR = "127.96.0.0/16"
	// defaultLBRange: LoadBalancer addresses inside 127.0.0.0/8, so they
	// work without root whatever the runtime.
	defaultLBRange     = "127.98.0.0/16"
	processClusterCIDR = "127.244.0.0/16"
)

// DefaultServerOptions are the defaults of `svcnet server`.
func DefaultServerOptions() ServerOptions {
	host, _ := os.Hostname()
	return ServerOptions{
		DataDir: "./svcnet-data", APIAddr: "127.0.0.1:6443", NodePortRange: "30000-32767", LogLevel: "info",
		NodeCIDRMaskSize: 24, Controllers: true, WatchCache: true, EventTTL: time.Hour, NodeName: host, MaxEndpointsPerSlice: 100,
		MetricsAddr: "127.0.0.1:9153", DNS: dnsapp.DefaultOptions(), Node: DefaultNodeOptions(),
		LBRange: defaultLBRange, IngressAddr: "127.0.0.1:8080", IngressTLSAddr: "127.0.0.1:8443", Gateway: true,
		Nodes: nodelifecycle.Config{MonitorPeriod: nodelifecycle.DefaultMonitorPeriod, GracePeriod: nodelifecycle.DefaultGracePeriod,
			StartupGracePeriod: nodelifecycle.DefaultStartupGracePeriod},
		Limits: apiserver.Limits{
			RequestTimeout: apiserver.DefaultRequestTimeout, IdleTimeout: apiserver.DefaultIdleTimeout,
			MaxRequestsInflight: apiserver.DefaultMaxRequestsInflight, MaxMutatingRequestsInflight: apiserver.DefaultMaxMutatingRequestsInflight,
		},
	}
}

// Validate checks every option (reporting all problems at once) and fills
// the address ranges left to the runtime.
func (o *ServerOptions) Validate() error {
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = defaultServiceCIDR
		if o.Node.Runtime == "process" && !o.LocalRanges {
			o.ServiceCIDR = processServiceCIDR
		}
	}
	if o.ClusterCIDR == "" {
		o.ClusterCIDR = defaultClusterCIDR
		if o.Node.Runtime == "process" && !o.LocalRanges {
			o.ClusterCIDR = processClusterCIDR
		}
	}
	errs := []error{o.Node.Validate(), o.DNS.Validate(), validLogLevel(o.LogLevel)}
	if _, err := ipalloc.ParseCIDRs(o.ServiceCIDR); err != nil {
		errs = append(errs, fmt.Errorf("--service-cidr: %w", err))
	}
	if _, err := ipalloc.ParseCIDRs(o.ClusterCIDR); err != nil {
		errs = append(errs, fmt.Errorf("--cluster-cidr: %w", err))
	}
	if o.LBRange != "" {
		if _, err := ipalloc.ParseCIDRs(o.LBRange); err != nil {
			errs = append(errs, fmt.Errorf("--lb-range: %w", err))
		}
	}
	if _, _, err := net.SplitHostPort(o.APIAddr); err != nil {
		errs = append(errs, fmt.Errorf("--api-addr: %w", err))
	}
	if o.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required"))
	}
	if o.EventTTL < 0 {
		errs = append(errs, errors.New("--event-ttl must not be negative"))
	}
	if (o.EtcdCertFile == "") != (o.EtcdKeyFile == "") {
		errs = append(errs, errors.New("--etcd-certfile and --etcd-keyfile go together"))
	}
	if o.EtcdServers == "" && o.EtcdCAFile+o.EtcdCertFile+o.EtcdKeyFile != "" {
		errs = append(errs, errors.New("--etcd-cafile, --etcd-certfile and --etcd-keyfile are for --etcd-servers (the embedded etcd has credentials of its own)"))
	}
	if o.NodeCIDRMaskSize < 8 || o.NodeCIDRMaskSize > 30 {
		errs = append(errs, fmt.Errorf("--node-cidr-mask-size %d: want 8 to 30", o.NodeCIDRMaskSize))
	}
	if o.Limits.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--request-timeout %s: want more than 0", o.Limits.RequestTimeout))
	}
	if o.Limits.MaxRequestsInflight < 0 || o.Limits.MaxMutatingRequestsInflight < 0 {
		errs = append(errs, errors.New("--max-requests-inflight and --max-mutating-requests-inflight: want 0 (no cap) or more"))
	}
	if o.Nodes.MonitorPeriod <= 0 || o.Nodes.GracePeriod <= o.Nodes.MonitorPeriod {
		errs = append(errs, fmt.Errorf("--node-monitor-grace-period %s must be longer than --node-monitor-period %s (> 0)", o.Nodes.GracePeriod, o.Nodes.MonitorPeriod))
	}
	if o.MaxEndpointsPerSlice < 1 || o.MaxEndpointsPerSlice > 1000 {
		errs = append(errs, fmt.Errorf("--max-endpoints-per-slice %d: want 1 to 1000", o.MaxEndpointsPerSlice))
	}
	return errors.Join(errs...)
}

func serverCommand(stdout, stderr io.Writer) *cobra.Command {
	o := DefaultServerOptions()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API server (on embedded etcd or an etcd cluster)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return RunServer(cmd.Context(), o, stdout, stderr, nil) },
	}
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", o.DataDir, "directory for etcd data, credentials and the kubeconfig")
	f.StringVar(&o.APIAddr, "api-addr", o.APIAddr, "address the HTTPS API listens on")
	f.StringVar(&o.EtcdServers, "etcd-servers", o.EtcdServers, "comma-separated etcd client URLs; empty runs an embedded etcd in the data dir (TLS with client certificates, on loopback)")
	f.StringVar(&o.EtcdCAFile, "etcd-cafile", o.EtcdCAFile, "CA bundle to verify an external etcd's serving certificate")
	f.StringVar(&o.EtcdCertFile, "etcd-certfile", o.EtcdCertFile, "client certificate for an external etcd")
	f.StringVar(&o.EtcdKeyFile, "etcd-keyfile", o.EtcdKeyFile, "client key for an external etcd")
	f.StringVar(&o.ServiceCIDR, "service-cidr", o.ServiceCIDR, "ClusterIP range; an IPv4,IPv6 pair makes the cluster dual-stack (default "+defaultServiceCIDR+"; "+processServiceCIDR+" with --runtime process)")
	f.StringVar(&o.NodePortRange, "service-node-port-range", o.NodePortRange, "NodePort range")
	f.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	f.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "pod range; each node gets a /24 (a /64 of an IPv6 range); an IPv4,IPv6 pair is dual-stack (default "+defaultClusterCIDR+"; "+processClusterCIDR+" with --runtime process)")
	f.IntVar(&o.NodeCIDRMaskSize, "node-cidr-mask-size", o.NodeCIDRMaskSize, "prefix length of each node's IPv4 pod CIDR (a /24 holds 253 pods)")
	f.BoolVar(&o.Controllers, "controllers", o.Controllers, "run the controllers and scheduler (one leader per cluster)")
	f.BoolVar(&o.WatchCache, "watch-cache", o.WatchCache, "answer lists and watches from an in-memory cache per resource, fed by one etcd watch each")
	f.DurationVar(&o.EventTTL, "event-ttl", o.EventTTL, "how long an Event is kept after its last write (etcd removes it, up to a minute later); 0 keeps Events forever")
	f.StringVar(&o.NodeName, "node-name", o.NodeName, "name of the built-in node; empty runs no node")
	f.DurationVar(&o.SimReadyAfter, "sim-ready-after", o.SimReadyAfter, "how long simulated pods take to become ready")
	f.BoolVar(&o.Gateway, "gateway", o.Gateway, "serve the Gateway API (GatewayClasses of controller svcnet.io/gateway-controller) once its CRDs are applied; Gateways get addresses from --lb-range")
	f.StringVar(&o.IngressAddr, "ingress-addr", o.IngressAddr, "address of the built-in HTTP ingress (Ingresses of class svcnet); empty serves none")
	f.StringVar(&o.IngressTLSAddr, "ingress-tls-addr", o.IngressTLSAddr, "address of the ingress over TLS (certificates from the Ingresses' kubernetes.io/tls Secrets); empty serves none")
	f.StringVar(&o.LBRange, "lb-range", o.LBRange, "addresses the load-balancer controller gives LoadBalancer Services (comma-separated CIDRs, one per IP family); empty leaves them pending")
	f.DurationVar(&o.Nodes.GracePeriod, "node-monitor-grace-period", o.Nodes.GracePeriod, "how long a node may renew neither its Lease nor its status before it is Ready=Unknown, its pods not ready, and it is tainted unreachable")
	f.DurationVar(&o.Nodes.MonitorPeriod, "node-monitor-period", o.Nodes.MonitorPeriod, "how often the controllers check every node's heartbeat")
	f.DurationVar(&o.Nodes.StartupGracePeriod, "node-startup-grace-period", o.Nodes.StartupGracePeriod, "the grace period of a node that never posted its status")
	f.Int32Var(&o.MaxEndpointsPerSlice, "max-endpoints-per-slice", o.MaxEndpointsPerSlice, "endpoints per EndpointSlice")
	f.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "address of /metrics (API, proxy and DNS), the DNS's /health and /ready, and /debug/pprof with --profiling; empty serves none")
	f.BoolVar(&o.Profiling, "profiling", o.Profiling, "serve /debug/pprof on --metrics-addr")
	f.DurationVar(&o.Limits.RequestTimeout, "request-timeout", o.Limits.RequestTimeout, "an API request that is not a watch, a followed log, attach or exec ends with a 504 after this long")
	f.IntVar(&o.Limits.MaxRequestsInflight, "max-requests-inflight", o.Limits.MaxRequestsInflight, "API reads served at once, beyond which a 429 with Retry-After answers (system:masters excepted); 0 is no cap")
	f.IntVar(&o.Limits.MaxMutatingRequestsInflight, "max-mutating-requests-inflight", o.Limits.MaxMutatingRequestsInflight, "API writes served at once, beyond which a 429 with Retry-After answers (system:masters excepted); 0 is no cap")
	dnsapp.AddFlags(cmd, &o.DNS)
	addNodeFlags(cmd, &o.Node)
	f.BoolVar(&o.LocalRanges, "local-ranges", o.LocalRanges, "make --service-cidr and --cluster-cidr local to this host (needs root): with --runtime process the usual "+defaultServiceCIDR+" and "+defaultClusterCIDR+" then work instead of ranges inside 127.0.0.0/8")
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
	// MetricsAddr is where /metrics is served ("" when off).
	MetricsAddr string
	// IngressAddr is where the ingress serves ("" when off).
	IngressAddr string
}

// RunServer runs svcnet server until ctx ends. started, when not nil, is
// called once everything serves. It builds the server in phases: storage,
// then the control plane (registry, credentials, the bound API socket, the
// node and the log source it reads), then starts the API, writes the
// cluster's bootstrap objects and kubeconfig, and starts the rest.
func RunServer(ctx context.Context, o ServerOptions, stdout, stderr io.Writer, started func(Started)) error {
	if err := o.Validate(); err != nil {
		return err
	}
	log, err := daemon.NewLogger(o.LogLevel, stderr)
	if err != nil {
		return err
	}
	daemon.RouteKlog(log)
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// Whatever happens, every component ends before what it uses: the
	// API's clients, then the API (cp.start), then the etcd client, and the
	// embedded etcd last of all.
	embedded := daemon.NewGroup(context.WithoutCancel(ctx))
	defer func() {
		embedded.Cancel()
		_ = embedded.Wait()
	}()
	g := daemon.NewGroup(ctx)
	stop := func() {
		g.Cancel()
		_ = g.Wait()
	}
	defer stop()
	store, endpoints, err := startStorage(g, embedded, o, log)
	if err != nil {
		return err
	}
	defer store.Close()
	defer stop()
	cp, err := buildControlPlane(o, store, log)
	if err != nil {
		return err
	}
	defer cp.release()
	defer stop()
	if err := cp.start(g); err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	st := Started{APIAddr: cp.api.Addr(), Kubeconfig: cp.kubeconfig, EtcdURLs: endpoints, DNSAddr: cp.dnsAddr, MetricsAddr: cp.metricsAddr, IngressAddr: cp.ingressAddr}
	fmt.Fprintf(stdout, "svcnet API serving at https://%s\nkubeconfig: %s\n  export KUBECONFIG=%s\n", st.APIAddr, st.Kubeconfig, st.Kubeconfig)
	if st.IngressAddr != "" {
		fmt.Fprintf(stdout, "ingress: http://%s\n", st.IngressAddr)
	}
	if cp.ingressTLSAddr != "" {
		fmt.Fprintf(stdout, "ingress-tls: https://%s\n", cp.ingressTLSAddr)
	}
	if st.DNSAddr != "" {
		fmt.Fprintf(stdout, "dns: %s (zone %s)\n", st.DNSAddr, o.DNS.ClusterDomain)
	}
	if st.MetricsAddr != "" {
		fmt.Fprintf(stdout, "metrics: http://%s/metrics\n", st.MetricsAddr)
	}
	if started != nil {
		started(st)
	}
	return g.Wait()
}

// startStorage runs the embedded etcd when no --etcd-servers are given,
// connects to etcd, checks that it answers and starts compaction.
// The embedded etcd runs in its own group, which the caller stops after g:
// everything in g may still need it while stopping. If it fails, g stops.
func startStorage(g, embedded *daemon.Group, o ServerOptions, log *slog.Logger) (*etcdstore.Store, []string, error) {
	endpoints := splitList(o.EtcdServers)
	caFile, certFile, keyFile := o.EtcdCAFile, o.EtcdCertFile, o.EtcdKeyFile
	if len(endpoints) == 0 {
		creds, err := pki.LoadOrCreateEtcd(o.DataDir, time.Now())
		if err != nil {
			return nil, nil, fmt.Errorf("etcd credentials: %w", err)
		}
		caFile, certFile, keyFile = creds.CAFile, creds.ClientCertFile, creds.ClientKeyFile
		etcd, err := etcdserver.New(etcdserver.Config{Dir: o.DataDir + "/etcd", CAFile: creds.CAFile, CertFile: creds.CertFile, KeyFile: creds.KeyFile}, log)
		if err != nil {
			return nil, nil, err
		}
		embedded.Go(etcd.Run)
		g.Go(func(ctx context.Context) error {
			select {
			case <-embedded.Ctx.Done(): // it ended on its own
				return errors.Join(errors.New("embedded etcd stopped"), embedded.Wait())
			case <-ctx.Done():
				return nil
			}
		})
		select {
		case <-etcd.Ready():
		case <-g.Ctx.Done():
			return nil, nil, errors.Join(errors.New("embedded etcd did not start"), g.Wait())
		}
		endpoints = []string{etcd.ClientURL()}
	}
	var tlsCfg *tls.Config
	if caFile != "" || certFile != "" {
		var err error
		if tlsCfg, err = pki.ClientTLS(caFile, certFile, keyFile); err != nil {
			return nil, nil, fmt.Errorf("etcd TLS: %w", err)
		}
	}
	store, err := etcdstore.New(etcdstore.Config{Endpoints: endpoints, TLS: tlsCfg}, log)
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(g.Ctx, etcdAnswerTimeout)
	err = store.Ping(pctx)
	cancel()
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("etcd at %s does not answer: %w", strings.Join(endpoints, ","), err)
	}
	g.Go(func(ctx context.Context) error { store.RunCompactor(ctx, compactionInterval); return nil })
	return store, endpoints, nil
}

const (
	// etcdAnswerTimeout bounds the first etcd round trip and the bootstrap.
	etcdAnswerTimeout = 30 * time.Second
	// etcdReadyTimeout bounds /readyz's etcd probe (kube-apiserver's).
	etcdReadyTimeout = 2 * time.Second
	// compactionInterval: etcd history older than this is compacted.
	compactionInterval = 5 * time.Minute
)

// controlPlane is a built, not yet serving, svcnet server.
type controlPlane struct {
	o       ServerOptions
	log     *slog.Logger
	reg     *registry.Registry
	creds   *pki.Bundle
	api     *apiserver.Server
	restCfg *rest.Config
	// firstIP is the service range's first address (the kubernetes Service).
	firstIP netip.Addr
	metrics *daemon.MetricsServer
	node    *node
	release func()
	// crds serves the custom resource definitions.
	crds *customresource.Controller
	// policies enforces the ValidatingAdmissionPolicies.
	policies *admissionpolicy.Enforcer

	kubeconfig, dnsAddr, metricsAddr, ingressAddr, ingressTLSAddr string
}

// buildControlPlane builds the registry on store, the credentials, the API
// on its bound socket, the clients for it, the metrics server and the
// built-in node, starting none of them.
func buildControlPlane(o ServerOptions, store *etcdstore.Store, log *slog.Logger) (_ *controlPlane, err error) {
	cp := &controlPlane{o: o, log: log, release: func() {}}
	reg, local, err := buildRegistry(o, store, log)
	if err != nil {
		return nil, err
	}
	cp.reg = reg
	svcCIDRs, _ := ipalloc.ParseCIDRs(o.ServiceCIDR) // checked by Validate
	cp.firstIP = svcCIDRs[0].Masked().Addr().Next()
	if o.LocalRanges {
		claim, err := hostnet.ClaimRanges(local)
		if err != nil {
			return nil, fmt.Errorf("--local-ranges: %w", err)
		}
		cp.release = func() { _ = claim.Release() }
		log.Info("cluster ranges are local", "device", claim.Device(), "ranges", fmt.Sprint(local))
	}
	defer func() {
		if err != nil {
			cp.release()
		}
	}()
	ln, err := net.Listen("tcp", o.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("--api-addr: %w", err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	apiHost, _, _ := net.SplitHostPort(o.APIAddr)
	if cp.creds, err = pki.LoadOrCreate(o.DataDir, certHosts(apiHost, cp.firstIP), time.Now()); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	// The in-process clients (all the controllers and the scheduler share
	// one) are limited by the API's in-flight caps, not by a client-side
	// rate: kube-controller-manager gives each controller its own limit.
	cp.restCfg = &rest.Config{Host: "https://" + ln.Addr().String(), BearerToken: cp.creds.AdminToken, QPS: 10000, Burst: 20000,
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.creds.CAPEM}, UserAgent: "svcnet-server"}
	kube.Protobuf(cp.restCfg)
	client, err := kubernetes.NewForConfig(cp.restCfg)
	if err != nil {
		return nil, err
	}
	if o.MetricsAddr != "" {
		cp.metrics = daemon.NewMetricsServer(o.MetricsAddr, o.Profiling, log)
	}
	logs := &nodeproxy.Source{Client: client, TLS: &tls.Config{RootCAs: cp.creds.CAPool(), Certificates: []tls.Certificate{cp.creds.KubeletClient}, MinVersion: tls.VersionTLS12}}
	if o.NodeName != "" {
		ncfg := nodeagent.Config{NodeName: o.NodeName, ReadyAfter: o.SimReadyAfter, ClusterDomain: o.DNS.ClusterDomain,
			LeaseDuration: time.Duration(o.Node.LeaseDurationSeconds) * time.Second, InternalIP: "127.0.0.1"}
		// The built-in node's server gets its certificate from the cluster CA here.
		serving, err := cp.creds.NodeServing(o.NodeName, []string{ncfg.InternalIP, "localhost", o.NodeName}, time.Now())
		if err != nil {
			return nil, fmt.Errorf("node serving certificate: %w", err)
		}
		serverTLS := &process.ServerTLS{Cert: serving, ClientCA: cp.creds.CAPool(), Caller: pki.KubeletClientName}
		cp.node, err = buildNode(client, ncfg, o.Node, o.DataDir, serverTLS, cp.metrics.Registerer(), log)
		if err != nil {
			return nil, err
		}
		logs.Local = cp.node.runtime
	}
	cp.api, err = apiserver.New(apiserver.Config{
		Listener:  ln,
		Logs:      logs,
		Streams:   logs,
		TLSCert:   cp.creds.Serving,
		ClientCAs: cp.creds.CAPool(),
		Tokens:    []apiserver.TokenUser{{Token: cp.creds.AdminToken, User: apiserver.User{Name: "admin", Groups: []string{"system:masters", "system:authenticated"}}}},
		Ready:     store.ReadyCheck(etcdReadyTimeout),
		Limits:    o.Limits,
		Metrics:   cp.metrics.Handler(),
		// Every server of a cluster shares the data dir's key, so a token
		// one issues the others accept.
		ServiceAccounts: satoken.NewSigner(cp.creds.ServiceAccountKey, nil),
	}, reg, log)
	if err != nil {
		return nil, err
	}
	def, _ := reg.Resource(customresource.DefinitionGVR.GroupResource())
	cp.crds = customresource.NewController(reg, def, log)
	cp.crds.Changed = cp.api.ResourcesChanged
	cp.policies = admissionpolicy.New(reg, log)
	reg.SetAdmission(cp.policies.Admit)
	return cp, nil
}

// buildRegistry makes the allocators and the registry of every resource,
// and returns the ranges the cluster's addresses come from.
func buildRegistry(o ServerOptions, store *etcdstore.Store, log *slog.Logger) (*registry.Registry, []netip.Prefix, error) {
	svcCIDRs, _ := ipalloc.ParseCIDRs(o.ServiceCIDR)
	podCIDRs, _ := ipalloc.ParseCIDRs(o.ClusterCIDR)
	claims := storage.KeyLister{Store: store}
	seed := uint64(time.Now().UnixNano())
	ips, err := ipalloc.New(svcCIDRs, claims, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("--service-cidr: %w", err)
	}
	ports, err := ipalloc.NewPortRange(o.NodePortRange, claims, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("--service-node-port-range: %w", err)
	}
	nodes := &registry.NodeStrategy{}
	for _, c := range podCIDRs {
		bits := o.NodeCIDRMaskSize
		if c.Addr().Is6() {
			bits = 64
		}
		sub, err := ipalloc.NewSubnets(c, bits, claims, seed)
		if err != nil {
			return nil, nil, fmt.Errorf("--cluster-cidr: %w", err)
		}
		nodes.Subnets = append(nodes.Subnets, sub)
	}
	resources := append(registry.Resources(registry.Config{Services: &registry.ServiceStrategy{IPs: ips, Ports: ports}, Nodes: nodes, EventTTL: o.EventTTL}), customresource.DefinitionResource())
	resources = append(resources, admissionpolicy.Resources()...)
	reg := registry.New(store, log, time.Now, resources)
	return reg, append(svcCIDRs, podCIDRs...), nil
}

// certHosts are the names and addresses the serving certificate covers.
func certHosts(apiHost string, firstIP netip.Addr) []string {
	hosts := []string{"127.0.0.1", "::1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", firstIP.String()}
	if apiHost != "" && apiHost != "0.0.0.0" && apiHost != "::" {
		hosts = append(hosts, apiHost)
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return hosts
}

// start serves the API, writes the bootstrap objects and the kubeconfig,
// then starts the controllers, the metrics server, the node and the DNS.
func (cp *controlPlane) start(g *daemon.Group) error {
	// The API serves until everything that uses it has stopped: the
	// controllers release their Lease, the node agent and the DNS end their
	// watches, and a restarted server leads at once.
	apiCtx, stopAPI := context.WithCancel(context.WithoutCancel(g.Ctx))
	if cp.o.WatchCache {
		cp.reg.StartCaches(apiCtx, registry.CacheConfig{})
		if reg := cp.metrics.Registerer(); reg != nil {
			reg.MustRegister(cp.reg.CacheCollector())
		}
	}
	g.Go(func(context.Context) error { return cp.api.Run(apiCtx) })
	clients, seal := g.Child(stopAPI)
	defer seal()
	select {
	case <-cp.api.Ready():
	case <-g.Ctx.Done():
		seal()
		if err := g.Wait(); err != nil {
			return err
		}
		return context.Canceled // stopped while starting
	}
	host, portStr, _ := net.SplitHostPort(cp.api.Addr())
	port, _ := strconv.Atoi(portStr)
	apiIP, err := netip.ParseAddr(host)
	if err != nil || apiIP.IsUnspecified() {
		apiIP = netip.MustParseAddr("127.0.0.1")
	}
	svcCIDRs, _ := ipalloc.ParseCIDRs(cp.o.ServiceCIDR)
	bctx, cancel := context.WithTimeout(g.Ctx, etcdAnswerTimeout)
	warning, err := cp.reg.Bootstrap(bctx, apiIP, int32(port), cp.firstIP, nthAddr(svcCIDRs[0], dnsServiceOffset))
	if err == nil {
		// Custom resources and admission policies are in force before the
		// API reports ready.
		var crdRev, policyRev int64
		if crdRev, err = cp.crds.Sync(bctx); err == nil {
			policyRev, err = cp.policies.Sync(bctx)
		}
		if err == nil {
			g.Go(func(context.Context) error { return cp.crds.Run(apiCtx, crdRev) })
			g.Go(func(context.Context) error { return cp.policies.Run(apiCtx, policyRev) })
		}
	}
	cancel()
	if err != nil {
		return err
	}
	cp.api.Bootstrapped()
	if warning != "" {
		cp.log.Warn(warning)
	}
	if cp.kubeconfig, err = cp.creds.WriteKubeconfig(cp.o.DataDir, cp.restCfg.Host); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if cp.o.Controllers {
		mgr, err := manager.New(manager.Config{
			Rest: cp.restCfg, Identity: controllerIdentity(), MaxEndpointsPerSlice: cp.o.MaxEndpointsPerSlice,
			Resources: gcResources(cp.reg), Namespaced: namespacedResources(cp.reg), LeaseDuration: cp.o.LeaseDuration,
			RenewDeadline: cp.o.LeaseDuration * 2 / 3, RetryPeriod: cp.o.LeaseDuration / 8, Nodes: cp.o.Nodes,
			LoadBalancerRanges: lbRanges(cp.o.LBRange), StorageDir: storageDir(cp.o.DataDir),
		}, cp.log)
		if err != nil {
			return err
		}
		clients.Go(mgr.Run)
	}
	if cp.metrics != nil {
		if cp.metricsAddr, err = daemon.Start(g, cp.metrics); err != nil {
			return err
		}
	}
	if cp.node != nil {
		cp.node.start(clients)
	}
	if cp.o.IngressAddr != "" {
		client, err := kubernetes.NewForConfig(cp.restCfg)
		if err != nil {
			return err
		}
		tlsAddr := cp.o.IngressTLSAddr
		ing := ingress.New(cp.o.IngressAddr, tlsAddr, client, cp.log)
		clients.Go(ing.Run)
		select {
		case cp.ingressAddr = <-ing.Bound():
		case <-g.Ctx.Done():
			return g.Wait()
		}
		if tlsAddr != "" {
			cp.ingressTLSAddr = <-ing.Bound()
		}
	}
	if cp.o.Gateway {
		// Custom resources have no protobuf encoding: this client speaks JSON.
		jsonCfg := rest.CopyConfig(cp.restCfg)
		jsonCfg.ContentType, jsonCfg.AcceptContentTypes = "", ""
		gwc, err := gwclient.NewForConfig(jsonCfg)
		if err != nil {
			return err
		}
		client, err := kubernetes.NewForConfig(cp.restCfg)
		if err != nil {
			return err
		}
		clients.Go(gateway.New(client, gwc, "127.0.0.1", cp.log).Run)
	}
	if cp.o.DNS.Addr != "" {
		srv, err := dnsapp.Start(clients, cp.o.DNS, cp.restCfg, cp.metrics, cp.log)
		if err != nil {
			return err
		}
		cp.dnsAddr = srv.Addr()
		if err := cp.publishDNS(g.Ctx); err != nil {
			return err
		}
	}
	return nil
}

// publishDNS names this server's DNS in kube-dns's endpoints, so pods reach
// it at kube-dns's ClusterIP (through the proxy).
func (cp *controlPlane) publishDNS(ctx context.Context) error {
	name := cp.o.NodeName
	if name == "" {
		name, _ = os.Hostname()
	}
	slice, err := kubeDNSSlice(nodeagent.DNSService+"-"+name, cp.dnsAddr, cp.metricsAddr)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cp.restCfg)
	if err != nil {
		return err
	}
	if err := publishKubeDNS(ctx, client, slice); err != nil {
		return fmt.Errorf("kube-dns endpoints: %w", err)
	}
	return nil
}

// controllerIdentity names this process in the controllers' Lease.
func controllerIdentity() string {
	id, _ := os.Hostname()
	return id + "_" + string(uuid.NewUUID())
}

// gcResources are what the garbage collector follows: every stored
// resource but Events (kube-controller-manager's ignored resources: they
// are owned by nothing, and following them cost the collector a graph node
// for each of the several events every pod brings).
func gcResources(reg *registry.Registry) []gc.Resource {
	var out []gc.Resource
	for _, r := range reg.Resources() {
		if r.Stored() && r.GroupResource().Resource != "events" {
			out = append(out, gc.Resource{GVR: r.GVR, Kind: r.Kind, Namespaced: r.Namespaced})
		}
	}
	return out
}

// namespacedResources are what a namespace deletion empties.
func namespacedResources(reg *registry.Registry) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, r := range reg.Resources() {
		if r.Namespaced && r.Stored() {
			out = append(out, r.GVR)
		}
	}
	return out
}

// lbRanges parses --lb-range (checked by Validate).
func lbRanges(s string) []netip.Prefix {
	if s == "" {
		return nil
	}
	r, _ := ipalloc.ParseCIDRs(s)
	return r
}

// storageDir is where local-path volumes live: <data-dir>/storage, absolute
// (it is written into each PersistentVolume).
func storageDir(dataDir string) string {
	abs, err := filepath.Abs(filepath.Join(dataDir, "storage"))
	if err != nil {
		return ""
	}
	return abs
}
