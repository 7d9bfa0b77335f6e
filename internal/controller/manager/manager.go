// Package manager runs every controller of the cluster — Deployment,
// ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job, CronJob,
// PersistentVolume binding and local provisioning, EndpointSlice, Endpoints, EndpointSlice
// mirroring, the scheduler, the garbage collector, the namespace
// controller, node lifecycle, taint eviction, disruption budgets, load
// balancer addresses and default ServiceAccounts — on shared informers, while this process holds the
// controllers' Lease, so several servers on one etcd run each controller
// once.
package manager

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/controller/cronjob"
	"github.com/svcnet/svcnet/internal/controller/daemonset"
	"github.com/svcnet/svcnet/internal/controller/deployment"
	"github.com/svcnet/svcnet/internal/controller/disruption"
	"github.com/svcnet/svcnet/internal/controller/endpoints"
	"github.com/svcnet/svcnet/internal/controller/endpointslice"
	"github.com/svcnet/svcnet/internal/controller/gc"
	"github.com/svcnet/svcnet/internal/controller/job"
	"github.com/svcnet/svcnet/internal/controller/loadbalancer"
	"github.com/svcnet/svcnet/internal/controller/mirroring"
	"github.com/svcnet/svcnet/internal/controller/namespace"
	"github.com/svcnet/svcnet/internal/controller/nodelifecycle"
	"github.com/svcnet/svcnet/internal/controller/replicaset"
	"github.com/svcnet/svcnet/internal/controller/serviceaccount"
	"github.com/svcnet/svcnet/internal/controller/statefulset"
	"github.com/svcnet/svcnet/internal/controller/tainteviction"
	"github.com/svcnet/svcnet/internal/controller/volume"
	"github.com/svcnet/svcnet/internal/kube"
	"github.com/svcnet/svcnet/internal/scheduler"
)

// Config of the controller manager.
type Config struct {
	Rest                 *rest.Config
	Identity             string
	MaxEndpointsPerSlice int32
	// Resources are every served resource: the GC watches them all and the
	// namespace controller empties the namespaced ones.
	Resources  []gc.Resource
	Namespaced []schema.GroupVersionResource
	// Lease timing; zero takes the defaults.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Nodes: how failed nodes are noticed; zero takes Kubernetes' defaults.
	Nodes nodelifecycle.Config
	// StorageDir is where the local-path provisioner makes volumes'
	// directories; "" provisions nothing (claims of its class stay Pending).
	StorageDir string
	// LoadBalancerRanges are the load-balancer controller's pool; none runs
	// no controller (LoadBalancer Services stay pending).
	LoadBalancerRanges []netip.Prefix
}

// Manager runs the controllers.
type Manager struct {
	cfg    Config
	client kubernetes.Interface
	meta   metadata.Interface
	log    *slog.Logger
}

// New builds the clients; it starts nothing.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	client, err := kubernetes.NewForConfig(cfg.Rest)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg.Rest)
	if err != nil {
		return nil, err
	}
	if cfg.MaxEndpointsPerSlice == 0 {
		cfg.MaxEndpointsPerSlice = 100
	}
	return &Manager{cfg: cfg, client: client, meta: meta, log: log}, nil
}

// Run takes part in the election until ctx ends; while leading, it runs the
// controllers.
func (m *Manager) Run(ctx context.Context) error {
	kube.RunLeading(ctx, kube.LeaderConfig{
		Client: m.client, Namespace: "kube-system", Name: "svcnet-controller-manager", Identity: m.cfg.Identity, Log: m.log,
		LeaseDuration: m.cfg.LeaseDuration, RenewDeadline: m.cfg.RenewDeadline, RetryPeriod: m.cfg.RetryPeriod,
	}, m.lead)
	return nil
}

