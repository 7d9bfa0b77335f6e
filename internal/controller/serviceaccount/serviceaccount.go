// Package serviceaccount keeps a ServiceAccount named default in every
// active namespace, as kube-controller-manager's serviceaccount controller
// does: manifests that name it, and pods that get it by default, find it.
// It also publishes the cluster's CA in each namespace's kube-root-ca.crt
// ConfigMap (the root-ca-cert-publisher's work), which pods' token volumes
// read.
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

// RootCAConfigMap holds the cluster CA in every namespace.
const RootCAConfigMap = "kube-root-ca.crt"

// Controller creates the default ServiceAccounts.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	rootCA     []byte
	loop       *kube.Loop[string]
}

// New wires the controller; it starts nothing.
// rootCA (PEM) is published in each namespace; nil publishes nothing.
func New(client kubernetes.Interface, nsInf coreinformers.NamespaceInformer, saInf coreinformers.ServiceAccountInformer, rootCA []byte, log *slog.Logger) *Controller {
	c := &Controller{client: client, namespaces: nsInf.Lister(), accounts: saInf.Lister(), rootCA: rootCA}
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
	if err := c.publishRootCA(ctx, ns); err != nil {
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

// publishRootCA writes the CA into the namespace's kube-root-ca.crt.
func (c *Controller) publishRootCA(ctx context.Context, ns string) error {
	if len(c.rootCA) == 0 {
		return nil
	}
	want := map[string]string{"ca.crt": string(c.rootCA)}
	cms := c.client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(ctx, RootCAConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap,
			Annotations: map[string]string{"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
			Data: want}, metav1.CreateOptions{})
	case err == nil && cm.Data["ca.crt"] != want["ca.crt"]:
		cm = cm.DeepCopy()
		cm.Data = want
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if apierrors.IsAlreadyExists(err) || apierrors.IsForbidden(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
