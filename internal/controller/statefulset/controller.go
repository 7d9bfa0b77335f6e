// Package statefulset runs StatefulSets: pods <name>-0 … <name>-N-1 with
// stable hostnames under the governing Service, created in order
// (OrderedReady) or all at once (Parallel), removed from the highest ordinal,
// updated by RollingUpdate.
package statefulset

import (
	"context"
	"log/slog"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// Controller reconciles StatefulSets.
type Controller struct {
	client   kubernetes.Interface
	sets     appslisters.StatefulSetLister
	pods     corelisters.PodLister
	podIndex cache.SharedIndexInformer
	recorder record.EventRecorder
	loop     *kube.Loop[string]
}

// New wires the controller.
func New(client kubernetes.Interface, setInf appsinformers.StatefulSetInformer, podInf coreinformers.PodInformer, recorder record.EventRecorder, log *slog.Logger) *Controller {
	c := &Controller{client: client, sets: setInf.Lister(), pods: podInf.Lister(), podIndex: podInf.Informer(), recorder: recorder}
	podutil.IndexByController(podInf.Informer())
	q := kube.NewQueue[string]("statefulset")
	c.loop = &kube.Loop[string]{Name: "statefulset", Queue: q, Sync: c.sync, Workers: 2, Log: log,
		Synced: []cache.InformerSynced{setInf.Informer().HasSynced, podInf.Informer().HasSynced}}
	_, _ = setInf.Informer().AddEventHandler(kube.EnqueueHandler(q))
	_, _ = podInf.Informer().AddEventHandler(kube.OwnerHandler(q, "StatefulSet"))
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	set, err := c.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || set.DeletionTimestamp != nil {
		return err
	}
	owned := podutil.Owned(c.podIndex, set.UID)
	plan := Reconcile(set, owned)
	for _, o := range plan.Create {
		for _, claim := range ClaimsFor(set, o) {
			if _, err := c.client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s-%d in StatefulSet %s failed error: %v", claim.Name, set.Name, o, set.Name, err)
				return err
			} else if err == nil {
				c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s-%d in StatefulSet %s success", claim.Name, set.Name, o, set.Name)
			}
		}
		pod := PodFor(set, o)
		if _, err := c.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
			return err
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	}
	for _, p := range plan.Delete {
		if err := c.client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	}
	if apiequality.Semantic.DeepEqual(set.Status, plan.Status) {
		return nil
	}
	upd := set.DeepCopy()
	upd.Status = plan.Status
	_, err = c.client.AppsV1().StatefulSets(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	return err
}

var _ = appsv1.SchemeGroupVersion
