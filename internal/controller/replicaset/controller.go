// Package replicaset keeps the number of pods of each ReplicaSet, and of
// each ReplicationController (seen as the ReplicaSet it converts to, as
// Kubernetes' own controller does).
package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

var (
	rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	rcKind = corev1.SchemeGroupVersion.WithKind("ReplicationController")
)

// Controller reconciles ReplicaSets (or ReplicationControllers).
type Controller struct {
	client kubernetes.Interface
	kind   schema.GroupVersionKind
	// get reads the object as a ReplicaSet; updateStatus writes its status back.
	get          func(ns, name string) (*appsv1.ReplicaSet, error)
	updateStatus func(ctx context.Context, rs *appsv1.ReplicaSet) error
	pods         corelisters.PodLister
	// podIndex finds pods by controller UID.
	podIndex cache.SharedIndexInformer
	exp      *kube.Expectations
	loop     *kube.Loop[string]
	now      func() time.Time
}

// New wires the controller to its informers; it starts nothing.
func New(client kubernetes.Interface, rsInf appsinformers.ReplicaSetInformer, podInf coreinformers.PodInformer, log *slog.Logger, now func() time.Time) *Controller {
	lister := rsInf.Lister()
	c := &Controller{client: client, kind: rsKind,
		get: func(ns, name string) (*appsv1.ReplicaSet, error) { return lister.ReplicaSets(ns).Get(name) },
		updateStatus: func(ctx context.Context, rs *appsv1.ReplicaSet) error {
			_, err := client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
			return err
		}}
	return c.wire(rsInf.Informer(), podInf, log, now)
}

// NewForReplicationControllers is the controller of core/v1
// ReplicationControllers.
func NewForReplicationControllers(client kubernetes.Interface, rcInf coreinformers.ReplicationControllerInformer, podInf coreinformers.PodInformer, log *slog.Logger, now func() time.Time) *Controller {
	lister := rcInf.Lister()
	c := &Controller{client: client, kind: rcKind,
		get: func(ns, name string) (*appsv1.ReplicaSet, error) {
			rc, err := lister.ReplicationControllers(ns).Get(name)
			if err != nil {
				return nil, err
			}
			return ReplicaSetOf(rc), nil
		},
		updateStatus: func(ctx context.Context, rs *appsv1.ReplicaSet) error {
			rc, err := lister.ReplicationControllers(rs.Namespace).Get(rs.Name)
			if err != nil {
				return err
			}
			upd := rc.DeepCopy()
			upd.Status = rcStatusOf(rs.Status)
			_, err = client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
			return err
		}}
	return c.wire(rcInf.Informer(), podInf, log, now)
}

func (c *Controller) wire(inf cache.SharedIndexInformer, podInf coreinformers.PodInformer, log *slog.Logger, now func() time.Time) *Controller {
	c.pods, c.podIndex, c.exp, c.now = podInf.Lister(), podInf.Informer(), kube.NewExpectations(time.Minute, now), now
	podutil.IndexByController(podInf.Informer())
	name := strings.ToLower(c.kind.Kind)
	q := kube.NewQueue[string](name)
	c.loop = &kube.Loop[string]{Name: name, Queue: q, Sync: c.sync, Workers: 4, Log: log,
		Synced: []cache.InformerSynced{inf.HasSynced, podInf.Informer().HasSynced}}
	_, _ = inf.AddEventHandler(kube.EnqueueHandler(q))
	owner := func(obj interface{}) (string, bool) { return kube.OwnerKey(obj, c.kind.Kind) }
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if key, ok := owner(obj); ok {
				c.exp.Observed(key, true)
				q.Add(key)
			}
		},
		UpdateFunc: func(old, obj interface{}) {
			if key, ok := owner(obj); ok {
				if obj.(*corev1.Pod).DeletionTimestamp != nil && old.(*corev1.Pod).DeletionTimestamp == nil {
					c.exp.Observed(key, false) // a graceful delete has begun
				}
				q.Add(key)
			}
			if key, ok := owner(old); ok {
				q.Add(key)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if key, ok := owner(obj); ok {
				c.exp.Observed(key, false)
				q.Add(key)
			}
		},
	})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.get(ns, name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	owned := podutil.Owned(c.podIndex, rs.UID)
	plan := Reconcile(rs, owned, c.now())
	if c.exp.Satisfied(key) && rs.DeletionTimestamp == nil {
		if err := c.apply(ctx, key, rs, plan); err != nil {
			return err
		}
	}
	if apiequality.Semantic.DeepEqual(rs.Status, plan.Status) {
		return nil
	}
	upd := rs.DeepCopy()
	upd.Status = plan.Status
	return c.updateStatus(ctx, upd)
}

func (c *Controller) apply(ctx context.Context, key string, rs *appsv1.ReplicaSet, plan Plan) error {
	if plan.Create == 0 && len(plan.Delete) == 0 {
		return nil
	}
	c.exp.Expect(key, plan.Create, len(plan.Delete))
	errs := make(chan error, plan.Create+len(plan.Delete))
	var wg sync.WaitGroup
	ref := podutil.OwnerRef(rs, c.kind)
	for i := 0; i < plan.Create; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod := podutil.FromTemplate(&rs.Spec.Template, rs.Namespace, ref)
			pod.GenerateName = rs.Name + "-"
			if _, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				c.exp.Observed(key, true)
				errs <- fmt.Errorf("create pod for %s: %w", key, err)
			}
		}()
	}
	for _, p := range plan.Delete {
		wg.Add(1)
		go func(p *corev1.Pod) {
			defer wg.Done()
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil {
				c.exp.Observed(key, false)
				if !apierrors.IsNotFound(err) {
					errs <- fmt.Errorf("delete pod %s: %w", p.Name, err)
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}
