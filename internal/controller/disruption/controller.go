// Package disruption keeps PodDisruptionBudgets' status, as
// kube-controller-manager's disruption controller does: the healthy
// (Ready, not going) pods the selector matches, the healthy pods the budget
// needs, and so the disruptions allowed now, which the pods' eviction
// subresource (kubectl drain) spends and checks.
package disruption

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	policyinformers "k8s.io/client-go/informers/policy/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/kube"
)

// Controller watches budgets and the pods they cover.
type Controller struct {
	client      kubernetes.Interface
	pdbs        policylisters.PodDisruptionBudgetLister
	pods        corelisters.PodLister
	rss         appslisters.ReplicaSetLister
	deployments appslisters.DeploymentLister
	sets        appslisters.StatefulSetLister
	log         *slog.Logger
	now         func() time.Time
	queue       kube.Queue[string]
	loop        *kube.Loop[string]
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, pdbInf policyinformers.PodDisruptionBudgetInformer, podInf coreinformers.PodInformer,
	rsInf appsinformers.ReplicaSetInformer, deployInf appsinformers.DeploymentInformer, setInf appsinformers.StatefulSetInformer,
	log *slog.Logger, now func() time.Time) *Controller {
	c := &Controller{client: client, pdbs: pdbInf.Lister(), pods: podInf.Lister(), rss: rsInf.Lister(), deployments: deployInf.Lister(),
		sets: setInf.Lister(), log: log, now: now}
	c.queue = kube.NewQueue[string]("disruption")
	c.loop = &kube.Loop[string]{Name: "disruption", Queue: c.queue, Sync: c.sync, Workers: 2, Log: log,
		Synced: []cache.InformerSynced{pdbInf.Informer().HasSynced, podInf.Informer().HasSynced, rsInf.Informer().HasSynced,
			deployInf.Informer().HasSynced, setInf.Informer().HasSynced}}
	_, _ = pdbInf.Informer().AddEventHandler(kube.EnqueueHandler(c.queue))
	onPod := func(obj interface{}) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			for _, pdb := range c.budgetsOf(p) {
				kube.Enqueue(c.queue, pdb)
			}
		}
	}
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPod, UpdateFunc: func(_, obj interface{}) { onPod(obj) }, DeleteFunc: onPod,
	})
	// A scale change moves the budgets of percentages and maxUnavailable.
	onScale := func(obj interface{}) {
		if m, ok := obj.(metav1.Object); ok {
			pdbs, _ := c.pdbs.PodDisruptionBudgets(m.GetNamespace()).List(labels.Everything())
			for _, pdb := range pdbs {
				kube.Enqueue(c.queue, pdb)
			}
		}
	}
	for _, inf := range []cache.SharedIndexInformer{rsInf.Informer(), deployInf.Informer(), setInf.Informer()} {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onScale, UpdateFunc: func(_, obj interface{}) { onScale(obj) }})
	}
	return c
}

// budgetsOf lists the budgets whose selector matches p.
func (c *Controller) budgetsOf(p *corev1.Pod) []*policyv1.PodDisruptionBudget {
	pdbs, _ := c.pdbs.PodDisruptionBudgets(p.Namespace).List(labels.Everything())
	var out []*policyv1.PodDisruptionBudget
	for _, pdb := range pdbs {
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, pdb)
		}
	}
	return out
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && !sel.Empty() {
		pods, _ = c.pods.Pods(ns).List(sel)
	}
	now := c.now()
	var st policyv1.PodDisruptionBudgetStatus
	counts, err := Needs(pdb, len(pods), func() (int32, error) { return c.scale(pods) })
	var recheck *time.Time
	if err != nil {
		st = SyncFailed(pdb, err)
	} else {
		st, recheck = Status(pdb, pods, counts, now)
	}
	if recheck != nil {
		c.queue.AddAfter(key, recheck.Sub(now))
	}
	if apiequality.Semantic.DeepEqual(st, pdb.Status) {
		return nil
	}
	next := pdb.DeepCopy()
	next.Status = st
	_, err = c.client.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	return err
}

// scale sums the replicas of the pods' controllers, each once: a
// Deployment's for its ReplicaSets' pods, a ReplicaSet's or StatefulSet's.
func (c *Controller) scale(pods []*corev1.Pod) (int32, error) {
	seen := map[string]int32{}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil {
			return 0, fmt.Errorf("pod %q has no controller: a percentage or maxUnavailable needs one", p.Name)
		}
		switch ref.Kind {
		case "ReplicaSet":
			rs, err := c.rss.ReplicaSets(p.Namespace).Get(ref.Name)
			if err != nil {
				return 0, fmt.Errorf("found no controllers for pod %q", p.Name)
			}
			if d := metav1.GetControllerOf(rs); d != nil && d.Kind == "Deployment" {
				dep, err := c.deployments.Deployments(p.Namespace).Get(d.Name)
				if err != nil {
					return 0, fmt.Errorf("found no controllers for pod %q", p.Name)
				}
				seen["Deployment/"+dep.Name] = replicas(dep.Spec.Replicas)
				continue
			}
			seen["ReplicaSet/"+rs.Name] = replicas(rs.Spec.Replicas)
		case "StatefulSet":
			set, err := c.sets.StatefulSets(p.Namespace).Get(ref.Name)
			if err != nil {
				return 0, fmt.Errorf("found no controllers for pod %q", p.Name)
			}
			seen["StatefulSet/"+set.Name] = replicas(set.Spec.Replicas)
		default:
			return 0, fmt.Errorf("found no controllers for pod %q", p.Name)
		}
	}
	var n int32
	for _, r := range seen {
		n += r
	}
	return n, nil
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
