// Package serviceaccount keeps a ServiceAccount named default in every
// active namespace, as kube-controller-manager's serviceaccount controller
// does: manifests that name it, and pods that get it by default, find it.
package serviceaccount

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/kube"
)

// Name is the ServiceAccount every namespace has.
const Name = "default"

// Controller creates the default ServiceAccounts.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	loop       *kube.Loop[string]
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, nsInf coreinformers.NamespaceInformer, saInf coreinformers.ServiceAccountInformer, log *slog.Logger) *Controller {
	c := &Controller{client: client, namespaces: nsInf.Lister(), accounts: saInf.Lister()}
	q := kube.NewQueue[string]("serviceaccount")
	c.loop = &kube.Loop[string]{Name: "serviceaccount", Queue: q, Sync: c.sync, Workers: 2, Log: log,
		Synced: []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced}}
	_, _ = nsInf.Informer().AddEventHandler(kube.EnqueueHandler(q))
	// A deleted default account comes back.
	_, _ = saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj interface{}) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == Name {
			q.Add(sa.Namespace)
		}
	}})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, ns string) error {
	n, err := c.namespaces.Get(ns)
	if apierrors.IsNotFound(err) || err == nil && (n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := c.accounts.ServiceAccounts(ns).Get(Name); err == nil {
		return nil
	}
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || apierrors.IsForbidden(err) { // forbidden: the namespace began terminating
		return nil
	}
	return err
}