func (m *Manager) lead(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(m.client, 0, informers.WithTransform(kube.TrimForControllers))
	metaFactory := metadatainformer.NewSharedInformerFactoryWithOptions(m.meta, 0, metadatainformer.WithTransform(kube.TrimForCollector))
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: m.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := func(component string) record.EventRecorder {
		return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}
	now := time.Now
	core, apps, disc := factory.Core().V1(), factory.Apps().V1(), factory.Discovery().V1()
	runners := []interface{ Run(context.Context) error }{
		deployment.New(m.client, apps.Deployments(), apps.ReplicaSets(), recorder("deployment-controller"), m.log, now),
		replicaset.New(m.client, apps.ReplicaSets(), core.Pods(), m.log, now),
		replicaset.NewForReplicationControllers(m.client, core.ReplicationControllers(), core.Pods(), m.log, now),
		daemonset.New(m.client, apps.DaemonSets(), apps.ControllerRevisions(), core.Pods(), core.Nodes(), recorder("daemonset-controller"), m.log, now),
		cronjob.New(m.client, factory.Batch().V1().CronJobs(), factory.Batch().V1().Jobs(), recorder("cronjob-controller"), m.log, now),
		statefulset.New(m.client, apps.StatefulSets(), core.Pods(), recorder("statefulset-controller"), m.log),
		endpointslice.New(m.client, core.Services(), core.Pods(), disc.EndpointSlices(), core.Nodes(), m.cfg.MaxEndpointsPerSlice, recorder("endpoint-slice-controller"), m.log),
		endpoints.New(m.client, core.Services(), core.Pods(), core.Endpoints(), m.log),
		mirroring.New(m.client, core.Services(), core.Endpoints(), disc.EndpointSlices(), m.log),
		scheduler.New(m.client, core.Pods(), core.Nodes(), recorder("default-scheduler"), m.log),
		m.collector(factory, metaFactory),
		namespace.New(m.client, m.meta, namespace.Discovered(m.client.Discovery(), m.cfg.Namespaced), core.Namespaces(), m.log),
		nodelifecycle.New(m.client, core.Nodes(), factory.Coordination().V1().Leases(), core.Pods(), recorder("node-controller"), m.cfg.Nodes, m.log, now),
		tainteviction.New(m.client, core.Pods(), core.Nodes(), recorder("taint-eviction-controller"), m.log, now),
		serviceaccount.New(m.client, core.Namespaces(), core.ServiceAccounts(), m.rootCA(), m.log),
		job.New(m.client, factory.Batch().V1().Jobs(), core.Pods(), recorder("job-controller"), m.log, now),
		disruption.New(m.client, factory.Policy().V1().PodDisruptionBudgets(), core.Pods(), apps.ReplicaSets(), apps.Deployments(), apps.StatefulSets(), m.log, now),
	}
	if m.cfg.StorageDir != "" {
		runners = append(runners, volume.New(m.client, core.PersistentVolumeClaims(), core.PersistentVolumes(), factory.Storage().V1().StorageClasses(),
			m.cfg.StorageDir, recorder("persistentvolume-controller"), m.log))
	}
	if len(m.cfg.LoadBalancerRanges) > 0 {
		runners = append(runners, loadbalancer.New(m.client, core.Services(), loadbalancer.NewPool(m.cfg.LoadBalancerRanges), recorder("service-lb-controller"), m.log))
	}
	factory.Start(ctx.Done())
	metaFactory.Start(ctx.Done())
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				m.log.Error("controller stopped", "err", err)
			}
		}()
	}
	wg.Wait()
	factory.Shutdown()
	metaFactory.Shutdown()
}

// rootCA is the CA the controllers trust the API with, which pods trust too.
func (m *Manager) rootCA() []byte {
	if ca := m.cfg.Rest.TLSClientConfig.CAData; len(ca) > 0 {
		return ca
	}
	if f := m.cfg.Rest.TLSClientConfig.CAFile; f != "" {
		if b, err := os.ReadFile(f); err == nil {
			return b
		}
	}
	return nil
}

// sharedWithCollector are the resources the controllers above hold typed
// informers for: the garbage collector reads them there instead of
// holding a metadata copy of every pod (as kube-controller-manager's
// collector uses the typed informers it has).
var sharedWithCollector = map[schema.GroupVersionResource]bool{
	{Version: "v1", Resource: "pods"}:                                      true,
	{Version: "v1", Resource: "replicationcontrollers"}:                    true,
	{Version: "v1", Resource: "services"}:                                  true,
	{Version: "v1", Resource: "endpoints"}:                                 true,
	{Version: "v1", Resource: "nodes"}:                                     true,
	{Version: "v1", Resource: "namespaces"}:                                true,
	{Version: "v1", Resource: "serviceaccounts"}:                           true,
	{Group: "apps", Version: "v1", Resource: "deployments"}:                true,
	{Group: "apps", Version: "v1", Resource: "replicasets"}:                true,
	{Group: "apps", Version: "v1", Resource: "daemonsets"}:                 true,
	{Group: "apps", Version: "v1", Resource: "statefulsets"}:               true,
	{Group: "apps", Version: "v1", Resource: "controllerrevisions"}:        true,
	{Group: "batch", Version: "v1", Resource: "jobs"}:                      true,
	{Group: "batch", Version: "v1", Resource: "cronjobs"}:                  true,
	{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}: true,
	{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}:      true,
	{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"}:     true,
}

// collector is the garbage collector over every resource, custom ones
// followed as discovery lists them.
func (m *Manager) collector(typed informers.SharedInformerFactory, meta metadatainformer.SharedInformerFactory) *gc.Collector {
	informerFor := func(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
		if sharedWithCollector[gvr] {
			if inf, err := typed.ForResource(gvr); err == nil {
				return inf.Informer()
			}
		}
		return meta.ForResource(gvr).Informer()
	}
	c := gc.New(m.meta, informerFor, m.cfg.Resources, m.log)
	c.Discover = gc.Discovered(m.client.Discovery())
	return c
}
