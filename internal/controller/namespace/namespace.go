// Package namespace empties namespaces that are being deleted: it deletes
// every object in them, and when none is left it removes the "kubernetes"
// finalizer so the Namespace itself goes.
package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/kube"
)

// Controller deletes the contents of terminating namespaces.
type Controller struct {
	client     kubernetes.Interface
	meta       metadata.Interface
	namespaced func() []schema.GroupVersionResource
	namespaces corelisters.NamespaceLister
	loop       *kube.Loop[string]
}

// New wires the controller; namespaced lists every namespaced resource
// (asked at each sync: custom resources come and go).
func New(client kubernetes.Interface, meta metadata.Interface, namespaced func() []schema.GroupVersionResource, nsInf coreinformers.NamespaceInformer, log *slog.Logger) *Controller {
	c := &Controller{client: client, meta: meta, namespaced: namespaced, namespaces: nsInf.Lister()}
	q := kube.NewQueue[string]("namespace")
	c.loop = &kube.Loop[string]{Name: "namespace", Queue: q, Sync: c.sync, Workers: 2, Log: log, Synced: []cache.InformerSynced{nsInf.Informer().HasSynced}}
	enqueue := func(obj interface{}) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			kube.Enqueue(q, ns)
		}
	}
	_, _ = nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, obj interface{}) { enqueue(obj) }})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || ns.DeletionTimestamp == nil {
		return err
	}
	remaining := 0
	for _, gvr := range c.namespaced() {
		list, err := c.meta.Resource(gvr).Namespace(name).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, item := range list.Items {
			remaining++
			if item.DeletionTimestamp != nil {
				continue
			}
			uid := item.UID
			bg := metav1.DeletePropagationBackground
			err := c.meta.Resource(gvr).Namespace(name).Delete(ctx, item.Name, metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return err
			}
		}
	}
	if remaining > 0 {
		c.loop.Queue.AddAfter(name, 200*time.Millisecond)
		return nil
	}
	upd := ns.DeepCopy()
	var keep []corev1.FinalizerName
	for _, f := range upd.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			keep = append(keep, f)
		}
	}
	if len(keep) == len(upd.Spec.Finalizers) {
		return nil
	}
	upd.Spec.Finalizers = keep
	if _, err := c.client.CoreV1().Namespaces().Update(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	return nil
}

// Discovered is the namespaced resources discovery lists (the preferred
// version of each, custom resources included) that can be listed and
// deleted, as kube-controller-manager's namespace controller finds them;
// known is the answer when discovery fails.
func Discovered(d discovery.DiscoveryInterface, known []schema.GroupVersionResource) func() []schema.GroupVersionResource {
	return func() []schema.GroupVersionResource {
		lists, err := d.ServerPreferredNamespacedResources()
		if err != nil && len(lists) == 0 {
			return known
		}
		var out []schema.GroupVersionResource
		for _, l := range lists {
			gv, err := schema.ParseGroupVersion(l.GroupVersion)
			if err != nil {
				continue
			}
			for _, r := range l.APIResources {
				if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "delete") {
					continue
				}
				out = append(out, gv.WithResource(r.Name))
			}
		}
		return out
	}
}
