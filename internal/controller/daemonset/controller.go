// Package daemonset runs DaemonSets: a pod on every node the template
// fits, svcnet agent nodes among them, moved between template revisions
// (ControllerRevisions) by rolling update or on delete.
package daemonset

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

var dsKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller reconciles DaemonSets.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.DaemonSetLister
	nodes     corelisters.NodeLister
	revisions appslisters.ControllerRevisionLister
	podIndex  cache.SharedIndexInformer
	recorder  record.EventRecorder
	loop      *kube.Loop[string]
	now       func() time.Time
}

// New wires the controller; node changes requeue every DaemonSet.
func New(client kubernetes.Interface, dsInf appsinformers.DaemonSetInformer, revInf appsinformers.ControllerRevisionInformer, podInf coreinformers.PodInformer,
	nodeInf coreinformers.NodeInformer, recorder record.EventRecorder, log *slog.Logger, now func() time.Time) *Controller {
	c := &Controller{client: client, sets: dsInf.Lister(), nodes: nodeInf.Lister(), revisions: revInf.Lister(), podIndex: podInf.Informer(), recorder: recorder, now: now}
	podutil.IndexByController(podInf.Informer())
	q := kube.NewQueue[string]("daemonset")
	c.loop = &kube.Loop[string]{Name: "daemonset", Queue: q, Sync: c.sync, Workers: 2, Log: log,
		Synced: []cache.InformerSynced{dsInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, revInf.Informer().HasSynced}}
	_, _ = dsInf.Informer().AddEventHandler(kube.EnqueueHandler(q))
	_, _ = podInf.Informer().AddEventHandler(kube.OwnerHandler(q, "DaemonSet"))
	all := func(interface{}) {
		sets, _ := c.sets.List(labels.Everything())
		for _, s := range sets {
			kube.Enqueue(q, s)
		}
	}
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all, DeleteFunc: all,
		UpdateFunc: func(old, obj interface{}) {
			o, n := old.(*corev1.Node), obj.(*corev1.Node)
			if !apiequality.Semantic.DeepEqual(o.Labels, n.Labels) || !apiequality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) ||
				o.Spec.Unschedulable != n.Spec.Unschedulable {
				all(obj)
			}
		},
	})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	ds, err := c.sets.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || ds.DeletionTimestamp != nil {
		return err
	}
	if err := c.ensureRevision(ctx, ds); err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	plan := Reconcile(ds, nodes, podutil.Owned(c.podIndex, ds.UID), c.now())
	ref := podutil.OwnerRef(ds, dsKind)
	for _, node := range plan.Create {
		pod := PodFor(ds, node, ref)
		created, err := c.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return err
		}
		c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	}
	for _, p := range plan.Delete {
		if err := c.client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
	}
	if apiequality.Semantic.DeepEqual(ds.Status, plan.Status) {
		return nil
	}
	upd := ds.DeepCopy()
	upd.Status = plan.Status
	_, err = c.client.AppsV1().DaemonSets(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	return err
}

// ensureRevision records the current template as a ControllerRevision
// (<name>-<hash>, the next revision number) and prunes the oldest beyond
// revisionHistoryLimit, as `kubectl rollout history daemonset` reads them.
func (c *Controller) ensureRevision(ctx context.Context, ds *appsv1.DaemonSet) error {
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	var mine []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOf(r); ref != nil && ref.UID == ds.UID {
			mine = append(mine, r)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Revision < mine[j].Revision })
	hash := Hash(ds)
	name := ds.Name + "-" + hash
	var next int64 = 1
	found := false
	for _, r := range mine {
		found = found || r.Name == name
		next = r.Revision + 1
	}
	if !found {
		data, err := json.Marshal(map[string]any{"spec": map[string]any{"template": ds.Spec.Template}})
		if err != nil {
			return err
		}
		revLabels := map[string]string{RevisionLabel: hash}
		for k, v := range ds.Spec.Template.Labels {
			revLabels[k] = v
		}
		rev := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ds.Namespace, Labels: revLabels, OwnerReferences: []metav1.OwnerReference{podutil.OwnerRef(ds, dsKind)}},
			Data:       runtime.RawExtension{Raw: data}, Revision: next,
		}
		if _, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, rev, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		mine = append(mine, rev)
	}
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	for i := 0; i < len(mine)-1-limit; i++ {
		if mine[i].Name == name {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, mine[i].Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
