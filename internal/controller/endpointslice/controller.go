// Package endpointslice keeps EndpointSlices for every Service with a
// selector, with the reconciler kube-controller-manager runs
// (k8s.io/endpointslice): slices per address family, at most
// --max-endpoints-per-slice endpoints each, ready/serving/terminating
// conditions, hostnames, zones, named target ports, publishNotReadyAddresses
// and the last-change-trigger-time annotation; unchanged slices are not
// rewritten. Slices of Services without a selector are left to their authors.
package endpointslice

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	endpointslicerec "k8s.io/endpointslice"
	esutil "k8s.io/endpointslice/util"

	"github.com/svcnet/svcnet/internal/controller/podservices"
	"github.com/svcnet/svcnet/internal/kube"
)

// ControllerName is the managed-by label value, as in Kubernetes.
const ControllerName = "endpointslice-controller.k8s.io"

// Controller reconciles EndpointSlices.
type Controller struct {
	services   corelisters.ServiceLister
	podInf     cache.SharedIndexInformer
	sliceInf   cache.SharedIndexInformer
	reconciler *endpointslicerec.Reconciler
	tracker    *esutil.EndpointSliceTracker
	triggers   *esutil.TriggerTimeTracker
	loop       *kube.Loop[string]
	logger     logr.Logger
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, svcInf coreinformers.ServiceInformer, podInf coreinformers.PodInformer,
	sliceInf discoveryinformers.EndpointSliceInformer, nodeInf coreinformers.NodeInformer,
	maxPerSlice int32, recorder record.EventRecorder, log *slog.Logger) *Controller {
	c := &Controller{
		services: svcInf.Lister(), podInf: podInf.Informer(), sliceInf: sliceInf.Informer(),
		tracker: esutil.NewEndpointSliceTracker(), triggers: esutil.NewTriggerTimeTracker(),
		logger: logr.FromSlogHandler(log.Handler()),
	}
	kube.IndexSlicesByService(c.sliceInf)
	podservices.Index(c.podInf, svcInf.Informer())
	c.reconciler = endpointslicerec.NewReconciler(client, nodeInf.Lister(), maxPerSlice, c.tracker, nil, recorder, ControllerName,
		endpointslicerec.WithPreferSameTrafficDistributionEnabled(true))
	q := kube.NewQueue[string]("endpointslice")
	c.loop = &kube.Loop[string]{Name: "endpointslice", Queue: q, Sync: c.sync, Workers: 4, Log: log,
		Synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, sliceInf.Informer().HasSynced, nodeInf.Informer().HasSynced}}
	_, _ = svcInf.Informer().AddEventHandler(kube.EnqueueHandler(q))
	_, _ = podInf.Informer().AddEventHandler(podservices.Handler(svcInf.Informer(), q.Add))
	sliceOwner := func(obj interface{}, deleted bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelManagedBy] != ControllerName {
			return
		}
		if deleted {
			if !c.tracker.HandleDeletion(s) {
				return
			}
		} else if !c.tracker.ShouldSync(s) {
			return
		}
		if key, err := endpointslicerec.ServiceControllerKey(s); err == nil {
			q.Add(key)
		}
	}
	_, _ = sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { sliceOwner(obj, false) },
		UpdateFunc: func(_, obj interface{}) { sliceOwner(obj, false) },
		DeleteFunc: func(obj interface{}) { sliceOwner(obj, true) },
	})
	// A node's zone label lands in its endpoints.
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, obj interface{}) {
			if old.(*corev1.Node).Labels[corev1.LabelTopologyZone] != obj.(*corev1.Node).Labels[corev1.LabelTopologyZone] {
				svcs, _ := c.services.List(labels.Everything())
				for _, s := range svcs {
					q.Add(s.Namespace + "/" + s.Name)
				}
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
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Its slices go with it: the garbage collector follows their owner reference.
		c.triggers.DeleteService(ns, name)
		c.tracker.DeleteService(ns, name)
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	pods, err := podservices.SelectedPods(c.podInf, ns, svc.Spec.Selector)
	if err != nil {
		return err
	}
	all, err := kube.ServiceSlices(c.sliceInf, ns, name, ControllerName)
	if err != nil {
		return err
	}
	var slices []*discoveryv1.EndpointSlice
	for _, s := range all {
		if s.DeletionTimestamp == nil {
			slices = append(slices, s)
		}
	}
	if c.tracker.StaleSlices(svc, slices) {
		return fmt.Errorf("EndpointSlices of %s: %w", key, kube.ErrStaleCache)
	}
	trigger := c.triggers.ComputeEndpointLastChangeTriggerTime(ns, svc, pods)
	return c.reconciler.Reconcile(c.logger, svc, pods, slices, trigger)
}
