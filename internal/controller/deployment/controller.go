// Package deployment rolls Deployments out through ReplicaSets.
package deployment

import (
	"context"
	"log/slog"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

// Controller reconciles Deployments.
type Controller struct {
	client   kubernetes.Interface
	deploys  appslisters.DeploymentLister
	rs       appslisters.ReplicaSetLister
	rsIndex  cache.SharedIndexInformer
	recorder record.EventRecorder
	loop     *kube.Loop[string]
	now      func() time.Time
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, dInf appsinformers.DeploymentInformer, rsInf appsinformers.ReplicaSetInformer, recorder record.EventRecorder, log *slog.Logger, now func() time.Time) *Controller {
	c := &Controller{client: client, deploys: dInf.Lister(), rs: rsInf.Lister(), rsIndex: rsInf.Informer(), recorder: recorder, now: now}
	podutil.IndexByController(rsInf.Informer())
	q := kube.NewQueue[string]("deployment")
	c.loop = &kube.Loop[string]{Name: "deployment", Queue: q, Sync: c.sync, Workers: 4, Log: log,
		Synced: []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced}}
	_, _ = dInf.Informer().AddEventHandler(kube.EnqueueHandler(q))
	_, _ = rsInf.Informer().AddEventHandler(kube.OwnerHandler(q, "Deployment"))
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	d, err := c.deploys.Deployments(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || d.DeletionTimestamp != nil || d.Spec.Replicas == nil {
		return err
	}
	owned := podutil.OwnedBy[*appsv1.ReplicaSet](c.rsIndex, d.UID)
	// Keep the informer's order stable for Reconcile.
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	plan := Reconcile(d, owned, c.now())
	rsAPI := c.client.AppsV1().ReplicaSets(ns)
	if plan.Create != nil {
		created, err := rsAPI.Create(ctx, plan.Create, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if n := *created.Spec.Replicas; n > 0 {
			c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
		}
	}
	for _, ch := range plan.Update {
		if _, err := rsAPI.Update(ctx, ch.RS, metav1.UpdateOptions{}); err != nil {
			return err
		}
		switch to := *ch.RS.Spec.Replicas; {
		case to > ch.From:
			c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from %d to %d", ch.RS.Name, ch.From, to)
		case to < ch.From:
			c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled down replica set %s from %d to %d", ch.RS.Name, ch.From, to)
		}
	}
	for _, rs := range plan.Delete {
		if err := rsAPI.Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if d.Annotations[RevisionAnnotation] != plan.Revision {
		upd := d.DeepCopy()
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[RevisionAnnotation] = plan.Revision
		if d, err = c.client.AppsV1().Deployments(ns).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if apiequality.Semantic.DeepEqual(d.Status, plan.Status) {
		return nil
	}
	upd := d.DeepCopy()
	upd.Status = plan.Status
	_, err = c.client.AppsV1().Deployments(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	return err
}
