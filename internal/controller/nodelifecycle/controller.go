// Package nodelifecycle notices nodes that fail, as kube-controller-manager's
// node lifecycle controller does: a node whose agent has renewed neither its
// Lease nor its Ready condition for the grace period goes Ready=Unknown, its
// pods are marked not ready at once (so EndpointSlices, DNS and the proxies
// drop them) and it is tainted node.kubernetes.io/unreachable (NoSchedule
// and NoExecute; not-ready likewise for Ready=False). Taints follow the
// conditions both ways and spec.unschedulable (kubectl cordon) becomes the
// unschedulable taint. Package tainteviction acts on the NoExecute taints.
package nodelifecycle

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coordinationinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

// Config: the periods; zero takes Kubernetes' defaults.
type Config struct {
	// MonitorPeriod is how often every node is checked.
	MonitorPeriod time.Duration
	// GracePeriod is how long a node may be silent before it is Unknown.
	GracePeriod time.Duration
	// StartupGracePeriod is that for a node that never posted its status.
	StartupGracePeriod time.Duration
}

// Controller watches nodes, their Leases and their pods.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     cache.SharedIndexInformer
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
	loop     *kube.Loop[string]
	queue    kube.Queue[string]

	mu      sync.Mutex
	tracker *tracker
	known   map[string]bool
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, nodeInf coreinformers.NodeInformer, leaseInf coordinationinformers.LeaseInformer, podInf coreinformers.PodInformer,
	recorder record.EventRecorder, cfg Config, log *slog.Logger, now func() time.Time) *Controller {
	if cfg.MonitorPeriod <= 0 {
		cfg.MonitorPeriod = DefaultMonitorPeriod
	}
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = DefaultGracePeriod
	}
	if cfg.StartupGracePeriod <= 0 {
		cfg.StartupGracePeriod = DefaultStartupGracePeriod
	}
	kube.IndexPodsByNode(podInf.Informer())
	c := &Controller{cfg: cfg, client: client, nodes: nodeInf.Lister(), leases: leaseInf.Lister(), pods: podInf.Informer(),
		recorder: recorder, log: log, now: now, tracker: newTracker(cfg.GracePeriod, cfg.StartupGracePeriod), known: map[string]bool{}}
	c.queue = kube.NewQueue[string]("nodelifecycle")
	c.loop = &kube.Loop[string]{Name: "nodelifecycle", Queue: c.queue, Sync: c.sync, Workers: 2, Log: log,
		Synced: []cache.InformerSynced{nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced}}
	// A node's own changes (a cordon, a condition) are acted on at once;
	// silence is found by the periodic pass.
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { kube.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj interface{}) { kube.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj interface{}) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.mu.Lock()
				c.tracker.forget(key)
				delete(c.known, key)
				c.mu.Unlock()
			}
		},
	})
	return c
}

// Run checks every node each MonitorPeriod until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	go func() {
		t := time.NewTicker(c.cfg.MonitorPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				nodes, _ := c.nodes.List(labels.Everything())
				for _, n := range nodes {
					c.queue.Add(n.Name)
				}
			}
		}
	}()
	return c.loop.Run(ctx)
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	lease, _ := c.leases.Leases(corev1.NamespaceNodeLease).Get(name)
	now := c.now()
	c.mu.Lock()
	silent := c.tracker.silentFor(node, lease, now)
	first := !c.known[name]
	c.known[name] = true
	c.mu.Unlock()
	if first {
		c.recorder.Eventf(nodeRef(node), corev1.EventTypeNormal, "RegisteredNode", "Node %s event: Registered Node %s in Controller", name, name)
	}
	if silent > 0 {
		wasReady := readyStatus(node) == corev1.ConditionTrue
		n := node.DeepCopy()
		if markUnknown(n, now) {
			if node, err = c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
				return err
			}
			c.log.Warn("node stopped posting its status", "node", name, "silent for", (silent + c.cfg.GracePeriod).Round(time.Second))
			if wasReady {
				c.recorder.Eventf(nodeRef(node), corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", name)
			}
		}
		if err := c.markPodsNotReady(ctx, name, now); err != nil {
			return err
		}
	}
	// Only an unhealthy node's taints depend on the others (and reading
	// every node on each sync of each node was quadratic: at 1,000 nodes,
	// a million node lists a quarter of an hour).
	evict := true
	if s := readyStatus(node); s == corev1.ConditionFalse || s == corev1.ConditionUnknown {
		evict = !c.fullDisruption()
	}
	want := desiredTaints(node, evict, now)
	if sameTaints(want, node.Spec.Taints) {
		return nil
	}
	n := node.DeepCopy()
	n.Spec.Taints = want
	_, err = c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	return err // a conflict retries with what the informer has then
}

// markPodsNotReady sets the Ready condition of node's pods to False: their
// node cannot say whether they still serve.
func (c *Controller) markPodsNotReady(ctx context.Context, node string, now time.Time) error {
	for _, p := range kube.PodsOnNode(c.pods, node) {
		if !podutil.IsReady(p) {
			continue
		}
		cond := *podutil.ReadyCondition(p)
		cond.Status, cond.LastTransitionTime = corev1.ConditionFalse, metav1.NewTime(now)
		if err := kube.PatchPodCondition(ctx, c.client, p, cond, p.ResourceVersion); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		c.recorder.Event(p, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return nil
}

// fullDisruption: every node is down. Then the fault is more likely on
// this side (the controller cut off) and nothing is evicted, as in
// Kubernetes.
func (c *Controller) fullDisruption() bool {
	nodes, _ := c.nodes.List(labels.Everything())
	for _, n := range nodes {
		if readyStatus(n) == corev1.ConditionTrue {
			return false
		}
	}
	return len(nodes) > 0
}

func nodeRef(n *corev1.Node) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}
}
